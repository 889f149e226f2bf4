"""Fixtures shared by the test files."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Ctrl-C (SIGINT) as a terminal gives it to Python: its default handler, which raises
    KeyboardInterrupt. A test runner started as a background job by a shell without job
    control (a CI runner's) has SIGINT ignored, and a test that sends one to its own
    process would see nothing (or wait for ever); the handler in place is put back."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
