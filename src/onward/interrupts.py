"""Ctrl-C (SIGINT) held over a few steps that must not be cut in the middle.

Python raises a KeyboardInterrupt between any two bytecodes of the main thread. In a few
places that leaves something half done that nothing can undo: a library's locks taken one
by one (``concurrent.futures.wait``), or a callback that DuckDB runs inside a write (the
write fails with an error that is not a KeyboardInterrupt). There the Ctrl-C is held and
acted on once the step is over: :func:`held_interrupts`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: the handlers of the blocks now holding Ctrl-C (a block inside another hands it out)
_HOLDS: set[Callable[[int, Any], None]] = set()


@contextmanager
def held_interrupts() -> Iterator[Callable[[], None]]:
    """Hold Ctrl-C (SIGINT) inside the block until it calls the ``check`` it is given,
    which then acts as the handler in place before would have (a KeyboardInterrupt).

    A KeyboardInterrupt may be raised between any two bytecodes of the main thread. Inside
    ``concurrent.futures.wait``, which takes every future's lock in turn, one left some
    locks taken: the pool's thread then blocked on them for ever, and so did the shutdown
    that waits for it (a Ctrl-C that never ended the command). Outside the main thread, or
    where Ctrl-C is ignored or left to the system, nothing changes (``check`` does nothing).
    A Ctrl-C held when the block ends is acted on there. Inside another such block,
    ``check`` and the end hand it to the outer block, which holds it until its own
    ``check`` or end (the outer step must not be cut either).
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: None
        return
    pressed: list[Any] = []

    def hold(signum: int, frame: Any) -> None:
        pressed.append(frame)

    def check() -> None:
        if pressed:
            frame = pressed[-1]
            pressed.clear()
            previous(signal.SIGINT, frame)  # raises KeyboardInterrupt, as it would have
            if previous not in _HOLDS:  # (an outer block's hold keeps it: no raise)
                raise KeyboardInterrupt  # (in case it did not)

    _HOLDS.add(hold)
    signal.signal(signal.SIGINT, hold)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)
        _HOLDS.discard(hold)
        check()
