"""Audit resource."""
