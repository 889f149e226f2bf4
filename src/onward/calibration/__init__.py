"""Calibration: fitting free parameters to observed counts with ABC-SMC (pyabc).

This package module stays light (no pyabc import) so that the command line can start fast.
"""


class CalibrationError(ValueError):
    """A calibration cannot start or continue; the message says why and what to do."""


class UnfinishedCalibration(UserWarning):
    """A posterior was read from a calibration that has not reached its stopping rule (it is
    still running, or was interrupted): its intervals are wider than the finished ones."""
