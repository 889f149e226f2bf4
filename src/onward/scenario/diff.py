"""What one scenario changes against another, in words (for compare's output and report).

A policy analyst's first question of a comparison is what the alternative changes; a report
that offered each scenario's whole YAML (1,800 lines for the flagship) left it to them to
find. :func:`scenario_changes` lists the differences that change a run: parameter values,
events added, removed or changed, destinations, horizon, seed, inflow, decision rule, route
graph. Sources, labels, descriptions and priors are left out (they change no number).
"""

from __future__ import annotations

from typing import Any

from onward.scenario.loader import scenario_to_dict
from onward.scenario.schema import Scenario

#: parts of a scenario that describe rather than define it
_WORDS = {"name", "description", "source", "label", "sources", "note"}


def _value(x: Any) -> Any:
    """A parameter's number (a ``{value, prior, source}`` mapping stands for its value)."""
    return x.get("value") if isinstance(x, dict) and "value" in x else x


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict) and not ("value" in d and prefix):
        for k, v in d.items():
            if k in _WORDS or k in ("prior", "free"):
                continue
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = _value(d)
    return out


def _show(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _event_text(ev: dict[str, Any]) -> str:
    op = ev.get("op", "set")
    how = f"x {_show(ev.get('value'))}" if op == "scale" else f"= {_show(ev.get('value'))}"
    lead = _value(ev.get("lead_months"))
    return (f"{ev.get('date')}: {ev.get('target')} {how}"
            + (f" (lead {_show(lead)} months)" if lead else ""))


def scenario_changes(base: Scenario, alt: Scenario) -> list[str]:
    """The differences of ``alt`` from ``base`` that change a run, one line each (empty when
    they run the same); e.g. ``"event gbr-designation-2010 removed (2010-03: ...)"`` or
    ``"parameters.integration.discrimination_rate: 0.1 -> 0.2"``."""
    a, b = scenario_to_dict(base), scenario_to_dict(alt)
    lines: list[str] = []
    ea = {e.get("id") or f"#{i}": e for i, e in enumerate(a.pop("events", []))}
    eb = {e.get("id") or f"#{i}": e for i, e in enumerate(b.pop("events", []))}
    for key in ea.keys() - eb.keys():
        lines.append(f"event {key} removed ({_event_text(ea[key])})")
    for key in eb.keys() - ea.keys():
        lines.append(f"event {key} added ({_event_text(eb[key])})")
    for key in ea.keys() & eb.keys():
        if _flat(ea[key]) != _flat(eb[key]):
            lines.append(f"event {key}: {_event_text(ea[key])} -> {_event_text(eb[key])}")
    fa, fb = _flat(a), _flat(b)
    for key in sorted(fa.keys() | fb.keys()):
        va, vb = fa.get(key), fb.get(key)
        if va == vb:
            continue
        if key.startswith("routes.") or key.startswith("population.attributes"):
            head = ".".join(key.split(".")[:2])
            line = f"{head} differs"
            if line not in lines:
                lines.append(line)
            continue
        lines.append(f"{key}: {_show(va) if key in fa else '(none)'} -> "
                     f"{_show(vb) if key in fb else '(none)'}")
    order = {"event": 0}
    return sorted(lines, key=lambda s: (order.get(s.split(" ")[0], 1), s))
