"""Calibration: fitting free parameters to observed counts with ABC-SMC (pyabc)."""
