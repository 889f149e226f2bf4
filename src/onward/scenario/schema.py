"""The scenario language: pydantic models of a scenario file.

A scenario says *which* world to simulate (countries and their roles, arrivals, the
attributes of arrivals, every behavioural parameter with its prior and source, networks
and brokers, dated policy events, calibration and held-out years, outputs). The engine
reads only a validated :class:`Scenario`; nothing in the engine knows any country.

Examples
--------
>>> from onward.scenario import load_scenario
>>> sc = load_scenario("nk-onward")
>>> sc.first_country
'KOR'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from onward.scenario.parameters import DESTINATION_PARAMETERS, GLOBAL_PARAMETERS, spec_for

ISO3 = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
_MONTH_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class Month(BaseModel):
    """A calendar date at year, month or day precision; events start on its first day."""

    model_config = ConfigDict(frozen=True)
    year: int
    month: int = 1
    day: int = 1
    precision: Literal["year", "month", "day"] = "year"

    def index(self, start: Month) -> int:
        """Months since ``start`` (the month this date falls in)."""
        return (self.year - start.year) * 12 + (self.month - start.month)

    def __str__(self) -> str:
        if self.precision == "year":
            return f"{self.year:04d}"
        if self.precision == "month":
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


def parse_date(value: Any) -> Month:
    """Parse ``2010``, ``2010-03``, ``2010-03-02`` (or a YAML date) into a :class:`Month`."""
    if isinstance(value, Month):
        return value
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return Month(year=value.year, month=value.month, day=value.day, precision="day")
    if isinstance(value, bool):
        raise ValueError("expected a date like 2010, 2010-03 or 2010-03-02")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("expected a date like 2010, 2010-03 or 2010-03-02")
    m = _MONTH_RE.match(value.strip())
    if not m:
        raise ValueError(f"'{value}' is not a date; write it as 2010, 2010-03 or 2010-03-02")
    year = int(m.group(1))
    month = int(m.group(2) or 1)
    day = int(m.group(3) or 1)
    precision = "day" if m.group(3) else "month" if m.group(2) else "year"
    try:
        dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a valid calendar date ({exc})") from None
    return Month(year=year, month=month, day=day, precision=precision)


class Param(Strict):
    """One behavioural parameter: value, prior range, whether calibration frees it, source."""

    value: float
    prior: tuple[float, float] | None = None
    free: bool = False
    source: str = Field(min_length=1)

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @model_validator(mode="after")
    def _prior_ok(self) -> Param:
        if self.prior is not None:
            lo, hi = self.prior
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise ValueError("prior must be [low, high] with low <= high")
        if self.free and self.prior is None:
            raise ValueError("a free parameter needs a prior range: add prior: [low, high]")
        return self


def _coerce_param(v: Any) -> Any:
    # A bare number is shorthand for a value whose source is the scenario file itself;
    # this keeps small overriding scenarios short.
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"value": v, "source": "set in this scenario"}
    return v


class Country(Strict):
    name: str
    role: Literal["origin", "first_country", "transit", "destination"]


class Destination(Strict):
    """A destination: its asylum system and what it offers, each a :class:`Param`."""

    name: str
    params: dict[str, Param]

    @model_validator(mode="before")
    @classmethod
    def _collect(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "params" in data:
            return data
        name = data.get("name")
        params = {k: _coerce_param(v) for k, v in data.items() if k != "name"}
        return {"name": name, "params": params}

    @model_validator(mode="after")
    def _known(self) -> Destination:
        for key in self.params:
            if key not in DESTINATION_PARAMETERS:
                raise ValueError(
                    f"unknown destination parameter '{key}'; valid: "
                    + ", ".join(sorted(DESTINATION_PARAMETERS))
                )
        missing = sorted(set(DESTINATION_PARAMETERS) - set(self.params))
        if missing:
            raise ValueError("missing destination parameters: " + ", ".join(missing))
        for key, p in self.params.items():
            _check_bounds(DESTINATION_PARAMETERS[key].bounds(), p, key)
        return self

    def model_dump_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for k in DESTINATION_PARAMETERS:
            out[k] = self.params[k].model_dump(exclude_defaults=True)
            out[k]["value"] = self.params[k].value
        return out


def _check_bounds(bounds: tuple[float | None, float | None], p: Param, where: str) -> None:
    lo, hi = bounds
    for label, x in [("value", p.value)] + (
        [("prior low", p.prior[0]), ("prior high", p.prior[1])] if p.prior else []
    ):
        if lo is not None and x < lo or hi is not None and x > hi:
            rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
            raise ValueError(f"{where}: {label} {x} is outside {rng}")
    if p.prior and not (p.prior[0] <= p.value <= p.prior[1]):
        raise ValueError(f"{where}: value {p.value} lies outside its prior {list(p.prior)}")


class Distribution(Strict):
    """A distribution of an attribute of arrivals."""

    kind: Literal["beta", "normal", "lognormal", "poisson", "constant"]
    a: float | None = None
    b: float | None = None
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> Distribution:
        need = {
            "beta": ("a", "b"),
            "normal": ("mean", "sd"),
            "lognormal": ("mean", "sd"),
            "poisson": ("mean",),
            "constant": ("mean",),
        }[self.kind]
        for k in need:
            v = getattr(self, k)
            if v is None:
                raise ValueError(f"a {self.kind} distribution needs '{k}'")
            if not math.isfinite(v):
                raise ValueError(f"'{k}' must be finite")
        for k in ("a", "b", "sd"):
            v = getattr(self, k)
            if v is not None and v <= 0:
                raise ValueError(f"'{k}' must be > 0")
        if self.kind == "poisson" and (self.mean or 0) < 0:
            raise ValueError("poisson mean must be >= 0")
        return self


class Regions(Strict):
    names: list[str] = Field(min_length=1)
    weights: list[float]
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _w(self) -> Regions:
        if len(self.weights) != len(self.names):
            raise ValueError("regions: give one weight per name")
        if any((not math.isfinite(w)) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("regions: weights must be >= 0 and sum to more than 0")
        return self


class Attributes(Strict):
    """Distributions of the attributes of arriving households."""

    female_share: Param | Literal["data"] = "data"
    age: Distribution
    skill: Distribution
    drive: Distribution
    funds: Distribution
    children: Distribution
    socdem_preference: Distribution
    regions: Regions


class Inflow(Strict):
    """Where yearly arrivals in the first country come from."""

    source: Literal["data", "inline"] = "data"
    table: str | None = None
    values: dict[int, float] | None = None
    initial: float | None = Field(default=None, ge=0)
    initial_female_share: float | None = Field(default=None, ge=0, le=1)
    projection: Literal["hold_last", "mean_last_3", "zero"] = "mean_last_3"
    projection_source: str = "assumption: later arrivals equal the mean of the last 3 data years"

    @model_validator(mode="after")
    def _ok(self) -> Inflow:
        if self.source == "inline":
            if not self.values:
                raise ValueError("inline inflow needs values: {year: arrivals, ...}")
            if any((not math.isfinite(v)) or v < 0 for v in self.values.values()):
                raise ValueError("inflow values must be finite counts >= 0")
        elif not self.table:
            raise ValueError("inflow from data needs table: <name> (see `onward data`)")
        return self


class Population(Strict):
    inflow: Inflow
    attributes: Attributes


class Horizon(Strict):
    start: Month
    end: Month

    @field_validator("start", "end", mode="before")
    @classmethod
    def _d(cls, v: Any) -> Month:
        return parse_date(v)

    @model_validator(mode="after")
    def _order(self) -> Horizon:
        if self.end.index(self.start) < 0:
            raise ValueError("horizon end must not be before its start")
        if self.end.index(self.start) > 12 * 200:
            raise ValueError("horizon longer than 200 years; shorten it")
        return self

    @property
    def months(self) -> int:
        return self.end.index(self.start) + 1

    @property
    def years(self) -> list[int]:
        return list(range(self.start.year, self.end.year + 1))


class Event(Strict):
    """A dated change of one parameter: from ``date`` on, ``target`` takes ``value``."""

    id: str | None = None
    date: Month
    target: str
    value: float | None = None
    op: Literal["set", "scale"] = "set"
    label: str = ""
    source: str = ""
    remove: bool = False

    @field_validator("date", mode="before")
    @classmethod
    def _d(cls, v: Any) -> Month:
        return parse_date(v)

    @model_validator(mode="after")
    def _ok(self) -> Event:
        if not self.remove and self.value is None:
            raise ValueError("an event needs a value (or remove: true with an id)")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError("event value must be a finite number")
        return self


class Network(Strict):
    """The social network generator; its numeric settings are in ``parameters.network``."""

    generator: Literal["clustered_pareto"] = "clustered_pareto"


class Decision(Strict):
    """Which decision rule decides moves, and which gates it applies."""

    rule: str = "aspirations_capabilities"
    capability_gating: bool = True
    information_gating: bool = True


def _years(v: Any) -> list[int]:
    if v is None:
        return []
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    if isinstance(v, str):
        m = re.match(r"^\s*(\d{4})\s*-\s*(\d{4})\s*$", v)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise ValueError(f"year range '{v}' runs backwards")
            return list(range(a, b + 1))
        if re.match(r"^\s*\d{4}\s*$", v):
            return [int(v)]
        raise ValueError(f"'{v}' is not a year range; write it like 2000-2012")
    if isinstance(v, list):
        out: list[int] = []
        for x in v:
            out.extend(_years(x))
        return out
    raise ValueError("expected a year range like 2000-2012 or a list of years")


class Calibration(Strict):
    years: list[int]
    held_out: list[int] = []
    targets: list[Literal["first_claims", "uk_grant_rates", "refugee_stocks"]] = ["first_claims"]
    other_excludes: list[ISO3] = []
    target_ard: float = Field(0.3, gt=0)
    target_coverage90: float = Field(0.8, ge=0, le=1)

    @field_validator("years", "held_out", mode="before")
    @classmethod
    def _y(cls, v: Any) -> list[int]:
        return _years(v)

    @model_validator(mode="after")
    def _disjoint(self) -> Calibration:
        both = sorted(set(self.years) & set(self.held_out))
        if both:
            raise ValueError(f"years {both} are both calibration and held-out years")
        return self


OUTPUT_TABLES = (
    "applications",
    "flows",
    "stocks",
    "decisions",
    "brokers",
    "profile",
    "destination_life",
)


class Scenario(Strict):
    """A whole, validated scenario. Load one with :func:`onward.scenario.load_scenario`."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(1, ge=0, lt=2**63)
    horizon: Horizon
    countries: dict[ISO3, Country]
    population: Population
    parameters: dict[str, dict[str, Param]]
    destinations: dict[ISO3, Destination]
    network: Network = Network()
    decision: Decision = Decision()
    events: list[Event] = []
    calibration: Calibration
    outputs: list[str] = list(OUTPUT_TABLES)

    @field_validator("parameters", mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                g: {k: _coerce_param(x) for k, x in grp.items()} if isinstance(grp, dict) else grp
                for g, grp in v.items()
            }
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        roles = {c: x.role for c, x in self.countries.items()}
        firsts = [c for c, r in roles.items() if r == "first_country"]
        if len(firsts) != 1:
            raise ValueError(
                f"countries: exactly one country needs role: first_country (found {len(firsts)})"
            )
        if sum(r == "origin" for r in roles.values()) != 1:
            raise ValueError("countries: exactly one country needs role: origin")
        declared = {c for c, r in roles.items() if r == "destination"}
        for code in self.destinations:
            if code not in declared:
                raise ValueError(
                    f"destinations.{code}: not declared; add it under countries with "
                    "role: destination"
                )
        for code in sorted(declared - set(self.destinations)):
            raise ValueError(f"countries.{code}: declared a destination but has no entry under "
                             "destinations; add one")
        if not declared:
            raise ValueError("countries: declare at least one destination")
        # parameters: every registry entry present, nothing unknown
        given = {f"{g}.{k}" for g, grp in self.parameters.items() for k in grp}
        for key in sorted(given - set(GLOBAL_PARAMETERS)):
            raise ValueError(f"parameters.{key}: unknown parameter; see `onward validate --list`"
                             " or docs/odd.md for the valid names")
        missing = sorted(set(GLOBAL_PARAMETERS) - given)
        if missing:
            raise ValueError("parameters: missing " + ", ".join(missing)
                             + "; add them or extend a built-in scenario (extends: nk-onward)")
        for key, spec in GLOBAL_PARAMETERS.items():
            g, k = key.split(".")
            _check_bounds(spec.bounds(), self.parameters[g][k], f"parameters.{key}")
        # events
        ids: set[str] = set()
        for i, ev in enumerate(self.events):
            where = f"events[{i}]"
            if ev.id:
                if ev.id in ids:
                    raise ValueError(f"{where}: duplicate event id '{ev.id}'")
                ids.add(ev.id)
            if ev.remove:
                raise ValueError(f"{where}: remove: true only works in a scenario that extends "
                                 f"another and names an event id of it")
            parts = ev.target.split(".")
            if parts[0] == "destinations" and len(parts) == 3 and parts[1] not in self.destinations:
                raise ValueError(f"{where}.target: destination '{parts[1]}' is not declared; "
                                 "declare it under countries and destinations")
            spec = spec_for(ev.target)
            if spec is None:
                raise ValueError(
                    f"{where}.target: '{ev.target}' is not a parameter; write "
                    "parameters.<group>.<name> or destinations.<ISO3>.<name>"
                )
            idx = ev.date.index(self.horizon.start)
            if idx < 0 or idx >= self.horizon.months:
                raise ValueError(f"{where}.date: {ev.date} is outside the horizon "
                                 f"{self.horizon.start}..{self.horizon.end}; move it inside")
            if ev.op == "set" and ev.value is not None:
                lo, hi = spec.bounds()
                if lo is not None and ev.value < lo or hi is not None and ev.value > hi:
                    raise ValueError(f"{where}.value: {ev.value} is outside [{lo}, {hi}] for "
                                     f"{spec.name} ({spec.kind})")
            if ev.op == "scale" and ev.value is not None and ev.value < 0:
                raise ValueError(f"{where}.value: a scale factor must be >= 0")
        for code in self.calibration.other_excludes:
            if code in self.destinations:
                raise ValueError(f"calibration.other_excludes: {code} is a named destination")
        unknown_out = sorted(set(self.outputs) - set(OUTPUT_TABLES))
        if unknown_out:
            raise ValueError(f"outputs: unknown {unknown_out}; valid: {list(OUTPUT_TABLES)}")
        return self

    # convenient views -------------------------------------------------------------------
    @property
    def first_country(self) -> str:
        return next(c for c, x in self.countries.items() if x.role == "first_country")

    @property
    def origin(self) -> str:
        return next(c for c, x in self.countries.items() if x.role == "origin")

    @property
    def destination_codes(self) -> list[str]:
        return list(self.destinations)

    def param(self, path: str) -> float:
        """The value of a global parameter, e.g. ``param("integration.glass_ceiling")``."""
        g, k = path.split(".")
        return self.parameters[g][k].value

    def free_parameters(self) -> dict[str, Param]:
        """Parameters marked ``free: true``, by dotted target path."""
        out: dict[str, Param] = {}
        for g, grp in self.parameters.items():
            for k, p in grp.items():
                if p.free:
                    out[f"parameters.{g}.{k}"] = p
        for code, d in self.destinations.items():
            for k, p in d.params.items():
                if p.free:
                    out[f"destinations.{code}.{k}"] = p
        return out
