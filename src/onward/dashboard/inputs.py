"""What a scenario lets the dashboard change, and the server-side check of what a page sends.

Everything that arrives from a browser is untrusted: a page can send any value over its
websocket, whatever range its slider shows. :func:`check_setting` turns a :class:`Setting`
into a validated :class:`~onward.scenario.Scenario` (the chosen values written in as base
values, the moved event re-dated) by going through the scenario language's own validation,
so the dashboard accepts exactly what a scenario file would. Every problem becomes one
line in :class:`InputError`; nothing else is raised.

Examples
--------
>>> from onward.scenario import load_scenario
>>> sc = load_scenario("toy")
>>> [s.target for s in sliders(sc)][:2]
['parameters.integration.discrimination_rate', 'parameters.integration.hiring_discrimination']
>>> check_setting(sc, Setting(seed="abc")).seed  # doctest: +SKIP
Traceback (most recent call last):
InputError: Seed: 'abc' is not a whole number. Fix: type a number such as 1
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from onward.scenario import Scenario, ScenarioError, scenario_to_dict
from onward.scenario.loader import validate_dict
from onward.scenario.parameters import ParamSpec, spec_for

#: The main parameters, as (override target, label). Recognition rates are added per
#: destination by :func:`sliders`.
MAIN_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("parameters.integration.discrimination_rate", "Discrimination (monthly chance of an event)"),
    ("parameters.integration.hiring_discrimination", "Hiring discrimination (share of offers)"),
    ("parameters.resettlement.support_months", "Settlement support (months)"),
    ("parameters.brokers.contacts", "Broker reach (contacts per month)"),
)
#: Longest text accepted in any field; longer input is refused before it is parsed.
MAX_TEXT = 4000
#: Most lines accepted in the free-form overrides field.
MAX_OVERRIDE_LINES = 40
_FNAME = "dashboard"
#: The policy event choice that moves none.
NO_EVENT = "(leave events as they are)"


class InputError(ValueError):
    """One or more values from the page are unusable; ``messages`` has one line each."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


@dataclass(frozen=True)
class Slider:
    """One slider: the parameter it sets, its label and the range it shows."""

    target: str
    label: str
    low: float
    high: float
    step: float
    default: float
    unit: str


@dataclass(frozen=True)
class EventChoice:
    """A dated policy event of the scenario that the page may move."""

    key: str
    label: str
    date: str


@dataclass
class Setting:
    """What one page asks for; every field is raw input, checked by :func:`check_setting`."""

    values: dict[str, Any] = field(default_factory=dict)
    seed: Any = ""
    until: Any = ""
    event: Any = ""
    event_date: Any = ""
    overrides: Any = ""


@dataclass(frozen=True)
class Checked:
    """A setting that passed every check: the scenario to run and how to describe it."""

    scenario: Scenario
    seed: int | None
    until: int | None
    changes: dict[str, float]
    moved_event: tuple[str, str] | None
    description: str


# ---------------------------------------------------------------------------- controls


def _nice_step(span: float, months: bool) -> float:
    if months:
        return 1.0
    raw = span / 100 if span > 0 else 0.01
    power = 10 ** math.floor(math.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10) if m * power >= raw), default=raw))


def _slider(target: str, label: str, spec: ParamSpec, value: float,
            prior: tuple[float, float] | None) -> Slider:
    lo, hi = spec.bounds()
    if prior is not None:
        low, high = prior
    else:
        low = lo if lo is not None else min(0.0, value)
        high = hi if hi is not None else max(2 * abs(value), value + 1)
    low, high = min(low, value), max(high, value)
    if lo is not None:
        low = max(low, lo)
    if hi is not None:
        high = min(high, hi)
    step = _nice_step(high - low, spec.kind == "months")
    return Slider(target, label, float(low), float(high), step, float(value), spec.unit)


def sliders(sc: Scenario) -> list[Slider]:
    """The sliders for ``sc``: the main parameters, then recognition rates per destination.

    A recognition rate gets a slider for each destination whose rate is marked ``free`` (the
    ones calibration fits); if none is, for every destination. Ranges are the priors.
    """
    out: list[Slider] = []
    for target, label in MAIN_PARAMETERS:
        _, group, name = target.split(".")
        p = sc.parameters.get(group, {}).get(name)
        spec = spec_for(target)
        if p is not None and spec is not None:
            out.append(_slider(target, label, spec, p.value, p.prior))
    free = [c for c, d in sc.destinations.items() if d.params["recognition_rate"].free]
    spec = spec_for("destinations.X.recognition_rate")
    assert spec is not None
    for code in free or list(sc.destinations):
        p = sc.destinations[code].params["recognition_rate"]
        name = sc.destinations[code].name
        out.append(_slider(f"destinations.{code}.recognition_rate",
                           f"Recognition rate: {name}", spec, p.value, p.prior))
    return out


def events(sc: Scenario) -> list[EventChoice]:
    """The scenario's dated events, in date order, keyed by id (or position)."""
    out = []
    order = sorted(range(len(sc.events)), key=lambda i: sc.events[i].date.index(sc.horizon.start))
    for i in order:
        ev = sc.events[i]
        key = ev.id or f"#{i}"
        text = ev.label or ev.target
        label = f"{ev.date}: {text}"
        out.append(EventChoice(key, label if len(label) <= 64 else label[:61] + "...",
                               str(ev.date)))
    return out


def focus_destination(sc: Scenario) -> str:
    """The destination whose total the page shows first: GBR if simulated, else the first."""
    return "GBR" if "GBR" in sc.destinations else sc.destination_codes[0]


# ---------------------------------------------------------------------------- checking


def _text(value: Any, what: str, problems: list[str]) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.append(f"{what}: expected text or a number, got {type(value).__name__}. "
                        "Fix: type a value")
        return None
    text = str(value)
    if len(text) > MAX_TEXT:
        problems.append(f"{what}: {len(text)} characters; at most {MAX_TEXT}. Fix: shorten it")
        return None
    return text.strip()


def _number(value: Any, what: str, problems: list[str]) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    else:
        text = _text(value, what, problems)
        if text is None:
            return None
        try:
            x = float(text.replace(",", "."))
        except ValueError:
            problems.append(f"{what}: {text[:40]!r} is not a number. Fix: type a number such "
                            "as 0.25")
            return None
    if not math.isfinite(x):
        problems.append(f"{what}: {x} is not a finite number. Fix: type a number such as 0.25")
        return None
    return x


def _whole(value: Any, what: str, low: int, high: int, problems: list[str]) -> int | None:
    text = _text(value, what, problems)
    if text is None or text == "":
        return None
    try:
        n = int(text)
    except ValueError:
        problems.append(f"{what}: {text[:40]!r} is not a whole number. Fix: type a number "
                        f"from {low} to {high}, or leave it empty")
        return None
    if not low <= n <= high:
        problems.append(f"{what}: {n} is outside {low}..{high}. Fix: type a number from "
                        f"{low} to {high}, or leave it empty")
        return None
    return n


def _parse_overrides(text: str, problems: list[str]) -> list[tuple[str, Any]]:
    lines = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) > MAX_OVERRIDE_LINES:
        problems.append(f"Overrides: {len(lines)} lines; at most {MAX_OVERRIDE_LINES}. Fix: "
                        "write a scenario file for bigger changes")
        return []
    out = []
    for ln in lines:
        target, sep, value = ln.partition("=")
        if not sep:
            problems.append(f"Overrides: {ln[:60]!r} has no '='. Fix: write one "
                            "'parameters.<group>.<name> = <value>' or "
                            "'destinations.<ISO3>.<name> = <value>' per line")
            continue
        out.append((target.strip(), value.strip()))
    return out


def override_targets(text: str) -> set[str]:
    """The targets the overrides field sets, read as :func:`check_setting` reads them
    (comments and blank lines skipped; lines without '=' are its messages' business)."""
    return {target for target, _ in _parse_overrides(text, [])}


def _apply(data: dict[str, Any], sc: Scenario, target: str, value: float,
           what: str, problems: list[str]) -> bool:
    """Write ``value`` as the base value of ``target`` into the scenario mapping ``data``
    (an event's ``events.<id>.lead_months`` too, as a stored posterior run sets it)."""
    spec = spec_for(target)
    parts = target.split(".")
    if len(parts) == 3 and parts[0] == "events" and parts[2] == "lead_months":
        index = next((i for i, ev in enumerate(sc.events) if ev.id == parts[1]), None)
        if index is None:
            problems.append(f"{what}: {parts[1][:60]!r} is not an event id of scenario "
                            f"{sc.name}. Fix: use one of "
                            f"{', '.join(ev.id for ev in sc.events if ev.id) or 'none'}")
            return False
        data["events"][index]["lead_months"] = {"value": value, "source": "dashboard"}
        return True
    if spec is None and spec_for(f"parameters.{target}") is not None:
        # a global parameter without its "parameters." (as `onward validate --list` printed it)
        problems.append(f"{what}: {target[:80]!r} is not a parameter. Fix: write "
                        f"parameters.{target}")
        return False
    if spec is None:
        problems.append(f"{what}: {target[:80]!r} is not a parameter. Fix: write "
                        "parameters.<group>.<name> or destinations.<ISO3>.<name> (see "
                        "`onward validate --list`)")
        return False
    if parts[0] == "destinations":
        if parts[1] not in sc.destinations:
            problems.append(f"{what}: destination {parts[1]!r} is not in scenario "
                            f"{sc.name}. Fix: use one of {', '.join(sc.destinations)}")
            return False
        entry = data["destinations"][parts[1]][parts[2]]
    else:
        entry = data["parameters"][parts[1]][parts[2]]
    # The chosen value replaces the base value; a prior describes the scenario's belief
    # about the base value, so it (and "free", which needs it) no longer applies.
    entry.pop("prior", None)
    entry.pop("free", None)
    entry["value"] = value
    return True


def _short_label(target: str) -> str:
    parts = target.split(".")
    if len(parts) != 3:  # not a parameter (said by _apply): the text as typed
        return target
    return f"{parts[1]} {parts[2]}" if parts[0] in ("destinations", "events") else parts[2]


def check_setting(sc: Scenario, setting: Setting) -> Checked:
    """Check every value of ``setting`` against ``sc``; raise :class:`InputError` if any is bad.

    Returns the scenario with the values written in (validated as a scenario file would be,
    so cross-parameter rules hold too), the seed and last year to run, and a description.
    """
    problems: list[str] = []
    allowed = {s.target: s for s in sliders(sc)}
    changes: dict[str, float] = {}
    values = setting.values if isinstance(setting.values, dict) else {}
    if not isinstance(setting.values, dict):
        problems.append("Sliders: the page sent no values. Fix: reload the page")
    for target, raw in values.items():
        slider = allowed.get(target) if isinstance(target, str) else None
        if slider is None:
            problems.append(f"Sliders: {str(target)[:80]!r} is not a control of scenario "
                            f"{sc.name}. Fix: reload the page")
            continue
        x = _number(raw, slider.label, problems)
        if x is not None and x != slider.default:
            changes[target] = x
    text = _text(setting.overrides, "Overrides", problems)
    for target, raw in _parse_overrides(text or "", problems):
        x = _number(raw, f"Overrides: {target[:60]}", problems)
        if x is not None:
            changes[target] = x
    first, last = sc.horizon.start.year, sc.horizon.end.year
    seed = _whole(setting.seed, "Seed", 0, 2**63 - 1, problems)
    until = _whole(setting.until, "Last year", first, last, problems)

    data = scenario_to_dict(sc)
    for target, x in changes.items():
        _apply(data, sc, target, x, f"{_short_label(target)}", problems)
    moved: tuple[str, str] | None = None
    event_key = _text(setting.event, "Policy event", problems)
    date_text = _text(setting.event_date, "Policy date", problems)
    if event_key:
        keys = {c.key: c for c in events(sc)}
        if event_key not in keys:
            problems.append(f"Policy event: {event_key[:60]!r} is not an event of scenario "
                            f"{sc.name}. Fix: pick one from the list")
        elif date_text and date_text != keys[event_key].date:
            index = next(i for i, ev in enumerate(sc.events)
                         if (ev.id or f"#{i}") == event_key)
            data["events"][index]["date"] = date_text
            moved = (event_key, date_text)
    if problems:
        raise InputError(problems)
    try:
        new = validate_dict(data, fname=_FNAME)
    except ScenarioError as exc:
        raise InputError([_plain_message(m) for m in exc.messages]) from None
    bits = [sc.name] + [f"{_short_label(t)} {x:g}" for t, x in changes.items()]
    if moved:
        bits.append(f"{moved[0]} on {moved[1]}")
    if seed is not None:
        bits.append(f"seed {seed}")
    if until is not None:
        bits.append(f"to {until}")
    return Checked(new, seed, until, changes, moved, " · ".join(bits))


_OUTSIDE = re.compile(r"^(Policy date: .* is outside the horizon (\S+)\.\.(\S+?))[ .].*$")


def _plain_message(message: str) -> str:
    """Drop the file part of a scenario message (on the page there is no file), and give a
    fix that can be done on the page: the file's (widen the horizon, or drop the event with
    YAML under events) cannot."""
    message = message.removeprefix(f"{_FNAME}: ")
    message = re.sub(r"^events\[\d+\]\.date:", "Policy date:", message)
    outside = _OUTSIDE.match(message)
    if outside:
        head, start, end = outside.groups()
        return (f"{head}. Fix: type a policy date from {start} to {end}, or pick "
                f"{NO_EVENT!r} under 'Policy event to move' to leave the event where it is")
    return message
