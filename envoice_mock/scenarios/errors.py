"""The one error a scenario file can raise, and the reason a single part of it is refused."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario file is malformed: one `file:line: reason` per problem, all of them at once."""

    def __init__(self, *errors: str) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class Refused(ValueError):
    """One step or expectation is wrong; the loader prefixes the reason with file and line."""
