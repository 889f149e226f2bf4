"""onward: simulate, calibrate and explain onward migration.

People reach a first country of protection and later move on to a secondary destination.
The engine is general; scenarios (YAML) say which countries, data and policies.

Examples
--------
>>> import onward
>>> res = onward.simulate("nk-onward", seed=1)  # doctest: +SKIP
>>> res.applications.head()  # doctest: +SKIP
>>> run_id, res = onward.run("toy", seed=3)  # also stored in ./onward.duckdb  # doctest: +SKIP
>>> post = onward.calibrate("toy", name="fit", budget=300)  # doctest: +SKIP
>>> post.summary()  # doctest: +SKIP
>>> onward.score("fit", draws=20)["calibration"]["ard"]  # doctest: +SKIP
>>> onward.ensemble("toy", n=20, posterior="fit").bands  # doctest: +SKIP

``calibrate``, ``score``, ``ensemble``, ``compare``, ``sensitivity`` and ``destinations``
are imported on first use, so that ``import onward`` stays fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("onward")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0"

from onward.api import run, simulate  # noqa: E402
from onward.scenario import load_scenario  # noqa: E402

#: functions imported on first use: name -> module
_LAZY = {
    "calibrate": "onward.calibration.abc",
    "load_posterior": "onward.calibration.abc",
    "score": "onward.calibration.score",
    "ensemble": "onward.experiments.ensemble",
    "compare": "onward.experiments.ensemble",
    "sensitivity": "onward.experiments.sensitivity",
    "destinations": "onward.experiments.destinations",
}


def __dir__() -> list[str]:  # so that help(onward) and tab completion list them too
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str):  # PEP 562
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'onward' has no attribute {name!r}")


__all__ = ["__version__", "calibrate", "compare", "destinations", "ensemble", "load_posterior",
           "load_scenario", "run", "score", "sensitivity", "simulate"]
