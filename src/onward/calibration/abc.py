"""ABC-SMC calibration of a scenario's free parameters (pyabc), stored generation by generation.

The parameters a scenario marks ``free: true`` are fitted, within their prior ranges
(uniform priors), to the targets of :mod:`onward.calibration.targets` over the calibration
years only. Each finished generation is written by this (parent) process to the store as
one run of kind ``calibration`` holding its particles, weights, epsilon and acceptance
rate, so an interrupted calibration loses nothing: ``resume=True`` continues from pyabc's
own database after the last finished generation. Proposals are seeded by (seed,
generation, index) and accepted in index order
(:class:`~onward.calibration.sampler.DeterministicBatchSampler`), so the posterior is the
same for any number of workers and whether or not the run was resumed.

Examples
--------
>>> from onward.calibration.abc import calibrate
>>> post = calibrate("nk-onward", name="demo", budget=200)  # doctest: +SKIP
>>> post.summary()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyabc

from onward.arguments import Years, check_type, years_arg
from onward.calibration import (
    CalibrationCodeChanged,
    CalibrationError,
    DegeneratePosterior,
    UnfinishedCalibration,
)
from onward.calibration.sampler import DeterministicBatchSampler, quiet_zero_density
from onward.calibration.targets import TargetSet, fitting_targets, summary_statistics
from onward.caller import warn
from onward.engine.compile import compile_scenario
from onward.engine.model import NumericalError, simulate_compiled
from onward.options import calibrate_command, command, option, runs_command
from onward.scenario import Scenario, load_scenario, load_text, scenario_hash, scenario_to_yaml
from onward.store import Store


def effective_sample_size(weights: np.ndarray) -> float:
    """1/sum(w^2) of the normalised weights: how many equally weighted particles they are
    worth."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return float(1.0 / np.sum(w**2))


#: the most generations a calibration runs (its third stopping rule)
MAX_GENERATIONS = 50


@dataclass
class Posterior:
    """Particles and weights of one generation of a named calibration."""

    def __repr__(self) -> str:  # one line (the dataclass's printed every particle)
        return (f"Posterior({self.name!r}, generation {self.generation}, "
                f"{len(self.weights)} particles of {self.particles.shape[1]} parameters, "
                f"epsilon {self.epsilon:.4g}, effective sample size {self.ess:.1f})")

    name: str
    generation: int
    particles: pd.DataFrame  # one column per free parameter (dotted target path)
    weights: np.ndarray
    epsilon: float

    @property
    def ess(self) -> float:
        """Effective sample size of the weights, 1/sum(w^2) for normalised w: the number
        of equally weighted particles they are worth. Far below the number of particles
        (a few particles carry the weight), the credible intervals are too narrow to trust."""
        return effective_sample_size(self.weights)

    @property
    def degenerate(self) -> bool:
        """Under a tenth of the particles effective, or fewer than 20 where that is also
        under half of them (equal weights are never degenerate, however few)."""
        n = len(self.weights)
        return self.ess < 0.1 * n or (self.ess < 20.0 and self.ess < 0.5 * n)

    def mean(self) -> dict[str, float]:
        w = self.weights / self.weights.sum()
        return {c: float(np.sum(w * self.particles[c].to_numpy())) for c in self.particles}

    def quantile(self, q: float) -> dict[str, float]:
        return {c: weighted_quantile(self.particles[c].to_numpy(), self.weights, q)
                for c in self.particles}

    def summary(self) -> pd.DataFrame:
        lo, hi, mean = self.quantile(0.05), self.quantile(0.95), self.mean()
        return pd.DataFrame({"parameter": list(mean), "mean": list(mean.values()),
                             "q05": [lo[k] for k in mean], "q95": [hi[k] for k in mean]})

    def draw(self, n: int, seed: int) -> list[dict[str, float]]:
        """``n`` parameter sets drawn by weight (reproducible for a seed)."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C0E]))
        p = self.weights / self.weights.sum()
        idx = rng.choice(len(p), size=n, p=p)
        cols = list(self.particles.columns)
        vals = self.particles.to_numpy()
        return [dict(zip(cols, map(float, vals[i]), strict=True)) for i in idx]


#: Widening of pyabc's perturbation kernel (its multivariate normal with Silverman's
#: bandwidth). With the default 1 the flagship's weights degenerated within three
#: generations (effective sample size 100 -> 19 -> 8 of 100 particles); at 2 the proposal
#: covers the tails where heavy particles came from (100 -> 21 -> 30).
KERNEL_SCALING = 2.0


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    return float(x[order][min(int(np.searchsorted(cw, q)), len(x) - 1)])


class _Model:
    """The pyabc model: free parameters -> summary statistics of a truncated run."""

    def __init__(self, sc: Scenario, targets: TargetSet, names: dict[str, str]):
        self.sc = sc
        self.targets = targets
        self.names = names  # pyabc-safe name -> dotted target path
        self.until = max(targets.years)
        self.static: dict[str, Any] = {}  # the scenario's inflows and routes, compiled once

    def __call__(self, pars: dict[str, float]) -> dict[str, np.ndarray]:
        overrides = {self.names[k]: float(v) for k, v in pars.items()}
        seed = int(np.random.randint(0, 2**31 - 1))  # the sampler seeded this proposal
        try:
            c = compile_scenario(self.sc, overrides=overrides, seed=seed, until=self.until,
                                 static=self.static)
            # a NaN run is just rejected; the profiles feed no target
            res = simulate_compiled(c, generator=self.sc.network.generator,
                                    diagnose=False, profiles=False)
            s = summary_statistics(res, self.targets)
        except NumericalError:
            s = np.full(len(self.targets.keys), np.nan)
        return {"s": s}


class _Distance:
    def __init__(self, targets: TargetSet):
        self.targets = targets

    def __call__(self, x: dict[str, np.ndarray], x0: dict[str, np.ndarray]) -> float:
        s = np.asarray(x["s"], dtype=np.float64)
        if not np.isfinite(s).any():
            return float("inf")
        # an undefined rate (no decisions simulated in a year) counts as a coin flip
        s = np.where(np.isfinite(s), s, 0.5)
        return self.targets.distance(s)


def _prior(free: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    names = {f"p{i:02d}": path for i, path in enumerate(sorted(free))}
    rvs = {}
    for safe, path in names.items():
        lo, hi = free[path].prior
        rvs[safe] = pyabc.RV("uniform", lo, hi - lo)
    return UniformPrior(**rvs), names


class UniformPrior(pyabc.Distribution):
    """pyabc's ``Distribution`` of independent uniform priors, with a density that gives
    SciPy's values without SciPy's per-call overhead.

    Each proposal of a later generation is drawn from the transition kernel until the
    prior density is positive (``pyabc.inference_util.generate_valid_proposal``); near the
    prior's edges that takes tens of tries, each evaluating the density of every
    parameter through ``scipy.stats.uniform.pdf`` (about 50 microseconds a call): some
    30 ms a proposal, an eighth of its simulation. This density is the same product, in
    the same order, of the same factors (``1.0 / scale`` where ``0 <= (x - loc) / scale
    <= 1``, else 0; NaN for NaN or a scale that is not positive), so the proposals,
    weights and posterior do not change; ``tests/test_calibration.py`` compares it with
    SciPy's.
    """

    def pdf(self, x: Any) -> Any:
        if sorted(x.keys()) != sorted(self.keys()) or any(
                rv.name != "uniform" or len(rv.args) != 2 or rv.kwargs
                for rv in self.values()):
            return super().pdf(x)  # pyabc's own error, or another distribution
        res: Any = 1
        first = True
        for key, val in x.items():
            loc, scale = self[key].args
            z = (np.float64(val) - loc) / scale
            if z != z or not scale > 0:
                f = np.float64(np.nan)
            elif 0.0 <= z <= 1.0:
                f = np.float64(1.0) / scale
            else:
                f = np.float64(0.0)
            res = f if first else res * f
            first = False
        return res


class OneModel(pyabc.RV):
    """pyabc's default prior over models for a single model, ``OneModel("randint", 0,
    1)``, whose ``pmf(0)``, asked before every kernel draw is accepted, returns SciPy's
    1.0 without SciPy's per-call overhead (anything else goes to SciPy)."""

    def pmf(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if (not args and not kwargs and self.name == "randint" and self.args == (0, 1)
                and not self.kwargs and type(x) in (int, np.int64) and x == 0):
            return np.float64(1.0)
        return super().pmf(x, *args, **kwargs)


class NormalKernel(pyabc.MultivariateNormalTransition):
    """pyabc's multivariate normal perturbation kernel, drawing the same proposals with
    less overhead per draw.

    pyabc's ``rvs_single`` picks a particle with ``np.random.choice(p=w)``, perturbs it
    with ``np.random.multivariate_normal(0, cov)`` (an SVD of ``cov`` on every call) and
    adds the two as pandas Series: about 0.4 ms a draw, and a proposal takes tens of draws
    near the prior's edges. Here the cumulative weights and the SVD factor are computed
    once per generation (:meth:`fit`) and each draw makes the same calls on NumPy's global
    generator as those two functions (one ``random_sample``, then ``standard_normal`` of
    the dimension) with the same arithmetic, so the proposals are the same numbers and the
    generator ends in the same state; ``tests/test_calibration.py`` checks both.
    """

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        super().fit(X, w)
        self._names = list(X.columns)
        self._values = X.to_numpy()
        cdf = np.asarray(self.w, dtype=np.float64).cumsum()
        cdf /= cdf[-1]
        self._cdf = cdf
        _, s, v = np.linalg.svd(np.array(self.cov).astype(np.double))
        self._factor = np.sqrt(s)[:, None] * v
        self._zero = np.zeros(self._factor.shape[0])

    def rvs_single(self) -> Any:
        u = np.random.random_sample()
        i = self._range[self._cdf.searchsorted(u, side="right")]
        dim = self._zero.size
        x = np.dot(np.random.standard_normal([dim]).reshape(-1, dim), self._factor)
        x += self._zero
        x.shape = (dim,)
        return pyabc.Parameter(dict(zip(self._names, (self._values[i] + x).tolist(),
                                        strict=True)))


def work_dir(store: Store) -> Path:
    """Where pyabc keeps its working database for each named calibration."""
    return store.path.parent / ".onward-calibrations"


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _db_path(store: Store, name: str) -> Path:
    # named after the store file too: stores sharing a folder keep their calibrations apart
    return work_dir(store) / f"{_safe(store.path.name)}--{_safe(name)}.db"


#: names that `onward report` and `onward export` read as a run id (run-0001, 3, latest)
#: or an experiment id (ensemble-1a2b3c...), not as a calibration's name
_ID_LIKE = re.compile(r"^(run-\d+|\d+|latest|(ensemble|compare|sensitivity|destinations)"
                      r"-[0-9a-f]{6,})$", re.IGNORECASE)


def stored_generations(store: Store, name: str) -> pd.DataFrame:
    """The generations of calibration ``name`` already in the store. A busy or unreadable
    store raises (it is not "no generations": a finished calibration would be fitted
    again over its working state)."""
    df = store.read_table("generations") if store.has_table("generations") else pd.DataFrame()
    if "name" not in df.columns:
        return pd.DataFrame(columns=["run_id", "name", "generation", "epsilon", "settings"])
    return df[df.name == name].sort_values("generation").reset_index(drop=True)


def unfinished(gens: pd.DataFrame) -> str | None:
    """Why the calibration whose stored generations are ``gens`` has not finished (None if
    it has): none of its stopping rules (budget, epsilon, generations) held at its last
    stored generation, so it is still running, or was interrupted or killed."""
    last = gens.iloc[-1]
    try:
        settings = json.loads(last.settings)
        budget = int(settings["budget"])
        min_eps = float(settings.get("min_epsilon", 0.0))
        sims = int(last.total_simulations)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None  # written before these were recorded: nothing to say
    if (sims >= budget or float(last.epsilon) <= min_eps
            or int(last.generation) + 1 >= int(settings.get("max_generations",
                                                             MAX_GENERATIONS))):
        return None
    return (f"has not finished: {sims:,} of its {budget:,} simulations after generation "
            f"{int(last.generation)} (it is still running, or was interrupted)")


def load_posterior(name: str, store: str | Path | Store | None = None,
                   generation: int | None = None) -> Posterior:
    """The last (or a given) generation of the named calibration, from the store."""
    st = store if isinstance(store, Store) else Store(store)
    gens = stored_generations(st, name)
    if gens.empty:
        raise CalibrationError(f"no calibration named '{name}' in {st.path}; run "
                               f"{calibrate_command(name)} first")
    g = int(gens.generation.max()) if generation is None else int(generation)
    row = gens[gens.generation == g]
    if row.empty:
        raise CalibrationError(f"calibration '{name}' has generations "
                               f"{gens.generation.tolist()}, not {g}")
    if generation is None:  # (a generation asked for by number is what it is)
        note = unfinished(gens)
        if note:
            warn(UnfinishedCalibration(
                f"calibration '{name}' {note}: its posterior is generation {g}'s, wider than "
                "the finished one will be. Fix: wait for it to finish, or resume it with "
                f"{calibrate_command(name, resume=True)} (or use it knowingly)"))
    run_id = row.run_id.iloc[-1]
    post = st.read_table("posterior", run_id)
    wide = post.pivot(index="particle", columns="parameter", values="value").sort_index()
    weights = post.drop_duplicates("particle").set_index("particle").weight.sort_index()
    out = Posterior(name, g, wide, weights.to_numpy(dtype=np.float64),
                    float(row.epsilon.iloc[-1]))
    if generation is None and out.degenerate:  # said where it is used, not only when fitted
        warn(DegeneratePosterior(
            f"the posterior '{name}' is degenerate (effective sample size {out.ess:.1f} of "
            f"{len(out.weights)} particles): its mean and intervals rest on a few particles, "
            "and draws from it (ensemble, compare, score) repeat a few parameter sets, so "
            "their bands and coverage understate the parameters' uncertainty. Fix: "
            f"calibrate again with a larger {option('budget')} or {option('population')}"))
    return out


def stored_settings(name: str, store: str | Path | Store | None = None) -> dict | None:
    """The settings calibration ``name`` was started with (scenario, its YAML, years,
    seed, ...: the ``settings`` of its generations), or None where the store holds no such
    calibration."""
    st = store if isinstance(store, Store) else Store(store)
    gens = stored_generations(st, name)
    return None if gens.empty else json.loads(gens.settings.iloc[0])


def fitted_scenario(name: str, store: str | Path | Store | None = None) -> Scenario:
    """The scenario calibration ``name`` was fitted to, as it was then (a file, or changed
    calibration years, may differ from the built-in of the same name)."""
    settings = stored_settings(name, store)
    if settings is None:
        load_posterior(name, store)  # raises its clear error: no such calibration
        raise AssertionError("unreachable")  # pragma: no cover
    if "scenario_yaml" in settings:
        return load_text(settings["scenario_yaml"], f"<calibration '{name}'>")
    return load_scenario(settings["scenario"])


def fitted_scenario_name(name: str, store: str | Path | Store | None = None) -> str | None:
    """The name of the scenario calibration ``name`` was fitted to, or None where the
    store holds no such calibration."""
    settings = stored_settings(name, store)
    return None if settings is None else settings.get("scenario")


def with_fitted_split(sc: Scenario, name: str, store: str | Path | Store | None = None
                      ) -> Scenario:
    """``sc`` with the calibration years and held-out years of calibration ``name``: one
    fitted with --calibration-years 2000-2016 fitted 2015-2016, which a run with its
    posterior still marked (and stored) as held out, "never used for fitting"."""
    years = (stored_settings(name, store) or {}).get("years")
    if not years or sorted(years) == sorted(sc.calibration.years):
        return sc
    held = sorted(set(sc.calibration.held_out) - set(years))
    return sc.model_copy(update={"calibration": sc.calibration.model_copy(
        update={"years": sorted(int(y) for y in years), "held_out": held})})


def fitted_not_held_out(sc: Scenario, name: str, store: str | Path | Store | None = None
                        ) -> Scenario:
    """``sc`` with the years calibration ``name`` fitted moved out of its held-out years
    (into its calibration years); its split is otherwise kept. ``onward score cy
    --scenario toy``, cy fitted with --calibration-years 2000-2016, scored 2015-2016 as
    held out, though cy was fitted to them."""
    fitted = set((stored_settings(name, store) or {}).get("years") or [])
    moved = set(sc.calibration.held_out) & fitted
    if not moved:
        return sc
    return sc.model_copy(update={"calibration": sc.calibration.model_copy(update={
        "years": sorted(set(sc.calibration.years) | moved),
        "held_out": sorted(set(sc.calibration.held_out) - moved)})})


def calibrate(scenario: str | Path | Scenario, name: str, *, budget: int = 3000,
              min_epsilon: float = 0.0, population: int | None = None,
              max_generations: int = MAX_GENERATIONS, seed: int = 1, workers: int | None = None,
              scheduler: str | None = None, years: Years | None = None,
              store: str | Path | None = None, resume: bool = False,
              targets: TargetSet | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> Posterior:
    """Fit the scenario's free parameters with ABC-SMC; return the last generation.

    Each finished generation is stored as it completes, so an interrupted calibration can
    be resumed and any stored one read back with :func:`load_posterior`, scored with
    :func:`onward.score` or drawn from by ``onward.ensemble(..., posterior=name)``.

    Parameters
    ----------
    scenario : name of a built-in scenario, path to a YAML file, or a loaded Scenario; its
        parameters marked ``free: true`` (with a prior range) are fitted
    name : the name to store the calibration under (and to load, score or resume it by);
        a name already in the store is refused unless ``resume``
    budget : stop at the end of the generation in which this many simulations have run
        (all generations together); a generation always completes, so the total can pass
        the budget by up to one generation
    min_epsilon : stop once a generation's acceptance threshold is at or below this
    max_generations : stop after this many generations (default 50)
    seed : the seed of the proposals and simulations: the same seed gives the same
        posterior, for any number of workers and whether or not it was resumed
    population : particles per generation (default: budget // 12, within 30..400)
    workers : local processes for the simulations (default: all cores)
    scheduler : run the simulations on a Dask cluster instead: its address (e.g.
        ``"tcp://127.0.0.1:8786"``), a ``distributed.Client`` or a cluster object; the same
        seed gives the same posterior either way
    years : calibration years (default: the scenario's): a year, a pair ``(2000, 2014)``
        for the span 2000..2014 inclusive, a string ``"2000-2014"``, or a list of exactly
        the years to fit; held-out years are refused (to fit one, move it from the
        scenario's ``calibration.held_out`` to its ``calibration.years``)
    store : the results store (a DuckDB file; default: the ``ONWARD_STORE`` environment
        variable if set, else ``./onward.duckdb``); pyabc's working state lies beside it
    resume : continue the calibration ``name`` after its last finished generation
    targets : fit these instead of the packaged data (e.g. synthetic data in a recovery test)
    progress : called as ``progress(stage, done, total)``: ``("generation", t,
        max_generations)`` when generation ``t`` is about to start (the ones before it
        are stored), then ``("particles", accepted, population)`` and ``("simulations",
        run so far, budget)`` as each task of proposals comes back

    Returns
    -------
    Posterior
        The last generation's particles and weights (``.summary()``, ``.draw(n, seed)``).

    Examples
    --------
    >>> post = onward.calibrate("toy", name="fit", budget=300)  # doctest: +SKIP
    >>> post.summary()  # doctest: +SKIP
    """
    check_type(name, "name", "text")
    if not name.strip():  # stored under '', it could be scored or resumed by no name
        raise CalibrationError(f"{option('name', name)}: a calibration needs a name to be "
                               f"stored under. Fix: give one, e.g. {option('name', 'fit')}")
    if _ID_LIKE.match(name.strip()):  # report and export would read it as the id
        raise CalibrationError(
            f"{option('name', name)}: reads as a run or experiment id (run-0001, 3, latest, "
            f"ensemble-...), so {command('onward report NAME', 'onward.report.report(NAME)')} and "
            f"{command('onward export NAME', 'Store().export(NAME, DIR)')} would find a run, not "
            f"this calibration. Fix: give a name of another form, e.g. {option('name', 'fit')}")
    check_type(seed, "seed", "whole")
    _check_settings(budget, population, min_epsilon, max_generations)
    sc = load_scenario(scenario)
    free = sc.free_parameters()
    if not free:
        raise CalibrationError(f"scenario '{sc.name}' marks no parameter free: true; mark "
                               "the ones to fit (with a prior range)")
    if not resume:  # (resuming, the stored one, if anything is to run: _calibrate)
        _check_population(population or default_population(budget), population is None,
                          len(free), sc.name, budget, max_generations)
    fit_years = years_arg(years)
    if targets is None:
        targets = fitting_targets(sc, fit_years)  # (refuses held-out years)
    if fit_years is not None and fit_years != sorted(sc.calibration.years):
        # the split the calibration fitted is the one stored with it (scenario_yaml, and
        # so its hash): score, its figures and --posterior runs read the calibration years
        # from it, as after the command line's --calibration-years. (years=2000-2010 of
        # the toy stored 2000-2014, and score counted 2011-2014, never fitted, as fitted.)
        sc = sc.model_copy(update={"calibration": sc.calibration.model_copy(update={
            "years": fit_years,
            "held_out": sorted(set(sc.calibration.held_out) - set(fit_years))})})
    st = Store(store)
    with st.connect():  # a store it cannot write fails now, not after a generation
        pass
    db = _db_path(st, name)
    db.parent.mkdir(parents=True, exist_ok=True)
    with _only_process(db, name):
        post = _calibrate(sc, name, st, db, free, targets, budget, population, min_epsilon,
                          max_generations, seed, workers, scheduler, resume, progress)
    if post.degenerate:  # (in Python too: the command line printed it, calibrate() not)
        warn(DegeneratePosterior(degenerate_fit_note(post)))
    return post


def degenerate_fit_note(post: Posterior) -> str:
    """What calibrate says of a degenerate posterior it has just fitted (Python's warning
    and the command line's line below the posterior table)."""
    return (f"the weights of '{post.name}' are degenerate (effective sample size "
            f"{post.ess:.1f} of {len(post.weights)} particles): a few particles carry the "
            "posterior, so its credible intervals are too narrow to trust. Fix: a larger "
            f"{option('budget')} or {option('population')}")


@contextlib.contextmanager
def _only_process(db: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock on the calibration's working state while it runs: a second
    process with the same --name on the same store mixed its proposals into the first's
    generations (and crashed on pyabc's weights)."""
    import fcntl

    lock = db.with_name(db.name + ".lock")
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            raise CalibrationError(
                f"calibration '{name}' is being run by another process (PID {pid}) on this "
                f"store. Fix: wait for it to finish (then {option('resume')} or score it), or "
                f"use another {option('name')}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _max_t(hist: Any) -> int:
    """pyabc's last generation index; -1 when there is none (its ``max_t`` is None in a
    database killed before its first population was written)."""
    t = hist.max_t
    return -1 if t is None else int(t)


def _calibrate(sc: Scenario, name: str, st: Store, db: Path, free: dict, targets: TargetSet,
               budget: int, population: int | None, min_epsilon: float,
               max_generations: int, seed: int, workers: int | None,
               scheduler: str | None, resume: bool, progress: Any) -> Posterior:
    """The body of :func:`calibrate`, run while holding the calibration's lock."""
    gens = stored_generations(st, name)
    if not gens.empty and not resume:
        raise CalibrationError(f"a calibration named '{name}' exists in {st.path}; use "
                               f"{option('resume', True, flag='--resume')} to continue it or "
                               f"another {option('name')}")
    if resume and not db.exists():
        if gens.empty:
            raise CalibrationError(f"nothing to resume: no calibration named '{name}' in "
                                   f"{st.path}. Fix: start it without {option('resume')} "
                                   f"({runs_command('calibration')} lists the stored ones)")
        raise CalibrationError(
            f"cannot resume '{name}': its working state {db} is missing (it lies next to "
            f"the store; was the store copied without its .onward-calibrations folder?). Its "
            f"{len(gens)} stored generations still serve {option('posterior', name)} and "
            f"score. Fix: copy that file back, or fit again under another {option('name')}")
    if resume and not gens.empty:
        meta = json.loads(gens.settings.iloc[0])
        if meta["scenario_hash"] != scenario_hash(sc) or meta["seed"] != seed:
            raise CalibrationError(
                f"calibration '{name}' was started with another scenario (a changed file or "
                f"other {option('years', flag='--calibration-years')}) or seed (hash "
                f"{meta['scenario_hash']}, seed {meta['seed']}); resume with the same ones or "
                f"choose another {option('name')}")
        if population is not None and population != int(meta["population"]):
            raise CalibrationError(
                f"calibration '{name}' runs {int(meta['population'])} particles a generation; "
                f"{option('population', population)} cannot change that when resuming. "
                f"Fix: drop {option('population')} (or start another {option('name')})")
        population = int(meta["population"])
        last = gens.iloc[-1]
        if not (int(last.total_simulations) >= budget or float(last.epsilon) <= min_epsilon
                or int(last.generation) + 1 >= max_generations):  # (else nothing runs)
            _check_population(population, False, len(free), sc.name, budget,
                              max_generations, resuming=True)
        from onward.analysis.runs import code_hash  # (looked up at call: tests replace it)

        if meta.get("code", code_hash()) != code_hash():
            warn(
                f"calibration '{name}' was started by other onward code (code hash "
                f"{meta['code']}, now {code_hash()}): its stored generations ran on the old "
                "engine and the rest will run on this one, so the posterior mixes the two. "
                f"Fix: to fit on this code alone, start again under another {option('name')}",
                CalibrationCodeChanged)
    if not resume and db.exists():
        db.unlink()  # an earlier attempt that stored no generation
    pop = population or default_population(budget)
    if resume and gens.empty:  # (starts afresh: nothing of it was stored)
        _check_population(pop, population is None, len(free), sc.name, budget,
                          max_generations)
    prior, names = _prior(free)
    logging.getLogger("ABC").setLevel(logging.WARNING)
    _install_once_filter(logging.getLogger("ABC"))
    logging.getLogger("pyabc").setLevel(logging.WARNING)
    sampler = DeterministicBatchSampler(seed=seed, workers=workers, scheduler=scheduler,
                                        keep_alive=True)
    before_generation = {"simulations": 0}  # the simulations of the finished generations

    def count(accepted: int, n: int) -> None:
        # the simulations count moves with every task, not only at a generation's end
        # (generation 0 of a 3,000-simulation calibration is a quarter of it)
        progress("particles", accepted, n)
        progress("simulations", min(before_generation["simulations"] + sampler.evaluated_,
                                    budget), budget)

    if progress:
        sampler.progress = count

    def make_abc() -> Any:
        return pyabc.ABCSMC(_Model(sc, targets, names), prior, _Distance(targets),
                            population_size=pop, sampler=sampler,
                            transitions=NormalKernel(scaling=KERNEL_SCALING),
                            model_prior=OneModel("randint", 0, 1),
                            eps=pyabc.MedianEpsilon())

    abc = make_abc()
    if resume:
        try:
            abc.load("sqlite:///" + str(db), 1)
            if abc.history.max_t is None:  # killed before pyabc wrote a population
                raise ValueError("the run holds no population")
        except Exception as exc:  # noqa: BLE001
            # pyabc's "Specified id 1 does not exist in database." (ValueError) or its
            # "Database has version 0" (AssertionError): killed while pyabc was creating
            # the file. Without a stored generation nothing is lost by starting afresh,
            # as a start without --resume would (the sampler is deterministic).
            if not gens.empty:
                raise CalibrationError(
                    f"cannot resume '{name}': its working database {db} is unreadable "
                    f"({type(exc).__name__}: {exc}). Fix: start again under another "
                    f"{option('name')} "
                    "(the stored generations stay in the store)") from exc
            db.unlink()
            abc = make_abc()
            abc.new("sqlite:///" + str(db), {"s": np.zeros(len(targets.keys))})
    else:
        abc.new("sqlite:///" + str(db), {"s": np.zeros(len(targets.keys))})
    from onward.analysis.runs import code_hash

    settings = {"scenario": sc.name, "scenario_hash": scenario_hash(sc), "seed": seed,
                "code": code_hash(),
                "population": pop, "budget": budget, "min_epsilon": min_epsilon,
                "max_generations": max_generations,
                "kernel_scaling": KERNEL_SCALING,
                "years": targets.years, "free": {n: list(free[n].prior) for n in free},
                "scenario_yaml": scenario_to_yaml(sc)}
    try:
        while True:
            hist = abc.history
            max_t = _max_t(hist)
            done_sims = int(hist.total_nr_simulations) if max_t >= 0 else 0
            stored = set(stored_generations(st, name).generation.astype(int))
            # write any finished generation that the store does not have yet
            for t in range(0, max_t + 1):
                if t not in stored:
                    _store_generation(st, sc, name, hist, t, names, settings)
            before_generation["simulations"] = done_sims
            if progress:
                progress("simulations", min(done_sims, budget), budget)
            pops = hist.get_all_populations()
            last_eps = float(pops.epsilon.iloc[-1]) if max_t >= 0 else np.inf
            if (max_t + 1 >= max_generations or done_sims >= budget
                    or last_eps <= min_epsilon):
                break
            if progress:
                progress("generation", max_t + 1, max_generations)
            before = max_t
            if before >= 0:
                # Each generation starts from pyabc's database, exactly as a resumed run
                # does. A reused ABCSMC object would set the next epsilon from the prior
                # sample it cached in its first run() (pyabc 0.13), never from the last
                # generation: epsilon would not shrink, and a resumed run would differ.
                abc = make_abc()
                abc.load("sqlite:///" + str(db), 1)
            try:
                with quiet_zero_density():
                    abc.run(max_nr_populations=1, minimum_epsilon=min_epsilon,
                            max_total_nr_simulations=budget)
            except AssertionError as exc:
                if "not normalized" not in str(exc):
                    raise
                raise CalibrationError(_unweighable_note(st, name, before + 1, exc)) from None
            if _max_t(abc.history) == before:  # pyabc stopped without a new generation
                break
    finally:
        sampler.close()
    with warnings.catch_warnings():  # it stopped here, by its rules or because pyabc did
        warnings.simplefilter("ignore", UnfinishedCalibration)
        warnings.simplefilter("ignore", DegeneratePosterior)  # (the command line says it)
        return load_posterior(name, st)


def _unweighable_note(st: Store, name: str, t: int, exc: Exception) -> str:
    """Why generation ``t`` failed with pyabc's "The population total weight nan is not
    normalized": an accepted proposal had kernel density 0. The kernel is a normal
    mixture around the last generation's particles whose covariance (SciPy's, with
    ``allow_singular``) treats a direction with variance under about 2e-10 of the largest
    as null; a proposal drawn along it lies "off the support", so its density is 0 and its
    weight prior / 0. Degenerate weights give such covariances (the toy, --population 13
    --budget 160 --seed 5: generation 3)."""
    gens = stored_generations(st, name)
    last = gens.iloc[-1]
    ess = float(last.get("effective_sample_size", np.nan))
    n = int(last.particles)
    kept = "generation 0 is" if t - 1 == 0 else f"generations 0-{t - 1} are"
    return (f"generation {t} of '{name}' could not be weighted (pyabc: {exc}): the "
            f"perturbation kernel fitted to generation {t - 1} is numerically singular, its "
            f"weights being degenerate (effective sample size {ess:.1f} of {n} particles), "
            "so an accepted proposal got kernel density 0. "
            f"{kept[0].upper() + kept[1:]} stored and can be scored or used with "
            f"{option('posterior', name)} (as a degenerate posterior); resuming fails the "
            f"same way, the proposals being seeded. Fix: calibrate again under another "
            f"{option('name')} with a larger {option('population', 2 * n)}")


def default_population(budget: int) -> int:
    """Particles per generation when none is given: budget // 12, within 30..400."""
    return int(min(400, max(30, budget // 12)))


def _check_population(pop: int, default: bool, n_free: int, scenario: str, budget: int,
                      max_generations: int, resuming: bool = False) -> None:
    """Refuse a population no larger than the number of free parameters when a generation
    after the first can run. From generation 1 on, each proposal is a particle plus a
    normal perturbation whose covariance is the particles' own, of rank at most pop - 1:
    every later particle stays in the affine span of generation 0's, a slice of the prior
    space (9 dimensions of the toy's 12 with 10 particles), and pyabc fails with "The
    population total weight nan is not normalized" once a proposal's kernel density
    rounds to 0 off that slice. The calibration sample and generation 0 take at least
    2 * pop simulations, so a budget of at most that runs generation 0 alone (from the
    prior), which any population can."""
    if pop > n_free or max_generations < 2 or budget <= 2 * pop:
        return
    given = (f"the default population ({pop}, budget // 12 within 30..400)" if default
             else f"the calibration's population of {pop}" if resuming
             else f"{option('population', pop)}")
    fix = (f"start again under another {option('name')} with "
           f"{option('population', n_free + 1)} or more (a resumed calibration keeps its "
           "population)" if resuming else f"{option('population', n_free + 1)} or more")
    raise CalibrationError(
        f"{given} is too few particles for the {n_free} free parameters of '{scenario}': "
        f"from generation 1 on, proposals perturb the particles along their own spread, "
        f"so with no more particles than parameters the fit never leaves a "
        f"{pop - 1}-dimensional slice of the {n_free}-dimensional prior space (and pyabc "
        f"fails once a proposal's density rounds to 0). Fix: {fix}")


def _check_settings(budget: int, population: int | None, min_epsilon: float,
                    max_generations: int) -> None:
    """Refuse settings that cannot give a posterior, before anything runs."""
    check_type(budget, "budget", "whole")
    check_type(population, "population", "whole", optional=True)
    check_type(min_epsilon, "min_epsilon", "number")
    check_type(max_generations, "max_generations", "whole")
    if budget < 1:
        raise CalibrationError(f"{option('budget')} must be at least 1 simulation, got "
                               f"{budget}. Fix: "
                               "give the number of simulations to spend (e.g. 3000)")
    if population is not None and population < 2:
        raise CalibrationError(f"{option('population')} must be at least 2 particles, got "
                               f"{population}. "
                               "Fix: leave it out (budget // 12, within 30..400) or give more")
    if not min_epsilon >= 0:  # (NaN too)
        raise CalibrationError(f"{option('min_epsilon', flag='--epsilon')} must be 0 or more "
                               f"(a distance), got {min_epsilon}. "
                               "Fix: leave it out to stop on the budget alone")
    if max_generations < 1:
        raise CalibrationError(f"max_generations must be at least 1, got {max_generations}")


#: the start of pyabc's warning for a proposal that took 1,000 kernel draws to fall inside
#: the prior (pyabc.inference_util.generate_valid_proposal)
_PRIOR_ZERO = "Unusually many (model, parameter) samples have prior density zero"


class _PriorZeroOnce(logging.Filter):
    """Lets pyabc's prior-density-zero warning through once per process, with what it
    means, and drops the repeats: with many free parameters a calibration printed it
    hundreds of times (once per slow proposal, from every worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(_PRIOR_ZERO):
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = ("pyabc: proposals of the perturbation kernel often fall outside the "
                      "prior ranges (some needed 1,000 draws; shown once per process). This "
                      "slows each proposal. It is common with many free parameters or a "
                      "posterior pressed against a prior's edge: widen that prior if the "
                      "edge is not a real limit, or free fewer parameters")
        record.args = ()
        return True


def _install_once_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, _PriorZeroOnce) for f in logger.filters):
        logger.addFilter(_PriorZeroOnce())


def _store_generation(st: Store, sc: Scenario, name: str, hist: Any, t: int,
                      names: dict[str, str], settings: dict[str, Any]) -> str:
    df, w = hist.get_distribution(m=0, t=t)
    pops = hist.get_all_populations().set_index("t")
    eps = float(pops.loc[t, "epsilon"])
    samples = int(pops.loc[t, "samples"])
    n = len(w)
    long = []
    for k, (_, row) in enumerate(df.iterrows()):
        for safe, path in names.items():
            long.append({"name": name, "generation": t, "particle": k, "parameter": path,
                         "value": float(row[safe]), "weight": float(w[k])})
    gen = pd.DataFrame([{
        "name": name, "generation": t, "epsilon": eps, "particles": n, "samples": samples,
        "acceptance_rate": n / samples if samples else np.nan,
        "effective_sample_size": effective_sample_size(w) if n else np.nan,
        "total_simulations": int(pops.loc[:t, "samples"].sum()),
        "settings": json.dumps(settings),
    }])
    meta = {"kind": "calibration", "scenario": sc.name, "scenario_hash": settings[
        "scenario_hash"], "seed": settings["seed"], "calibration": name, "generation": t,
        "versions": _versions()}
    return st.write_run(meta, {"posterior": pd.DataFrame(long), "generations": gen})


def _versions() -> dict[str, str]:
    from onward.analysis.runs import versions

    v = versions()
    v["pyabc"] = pyabc.__version__
    return v


def default_workers() -> int:
    return os.cpu_count() or 1
