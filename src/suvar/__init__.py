"""Suvar: water control platform."""
