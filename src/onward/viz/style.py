"""Shared look of onward's figures, and writing them (PNG + SVG) or embedding them.

Outside Jupyter, matplotlib runs on the non-interactive Agg backend: no display and no
browser are needed. Inside a Jupyter kernel the notebook's own (inline) backend is kept,
so figures returned by a cell are shown.
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: rcParams of every onward figure (the same as the calibration figures).
STYLE = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "svg.fonttype": "none", "figure.dpi": 100,
    "axes.titlelocation": "left", "axes.titleweight": "bold",
}
BLUE, ORANGE, GREY, DARK, RED, GREEN = ("#1f5a96", "#d9661f", "#bdbdbd", "#222222",
                                        "#b2182b", "#1b7837")
#: One colour per destination code, stable across figures (unknown codes cycle GREYS).
DEST_COLORS = {
    "GBR": "#1f5a96", "CAN": "#d9661f", "DEU": "#4d4d4d", "NLD": "#e6a817",
    "BEL": "#8c510a", "AUS": "#1b7837", "NOR": "#b2182b", "USA": "#6a3d9a",
    "OTH": "#9e9e9e",
}
_EXTRA = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f"]
#: Colours of the agent states.
STATE_COLORS = {
    "first_country": "#1f5a96", "transit": "#e6a817", "claimant": "#d9661f",
    "recognised": "#1b7837", "irregular": "#b2182b", "pending": "#bdbdbd",
}
DPI = 200


def dest_color(code: str, i: int = 0) -> str:
    """The colour of destination ``code`` (a fixed palette; others cycle)."""
    return DEST_COLORS.get(code, _EXTRA[i % len(_EXTRA)])


def save(fig: Figure, path: str | Path, dpi: int = DPI, close: bool = True) -> list[Path]:
    """Write ``fig`` as PNG and SVG next to each other; return the two paths.

    The suffix of ``path`` (``.png``, ``.svg``, ``.pdf`` or none) is replaced.

    Examples
    --------
    >>> from onward.viz import save, uk_applications
    >>> save(uk_applications(res.applications, observed), "figs/uk")  # doctest: +SKIP
    [PosixPath('figs/uk.png'), PosixPath('figs/uk.svg')]
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("") if path.suffix.lower() in {".png", ".svg", ".pdf"} else path
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(out[0], dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(out[1], bbox_inches="tight", metadata={"Date": None})
    if close:
        plt.close(fig)
    return out


def png_base64(fig: Figure, dpi: int = 130, close: bool = True) -> str:
    """The figure as a base64-encoded PNG (for ``<img src="data:image/png;base64,...">``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    if close:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def thousands(v: float, _pos: object = None) -> str:
    """Tick label: 1500 -> '1.5k'."""
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"


def year_runs(years: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of years: [2013, 2014, 2015, 2018] -> [(2013, 2015), (2018, 2018)]."""
    out: list[tuple[int, int]] = []
    for y in sorted(years):
        if out and y == out[-1][1] + 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out
