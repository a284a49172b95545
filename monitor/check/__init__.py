"""The pre-meeting check, run by the gate worker ("Check the chamber now").

The web app and ``chamberguard check`` never run it themselves: they add a request row
(:mod:`monitor.check.requests`); the gate worker picks it up (:mod:`monitor.check.worker`),
gathers facts through its own decision chain and upstream (:mod:`monitor.check.probe`), turns
them into a green/red list (:mod:`monitor.check.verdicts`, pure) and writes typed result rows.
"""
