"""Devices resource."""
