"""Docked panels around the canvas: palette, inspector, log, plots."""
