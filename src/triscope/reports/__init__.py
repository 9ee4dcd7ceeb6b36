"""Renderers that turn a profile dict into reports."""
