"""Tests of the passive capture path (monitor/capture)."""
