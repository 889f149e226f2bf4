"""Warnings that point at the caller's line, not inside onward.

A fixed ``stacklevel`` is right for one call path only: ``load_posterior``'s warning with
``stacklevel=2`` pointed at the caller of ``load_posterior``, which is ``score.py`` when
``onward.score`` called it. :func:`warn` walks out of the package instead.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep


def warn(message: Warning | str, category: type[Warning] | None = None) -> None:
    """``warnings.warn(message, category)`` attributed to the first frame outside the
    onward package (the user's script or notebook cell); to onward's caller where every
    frame is onward's (the command line)."""
    frame = sys._getframe(1)
    level = 2  # 2: the caller of this function
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
            _PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level if frame is not None else 2)
