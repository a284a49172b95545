"""Platforms resource."""
