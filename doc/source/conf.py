"""Sphinx configuration of the cinder-multistore documentation."""

project = 'cinder-multistore'
copyright = 'cinder-multistore authors'
extensions: list[str] = []
exclude_patterns = ['bench-results.inc']
html_theme = 'alabaster'
