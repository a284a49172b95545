"""Explain resource."""
