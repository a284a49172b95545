"""Rendering of the privacy kit (DPIA draft, members' notice) and its pages."""
