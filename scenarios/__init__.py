"""The built-in scenarios.

This folder is data, not code: the file only makes it the package `envoice_mock.bundled.scenarios`
inside a built wheel (see pyproject.toml), so an installed mock finds it through
importlib.resources.
"""
