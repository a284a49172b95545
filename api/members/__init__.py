"""Members resource."""
