"""Regenerate the README figures in docs/img/ (run from the repository root).

    python -m onward.viz.readme            # writes docs/img/uk_applications.png, routes.png

The UK figure is an ensemble of the flagship (8 replicates, master seed 1, into a
temporary store) so it shows bands; the routes figure is one run with seed 1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from onward import viz

DPI = 130


def write(out_dir: str | Path = "docs/img", n: int = 8, seed: int = 1,
          workers: int | None = None) -> list[Path]:
    """Write the README figures into ``out_dir``; return their paths."""
    import onward
    from onward.experiments.ensemble import ensemble
    from onward.scenario import load_scenario

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sc = load_scenario("nk-onward")
    obs = viz.observed_claims(sc)
    with tempfile.TemporaryDirectory() as tmp:
        ens = ensemble(sc, n=n, seed=seed, store=Path(tmp) / "readme.duckdb",
                       workers=workers)
    res = onward.simulate(sc, seed=seed)
    t = res.tables()
    figs = {
        "uk_applications.png": viz.uk_applications(ens.values, obs,
                                                   held_out=sc.calibration.held_out),
        "routes.png": viz.routes_sankey(t["flows"], t["stocks"]),
    }
    paths = []
    for name, fig in figs.items():
        path = out / name
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/img", help="folder (default docs/img)")
    p.add_argument("-n", type=int, default=8, help="replicates of the ensemble")
    args = p.parse_args()
    for path in write(args.out, n=args.n):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
