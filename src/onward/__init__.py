"""onward: simulate, calibrate and explain onward migration.

People reach a first country of protection and later move on to a secondary destination.
The engine is general; scenarios (YAML) say which countries, data and policies.

Examples
--------
>>> import onward
>>> result = onward.run("nk-onward", seed=1)  # doctest: +SKIP
>>> result.applications.head()  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("onward")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"

from onward.api import run, simulate  # noqa: E402
from onward.scenario import load_scenario  # noqa: E402

__all__ = ["__version__", "load_scenario", "run", "simulate"]
