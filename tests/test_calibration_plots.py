"""Calibration figures from synthetic posteriors, bands and observations (no simulation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli

from onward.calibration.abc import Posterior
from onward.calibration.plots import (
    epsilon_trace,
    fitted_vs_observed,
    posterior_marginals,
    posterior_pairs,
    short_name,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PRIORS = {"parameters.integration.glass_ceiling": (0.0, 1.0),
          "destinations.GBR.recognition_rate": (0.2, 0.9),
          "parameters.network.tie_strength": (-2.0, 2.0)}


@pytest.fixture(scope="module")
def post() -> Posterior:
    rng = np.random.default_rng(3)
    n = 300
    parts = pd.DataFrame({
        "parameters.integration.glass_ceiling": rng.beta(4, 8, n),
        "destinations.GBR.recognition_rate": rng.uniform(0.2, 0.9, n),
        "parameters.network.tie_strength": rng.normal(0.5, 0.3, n),
    })
    return Posterior("synthetic", 4, parts, rng.gamma(2.0, 1.0, n), 0.123)


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    rows, obs = [], []
    for d, level in (("DEU", 5000.0), ("GBR", 1200.0), ("SWE", 40.0), ("OTH", 3.0)):
        for y in range(2012, 2023):
            m = level * (1 + 0.1 * (y - 2012))
            rows.append((y, d, m, 0.6 * m, 0.85 * m, 1.15 * m, 1.4 * m))
            v = 5.0 if d == "OTH" and y % 2 else float(round(m * rng.uniform(0.8, 1.2)))
            lo, hi = (1.0, 5.0) if v == 5 else (v, v)
            obs.append(("first_claims", d, y, v, lo, hi))
    bands = pd.DataFrame(rows, columns=["year", "destination", "median", "q05", "q25", "q75",
                                        "q95"])
    observed = pd.DataFrame(obs, columns=["family", "destination", "year", "observed",
                                          "lower", "upper"])
    return bands, observed


def _check(paths: list[Path]) -> None:
    assert sorted(p.suffix for p in paths) == [".png", ".svg"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 10_000, p
    png = next(p for p in paths if p.suffix == ".png")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    svg = next(p for p in paths if p.suffix == ".svg")
    assert "<svg" in svg.read_text()[:2000]


def test_short_name() -> None:
    assert short_name("parameters.integration.glass_ceiling") == "integration: glass ceiling"
    assert short_name("destinations.GBR.recognition_rate") == "GBR: recognition rate"
    assert short_name("alpha") == "alpha"


def test_posterior_marginals(post: Posterior, tmp_path: Path) -> None:
    _check(posterior_marginals(post, PRIORS, tmp_path / "marginals.png"))
    _check(posterior_marginals(post, None, tmp_path / "noprior"))


def test_posterior_pairs(post: Posterior, tmp_path: Path) -> None:
    _check(posterior_pairs(post, tmp_path / "pairs"))
    _check(posterior_pairs(post, tmp_path / "pairs2", max_params=2, priors=PRIORS))


def test_fitted_vs_observed(frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    bands, observed = frames
    paths = fitted_vs_observed(bands, observed, list(range(2012, 2020)), [2020, 2021, 2022],
                               tmp_path / "fit")
    _check(paths)
    svg = next(p for p in paths if p.suffix == ".svg").read_text()
    assert "held out" in svg
    _check(fitted_vs_observed(bands, None, list(range(2012, 2023)), [], tmp_path / "nofit",
                              destinations=["GBR"]))


def test_epsilon_trace(tmp_path: Path) -> None:
    gens = pd.DataFrame({"generation": range(6),
                         "epsilon": [5.0, 2.1, 1.0, 0.6, 0.4, 0.3],
                         "acceptance_rate": [1.0, 0.5, 0.3, 0.2, 0.12, 0.08],
                         "total_simulations": [200, 600, 1300, 2400, 4000, 6500],
                         "settings": [json.dumps({"free": PRIORS})] * 6})
    _check(epsilon_trace(gens, tmp_path / "eps.svg"))


def test_epsilon_trace_labels_a_narrow_range_and_one_generation(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """Epsilon from 3.48 to 3.22 drew a log axis with no labelled tick (a small fall looked
    large); one generation had a generation axis from -0.045 to 0.045."""
    from onward.calibration import plots

    figs = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figs.append(fig), real(fig, path))[1])
    narrow = pd.DataFrame({"generation": [0, 1, 2], "epsilon": [3.48, 3.22, 2.94],
                           "acceptance_rate": [0.5, 0.4, 0.3]})
    _check(epsilon_trace(narrow, tmp_path / "narrow.svg"))
    ax = figs[-1].axes[0]
    figs[-1].canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ax.get_yscale() == "linear" and len(labels) >= 3 and ax.get_ylim()[0] == 0
    wide = narrow.assign(epsilon=[50.0, 4.0, 1.0])
    epsilon_trace(wide, tmp_path / "wide.svg")
    assert figs[-1].axes[0].get_yscale() == "log"
    epsilon_trace(narrow.iloc[:1], tmp_path / "one.svg")
    assert figs[-1].axes[0].get_xlim() == (-0.5, 0.5)


def test_score_with_figures_says_a_posterior_warning_once(tmp_path):
    """`onward score fit --figures DIR` printed "the posterior 'fit' is degenerate ..." twice:
    score read the posterior, then the figures read it again. It is said once."""
    from test_arguments import fake_calibration

    fake_calibration(tmp_path / "s.duckdb", particles=30, weights=[1.0] + [1e-6] * 29)
    proc = cli("score", "fit", "--draws", "2", "--figures", "figs", "--store", "s.duckdb",
               "-q", cwd=tmp_path)
    said = " ".join(proc.stderr.split())
    assert said.count("the posterior 'fit' is degenerate") == 1, proc.stderr
    assert (tmp_path / "figs" / "fit_posterior_marginals.png").exists()
