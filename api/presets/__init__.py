"""Presets resource."""
