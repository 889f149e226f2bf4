"""A self-contained HTML document built from a list of sections.

Figures are embedded as base64 PNG (``data:`` URIs), styles are inline, and nothing is
loaded from anywhere else, so the file opens offline and can be mailed as one attachment.
Any kind of run adds its own sections: a :class:`Section` is a title and an HTML body,
made with the small helpers below.

Examples
--------
>>> from onward.report.html import Section, build_html, paragraph
>>> html = build_html("Demo", [Section("Hello", paragraph("one section"))])
>>> "<h2 id=\\"hello\\">Hello</h2>" in html
True
"""

from __future__ import annotations

import datetime as dt
import html as _html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from onward.analysis.numbers import count_text
from onward.viz.style import png_base64


@dataclass
class Section:
    """One section of a report: a title, an HTML body and an optional anchor id."""

    title: str
    body: str
    id: str | None = None

    @property
    def anchor(self) -> str:
        return self.id or (re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "s")


def esc(text: Any) -> str:
    """HTML-escape ``text``."""
    return _html.escape(str(text), quote=True)


def paragraph(text: str) -> str:
    """A paragraph of plain text (escaped)."""
    return f"<p>{esc(text)}</p>"


def figure(fig: Figure, caption: str = "", alt: str = "", dpi: int = 110) -> str:
    """The figure as an embedded PNG with a caption (the figure is closed)."""
    data = png_base64(fig, dpi=dpi)
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return (f'<figure><img alt="{esc(alt or caption)}" '
            f'src="data:image/png;base64,{data}">{cap}</figure>')


def _cell(v: Any, digits: int) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, (float, np.floating)):
        if float(v).is_integer() or abs(v) >= 100:
            return count_text(v, ",")
        return f"{v:.{digits}g}"
    return esc(v)  # integers as they are (seeds, years: no thousands separators)


def table(df: pd.DataFrame, caption: str = "", max_rows: int = 200, digits: int = 3) -> str:
    """An HTML table of ``df`` (index dropped; at most ``max_rows`` rows, noted)."""
    shown = df.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v, digits)}</td>" for v in r) + "</tr>"
                   for r in shown.itertuples(index=False))
    more = (f"<p class='note'>{len(df) - max_rows:,} more rows not shown.</p>"
            if len(df) > max_rows else "")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<div class='tw'><table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}" \
           f"</tbody></table></div>{more}"


def preformatted(text: str, summary: str | None = None) -> str:
    """Preformatted text (escaped); inside a collapsed ``<details>`` when ``summary``."""
    body = f"<pre>{esc(text)}</pre>"
    return f"<details><summary>{esc(summary)}</summary>{body}</details>" if summary else body


def key_values(items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """A two-column definition table."""
    pairs = items.items() if isinstance(items, Mapping) else items
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table class='kv'><tbody>{rows}</tbody></table>"


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#222;
 max-width:1060px;margin:2em auto;padding:0 1.2em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.1em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
 padding-bottom:.2em;margin-top:2em}.sub{color:#555;margin-top:0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#444;margin-top:.3em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border-bottom:1px solid #e5e5e5;padding:.2em .6em;text-align:right}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
table.kv th{text-align:left;vertical-align:top}table.kv td{text-align:left}
caption{text-align:left;font-weight:bold;padding:.3em 0}
.tw{overflow-x:auto}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.8em}
nav ol{columns:2;font-size:.9em}.note{color:#666;font-size:.85em}
details summary{cursor:pointer;color:#1f5a96}
"""


def build_html(title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole document: a title, a table of contents and the sections, in order."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<li><a href="#{s.anchor}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section><h2 id="{s.anchor}">{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    sub = f"<p class='sub'>{esc(subtitle)}</p>" if subtitle else ""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>{sub}<p class='note'>Written by onward on {now}; "
            "self-contained: opens offline.</p>"
            f"<nav><ol>{toc}</ol></nav>{body}</body></html>\n")


def write_html(path: str | Path, title: str, sections: Sequence[Section],
               subtitle: str = "") -> Path:
    """Write :func:`build_html` to ``path`` (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_html(title, sections, subtitle), encoding="utf-8")
    return path


__all__ = ["Section", "build_html", "esc", "figure", "key_values", "paragraph",
           "preformatted", "table", "write_html"]
