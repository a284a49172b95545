"""Events resource."""
