"""The command line: serve, scenario, sink."""

from envoice_mock.cli.main import main

__all__ = ["main"]
