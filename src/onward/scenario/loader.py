"""Load scenario files: safe YAML, ``extends`` inheritance, one clear message per error.

Every problem with a scenario file is raised as :class:`ScenarioError`, whose message
names the file, the line, the field path and the fix; callers (the CLI) print it without a
traceback.

Examples
--------
>>> from onward.scenario.loader import load_scenario, builtin_names
>>> "nk-onward" in builtin_names()
True
>>> load_scenario("nk-onward").name
'nk-onward'
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from onward.scenario.schema import Month, Scenario

MAX_FILE_BYTES = 2_000_000
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_EXTENDS = 16

Path_ = tuple[str | int, ...]


class ScenarioError(ValueError):
    """A scenario cannot be loaded; ``str(err)`` is the message to show the user."""

    def __init__(self, messages: list[str]):
        self.messages = messages
        super().__init__("\n".join(messages))


@dataclass
class _Doc:
    """A parsed YAML document and, for each field path, the file and line it came from."""

    data: Any
    lines: dict[Path_, tuple[str, int]] = field(default_factory=dict)


def builtin_dir() -> Path:
    return Path(str(resources.files("onward.scenario") / "builtin"))


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with onward."""
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def resolve_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """Find a scenario by built-in name or path; raise :class:`ScenarioError` if neither."""
    s = str(name_or_path)
    p = Path(s)
    candidates = []
    if relative_to is not None and not p.is_absolute():
        candidates.append(relative_to / p)
        if p.suffix == "":
            candidates.append(relative_to / f"{s}.yaml")
    candidates.append(p)
    if p.suffix == "" and "/" not in s:
        candidates.append(builtin_dir() / f"{s}.yaml")
    for c in candidates:
        if c.is_file():
            return c
    raise ScenarioError([
        f"{s}: no such scenario file or built-in scenario. Built-ins: "
        + ", ".join(builtin_names()) + " (see `onward scenarios`); or give a path to a .yaml file"
    ])


# --- YAML with line numbers ---------------------------------------------------------------


def _parse_yaml(text: str, fname: str) -> _Doc:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{fname}:{mark.line + 1}:{mark.column + 1}" if mark else fname
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError([
            f"{where}: YAML syntax error: {problem}. Fix: check indentation (spaces, not tabs), "
            "colons after keys and matching quotes/brackets on that line"
        ]) from None
    except (ValueError, RecursionError) as exc:  # e.g. unusual bytes, deep nesting
        raise ScenarioError([f"{fname}: cannot be read as YAML ({exc}); save it as UTF-8 text"
                             ]) from None
    if node is None:
        raise ScenarioError([f"{fname}: the file is empty; start from `onward scenario new NAME`"])
    doc = _Doc(None)
    counter = [0]
    doc.data = _construct(node, (), doc, fname, counter, 0, set())
    return doc


def _construct(node: yaml.Node, path: Path_, doc: _Doc, fname: str, counter: list[int],
               depth: int, active: set[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise ScenarioError([f"{fname}: more than {MAX_NODES} YAML nodes (after expanding "
                             "anchors/aliases); a scenario is never this large. Remove the "
                             "repeated aliases"])
    if depth > MAX_DEPTH:
        raise ScenarioError([f"{fname}:{node.start_mark.line + 1}: nesting deeper than "
                             f"{MAX_DEPTH} levels; flatten the file"])
    if id(node) in active:
        raise ScenarioError([f"{fname}:{node.start_mark.line + 1}: recursive YAML alias; "
                             "remove it"])
    doc.lines.setdefault(path, (fname, node.start_mark.line + 1))
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        out: dict[Any, Any] = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                raise ScenarioError([f"{fname}:{k_node.start_mark.line + 1}: keys must be plain "
                                     "names"])
            if k_node.tag == "tag:yaml.org,2002:merge":
                raise ScenarioError([f"{fname}:{k_node.start_mark.line + 1}: YAML merge keys "
                                     "('<<') are not supported; use `extends:` instead"])
            key = _scalar(k_node, fname)
            if isinstance(key, (dict, list)) or key is None:
                raise ScenarioError([f"{fname}:{k_node.start_mark.line + 1}: invalid key"])
            if key in out:
                raise ScenarioError([
                    f"{fname}:{k_node.start_mark.line + 1}: duplicate key '{key}' in "
                    f"{_fmt(path) or 'the top level'}; keep only one"
                ])
            out[key] = _construct(v_node, path + (str(key),), doc, fname, counter, depth + 1,
                                  active)
            doc.lines[path + (str(key),)] = (fname, k_node.start_mark.line + 1)
        active.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        items = [
            _construct(v, path + (i,), doc, fname, counter, depth + 1, active)
            for i, v in enumerate(node.value)
        ]
        active.discard(id(node))
        return items
    return _scalar(node, fname)


_SAFE = yaml.SafeLoader("")


def _scalar(node: yaml.Node, fname: str) -> Any:
    try:
        return _SAFE.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{fname}:{node.start_mark.line + 1}: {exc}"]) from None
    except (ValueError, OverflowError) as exc:
        raise ScenarioError([f"{fname}:{node.start_mark.line + 1}: bad value ({exc})"]) from None


def _fmt(path: Path_) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


# --- extends --------------------------------------------------------------------------------


def _merge(base: Any, over: Any, bl: dict, ol: dict, path: Path_) -> Any:
    """Deep-merge ``over`` onto ``base``; events merge by id; scalars onto params set value."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if k in out:
                out[k] = _merge(out[k], v, bl, ol, path + (str(k),))
            else:
                out[k] = v
        return out
    if path == ("events",) and isinstance(base, list) and isinstance(over, list):
        return _merge_events(base, over)
    if isinstance(base, dict) and "value" in base and isinstance(over, (int, float)) \
            and not isinstance(over, bool):
        out = dict(base)
        out["value"] = over
        return out
    return over


def _merge_events(base: list, over: list) -> list:
    out = [copy.deepcopy(e) for e in base]
    index = {e.get("id"): i for i, e in enumerate(out) if isinstance(e, dict) and e.get("id")}
    removed: set[int] = set()
    for ev in over:
        eid = ev.get("id") if isinstance(ev, dict) else None
        if eid and eid in index:
            if ev.get("remove"):
                removed.add(index[eid])
            else:
                merged = dict(out[index[eid]])
                merged.update(ev)
                out[index[eid]] = merged
        elif isinstance(ev, dict) and ev.get("remove"):
            raise ScenarioError([f"events: cannot remove '{eid}': the base scenario has no event "
                                 f"with that id (ids: {sorted(k for k in index if k)})"])
        else:
            out.append(ev)
    return [e for i, e in enumerate(out) if i not in removed]


def _read(path: Path, chain: tuple[Path, ...] = ()) -> _Doc:
    fname = str(path)
    if len(chain) > MAX_EXTENDS:
        raise ScenarioError([f"{fname}: `extends` chain longer than {MAX_EXTENDS}"])
    if path.resolve() in chain:
        raise ScenarioError([f"{fname}: `extends` loops back to itself via "
                             + " -> ".join(str(p) for p in chain)])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"{fname}: cannot read ({exc.strerror})"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError([f"{fname}: {len(raw)} bytes is too large for a scenario file "
                             f"(limit {MAX_FILE_BYTES})"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError([f"{fname}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
                             ]) from None
    doc = _parse_yaml(text, fname)
    if not isinstance(doc.data, dict):
        raise ScenarioError([f"{fname}:1: a scenario must be a mapping of keys (name:, "
                             "horizon:, ...), not a {type(doc.data).__name__}"])
    parent = doc.data.pop("extends", None)
    if parent is None:
        return doc
    if not isinstance(parent, str):
        line = doc.lines.get(("extends",), (fname, 1))[1]
        raise ScenarioError([f"{fname}:{line}: extends: give a built-in name or a path"])
    base_path = resolve_path(parent, relative_to=path.parent)
    base = _read(base_path, chain + (path.resolve(),))
    merged = _merge(base.data, doc.data, base.lines, doc.lines, ())
    lines = dict(base.lines)
    lines.update(doc.lines)
    return _Doc(merged, lines)


# --- validation ------------------------------------------------------------------------------


def _hint(err_type: str, msg: str) -> str:
    if err_type == "extra_forbidden":
        return "remove this key or fix its spelling (see `onward scenario show nk-onward`)"
    if err_type == "missing":
        return "add this field"
    if "float" in err_type or "int" in err_type:
        return "write a number"
    if err_type.startswith("string"):
        return "write text"
    if err_type == "literal_error":
        return "use one of the values listed"
    return ""


def _locate(loc: tuple, lines: dict[Path_, tuple[str, int]], default: str) -> tuple[str, str]:
    """Map a pydantic error location to (file:line, dotted path as written in YAML)."""
    path: list[str | int] = []
    for p in loc:
        if p == "params":  # Destination keeps its parameters flat in YAML
            continue
        if isinstance(p, str) and p in ("function-after", "function-before"):
            continue
        path.append(p)
    key: Path_ = tuple(p if isinstance(p, int) else str(p) for p in path)
    while key and key not in lines:
        key = key[:-1]
    fname, line = lines.get(key, (default, 0))
    where = f"{fname}:{line}" if line else fname
    return where, _fmt(tuple(path))


def validate_dict(data: Any, lines: dict[Path_, tuple[str, int]] | None = None,
                  fname: str = "<scenario>") -> Scenario:
    """Validate an already parsed scenario mapping."""
    lines = lines or {}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors(include_url=False):
            where, field_path = _locate(e["loc"], lines, fname)
            msg = e["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            hint = _hint(e["type"], msg)
            got = ""
            if e["type"] not in ("missing",) and "input" in e and not isinstance(
                    e["input"], (dict, list)):
                got = f" (got {e['input']!r})"
            line = f"{where}: {field_path or 'scenario'}: {msg}{got}"
            if hint:
                line += f". Fix: {hint}"
            msgs.append(line)
        raise ScenarioError(msgs) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario by built-in name or path.

    Raises
    ------
    ScenarioError
        With one line per problem: file, line, field path, what is wrong and the fix.
    """
    path = resolve_path(name_or_path)
    doc = _read(path)
    return validate_dict(doc.data, doc.lines, str(path))


# --- writing and hashing ---------------------------------------------------------------------


def scenario_to_dict(sc: Scenario) -> dict[str, Any]:
    """A plain mapping that :func:`validate_dict` turns back into the same scenario."""
    d = sc.model_dump(mode="python", exclude={"destinations", "horizon", "events"})
    d["horizon"] = {"start": str(sc.horizon.start), "end": str(sc.horizon.end)}
    d["destinations"] = {c: x.model_dump_yaml() for c, x in sc.destinations.items()}
    d["events"] = []
    for ev in sc.events:
        e = ev.model_dump(exclude_defaults=True, exclude={"date"})
        d["events"].append({"date": str(ev.date), **e} if "id" not in e
                           else {"id": e.pop("id"), "date": str(ev.date), **e})
    d["parameters"] = {
        g: {k: _param_dump(p) for k, p in grp.items()} for g, grp in sc.parameters.items()
    }
    return _plain(d)


def _param_dump(p: Any) -> dict[str, Any]:
    out = p.model_dump(exclude_defaults=True)
    out["value"] = p.value
    return out


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Month):
        return str(x)
    return x


def scenario_to_yaml(sc: Scenario) -> str:
    """The scenario as YAML text (round-trips through :func:`load_scenario`)."""
    return yaml.safe_dump(scenario_to_dict(sc), sort_keys=False, allow_unicode=True, width=100)


def scenario_hash(sc: Scenario) -> str:
    """SHA-256 of the canonical JSON of the resolved scenario (first 16 hex digits)."""
    canon = json.dumps(scenario_to_dict(sc), sort_keys=True, default=str)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def load_text(text: str, fname: str = "<string>") -> Scenario:
    """Validate a scenario given as YAML text (``extends`` resolves against built-ins)."""
    doc = _parse_yaml(text, fname)
    if not isinstance(doc.data, dict):
        raise ScenarioError([f"{fname}:1: a scenario must be a mapping of keys"])
    parent = doc.data.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ScenarioError([f"{fname}: extends: give a built-in name or a path"])
        base = _read(resolve_path(parent))
        data = _merge(base.data, doc.data, base.lines, doc.lines, ())
        lines = dict(base.lines)
        lines.update(doc.lines)
        return validate_dict(data, lines, fname)
    return validate_dict(doc.data, doc.lines, fname)
