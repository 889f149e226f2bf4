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
    ValidationInfo,
    field_validator,
    model_validator,
)

from onward.options import command, parameters_command
from onward.scenario.parameters import (
    DESTINATION_PARAMETERS,
    GLOBAL_PARAMETERS,
    SETUP_ONLY,
    ParamSpec,
    spec_for,
)

ISO3 = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
#: destinations per scenario (claims are tracked per destination in one 64-bit mask)
MAX_DESTINATIONS = 64
_MONTH_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_DATE_FIX = "write the date as 2010, 2010-03 or 2010-03-02"

FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """``("events", 3, "date")`` as ``events[3].date``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


class FieldError(ValueError):
    """A validation problem with a field below the model being validated, and its fix.

    ``path`` is relative to that model (``("events", 3, "date")`` when raised by
    :class:`Scenario`); the loader appends it to pydantic's location to name the field and
    find its line, and shows ``fix`` as the remedy. ``str()`` keeps the path in front.
    ``also``: other fields that share the blame (two fields that clash); the loader names
    whichever of them the file being loaded wrote, rather than its base's.
    """

    def __init__(self, path: FieldPath, problem: str, fix: str = "",
                 also: tuple[FieldPath, ...] = ()) -> None:
        self.path = path
        self.problem = problem
        self.fix = fix
        self.also = also
        super().__init__(f"{dotted(path)}: {problem}" if path else problem)


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
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FieldError((), f"expected a date, got {type(value).__name__}", _DATE_FIX)
    if isinstance(value, int):
        value = str(value)
    m = _MONTH_RE.match(value.strip())
    if not m:
        raise FieldError((), f"{value!r} is not a date", _DATE_FIX)
    year = int(m.group(1))
    month = int(m.group(2) or 1)
    day = int(m.group(3) or 1)
    precision = "day" if m.group(3) else "month" if m.group(2) else "year"
    try:
        dt.date(year, month, day)
    except ValueError as exc:
        raise FieldError((), f"{value!r} is not a valid calendar date ({exc})",
                         _DATE_FIX) from None
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
            raise FieldError((), f"must be a finite number, not {v}",
                             "write a number such as 0.5 (not .nan or .inf)")
        return v

    @model_validator(mode="after")
    def _prior_ok(self) -> Param:
        if self.prior is not None:
            lo, hi = self.prior
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                raise FieldError(("prior",), f"prior {list(self.prior)} is not a range",
                                 "write two finite numbers with low <= high, e.g. "
                                 "prior: [0.1, 0.9]")
        if self.free and self.prior is None:
            raise FieldError(("prior",), "a free parameter needs a prior range",
                             "add a range such as prior: [0, 1] (low, high), or set free: "
                             "false")
        return self


def _some(names: list[str], n: int = 8) -> str:
    """``a, b, c`` or, for a long list, its first ``n`` and how many more."""
    more = f" and {len(names) - n} more" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _span(years: list[int]) -> str:
    """``2016-2018`` for consecutive years, else ``2016, 2019``."""
    ys = sorted(years)
    if len(ys) > 1 and ys[-1] - ys[0] == len(ys) - 1:
        return f"{ys[0]}-{ys[-1]}"
    return _some([str(y) for y in ys])


def _coerce_param(v: Any, path: FieldPath = ()) -> Any:
    # A bare number is shorthand for a value whose source is the scenario file itself;
    # this keeps small overriding scenarios short.
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"value": v, "source": "set in this scenario"}
    if isinstance(v, str):
        try:
            float(v)
        except ValueError:
            raise FieldError(path, f"{v!r} is not a number", "write a number (a bare number "
                             "sets the value), or a mapping with value: and source:") from None
        raise FieldError(path, f"{v!r} is text (a number in quotes)",
                         f"write {v.strip()} without the quotes")
    if isinstance(v, bool):  # YAML reads yes/no/true/false/on/off as booleans
        raise FieldError(path, f"{'yes' if v else 'no'} (read as {v}) is not a number",
                         f"write {int(v)} ({'yes' if v else 'no'} as a number: 1 for yes, 0 "
                         "for no)")
    if v is None:
        raise FieldError(path, "no value (the key is there, its value is empty)",
                         "write a number after the colon, or delete the line")
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
        params = {k: _coerce_param(v, (k,)) for k, v in data.items() if k != "name"}
        # a name left out is missing (not None, which read as "not a valid string")
        return {"params": params} | ({"name": data["name"]} if "name" in data else {})

    @model_validator(mode="after")
    def _known(self) -> Destination:
        for key in self.params:
            if key not in DESTINATION_PARAMETERS:
                raise FieldError(
                    (key,), "unknown destination parameter",
                    "remove it or fix its spelling; valid: "
                    + ", ".join(sorted(DESTINATION_PARAMETERS)),
                )
        missing = sorted(set(DESTINATION_PARAMETERS) - set(self.params))
        if missing:
            # every one named: "... and 5 more" left the writer of a new file guessing
            raise FieldError((), "missing destination parameters: " + ", ".join(missing),
                             "add each with its value and source "
                             f"({parameters_command()} describes them)")
        # the bounds are checked by the scenario, with its other parameters (all at once)
        return self

    def model_dump_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for k in DESTINATION_PARAMETERS:
            out[k] = self.params[k].model_dump(exclude_defaults=True)
            out[k]["value"] = self.params[k].value
        return out


def _bounds_text(spec: ParamSpec) -> tuple[str, str]:
    lo, hi = spec.bounds()
    rng = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    if lo is not None and hi is not None:
        fix = f"use a value between {lo} and {hi}"
    elif lo is not None:
        fix = f"use a value >= {lo}"
    else:
        fix = f"use a value <= {hi}"
    # the kind as a noun: "(a probability)", "(a rate)", "(a positive number)"
    what = {"months": "in months", "positive": "a positive number",
            "real": "a number", "switch": "a switch, 0 or 1"}.get(spec.kind, f"a {spec.kind}")
    return f"{rng} ({what})", fix


#: an event may take an unbounded parameter up to this many times its prior's upper end;
#: beyond it the number is more likely a slip of unit or of "scale 50" for +50% (see
#: Scenario._check_plausible)
IMPLAUSIBLE = 3.0
#: ... and this many times its value before the event, for a parameter without a prior
IMPLAUSIBLE_NO_PRIOR = 10.0

#: codes people write for a country instead of its ISO 3166 alpha-3 code
_COMMON_CODES = {"UK": "GBR", "GB": "GBR", "ENG": "GBR", "US": "USA", "CA": "CAN",
                 "DE": "DEU", "GER": "DEU", "NL": "NLD", "BE": "BEL", "AU": "AUS",
                 "NO": "NOR", "KR": "KOR", "ROK": "KOR", "SK": "KOR", "KP": "PRK",
                 "DPRK": "PRK", "NK": "PRK", "FR": "FRA", "SE": "SWE", "DK": "DNK"}


def _near_code(code: str, countries: dict[str, Any]) -> str | None:
    """The declared destination a mistaken code most likely means, as "GBR (United
    Kingdom)": a common non-ISO code (UK), another case (gbr), or a country's name; None
    if nothing is close."""
    import difflib

    dests = {c: getattr(x, "name", "") for c, x in countries.items()
             if getattr(x, "role", None) == "destination"}
    text = str(code).strip()
    guess = _COMMON_CODES.get(text.upper()) or (text.upper() if text.upper() in dests
                                                 else None)
    if guess is None:
        by_name = {n.lower(): c for c, n in dests.items() if n}
        near = difflib.get_close_matches(text.lower(), list(by_name), n=1, cutoff=0.75)
        guess = by_name[near[0]] if near else None
    return f"{guess} ({dests[guess]})" if guess in dests else None


def near_target(target: str, destinations: list[str]) -> str | None:
    """The event or override target nearest a misspelt one
    (parameters.integration.discrimnation_rate: parameters.integration.discrimination_rate),
    or None."""
    import difflib

    names = [f"parameters.{k}" for k in GLOBAL_PARAMETERS]
    names += [f"destinations.{d}.{k}" for d in destinations for k in DESTINATION_PARAMETERS]
    near = difflib.get_close_matches(target, names, n=1, cutoff=0.8)
    return near[0] if near else None


def _bound_error(spec: ParamSpec, p: Param, where: FieldPath) -> FieldError | None:
    """The :class:`FieldError` (path ``where`` + field) if ``p`` breaks the hard bounds or
    lies outside its prior, else None."""
    for field, label, x in [("value", "value", p.value)] + (
        [("prior", "prior low", p.prior[0]), ("prior", "prior high", p.prior[1])]
        if p.prior else []
    ):
        if not spec.admits(x):
            rng, fix = _bounds_text(spec)
            lo, hi = spec.bounds()
            hint = _percent_hint(x, lo, hi) if field == "value" else ""
            return FieldError(where + (field,), f"{label} {x} is outside {rng}", hint + fix)
    if p.prior and not (p.prior[0] <= p.value <= p.prior[1]):
        # the unit first: a value in another unit (8000000 KRW for months of wage, 50 for
        # 50%) is the likelier slip than a prior too narrow
        return FieldError(where, f"value {p.value} lies outside its prior {list(p.prior)} "
                          f"({spec.unit})", _percent_hint(p.value, *p.prior)
                          + f"give the value in {spec.unit}, inside the prior; widen the "
                          "prior only if such a value is plausible")
    return None


def _percent_hint(x: float, lo: float | None, hi: float | None) -> str:
    """'did you mean 0.5 (50 as a share)? ' when ``x`` / 100 fits [lo, hi] and ``x`` does
    not: a percent written where a share is asked for."""
    y = x / 100
    if abs(x) > 1 and (lo is None or y >= lo) and (hi is None or y <= hi) and hi is not None:
        return f"did you mean {y:g} ({x:g}% as a share)? "
    return ""


class FieldErrors(ValueError):
    """Several :class:`FieldError` at once (every parameter out of bounds, not only the
    first); the loader shows one line each."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class Distribution(Strict):
    """A distribution of an attribute of arrivals.

    ``histogram`` draws a bin by ``weights`` and a value uniformly inside it (bin ``i``
    spans ``edges[i]`` to ``edges[i+1]``); the loader makes these from ``microdata``.
    """

    kind: Literal["beta", "normal", "lognormal", "poisson", "constant", "histogram"]
    a: float | None = None
    b: float | None = None
    mean: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    edges: list[float] | None = None
    weights: list[float] | None = None
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> Distribution:
        need = {
            "beta": ("a", "b"),
            "normal": ("mean", "sd"),
            "lognormal": ("mean", "sd"),
            "poisson": ("mean",),
            "constant": ("mean",),
            "histogram": ("edges", "weights"),
        }[self.kind]
        for k in need:
            v = getattr(self, k)
            if v is None:
                raise FieldError((k,), f"a {self.kind} distribution needs '{k}'",
                                 f"add {k}: <number>")
        for k in ("a", "b", "mean", "sd", "min", "max"):
            v = getattr(self, k)
            if v is not None and not math.isfinite(v):
                raise FieldError((k,), f"'{k}' must be finite, not {v}", "write a number")
        for k in ("a", "b", "sd"):
            v = getattr(self, k)
            if v is not None and v <= 0:
                raise FieldError((k,), f"'{k}' must be > 0", "write a positive number")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise FieldError(("min",), f"min {self.min:g} is above max {self.max:g}",
                             "swap them, or make min at most max")
        if self.kind == "poisson" and (self.mean or 0) < 0:
            raise FieldError(("mean",), "poisson mean must be >= 0", "write a number >= 0")
        self._centre_inside()
        if self.kind == "histogram":
            _check_histogram(self.edges or [], self.weights or [])
        elif self.edges is not None or self.weights is not None:
            raise FieldError(("edges" if self.edges is not None else "weights",),
                             f"a {self.kind} distribution has no edges or weights",
                             "remove them, or write kind: histogram")
        return self

    def _centre_inside(self) -> None:
        """Draws are clipped to [min, max]: a centre outside it (age mean 300 with max 75)
        clipped most arrivals to the bound, everyone for a constant, without a word."""
        if self.min is None and self.max is None:
            return
        if self.kind in ("normal", "poisson", "constant"):
            what, x, field = "mean", self.mean, "mean"
        elif self.kind == "lognormal":  # mean and sd are of the logarithm
            what, field = "median exp(mean)", "mean"
            x = math.exp(min(self.mean or 0.0, 700.0))
        elif self.kind == "beta":
            what, x = "mean a/(a+b)", (self.a or 0.0) / ((self.a or 0.0) + (self.b or 1.0))
            field = "min" if self.min is not None and x < self.min else "max"
        else:  # a histogram's bins say where its values lie
            return
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        if x is None or lo <= x <= hi:
            return
        bound = f"max {hi:g}" if x > hi else f"min {lo:g}"
        share = "every draw is" if self.kind == "constant" else "most draws are"
        raise FieldError((field,), f"{what} {x:g} is outside [min, max] = [{lo:g}, {hi:g}]: "
                         f"{share} clipped to {bound}",
                         f"give a {what.split()[0]} inside [{lo:g}, {hi:g}] (in the "
                         "attribute's own unit), or widen min/max")


def _check_histogram(edges: list[float], weights: list[float]) -> None:
    if len(weights) < 1 or len(weights) > 10_000:
        raise FieldError(("weights",), f"{len(weights)} weights; a histogram has 1 to "
                         "10000 bins", "give one weight per bin")
    if len(edges) != len(weights) + 1:
        raise FieldError(("edges",), f"{len(edges)} edges for {len(weights)} bins",
                         "give one edge more than weights (bin i spans edges i and i+1)")
    if not all(math.isfinite(e) for e in edges) or any(
            b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise FieldError(("edges",), "edges must be finite and increasing",
                         "write increasing numbers, e.g. [0, 10, 20]")
    if any((not math.isfinite(w)) or w < 0 for w in weights) or sum(weights) <= 0:
        raise FieldError(("weights",), "weights must be >= 0 and sum to more than 0",
                         "write finite weights >= 0, at least one of them > 0")


#: attributes that ``microdata`` may supply, and whether their values are counts
MICRODATA_ATTRIBUTES = {"age": False, "skill": False, "drive": False, "funds": False,
                        "children": True, "socdem_preference": False}


class Microdata(Strict):
    """Attribute distributions estimated from records of real people (e.g. a survey).

    Read once, by the loader, from a CSV file in the scenario's own folder; only binned
    counts (bins with fewer than ``min_cell`` records suppressed) replace the named
    distributions. No record, and no single person's value, goes any further.
    """

    file: str = Field(min_length=1)
    columns: dict[str, str] = Field(min_length=1)
    bins: int = Field(10, ge=2, le=100)
    min_cell: int = Field(10, ge=5, le=10_000)
    source: str = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _attrs(cls, v: dict[str, str]) -> dict[str, str]:
        for attr in v:
            if attr not in MICRODATA_ATTRIBUTES:
                raise FieldError((attr,), f"'{attr}' cannot come from microdata",
                                 "map only " + ", ".join(MICRODATA_ATTRIBUTES)
                                 + " to a column of the file")
        return v


class Regions(Strict):
    names: list[str] = Field(min_length=1)
    weights: list[float]
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _w(self) -> Regions:
        if len(self.weights) != len(self.names):
            raise FieldError(("weights",), f"{len(self.weights)} weights for "
                             f"{len(self.names)} names", "give one weight per name")
        if any((not math.isfinite(w)) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise FieldError(("weights",), "weights must be >= 0 and sum to more than 0",
                             "write finite weights >= 0, at least one of them > 0")
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
    #: present only in the file; the loader turns it into histograms and removes it
    microdata: Microdata | None = None

    @model_validator(mode="after")
    def _no_records(self) -> Attributes:
        if isinstance(self.female_share, Param):
            # a share of arrivals: 45 (a percent) made every arrival a woman without a word
            p = self.female_share
            for field, label, x in [("value", "value", p.value)] + (
                    [("prior", "prior low", p.prior[0]), ("prior", "prior high", p.prior[1])]
                    if p.prior else []):
                if not 0 <= x <= 1:
                    raise FieldError(("female_share", field), f"{label} {x:g} is outside "
                                     "[0, 1] (a share of arrivals)",
                                     _percent_hint(x, 0.0, 1.0) + "write a share from 0 to 1")
        if self.microdata is not None:
            raise FieldError(("microdata",), "microdata is read by the loader from the "
                             "scenario's folder, and this scenario was not loaded from a file",
                             "load the scenario from its file (e.g. "
                             + command("onward run my.yaml", "onward.run('my.yaml')") + "), "
                             "or give the attribute distributions themselves")
        return self


#: the most persons an inflow may bring in a year (or hold at the start): more than any
#: displacement on record, so that a typo (6.0e9 for 6.0e3) is caught when validating
MAX_INFLOW_PER_YEAR = 1e8


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
                # named at source where a variant set it over its base's table
                raise FieldError(("values",), "inline inflow needs values",
                                 "add values: {year: arrivals, ...}", also=(("source",),))
            bad = [y for y, v in self.values.items() if (not math.isfinite(v)) or v < 0]
            if bad:  # named at its year, as a value that is no number is
                raise FieldError(("values", bad[0]), f"{self.values[bad[0]]:g} is not a "
                                 "count of arrivals (a finite number >= 0)",
                                 "write a count >= 0")
            big = {y: v for y, v in self.values.items() if v > MAX_INFLOW_PER_YEAR}
            if big:
                y, v = next(iter(big.items()))
                raise FieldError(("values", y), f"{v:g} persons in a year is more than any "
                                 f"flow on record ({MAX_INFLOW_PER_YEAR:g} is the limit)",
                                 "check the number for a typo (it counts persons a year)")
        elif not self.table:
            raise FieldError(("table",), "inflow from data needs a table",
                             "add table: <name> (see "
                             + command("onward data", "onward.data.list_tables()") + ")",
                             also=(("source",),))
        else:
            from onward.data.series import ARRIVAL_TABLES

            if self.table not in ARRIVAL_TABLES:
                names = ", ".join(sorted(ARRIVAL_TABLES))
                raise FieldError(("table",), f"'{self.table}' is not a packaged table of "
                                 f"arrivals (those are: {names})",
                                 f"write one of {names}, or give yearly arrivals with "
                                 "source: inline and values: {year: arrivals, ...}")
        if self.initial is not None and self.initial > MAX_INFLOW_PER_YEAR:
            raise FieldError(("initial",), f"{self.initial:g} persons at the start is more "
                             f"than the limit of {MAX_INFLOW_PER_YEAR:g}",
                             "check the number for a typo (it counts persons)")
        return self


class Population(Strict):
    inflow: Inflow
    attributes: Attributes


class Horizon(Strict):
    start: Month
    end: Month

    @field_validator("start", mode="before")
    @classmethod
    def _d(cls, v: Any) -> Month:
        return parse_date(v)

    @field_validator("end", mode="before")
    @classmethod
    def _e(cls, v: Any) -> Month:
        # a year alone ends the horizon with that year (its December), where an event's
        # year means January
        d = parse_date(v)
        return Month(year=d.year, month=12, precision="month") if d.precision == "year" else d

    @model_validator(mode="after")
    def _order(self) -> Horizon:
        if self.end.index(self.start) < 0:
            raise FieldError(("end",), f"end {self.end} is before start {self.start}",
                             "make end later than start")
        if self.end.index(self.start) > 12 * 200:
            raise FieldError(("end",), "horizon longer than 200 years", "shorten it")
        return self

    @property
    def months(self) -> int:
        return self.end.index(self.start) + 1

    @property
    def years(self) -> list[int]:
        return list(range(self.start.year, self.end.year + 1))


#: the longest lead of an event's practice before its date, in months
MAX_LEAD_MONTHS = 120


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
    #: months by which the change in practice preceded ``date`` (a law often formalises
    #: what officials already did); a parameter, so calibration may free it
    lead_months: Param | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _d(cls, v: Any) -> Month:
        return parse_date(v)

    @field_validator("lead_months", mode="before")
    @classmethod
    def _lead(cls, v: Any) -> Any:
        return _coerce_param(v)

    @model_validator(mode="after")
    def _ok(self) -> Event:
        if not self.remove and self.value is None:
            raise FieldError(("value",), "an event needs a value",
                             "add value: <number> (or remove: true with the id of a base event)")
        if self.value is not None and not math.isfinite(self.value):
            raise FieldError(("value",), f"event value must be finite, not {self.value}",
                             "write a number")
        lead = self.lead_months
        if lead is not None:
            lo, hi = lead.prior if lead.prior is not None else (lead.value, lead.value)
            if min(lo, lead.value) < 0 or max(hi, lead.value) > MAX_LEAD_MONTHS:
                raise FieldError(("lead_months",), "a lead must lie in [0, "
                                 f"{MAX_LEAD_MONTHS}] months (value and prior)",
                                 "write months before the event date, e.g. {value: 6, "
                                 "prior: [0, 24], free: true, source: \"assumption\"}")
            if lead.free and not self.id:
                raise FieldError(("lead_months",), "a free lead needs an event id",
                                 "add id: <name> to the event (the lead is calibrated as "
                                 "events.<id>.lead_months)")
        return self


class Network(Strict):
    """The social network generator; its numeric settings are in ``parameters.network``."""

    generator: Literal["clustered_pareto"] = "clustered_pareto"


class Decision(Strict):
    """Which decision rule decides moves, and which gates it applies."""

    rule: str = "aspirations_capabilities"
    capability_gating: bool = True
    information_gating: bool = True

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        # checked here, not only when the engine builds the rule, so that `onward validate`
        # names the file, line and fix (rules register themselves: onward.rules.register)
        import difflib

        from onward.rules.decision import rule_names

        names = rule_names()
        if v not in names:
            near = difflib.get_close_matches(v, names, n=1)
            raise FieldError((), f"unknown rule {v!r}", f"did you mean {near[0]}?" if near
                             else f"use one of {', '.join(names)}")
        return v


def _years(v: Any) -> list[int]:
    if v is None:
        return []
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    if isinstance(v, str):
        # an en or em dash (2008–2015, as typeset text writes a range) means the hyphen
        m = re.match(r"^\s*(\d{4})\s*[-\u2010-\u2015]\s*(\d{4})\s*$", v)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise FieldError((), f"year range {v!r} runs backwards",
                                 "write the earlier year first")
            return list(range(a, b + 1))
        if re.match(r"^\s*\d{4}\s*$", v):
            return [int(v)]
        raise FieldError((), f"{v!r} is not a year range", "write it like 2000-2012")
    if isinstance(v, list):
        out: list[int] = []
        for x in v:
            out.extend(_years(x))
        return out
    raise FieldError((), f"expected years, got {type(v).__name__}",
                     "write a year range like 2000-2012 or a list of years")


#: an observed count: a number, or the interval [low, high] a masked count stands for
ObservedValue = float | tuple[float, float]


class Observed(Strict):
    """Observed counts a scenario brings itself (its own case, or synthetic data): per target
    family, destination and year. They replace the packaged data for the families given."""

    source: str = Field(min_length=1)
    first_claims: dict[str, dict[int, ObservedValue]] = {}
    refugee_stocks: dict[str, dict[int, ObservedValue]] = {}

    @model_validator(mode="after")
    def _values(self) -> Observed:
        for fam in ("first_claims", "refugee_stocks"):
            for code, series in getattr(self, fam).items():
                for year, v in series.items():
                    if not 1800 <= year <= 2300:  # (years outside a horizon go unused)
                        raise FieldError((fam, code, year), f"{year} is not a calendar year",
                                         "write a four-digit year")
                    lo, hi = (v, v) if isinstance(v, float | int) else v
                    if 0 <= hi < lo and math.isfinite(lo):
                        raise FieldError((fam, code, year), f"[{lo:g}, {hi:g}] runs "
                                         "backwards", f"write [{hi:g}, {lo:g}] (low, high)")
                    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
                        raise FieldError((fam, code, year), f"{v} is not a count >= 0 (or an "
                                         "interval [low, high] with 0 <= low <= high)",
                                         "write a number of persons, or [low, high] for a "
                                         "masked count")
        if not self.first_claims and not self.refugee_stocks:
            raise FieldError((), "no observed series", "add first_claims: {ISO3: {year: "
                             "count, ...}} (or refugee_stocks), or remove observed")
        return self

    def cells(self, family: str) -> list[tuple[str, int, float, float, float]]:
        """(destination, year, observed, lower, upper) of each observed cell of ``family``;
        a masked count's observed value is its interval's midpoint."""
        out = []
        for code, series in getattr(self, family).items():
            for year, v in sorted(series.items()):
                lo, hi = (float(v), float(v)) if isinstance(v, float | int) else map(float, v)
                out.append((code, int(year), (lo + hi) / 2, lo, hi))
        return out


class Calibration(Strict):
    years: list[int]
    held_out: list[int] = []
    targets: list[Literal["first_claims", "uk_grant_rates", "refugee_stocks"]] = ["first_claims"]
    other_excludes: list[ISO3] = []
    target_ard: float = Field(0.3, gt=0)
    target_coverage90: float = Field(0.8, ge=0, le=1)
    observed: Observed | None = None

    @field_validator("years", "held_out", mode="before")
    @classmethod
    def _y(cls, v: Any) -> list[int]:
        return _years(v)

    @model_validator(mode="after")
    def _disjoint(self) -> Calibration:
        both = sorted(set(self.years) & set(self.held_out))
        if both:
            raise FieldError(("held_out",), f"years {both} are both calibration and held-out "
                             "years", "keep each year in only one of years and held_out",
                             also=(("years",),))
        return self


#: size limits of a route graph (the engine enumerates the routes between its ends)
MAX_ROUTE_LOCATIONS = 200
MAX_ROUTE_LINKS = 2000
#: largest admissible route numbers (a link's travel time is at most the longest horizon)
MAX_KM = 1e5
MAX_ATTRACTIVENESS = 1e6
MAX_LINK_MONTHS = 12 * 200


def _finite_or_none(v: float | None, what: str, lo: float = 0.0, strict: bool = False,
                    hi: float = math.inf) -> float | None:
    if v is None:
        return v
    if not math.isfinite(v) or v < lo or (strict and v == lo) or v > hi:
        op = ">" if strict else ">="
        top = f" and <= {hi:g}" if math.isfinite(hi) else ""
        raise FieldError((), f"{what} must be a finite number {op} {lo:g}{top}, not {v}",
                         f"write a number {op} {lo:g}{top}")
    return v


class Location(Strict):
    """A place on the route graph: where people start, pass, wait or end a journey.

    ``capacity`` is the number of persons a month who can enter it (None: no limit);
    ``attractiveness`` is its score in the link-weight rule (for an origin: its share of
    departures).
    """

    name: str = Field(min_length=1)
    type: Literal["origin", "transit", "hub", "first_country", "destination"]
    country: ISO3
    capacity: float | None = None
    attractiveness: float = 1.0
    source: str = Field(min_length=1)

    @field_validator("capacity")
    @classmethod
    def _cap(cls, v: float | None) -> float | None:
        return _finite_or_none(v, "capacity (persons a month)")

    @field_validator("attractiveness")
    @classmethod
    def _attr(cls, v: float) -> float:
        _finite_or_none(v, "attractiveness", strict=True, hi=MAX_ATTRACTIVENESS)
        return v


class Link(Strict):
    """A directed link ``from`` -> ``to``: its length, how people travel it and its cost.

    Travel time is ``distance_km / speed_km_per_month`` or ``months`` (give one of them).
    ``broker_only`` links are taken only on journeys a broker arranges.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=False)
    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    distance_km: float
    mode: Literal["foot", "bus", "car", "rail", "boat", "flight", "mixed"]
    speed_km_per_month: float | None = None
    months: float | None = None
    cost: float = 0.0
    broker_only: bool = False
    source: str = Field(min_length=1)

    @field_validator("distance_km")
    @classmethod
    def _km(cls, v: float) -> float:
        _finite_or_none(v, "distance_km", strict=True, hi=MAX_KM)
        return v

    @field_validator("speed_km_per_month", "months")
    @classmethod
    def _pos(cls, v: float | None, info: ValidationInfo) -> float | None:
        return _finite_or_none(v, str(info.field_name), strict=True)

    @field_validator("cost")
    @classmethod
    def _cost(cls, v: float) -> float:
        _finite_or_none(v, "cost (months of native wage)")
        return v

    @model_validator(mode="after")
    def _time(self) -> Link:
        if (self.speed_km_per_month is None) == (self.months is None):
            raise FieldError(("months",), "a link needs exactly one of speed_km_per_month "
                             "and months", "write speed_km_per_month: <km a month> or "
                             "months: <travel time>, not both")
        if self.from_ == self.to:
            raise FieldError(("to",), f"link from '{self.from_}' to itself",
                             "link two different locations")
        if self.travel_months > MAX_LINK_MONTHS:
            field = "months" if self.months is not None else "speed_km_per_month"
            raise FieldError((field,), f"the link takes {self.travel_months:g} months, more "
                             f"than {MAX_LINK_MONTHS}", "give a shorter time or a higher speed")
        return self

    @property
    def travel_months(self) -> float:
        if self.months is not None:
            return self.months
        assert self.speed_km_per_month is not None
        return self.distance_km / self.speed_km_per_month


class Closure(Strict):
    """A dated closure: from ``date`` (its month) until ``end`` (exclusive; None: to the end
    of the horizon) nobody passes.

    ``what: link`` closes the link ``from`` -> ``to`` and its reverse; ``what: location``
    closes ``name`` (nobody enters or leaves; with ``capacity``, at most that many persons a
    month enter instead: a partial closure); ``what: border`` closes every link between the
    two countries of ``between``, both ways.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=False)
    id: str | None = None
    date: Month
    end: Month | None = None
    what: Literal["link", "location", "border"]
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    name: str | None = None
    between: tuple[ISO3, ISO3] | None = None
    capacity: float | None = None
    label: str = ""
    source: str = Field(min_length=1)

    @field_validator("date", "end", mode="before")
    @classmethod
    def _d(cls, v: Any) -> Month | None:
        return None if v is None else parse_date(v)

    @field_validator("capacity")
    @classmethod
    def _cap(cls, v: float | None) -> float | None:
        return _finite_or_none(v, "capacity (persons a month)")

    @model_validator(mode="after")
    def _shape(self) -> Closure:
        need = {"link": ("from_", "to"), "location": ("name",), "border": ("between",)}
        shown = {"from_": "from", "to": "to", "name": "name", "between": "between"}
        for k in need[self.what]:
            if getattr(self, k) is None:
                raise FieldError((shown[k],), f"a {self.what} closure needs '{shown[k]}'",
                                 {"from_": "add from: <location name>",
                                  "to": "add to: <location name>",
                                  "name": "add name: <location name>",
                                  "between": "add between: [ISO3, ISO3]"}[k])
        for k in ("from_", "to", "name", "between"):
            if k not in need[self.what] and getattr(self, k) is not None:
                raise FieldError((shown[k],), f"a {self.what} closure takes no "
                                 f"'{shown[k]}'", f"remove {shown[k]}, or write what: "
                                 + {"from_": "link", "to": "link", "name": "location",
                                    "between": "border"}[k])
        if self.capacity is not None and self.what != "location":
            raise FieldError(("capacity",), "only a location closure can keep a capacity",
                             "remove capacity, or close a location instead")
        if self.between is not None and self.between[0] == self.between[1]:
            raise FieldError(("between",), f"a border needs two countries, not "
                             f"{self.between[0]} twice", "write two different ISO3 codes")
        if self.end is not None and self.end.index(self.date) <= 0:
            raise FieldError(("end",), f"end {self.end} is not after date {self.date}",
                             "give an end in a later month than date, or remove end "
                             "(closed to the end of the horizon)")
        return self


class Departures(Strict):
    """How many set out from the origin once the inflow data stop being the arrivals.

    Up to ``data_until`` the inflow data are arrivals in the first country and the route
    graph reproduces them; later years' departures are projected from the years up to
    ``data_until`` and the closures decide how many arrive.
    """

    data_until: int
    projection: Literal["hold_last", "mean_last_3"] = "mean_last_3"
    source: str = Field(min_length=1)


class Routes(Strict):
    """The route graph: locations, directed links and dated closures (see docs/odd.md 3.6)."""

    softening_km: float = 10.0
    locations: list[Location] = Field(min_length=2, max_length=MAX_ROUTE_LOCATIONS)
    links: list[Link] = Field(min_length=1, max_length=MAX_ROUTE_LINKS)
    closures: list[Closure] = []
    departures: Departures | None = None

    @field_validator("softening_km")
    @classmethod
    def _soft(cls, v: float) -> float:
        _finite_or_none(v, "softening_km", hi=MAX_KM)
        return v

    @model_validator(mode="after")
    def _graph(self) -> Routes:
        names: dict[str, int] = {}
        for i, loc in enumerate(self.locations):
            if loc.name in names:
                raise FieldError(("locations", i, "name"), f"duplicate location "
                                 f"'{loc.name}'", "give each location its own name")
            names[loc.name] = i
        pairs: set[tuple[str, str]] = set()
        for i, ln in enumerate(self.links):
            for key, nm in (("from", ln.from_), ("to", ln.to)):
                if nm not in names:
                    raise FieldError(("links", i, key), f"unknown location '{nm}'",
                                     "use a name listed under routes.locations: "
                                     + _some(list(names)))
            if (ln.from_, ln.to) in pairs:
                raise FieldError(("links", i), f"a second link {ln.from_} -> {ln.to}",
                                 "keep one link per pair and direction")
            pairs.add((ln.from_, ln.to))
        country = {x.name: x.country for x in self.locations}
        for i, cl in enumerate(self.closures):
            if cl.what == "location" and cl.name not in names:
                raise FieldError(("closures", i, "name"), f"unknown location '{cl.name}'",
                                 "use a name listed under routes.locations")
            if cl.what == "link" and (cl.from_, cl.to) not in pairs \
                    and (cl.to, cl.from_) not in pairs:
                raise FieldError(("closures", i, "to"), f"no link between '{cl.from_}' and "
                                 f"'{cl.to}'", "name the two ends of a link under "
                                 "routes.links")
            if cl.what == "border":
                assert cl.between is not None
                a, b = cl.between
                if not any({country[ln.from_], country[ln.to]} == {a, b}
                           for ln in self.links):
                    raise FieldError(("closures", i, "between"), f"no link crosses the "
                                     f"border {a}-{b}", "name two countries that a link "
                                     "joins (the countries of its locations)")
        return self

    def reachable(self, start: str, broker: bool = True) -> set[str]:
        """Names of the locations reachable from ``start`` (with broker-only links or not)."""
        out = {start}
        todo = [start]
        nxt: dict[str, list[str]] = {}
        for ln in self.links:
            if broker or not ln.broker_only:
                nxt.setdefault(ln.from_, []).append(ln.to)
        while todo:
            for j in nxt.get(todo.pop(), []):
                if j not in out:
                    out.add(j)
                    todo.append(j)
        return out


OUTPUT_TABLES = (
    "applications",
    "flows",
    "stocks",
    "decisions",
    "brokers",
    "profile",
    "destination_life",
)
#: tables only a scenario with a route graph (``routes:``) produces
ROUTE_TABLES = ("transit", "journeys")


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
    routes: Routes | None = None

    @field_validator("parameters", mode="before")
    @classmethod
    def _coerce(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {
                g: ({k: _coerce_param(x, (g, k)) for k, x in grp.items()}
                    if isinstance(grp, dict) else grp)
                for g, grp in v.items()
            }
        return v

    @field_validator("destinations", mode="before")
    @classmethod
    def _declared(cls, v: Any, info: ValidationInfo) -> Any:
        # Checked before the entries themselves: an undeclared destination is the problem to
        # report, not the parameters its (perhaps partial) entry lacks.
        countries = info.data.get("countries")
        if isinstance(v, dict) and isinstance(countries, dict):
            for code in v:
                c = countries.get(code)
                if c is None or c.role != "destination":
                    how = "is not declared under countries" if c is None \
                        else f"is declared as {c.role}, not as a destination"
                    near = _near_code(code, countries) if c is None else None
                    raise FieldError(
                        (str(code),), f"{code} {how}",
                        (f"did you mean {near}? Destinations are ISO 3166 alpha-3 codes; or "
                         if near else "") +
                        f"declare it under countries as {code}: {{name: ..., role: destination}}"
                        ", or remove this entry",
                    )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        roles = {c: x.role for c, x in self.countries.items()}
        firsts = [c for c, r in roles.items() if r == "first_country"]
        if len(firsts) != 1:
            raise FieldError(("countries",), "exactly one country needs role: first_country "
                             f"(found {len(firsts)})", "give exactly one country that role")
        if sum(r == "origin" for r in roles.values()) != 1:
            raise FieldError(("countries",), "exactly one country needs role: origin",
                             "give exactly one country that role")
        declared = {c for c, r in roles.items() if r == "destination"}
        for code in self.destinations:
            if code not in declared:
                raise FieldError(("destinations", code), "not declared as a destination",
                                 "declare it under countries with role: destination")
        for code in sorted(declared - set(self.destinations)):
            raise FieldError(("countries", code), "declared a destination but has no entry "
                             "under destinations", f"add destinations: {code}: ... or remove it")
        if not declared:
            raise FieldError(("countries",), "no destination declared",
                             "give at least one country role: destination")
        if len(declared) > MAX_DESTINATIONS:
            raise FieldError(("countries",), f"{len(declared)} destinations; at most "
                             f"{MAX_DESTINATIONS}", "group the smaller ones into one 'other'")
        # parameters: every registry entry present, nothing unknown
        given = {f"{g}.{k}" for g, grp in self.parameters.items() for k in grp}
        for key in sorted(given - set(GLOBAL_PARAMETERS)):
            raise FieldError(("parameters", *key.split(".", 1)), "unknown parameter",
                             f"remove it or fix its spelling; {parameters_command()} or "
                             "docs/odd.md list the valid names")
        missing = sorted(set(GLOBAL_PARAMETERS) - given)
        if missing:
            raise FieldError(("parameters",), "missing " + _some(missing),
                             "add them, or extend a built-in scenario (extends: nk-onward)")
        bad = [_bound_error(spec, self.parameters[g][k], ("parameters", g, k))
               for key, spec in GLOBAL_PARAMETERS.items() for g, k in [key.split(".")]]
        bad += [_bound_error(DESTINATION_PARAMETERS[key], p, ("destinations", code, key))
                for code, d in self.destinations.items() for key, p in d.params.items()]
        if any(bad):
            raise FieldErrors([e for e in bad if e is not None])
        p_out = (self.param("after_decision.refused_return")
                 + self.param("after_decision.refused_remigrate"))
        if p_out > 1:
            raise FieldError(("parameters", "after_decision", "refused_remigrate"),
                             f"refused_return + refused_remigrate = {p_out:g} > 1",
                             "they are shares of the refused: lower one of them")
        # ... and so must every pair a calibration or a sensitivity analysis may draw
        shares = {k: self.parameters["after_decision"][k]
                  for k in ("refused_return", "refused_remigrate")}
        free = [k for k, q in shares.items() if q.free and q.prior is not None]
        highest = sum(q.prior[1] if k in free else q.value for k, q in shares.items())
        if free and highest > 1:
            raise FieldError(("parameters", "after_decision", free[0]),
                             "the priors allow refused_return + refused_remigrate up to "
                             f"{highest:g} > 1",
                             "they are shares of the refused: lower the upper end of a "
                             "prior (or the fixed value of the other) so that they sum to "
                             "at most 1")
        inflow = self.population.inflow
        if inflow.source == "inline" and inflow.values:
            # (arrivals before the horizon's start are a note of the loader: a variant
            # that starts later keeps its base's earlier years)
            years = sorted(inflow.values)
            gaps = sorted(set(range(max(years[0], self.horizon.start.year), years[-1] + 1))
                          - set(years))  # (years before the start are a loader's note)
            if gaps:  # a year left out was taken as no arrivals at all
                raise FieldError(("population", "inflow", "values"), f"no value for "
                                 f"{_span(gaps)}, between {years[0]} and {years[-1]}: a year "
                                 "left out would bring no arrivals", "give every year from "
                                 "the first to the last (0 for a year without arrivals)")
        self._check_events()
        self._check_calibration()
        for i, code in enumerate(self.calibration.other_excludes):
            if code in self.destinations:
                raise FieldError(("calibration", "other_excludes", i),
                                 f"{code} is a named destination", "remove it from this list")
        unknown_out = sorted(set(self.outputs) - set(OUTPUT_TABLES) - set(ROUTE_TABLES))
        if unknown_out:
            raise FieldError(("outputs",), f"unknown {unknown_out}",
                             f"use only {', '.join(OUTPUT_TABLES + ROUTE_TABLES)}")
        route_out = [t for t in self.outputs if t in ROUTE_TABLES]
        if route_out and self.routes is None:
            raise FieldError(("outputs",), f"{', '.join(route_out)} come from a route graph, "
                             "and this scenario has no routes: section, so nothing would "
                             "be stored", f"remove {', '.join(route_out)}, or add routes: "
                             "(see docs/odd.md 3.6)")
        if self.routes is not None:
            self._check_routes(self.routes)
        return self

    def _check_routes(self, r: Routes) -> None:
        """The route graph's ends match the countries' roles and every journey has a route."""
        where = ("routes", "locations")
        by_type: dict[str, list[tuple[int, Location]]] = {}
        for i, loc in enumerate(r.locations):
            by_type.setdefault(loc.type, []).append((i, loc))
        origins = by_type.get("origin", [])
        if not origins:
            raise FieldError(where, "no location of type origin",
                             f"add a location with type: origin, country: {self.origin}")
        for i, loc in origins:
            if loc.country != self.origin:
                raise FieldError(where + (i, "country"), f"origin location '{loc.name}' is "
                                 f"in {loc.country}, not in the origin {self.origin}",
                                 f"write country: {self.origin}, or change its type")
        firsts = by_type.get("first_country", [])
        if len(firsts) != 1:
            raise FieldError(where, f"{len(firsts)} locations of type first_country; the "
                             "route graph needs exactly one", "give exactly one location "
                             f"type: first_country, country: {self.first_country}")
        i, first = firsts[0]
        if first.country != self.first_country:
            raise FieldError(where + (i, "country"), f"'{first.name}' is in {first.country},"
                             f" not in the first country {self.first_country}",
                             f"write country: {self.first_country}")
        dest_loc: dict[str, str] = {}
        for i, loc in by_type.get("destination", []):
            if loc.country not in self.destinations:
                raise FieldError(where + (i, "country"), f"destination location "
                                 f"'{loc.name}' is in {loc.country}, which is not a "
                                 "destination", "use one of " + ", ".join(self.destinations))
            if loc.country in dest_loc:
                raise FieldError(where + (i, "country"), f"{loc.country} has two destination "
                                 f"locations ('{dest_loc[loc.country]}', '{loc.name}')",
                                 "give each destination one location of type destination")
            dest_loc[loc.country] = loc.name
        missing = [d for d in self.destinations if d not in dest_loc]
        if missing:
            d = missing[0]
            # named at the destination where the file being loaded added it (a variant that
            # adds FRA was pointed at its base's routes, a file it cannot edit)
            raise FieldError(where, "no destination location for " + _some(missing) +
                             " on the route graph",
                             "add under routes: locations: - {name: <city>, type: "
                             f"destination, country: {d}, source: <source>}} and links: - "
                             f"{{from: {first.name}, to: <city>, distance_km: <km>, mode: "
                             "flight, months: <travel time>, source: <source>} (a variant's "
                             "locations and links add to its base's)",
                             also=(("destinations", d),))
        for i, loc in origins:
            if first.name not in r.reachable(loc.name):
                raise FieldError(where + (i,), f"no route from '{loc.name}' to the first "
                                 f"country's location '{first.name}'",
                                 "add links that join them")
        plain = r.reachable(first.name, broker=False)
        for code, name in dest_loc.items():
            if name not in plain:
                # the broker-only links into it (a variant's link merges into its base's of
                # the same from and to, keeping the base's broker_only: true)
                into = [(k, ln) for k, ln in enumerate(self.routes.links)
                        if ln.to == name and ln.broker_only]
                which = "; ".join(f"{ln.from_} -> {ln.to} is broker_only" for _, ln in into)
                raise FieldError(("routes", "links"), f"no route from '{first.name}' to "
                                 f"'{name}' ({code}) without broker-only links"
                                 + (f" ({which})" if which else ""),
                                 (f"write broker_only: false on {into[0][1].from_} -> "
                                  f"{into[0][1].to}, or " if into else "")
                                 + "add a link that is not broker_only on the way (journeys "
                                 "not arranged by a broker need one)",
                                 also=tuple(("routes", "links", k) for k, _ in into))
        # closures (and data_until) outside the horizon are allowed and take no effect, so
        # that a scenario extending another with a shorter horizon can keep its routes

    def _in_horizon(self, ev: Event) -> bool:
        return 0 <= ev.date.index(self.horizon.start) < self.horizon.months

    def _check_calibration(self) -> None:
        cal = self.calibration
        # (calibration years past the horizon are refused when calibrating, not here: a
        # variant that shortens the horizon for an experiment keeps its base's block)
        obs = cal.observed
        if obs is None:
            return
        for fam in ("first_claims", "refugee_stocks"):
            series = getattr(obs, fam)
            if series and fam not in cal.targets:
                raise FieldError(("calibration", "observed", fam), f"{fam} are given but "
                                 "are not a calibration target",
                                 f"add {fam} to calibration.targets, or remove them")
            for code in series:
                if code not in self.destinations:
                    raise FieldError(("calibration", "observed", fam, code),
                                     f"{code} is not a destination of this scenario",
                                     f"use one of {', '.join(self.destinations)}")

    def _check_events(self) -> None:
        ids: set[str] = set()
        for i, ev in enumerate(self.events):
            if ev.id:
                if ev.id in ids:
                    raise FieldError(("events", i, "id"), f"duplicate event id '{ev.id}'",
                                     "give each event its own id")
                ids.add(ev.id)
            if ev.remove:
                raise FieldError(("events", i, "remove"), "remove: true only works in a "
                                 "scenario that extends another",
                                 "add extends: <base> and name an event id of the base, or "
                                 "delete the event")
            parts = ev.target.split(".")
            if parts[0] == "destinations" and len(parts) == 3 and parts[1] not in self.destinations:
                near = _near_code(parts[1], self.countries)
                raise FieldError(("events", i, "target"),
                                 f"destination '{parts[1]}' is not declared",
                                 (f"did you mean {near}? " if near else "") +
                                 f"use one of {', '.join(self.destinations)}, or declare "
                                 f"{parts[1]} under countries and destinations")
            spec = spec_for(ev.target)
            if ev.target.startswith("parameters.") and ev.target[11:] in SETUP_ONLY:
                raise FieldError(("events", i, "target"), f"{ev.target} is read once when the "
                                 "network and brokers are set up; an event cannot change it",
                                 "change its value instead, or use brokers.activity for "
                                 "crackdowns")
            if spec is None:
                full = f"parameters.{ev.target}"
                near = near_target(ev.target, list(self.destinations))
                fix = (f"write {full} (an event names a parameter with its section)"
                       if spec_for(full) is not None else f"did you mean {near}?" if near
                       else "write parameters.<group>.<name> or destinations.<ISO3>.<name>")
                raise FieldError(("events", i, "target"), f"'{ev.target}' is not a parameter",
                                 fix)
            if not self._in_horizon(ev):
                others = [e.id or f"events[{k}]" for k, e in enumerate(self.events)
                          if k > i and not self._in_horizon(e)]
                more = (f" ({len(others)} more events fall outside: {', '.join(others)})"
                        if others else "")
                drop = (f"; if it comes from the scenario this one extends, drop it with "
                        f"`- {{id: {ev.id}, remove: true}}` under events") if ev.id else ""
                raise FieldError(("events", i, "date"), f"{ev.date} is outside the horizon "
                                 f"{self.horizon.start}..{self.horizon.end}{more}",
                                 f"move the event inside the horizon, or widen horizon{drop}")
            if ev.op == "set" and ev.value is not None:
                if not spec.admits(ev.value):
                    rng, fix = _bounds_text(spec)
                    raise FieldError(("events", i, "value"), f"{ev.value} is outside {rng} "
                                     f"for {spec.name}", fix)
            if ev.op == "scale" and ev.value is not None and ev.value < 0:
                raise FieldError(("events", i, "value"), "a scale factor must be >= 0",
                                 "write a factor >= 0")
        self._check_scaled_values()

    def _check_scaled_values(self) -> None:
        """A ``scale`` event must leave its parameter inside its bounds (recognition_rate 0.8
        scaled by 3 ran as 1.0, clipped without a word). Each target's events are applied in
        date order from the scenario's value."""
        order = sorted(range(len(self.events)),
                       key=lambda k: (self.events[k].date.year, self.events[k].date.month))
        value: dict[str, float] = {}
        for i in order:
            ev = self.events[i]
            spec = spec_for(ev.target)
            if spec is None or ev.value is None or ev.remove:
                continue
            if ev.target not in value:
                value[ev.target] = self._param_of(ev.target).value
            before = value[ev.target]
            value[ev.target] = ev.value if ev.op == "set" else before * ev.value
            if ev.op == "scale" and not spec.admits(value[ev.target]):
                rng, _ = _bounds_text(spec)
                hi = spec.bounds()[1]
                most = (f"a factor of at most {hi / before:.4g}" if hi is not None and before
                        and ev.value > 1 else "a smaller change")
                raise FieldError(("events", i, "value"), f"scales {spec.name} from "
                                 f"{before:g} to {value[ev.target]:g}, outside {rng}",
                                 f"give {most}, or op: set with a value inside the range")
            self._check_plausible(i, spec, before, value[ev.target])

    def _check_plausible(self, i: int, spec: Any, before: float, after: float) -> None:
        """Refuse an event that takes an unbounded parameter (months, a wage multiple, a
        rate) far above any value its scenario thinks plausible: more than
        :data:`IMPLAUSIBLE` times its prior's upper end, or (with no prior)
        :data:`IMPLAUSIBLE_NO_PRIOR` times its value before the event. A share or a chance
        has its bounds for that. ``op: scale, value: 50`` meant as +50% (a settlement grant
        of 100 months of wage) and ``value: 50`` meant as 50% both ran without a word; a
        base value outside its prior is refused too."""
        ev = self.events[i]
        if spec.bounds()[1] is not None:  # a share or chance: its bounds are the check
            return
        p = self._param_of(ev.target)
        top = p.prior[1] if p is not None and p.prior else before
        factor = IMPLAUSIBLE if p is not None and p.prior else IMPLAUSIBLE_NO_PRIOR
        if top <= 0 or after <= factor * top:
            return
        what = (f"scales {spec.name} from {before:g} to {after:g}" if ev.op == "scale"
                else f"sets {spec.name} to {after:g}")
        ref = (f"{after / top:.3g} times its prior's upper end {top:g}" if p is not None
               and p.prior else f"{after / top:.3g} times its value {top:g} before the event")
        hint = (f"did you mean a factor of {1 + ev.value / 100:g} (+{ev.value:g}%)? "
                if ev.op == "scale" and ev.value > 2 else _percent_hint(after, None, top))
        raise FieldError(("events", i, "value"), f"{what} ({spec.unit}), {ref}",
                         hint + "if you mean it, give the parameter a prior that includes "
                         f"{after:g} (prior: [low, high] beside its value)")

    def _param_of(self, target: str) -> Param | None:
        """The parameter an event's target names (None if the scenario has none)."""
        parts = target.split(".")
        try:
            if parts[0] == "parameters":
                return self.parameters[parts[1]][parts[2]]
            return self.destinations[parts[1]].params[parts[2]]
        except (KeyError, IndexError):
            return None

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

    @property
    def packaged_population(self) -> bool:
        """Whether the population is the packaged North Korean one (``population.inflow
        .source: data``): then the packaged series (UNHCR's first claims and refugee
        stocks, the Home Office's grant rates, the Ministry's "residence unknown") count
        the same people and serve as its observed data where it brings none of its own."""
        return self.population.inflow.source == "data"

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
        for ev in self.events:
            if ev.lead_months is not None and ev.lead_months.free and not ev.remove:
                out[f"events.{ev.id}.lead_months"] = ev.lead_months
        return out
