"""Keras layers for user converters (nobuco's `nobuco.layers` import paths)."""
