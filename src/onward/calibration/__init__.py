"""Calibration: fitting free parameters to observed counts with ABC-SMC (pyabc).

This package module stays light (no pyabc import) so that the command line can start fast.
"""


class CalibrationError(ValueError):
    """A calibration cannot start or continue; the message says why and what to do."""
