"""The ARD a calibration target asks for, against the model's own noise.

    python scripts/ard_floor.py --calibration fit --store s.duckdb [--runs 60]

Runs the scenario ``--runs`` times with the posterior mean of a stored calibration (one set
of parameters, new seeds), up to its last calibration year. Each of the first 20 runs then
plays the data: the median of 40 of the others is scored against it with the ARD of
``onward score`` (first claims, the scenario's named destinations, the cells that have
observed data). The mean is the ARD that the model would score if it were exactly right with
these parameters: its noise floor. ``onward score`` prints a related floor (its "ard floor"
column), which also includes the posterior's spread.
"""

from __future__ import annotations

import argparse

import numpy as np

from onward.calibration.abc import load_posterior
from onward.calibration.targets import fitting_targets
from onward.engine.compile import compile_scenario
from onward.engine.model import simulate_compiled
from onward.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calibration", required=True)
    ap.add_argument("--store", default=None)
    ap.add_argument("--scenario", default="nk-onward")
    ap.add_argument("--runs", type=int, default=60)
    a = ap.parse_args()
    if a.runs < 42:
        ap.error("--runs must be at least 42 (20 pseudo-observations, medians of 40)")
    sc = load_scenario(a.scenario)
    pars = load_posterior(a.calibration, a.store).mean()
    cells = fitting_targets(sc).frame()
    cells = cells[(cells.family == "first_claims") & (cells.destination != "OTH")]
    last = max(sc.calibration.years)
    static: dict = {}
    sims = []
    for s in range(a.runs):
        c = compile_scenario(sc, overrides=pars, seed=1000 + s, until=last, static=static)
        r = simulate_compiled(c, profiles=False)
        years, tot = r.recorder.yearly_flow("claims", c.years())
        got = {(d, int(y)): float(tot[k, j]) for k, y in enumerate(years)
               for j, d in enumerate(c.destinations)}
        sims.append([got.get((row.destination, row.year), 0.0) for row in cells.itertuples()])
    m = np.array(sims)

    def floor(mask: np.ndarray) -> np.ndarray:
        out = []
        for k in range(20):
            med = np.median(np.delete(m, k, axis=0)[:40][:, mask], axis=0)
            out.append(np.abs(med - m[k, mask]).sum() / max(m[k, mask].sum(), 1.0))
        return np.array(out)

    every = floor(np.ones(len(cells), dtype=bool))
    print(f"{len(cells)} cells; simulated first claims per run {m.sum(1).mean():.0f} "
          f"(observed {cells.observed.sum():.0f})")
    print(f"ARD floor overall: mean {every.mean():.3f}, range {every.min():.3f}-{every.max():.3f}")
    for d in ("GBR", "CAN"):
        mask = (cells.destination == d).to_numpy()
        if mask.any():
            print(f"ARD floor {d}: mean {floor(mask).mean():.3f}")


if __name__ == "__main__":
    main()
