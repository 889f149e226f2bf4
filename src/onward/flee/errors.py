"""Errors and warnings of the Flee reader: one line per problem, ``file:line: field: problem.
Fix: ...``."""

from __future__ import annotations


class FleeError(ValueError):
    """A Flee folder cannot be run; ``str(err)`` is the message to show the user.

    ``messages`` holds one line per problem.

    >>> str(FleeError(["a.csv:3: population: 'x' is not a whole number. Fix: write 1200."]))
    "a.csv:3: population: 'x' is not a whole number. Fix: write 1200."
    """

    def __init__(self, messages: list[str]):
        self.messages = [m.replace("\n", " ") for m in messages]
        super().__init__("\n".join(self.messages))


class Problems:
    """Collects errors (refusals) and warnings while a folder is read."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, where: str, field: str, problem: str, fix: str) -> None:
        self.errors.append(f"{where}: {field}: {problem}. Fix: {fix}")

    def warn(self, where: str, field: str, problem: str) -> None:
        self.warnings.append(f"{where}: {field}: {problem}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise FleeError(self.errors)
