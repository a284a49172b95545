"""Auth resource."""
