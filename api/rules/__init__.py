"""Rules resource."""
