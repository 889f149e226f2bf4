"""Errors and warnings of the Flee reader: one line per problem, ``file:line: field: problem.
Fix: ...``."""

from __future__ import annotations

import codecs
from pathlib import Path


class FleeError(ValueError):
    """A Flee folder cannot be run; ``str(err)`` is the message to show the user.

    ``messages`` holds one line per problem; ``warnings`` the warnings found before the
    reading stopped (shown with the errors, as a warning may explain one).

    >>> str(FleeError(["a.csv:3: population: 'x' is not a whole number. Fix: write 1200."]))
    "a.csv:3: population: 'x' is not a whole number. Fix: write 1200."
    """

    def __init__(self, messages: list[str], warnings: list[str] | None = None):
        self.messages = [m.replace("\n", " ") for m in messages]
        self.warnings = list(warnings or [])
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
            raise FleeError(self.errors, self.warnings)


def semicolons(row: list[str], where: str, pr: Problems) -> bool:
    """Refuse a row separated by semicolons (as a spreadsheet in many European locales saves
    CSV), once per file; True if refused."""
    if len(row) != 1 or ";" not in row[0]:
        return False
    rel = where.rsplit(":", 1)[0]
    if not any(e.startswith(f"{rel}:") and "separated by ';'" in e for e in pr.errors):
        pr.error(where, "row", "is separated by ';' (Flee 3.1 reads commas), as are any "
                 "later rows like it", "save the file as CSV with commas (in Excel: CSV "
                 "UTF-8, comma delimited)")
    return True


def read_text(path: Path, rel: str) -> str:
    """The text of a file of a Flee folder (``rel``: its name in messages), without the
    byte-order mark Excel's "CSV UTF-8" writes; a file that is not UTF-8 is a
    :class:`FleeError` naming its line."""
    raw = Path(path).read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FleeError([f"{rel}:{line}: file: not UTF-8 text (byte {raw[exc.start]:#04x} at "
                         f"offset {exc.start}). Fix: save it as UTF-8 (in Excel: CSV UTF-8; "
                         "iconv -f latin1 -t utf-8)"]) from None
