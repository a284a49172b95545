"""Site resource."""
