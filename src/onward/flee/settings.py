"""``simsetting.yml``: the move and spawn rules of a Flee 3.1 scenario.

Every key Flee 3.1 reads has a default equal to Flee's. Keys that Flee 3.1 never reads
(``capacity_scaling``, ``sum_from_camps``, ``empty_camps_on_day0``, a correctly spelt
``camps_are_sinks`` ...) are ignored with a warning, as Flee ignores them; settings that
change what Flee does in a way onward does not reproduce (flood rules, per-agent
demographic rules, conflict-driven spawning, agents.csv) are refused with a message naming
them. Nothing is dropped silently.

>>> s, warnings = read_settings_text("move_rules:\\n  camp_weight: 2.0\\n", "simsetting.yml")
>>> s.camp_weight, s.awareness_level, warnings
(2.0, 1, [])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from onward.flee.errors import Problems, read_text

# key -> (attribute, kind, default); kinds: float, int, bool
_MOVE = {
    "max_move_speed": ("max_move_speed", "float", 360.0),
    "max_walk_speed": ("max_walk_speed", "float", 35.0),
    "foreign_weight": ("foreign_weight", "float", 1.0),
    "camp_weight": ("camp_weight", "float", 1.0),
    "conflict_weight": ("conflict_weight", "float", 1.0 / 3.16227766017),
    "conflict_movechance": ("conflict_movechance", "float", 1.0),
    "camp_movechance": ("camp_movechance", "float", 0.001),
    "idpcamp_movechance": ("idpcamp_movechance", "float", 0.1),
    "default_movechance": ("default_movechance", "float", 0.3),
    "awareness_level": ("awareness_level", "int", 1),
    "capacity_buffer": ("capacity_buffer", "float", 0.9),
    "avoid_short_stints": ("avoid_short_stints", "bool", False),
    "start_on_foot": ("start_on_foot", "bool", False),
    "use_v1_rules": ("use_v1_rules", "bool", False),
    "softening": ("distance_softening", "float", 10.0),
    "weight_softening": ("weight_softening", "float", 0.0),
    "weight_power": ("weight_power", "float", 1.0),
    "distance_power": ("distance_power", "float", 1.0),
    "use_pop_for_loc_weight": ("use_pop_for_loc_weight", "bool", False),
    "pop_power_for_loc_weight": ("pop_power_for_loc_weight", "float", 0.1),
    "movechance_pop_base": ("movechance_pop_base", "float", 10000.0),
    "movechance_pop_scale_factor": ("movechance_pop_scale_factor", "float", 0.0),
}
#: the values a move rule may take (low, high, whether low itself is refused); NaN, an
#: infinity or a value outside makes Flee 3.1 draw from negative or NaN weights
_MOVE_RANGE = {
    **{k: (0.0, 1.0, False, "a chance between 0 and 1")
       for k in ("conflict_movechance", "camp_movechance", "idpcamp_movechance",
                 "default_movechance")},
    **{k: (0.0, math.inf, False, "a weight >= 0")
       for k in ("foreign_weight", "camp_weight", "conflict_weight", "softening",
                 "weight_softening", "capacity_buffer")},
    **{k: (0.0, math.inf, True, "a speed > 0 (km a day)")
       for k in ("max_move_speed", "max_walk_speed")},
    "movechance_pop_base": (0.0, math.inf, True, "a population > 0"),
    "awareness_level": (0.0, math.inf, False, "a whole number >= 0"),
    **{k: (-math.inf, math.inf, False, "a finite number")
       for k in ("weight_power", "distance_power", "pop_power_for_loc_weight",
                 "movechance_pop_scale_factor")},
}
_SPAWN = {
    "take_from_population": ("take_from_population", "bool", False),
    "insert_day0": ("insert_day0", "bool", True),
}
# read by Flee 3.1 but only change its diagnostic files, never the counts
_LOG_KEYS = {"agent", "link", "camp", "init", "conflict", "idp_totals"}
# read by Flee 3.1; onward refuses them when they are switched on
_REFUSED_MOVE_FLAGS = {
    "stay_close_to_home": "per-agent distance to the home location",
    "ChildrenAvoidHazards": "per-agent ages from demographics_age.csv",
    "BoysTakeRisk": "per-agent ages and genders from demographics_*.csv",
    "MatchCampEthnicity": "ethnicity matching (Flee 3.1 itself crashes on it: NameError)",
    "MatchTownEthnicity": "ethnicity matching (Flee 3.1 itself crashes on it: NameError)",
    "MatchConflictEthnicity": "ethnicity matching (Flee 3.1 itself crashes on it: NameError)",
}
_IGNORED_BY_FLEE = {
    ("move_rules", "capacity_scaling"): "not read by Flee 3.1",
    ("move_rules", "max_crossing_speed"): "read but never used by Flee 3.1's serial model",
    ("move_rules", "home_distance_power"): "used only with stay_close_to_home",
    ("spawn_rules", "sum_from_camps"): "not read by Flee 3.1 (spawning uses refugees.csv)",
    ("spawn_rules", "conflict_spawn_decay_interval"): "not read by Flee 3.1 (interval is 30 days)",
    ("spawn_rules", "empty_camps_on_day0"): "not read by Flee 3.1 (a newer Flee's key)",
    ("spawn_rules", "camps_are_sinks"): "not read by Flee 3.1, which reads the misspelt "
                                        "key camps_are_sicks",
    ("spawn_rules", "conflict_zone_spawning_only"): "no effect in Flee 3.1's data-driven "
                                                    "spawning (only conflict zones spawn)",
    ("log_levels", "granularity"): "not read by Flee 3.1",
    ("", "number_of_steps"): "Flee's run.py takes the length from sim_period.csv",
    ("", "conflict_input_file"): "Flee's run.py always reads input_csv/conflicts.csv",
}


@dataclass(frozen=True)
class FleeSettings:
    """The rules of one Flee 3.1 scenario, with Flee 3.1's defaults."""

    max_move_speed: float = 360.0
    max_walk_speed: float = 35.0
    foreign_weight: float = 1.0
    camp_weight: float = 1.0
    conflict_weight: float = 1.0 / 3.16227766017
    conflict_movechance: float = 1.0
    camp_movechance: float = 0.001
    idpcamp_movechance: float = 0.1
    default_movechance: float = 0.3
    awareness_level: int = 1
    capacity_buffer: float = 0.9
    avoid_short_stints: bool = False
    start_on_foot: bool = False
    use_v1_rules: bool = False
    distance_softening: float = 10.0
    weight_softening: float = 0.0
    weight_power: float = 1.0
    distance_power: float = 1.0
    use_pop_for_loc_weight: bool = False
    pop_power_for_loc_weight: float = 0.1
    movechance_pop_base: float = 10000.0
    movechance_pop_scale_factor: float = 0.0
    take_from_population: bool = False
    insert_day0: bool = True
    conflict_spawn_decay: tuple[float, ...] | None = None
    hasten: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def decay(self, days_since_conflict):
        """``conflict_spawn_decay[min(days // 30, len - 1)]`` (1 without a decay list);
        works on NumPy arrays."""
        import numpy as np

        d = np.asarray(days_since_conflict)
        if not self.conflict_spawn_decay:
            return np.ones(d.shape)
        table = np.asarray(self.conflict_spawn_decay, dtype=np.float64)
        # Flee: int(t / 30) truncates toward zero (t is -1 .. for never-started conflicts)
        idx = np.minimum(np.trunc(d / 30.0).astype(np.int64), len(table) - 1)
        return table[idx]


def _lines(text: str) -> dict[tuple[str, ...], int]:
    """Line number (1-based) of every mapping key, by its path."""
    out: dict[tuple[str, ...], int] = {}
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(n, path):
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                p = path + (str(k.value),)
                out[p] = k.start_mark.line + 1
                walk(v, p)

    walk(node, ())
    return out


def read_settings(path: Path) -> tuple[FleeSettings, list[str]]:
    """Read ``simsetting.yml``; returns the settings and the warnings; raises FleeError."""
    return read_settings_text(read_text(Path(path), str(path)), str(path))


def _coerce(value, kind, where, key, pr: Problems):
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        pr.error(where, key, f"{value!r} is not true or false (Flee 3.1 would read any "
                 "non-empty text, even 'false', as true)", f"write {key}: true or false, "
                 "unquoted")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            pr.error(where, key, f"{value!r} is not a number", f"write a number for {key}")
            return None
    if kind == "int":
        return int(value)
    return float(value)


def _unread(key: str, known: Iterable[str]) -> str:
    """The warning for a key Flee 3.1 does not read, with the nearest key it reads."""
    import difflib

    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return ("not read by Flee 3.1; ignored" + (f" (did you mean {near[0]}?)" if near else ""))


def read_settings_text(text: str, name: str = "simsetting.yml",
                       ) -> tuple[FleeSettings, list[str]]:
    """Parse simsetting.yml text; see :func:`read_settings`."""
    pr = Problems()
    lines = _lines(text)

    def at(*path: str) -> str:
        return f"{name}:{lines.get(tuple(path), 1)}"

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        pr.error(f"{name}:{line}", "yaml", f"not valid YAML ({getattr(exc, 'problem', exc)})",
                 "fix the indentation or quoting on that line")
        pr.raise_if_any()
    if data is None:
        pr.warn(f"{name}:1", "simsetting", "is empty: every setting takes Flee 3.1's default "
                "(hasten 1, so every person is an agent)")
        data = {}
    if not isinstance(data, dict):
        pr.error(f"{name}:1", "simsetting", "the file is not a mapping of sections",
                 "write sections such as move_rules: and spawn_rules:")
        pr.raise_if_any()
    values: dict[str, Any] = {}
    known_sections = {"log_levels", "spawn_rules", "move_rules", "optimisations", "flood_rules",
                      "number_of_steps", "conflict_input_file"}
    for key in data:
        if key not in known_sections:
            lost = data[key] if isinstance(data[key], dict) else {}
            pr.warn(at(key), key, _unread(key, known_sections) + (
                f"; so its {len(lost)} setting(s) ({', '.join(map(str, lost))}) are not "
                "applied and take Flee 3.1's defaults" if lost else ""))
        elif ("", key) in _IGNORED_BY_FLEE:
            pr.warn(at(key), key, _IGNORED_BY_FLEE[("", key)] + "; ignored")
    if data.get("flood_rules") is not None:
        pr.error(at("flood_rules"), "flood_rules", "flood-driven rules are not supported by "
                 "onward's Flee reader", "remove the flood_rules section")

    def section(sec: str) -> dict:
        s = data.get(sec)
        if s is None:
            return {}
        if not isinstance(s, dict):
            pr.error(at(sec), sec, "is not a mapping", f"indent the keys of {sec}: under it")
            return {}
        return s

    logs = section("log_levels")
    for k, v in logs.items():
        if ("log_levels", k) in _IGNORED_BY_FLEE:
            pr.warn(at("log_levels", k), f"log_levels.{k}", _IGNORED_BY_FLEE[("log_levels", k)]
                    + "; ignored")
        elif k in _LOG_KEYS:
            if v:
                pr.warn(at("log_levels", k), f"log_levels.{k}", "controls Flee's diagnostic "
                        "files only (no effect on counts); onward writes none; ignored")
        else:
            pr.warn(at("log_levels", k), f"log_levels.{k}", _unread(k, _LOG_KEYS))

    spawn = section("spawn_rules")
    for k, v in spawn.items():
        where = at("spawn_rules", k)
        if k in _SPAWN:
            values[_SPAWN[k][0]] = _coerce(v, _SPAWN[k][2].__class__.__name__, where, k, pr)
        elif k == "conflict_spawn_decay":
            if v is None:
                continue
            if not isinstance(v, list) or not v:
                pr.error(where, k, f"{v!r} is not a non-empty list of numbers",
                         "write a list such as [1.0, 1.0, 0.5]")
                continue
            try:
                values["conflict_spawn_decay"] = tuple(float(x) for x in v)
            except (TypeError, ValueError):
                pr.error(where, k, f"{v!r} holds a value that is not a number",
                         "write numbers only")
        elif k == "camps_are_sicks":
            if v:
                values["camps_are_sicks"] = True
        elif k in ("conflict_driven_spawning", "flood_driven_spawning"):
            if v is not None:
                pr.error(where, k, "fixed-rate spawning is not supported by onward's Flee "
                         "reader", f"remove {k} to spawn from the UNHCR total (refugees.csv)")
        elif k == "flood_zone_spawning_only":
            if v:
                pr.error(where, k, "flood-zone spawning is not supported",
                         "remove the key or set it to false")
        elif k == "read_from_agents_csv_file":
            if v:
                pr.error(where, k, "loading agents from agents.csv is not supported",
                         "remove the key or set it to false")
        elif ("spawn_rules", k) in _IGNORED_BY_FLEE:
            pr.warn(where, f"spawn_rules.{k}", _IGNORED_BY_FLEE[("spawn_rules", k)]
                    + "; ignored")
        else:
            pr.warn(where, f"spawn_rules.{k}", _unread(k, [*_SPAWN, "conflict_spawn_decay"]))

    move = section("move_rules")
    for k, v in move.items():
        where = at("move_rules", k)
        if k in _MOVE:
            attr, kind, _ = _MOVE[k]
            values[attr] = _coerce(v, kind, where, k, pr)
            got = values[attr]
            if k in _MOVE_RANGE and got is not None and not isinstance(got, bool):
                lo, hi, strict, what = _MOVE_RANGE[k]
                if not (math.isfinite(got) and (got > lo if strict else got >= lo)
                        and got <= hi):
                    pr.error(where, f"move_rules.{k}", f"{v!r} is not {what}",
                             f"write {what}, e.g. {_MOVE[k][2]!r} (Flee 3.1's default)")
        elif k in _REFUSED_MOVE_FLAGS:
            if v:
                pr.error(where, k, f"needs {_REFUSED_MOVE_FLAGS[k]}, which onward's Flee "
                         "reader does not model", f"remove {k} or set it to false")
        elif ("move_rules", k) in _IGNORED_BY_FLEE:
            pr.warn(where, f"move_rules.{k}", _IGNORED_BY_FLEE[("move_rules", k)]
                    + "; ignored")
        else:
            pr.warn(where, f"move_rules.{k}", _unread(k, _MOVE))

    opt = section("optimisations")
    for k, v in opt.items():
        where = at("optimisations", k)
        if k == "hasten":
            h = _coerce(v, "int", where, k, pr)
            if h is not None and h < 1:
                pr.error(where, k, f"{v!r} must be a whole number >= 1",
                         "write hasten: 1 (no scaling) or a larger integer")
            values["hasten"] = h
        else:
            pr.warn(where, f"optimisations.{k}", _unread(k, ["hasten"]))
    pr.raise_if_any()

    camps_are_sicks = values.pop("camps_are_sicks", False)
    s = FleeSettings(**{k: v for k, v in values.items() if v is not None})
    if s.use_v1_rules:
        # Flee 3.1 overrides these five rules when use_v1_rules is on
        s = FleeSettings(**{**s.__dict__, "max_move_speed": 200.0, "start_on_foot": False,
                            "avoid_short_stints": False, "camp_weight": 2.0,
                            "conflict_weight": 0.25})
        pr.warn(at("move_rules", "use_v1_rules"), "move_rules.use_v1_rules",
                "sets max_move_speed 200, start_on_foot false, avoid_short_stints false, "
                "camp_weight 2.0, conflict_weight 0.25, as Flee 3.1 does")
    if s.awareness_level == 0:
        pr.warn(at("move_rules", "awareness_level"), "move_rules.awareness_level",
                "0 makes agents pick a link index that Flee 3.1 never matches: nobody moves "
                "(reproduced)")
    if camps_are_sicks:
        s.extra["camps_are_sicks"] = True
    return s, pr.warnings
