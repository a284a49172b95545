"""Reports from the API and the command line: routes (JSON API and pages), the service they
share (build, sign, register, verify, subject access, purge) and the CLI commands."""
