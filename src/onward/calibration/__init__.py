"""Calibration: fitting free parameters to observed counts with ABC-SMC (pyabc).

This package module stays light (no pyabc import) so that the command line can start fast.
"""


class CalibrationError(ValueError):
    """A calibration cannot start or continue; the message says why and what to do."""


class PosteriorWarning(UserWarning):
    """Something to know about the posterior a run or an experiment uses (the command line
    prints these as one 'warning:' line)."""


class PosteriorLeftOut(PosteriorWarning):
    """Parameters of a posterior that a scenario has not (the lead of an event it removes,
    a destination it lacks) are left out of its runs."""


class UnfinishedCalibration(PosteriorWarning):
    """A posterior was read from a calibration that has not reached its stopping rule (it is
    still running, or was interrupted): its intervals are wider than the finished ones."""


class CalibrationCodeChanged(PosteriorWarning):
    """A calibration is resumed by other onward code than the one that started it: its
    generations ran on two engines."""


class DegeneratePosterior(PosteriorWarning):
    """A posterior whose weights rest on a few particles (``Posterior.degenerate``): runs
    drawn from it repeat few parameter sets, and their bands understate the parameters'
    uncertainty."""
