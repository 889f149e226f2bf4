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
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

from onward.options import command, option, parameters_command, scenario_show_command
from onward.scenario.schema import FieldError, FieldErrors, Month, Scenario, _span, dotted

# The pure-Python parser is used on purpose: libyaml's composer recurses in C and crashes
# the interpreter on deeply nested input, while this one raises RecursionError. It parses
# about 200 kB/s, so the size limit keeps a hostile file under a few seconds.
MAX_FILE_BYTES = 1_000_000
MAX_NODES = 50_000  # the flagship has about 1,200; building 50,000 takes about a second
MAX_DEPTH = 64
MAX_EXTENDS = 16
MAX_MESSAGES = 20

Path_ = tuple[str | int, ...]


def _show() -> str:
    return f"see {scenario_show_command()} for a valid example"


class ScenarioError(ValueError):
    """A scenario cannot be loaded; ``str(err)`` is the message to show the user.

    ``messages`` holds one line per problem: ``file:line: field.path: problem. Fix: ...``.
    """

    def __init__(self, messages: list[str]):
        self.messages = [_one_line(m) for m in messages]
        super().__init__("\n".join(self.messages))


def _one_line(text: str, limit: int = 600) -> str:
    """One line of at most about ``limit`` characters, shortening the problem, not the fix."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) <= limit:
        return text
    head, sep, fix = text.rpartition(". Fix: ")
    if not sep:
        return text[: limit - 3] + "..."
    fix = fix if len(fix) <= limit // 2 else fix[: limit // 2 - 3] + "..."
    return head[: max(limit - len(fix) - len(sep) - 3, 40)] + "..." + sep + fix


def _short(x: Any, limit: int = 60) -> str:
    r = repr(x)
    return r if len(r) <= limit else r[: limit - 3] + "..."


@dataclass
class _Doc:
    """A parsed YAML document and, for each field path, the file and line it came from.

    ``shown`` maps an event of the merged list (``("events", j)``) to the path it has in the
    file that wrote it, so messages name ``events[0]`` of a child, not its merged position.
    """

    data: Any
    lines: dict[Path_, tuple[str, int]] = field(default_factory=dict)
    shown: dict[Path_, Path_] = field(default_factory=dict)


def builtin_dir() -> Path:
    return Path(str(resources.files("onward.scenario") / "builtin"))


def builtin_names() -> list[str]:
    """Names of the scenarios shipped with onward."""
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):  # name too long, NUL byte, ...
        return False


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except (OSError, ValueError):
        return False


def resolve_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """Find a scenario by built-in name or path; raise :class:`ScenarioError` if neither."""
    s = str(name_or_path)
    p = Path(s)
    candidates = []
    if relative_to is not None and not p.is_absolute():
        # a path in `extends:` is relative to the file that names it, not to wherever the
        # command runs (which made a file load in one folder and not in another)
        candidates.append(relative_to / p)
        if p.suffix == "":
            candidates.append(relative_to / f"{s}.yaml")
    else:
        candidates.append(p)
    if p.suffix == "" and "/" not in s:
        candidates.append(builtin_dir() / f"{s}.yaml")
    for c in candidates:
        if _is_file(c):
            return c
    if _is_dir(p):
        flee = [d for d in ("input_csv", "source_data") if _is_dir(p / d)]
        if len(flee) == 2:
            raise ScenarioError([
                f"{_short(s)}: is a Flee 3.1 folder; "
                + command("onward run FOLDER", "onward.flee.simulate_flee("
                          "onward.flee.read_flee_folder(FOLDER))")
                + " runs it and "
                + command("onward validate FOLDER", "onward.flee.read_flee_folder(FOLDER)")
                + " checks it. Fix: give an onward scenario here (a .yaml file or a built-in "
                "name)"])
        missing = [d + "/" for d in ("input_csv", "source_data") if d not in flee]
        raise ScenarioError([f"{_short(s)}: is a folder, not a scenario file (a Flee 3.1 "
                             f"folder needs input_csv/ and source_data/; this one lacks "
                             f"{' and '.join(missing)}). Fix: give a .yaml file, a built-in "
                             "name, or a complete Flee folder"])
    where = (f"a path to a .yaml file relative to {relative_to} (the folder of the file "
             "that names it)" if relative_to is not None
             else f"a path to a .yaml file (relative to {Path.cwd()}, where this runs)")
    near = _near_scenario(p, relative_to)
    raise ScenarioError([
        f"{_short(s)}: no such scenario file or built-in scenario. Fix: "
        + (f"did you mean {near}? Else " if near else "")
        + f"give {where} or a built-in name: " + ", ".join(builtin_names()) + " (see "
        + command("onward scenarios", "onward.scenario.builtin_names()") + ")"
    ])


def _near_scenario(p: Path, relative_to: Path | None) -> str | None:
    """The built-in name or the .yaml file beside ``p`` that ``p`` most likely misspells
    (``nk-onwrd``: nk-onward; ``polcy.yaml``: policy.yaml), or None."""
    import difflib

    folder = (relative_to or Path.cwd()) / p.parent
    try:
        files = sorted(f.name for f in folder.iterdir() if f.suffix in (".yaml", ".yml"))
    except OSError:
        files = []
    if p.suffix:  # a file name: its folder's files
        near = difflib.get_close_matches(p.name, files, n=1, cutoff=0.8)
        return str(p.parent / near[0]) if near else None
    names = builtin_names() + [Path(f).stem for f in files]
    near = difflib.get_close_matches(p.name, names, n=1, cutoff=0.8)
    if not near:
        return None
    return near[0] if near[0] in builtin_names() else str(p.parent / f"{near[0]}.yaml")


# --- YAML with line numbers ---------------------------------------------------------------


_LOOKS_LIKE_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


class _TooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing deep nesting while scanning.

    PyYAML's scanner keeps one possible simple key per open bracket and walks them all for
    every token, so ``[[[[...`` costs time quadratic in the depth (10,000 brackets: seconds),
    and its composer recurses once per level. Both stop here, at the first level too many.
    """

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(problem="nesting too deep", problem_mark=self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise _TooDeep(problem="nesting too deep", problem_mark=self.get_mark())
        return super().add_indent(column)


def _parse_yaml(text: str, fname: str) -> _Doc:
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError([f"{fname}: {len(text)} characters is too large for a scenario "
                             f"(limit {MAX_FILE_BYTES}). Fix: a scenario is a few kB; extend "
                             "a built-in (extends: nk-onward) and write only what changes"])
    try:
        node = yaml.compose(text, Loader=_Loader)
    except _TooDeep as exc:
        raise ScenarioError([
            f"{fname}:{exc.problem_mark.line + 1}: nesting deeper than {MAX_DEPTH} levels. "
            "Fix: a scenario nests a few levels; close the brackets or flatten the file"
        ]) from None
    except yaml.reader.ReaderError as exc:
        ch = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        pos = text.find(ch)
        line = text.count("\n", 0, pos) + 1 if pos >= 0 else 1
        raise ScenarioError([
            f"{fname}:{line}: unreadable character {ch!r} ({exc.reason}); this does not look "
            "like a text file. Fix: save the scenario as plain UTF-8 text"
        ]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{fname}:{mark.line + 1}:{mark.column + 1}" if mark else fname
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        if context and problem.startswith("but "):
            problem = f"{context}, {problem}"
        raise ScenarioError([
            f"{where}: YAML syntax error: {problem}. Fix: check indentation (spaces, not tabs), "
            "colons after keys and matching quotes/brackets on that line or the one above"
        ]) from None
    except RecursionError:
        raise ScenarioError([f"{fname}: nesting too deep to read. Fix: a scenario nests a few "
                             "levels; close the brackets or flatten the file"]) from None
    except ValueError as exc:  # e.g. unusual bytes
        raise ScenarioError([f"{fname}: cannot be read as YAML ({exc}). Fix: save it as UTF-8 "
                             "text"]) from None
    if node is None:
        raise ScenarioError([f"{fname}: the file is empty (or only comments). Fix: write a "
                             "scenario, e.g. `extends: nk-onward` plus what changes, or start "
                             "from "
                             + command("onward scenario new NAME", "a copy of one, as "
                                       f"{scenario_show_command()} prints it")])
    size = _expanded_size(node)
    if size > MAX_NODES:
        raise ScenarioError([f"{fname}: {_big(size)} YAML nodes once anchors/aliases are "
                             f"expanded (limit {MAX_NODES}); a scenario is never this large. "
                             "Fix: remove the repeated aliases (&name / *name)"])
    doc = _Doc(None)
    state = _Build(fname, SafeConstructor())
    doc.data = state.construct(node, (), doc, 0)
    return doc


def _big(n: int) -> str:
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded, without expanding.

    The composed graph shares one node per anchor, so sizes are memoised per node: a
    billion-laughs document costs as many steps as it has distinct nodes. A node that
    contains itself (a recursive alias) counts once here; :class:`_Build` reports it.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size.get(id(k), 1) for k in kids)
            continue
        if key in size or key in on_path:
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)
    return size[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_STD = "tag:yaml.org,2002:"
_MAP_TAG = _STD + "map"
_SEQ_TAG = _STD + "seq"


def _tag(tag: str) -> str:
    return tag.replace(_STD, "!!")


class _Build:
    """Builds plain Python data from YAML nodes, recording lines; refuses alias bombs."""

    def __init__(self, fname: str, constructor: SafeConstructor) -> None:
        self.fname = fname
        self.constructor = constructor
        self.count = 0
        self.active: set[int] = set()

    def error(self, node: yaml.Node, text: str) -> ScenarioError:
        return ScenarioError([f"{self.fname}:{node.start_mark.line + 1}: {text}"])

    def construct(self, node: yaml.Node, path: Path_, doc: _Doc, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise ScenarioError([f"{self.fname}: more than {MAX_NODES} YAML nodes (after "
                                 "expanding anchors/aliases); a scenario is never this large. "
                                 "Fix: remove the repeated aliases (&name / *name)"])
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH} levels. Fix: flatten the "
                             "file")
        if id(node) in self.active:
            raise self.error(node, "recursive YAML alias (a value that contains itself). Fix: "
                             "remove the alias")
        doc.lines.setdefault(path, (self.fname, node.start_mark.line + 1))
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise self.error(node, f"YAML tag {_tag(node.tag)} is not supported. Fix: remove "
                                 "it")
            self.active.add(id(node))
            out: dict[Any, Any] = {}
            for k_node, v_node in node.value:
                if not isinstance(k_node, yaml.ScalarNode):
                    raise self.error(k_node, "keys must be plain names. Fix: write `name: value`")
                if k_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error(k_node, "YAML merge keys ('<<') are not supported. Fix: use "
                                     "`extends:` instead")
                key = self.scalar(k_node)
                try:
                    hash(key)
                except TypeError:
                    raise self.error(k_node, "invalid key. Fix: write `name: value`") from None
                if key is None:
                    raise self.error(k_node, "empty key. Fix: write `name: value`")
                kpath = path + (str(key),)
                if key in out:
                    raise self.error(k_node, f"{dotted(kpath)}: duplicate key '{key}' in "
                                     f"{dotted(path) or 'the top level'}. Fix: keep only one")
                out[key] = self.construct(v_node, kpath, doc, depth + 1)
                doc.lines[kpath] = (self.fname, k_node.start_mark.line + 1)
            self.active.discard(id(node))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self.error(node, f"YAML tag {_tag(node.tag)} is not supported. Fix: remove "
                                 "it")
            self.active.add(id(node))
            items = [self.construct(v, path + (i,), doc, depth + 1)
                     for i, v in enumerate(node.value)]
            self.active.discard(id(node))
            return items
        return self.scalar(node, path)

    def scalar(self, node: yaml.Node, path: Path_ = ()) -> Any:
        field = f"{dotted(path)}: " if path else ""
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise self.error(node, f"{field}{_tag(problem)}. Fix: remove the tag, or quote the "
                             "value if it is text") from None
        except (ValueError, OverflowError) as exc:
            fix = ("write a date of the calendar, e.g. 2005-02-28"
                   if isinstance(node.value, str) and _LOOKS_LIKE_DATE.match(node.value)
                   else "correct it, or quote it if it is text")
            raise self.error(node, f"{field}bad value {_short(node.value)} ({exc}). Fix: "
                             f"{fix}") from None


# --- extends --------------------------------------------------------------------------------


def _merge(base: Any, over: Any) -> Any:
    """Deep-merge ``over`` onto ``base``; a bare number onto a parameter sets its value."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if _sets_value(base, over):
        out = dict(base)
        out["value"] = over
        return out
    return over


def _sets_value(base: Any, over: Any) -> bool:
    return isinstance(base, dict) and "value" in base and isinstance(over, (int, float)) \
        and not isinstance(over, bool)


def _id_key(item: Any) -> str | None:
    eid = item.get("id") if isinstance(item, dict) else None
    return eid if isinstance(eid, str) and eid else None


def _name_key(item: Any) -> str | None:
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else None


def _link_key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    a, b = item.get("from"), item.get("to")
    return f"{a} -> {b}" if isinstance(a, str) and isinstance(b, str) else None


#: lists that a child scenario merges into its base item by item rather than replacing:
#: path -> (the item's key, how the key is written). An item whose key the base has
#: updates that item (``remove: true`` drops it); any other item is added.
KEYED_LISTS: dict[Path_, tuple[Callable[[Any], str | None], str]] = {
    ("events",): (_id_key, "id"),
    ("routes", "closures"): (_id_key, "id"),
    ("routes", "locations"): (_name_key, "name"),
    ("routes", "links"): (_link_key, "from and to"),
}


def _merge_keyed(base: list, over: list, path: Path_, child: _Doc, fname: str
                 ) -> tuple[list, list[tuple[int | None, int | None]]]:
    """Merge the child's list at ``path`` onto the base's by key (:data:`KEYED_LISTS`);
    also return, per merged item, its (base, child) index."""
    key_of, key_text = KEYED_LISTS[path]
    out = [copy.deepcopy(e) for e in base]
    origin: list[tuple[int | None, int | None]] = [(i, None) for i in range(len(out))]
    index = {k: i for i, e in enumerate(out) if (k := key_of(e))}
    removed: set[int] = set()
    for c, item in enumerate(over):
        key = key_of(item)
        remove = isinstance(item, dict) and item.get("remove") is True
        if key is not None and key in index:
            i = index[key]
            if remove:
                removed.add(i)
            else:
                _check_same_kind(out[i], item, path, c, child, fname)
                merged = dict(out[i])
                merged.update(item)
                out[i] = merged
                origin[i] = (i, c)
        elif remove:
            line = child.lines.get(path + (c,))
            where = f"{fname}:{line[1]}" if line else fname
            name = dotted(path + (c,))
            what = (f"cannot remove '{key}': the base scenario has none with that {key_text}"
                    if key else f"remove: true needs the {key_text} of the base's item")
            known = sorted(index)
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ScenarioError([f"{where}: {name}: {what}. Fix: use one of {shown}"])
        else:
            out.append(item)
            origin.append((None, c))
    keep = [i for i in range(len(out)) if i not in removed]
    return [out[i] for i in keep], [origin[i] for i in keep]


def _check_same_kind(base_item: Any, item: Any, path: Path_, c: int, child: _Doc,
                     fname: str) -> None:
    """A variant's route location named as one of its base's but of another type (a new
    destination called Paris, where the base has a hub Paris) is a clash of names, not an
    edit: it merged into the base's location, links and all, and failed later with a
    puzzling message about broker-only links."""
    if path != ("routes", "locations") or not (isinstance(base_item, dict)
                                                and isinstance(item, dict)):
        return
    old, new = base_item.get("type"), item.get("type")
    if old is None or new is None or old == new:
        return
    line = child.lines.get(path + (c,))
    where = f"{fname}:{line[1]}" if line else fname
    name = item.get("name")
    raise ScenarioError([
        f"{where}: {dotted(path + (c,))}: '{name}' is already a location of the scenario "
        f"this one extends (type {old}); a location of the same name changes that one, here "
        f"to type {new}. Fix: give yours another name"])


def _under(key: Path_, prefix: Path_) -> bool:
    return len(key) >= len(prefix) and key[: len(prefix)] == prefix


def _get_list(data: Any, path: Path_) -> list | None:
    for k in path:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data if isinstance(data, list) else None


def _pop_path(data: dict, path: Path_) -> dict:
    """A copy of ``data`` without the item at ``path`` (the dicts on the way copied)."""
    out = dict(data)
    if len(path) == 1:
        out.pop(path[0], None)
    else:
        out[path[0]] = _pop_path(out[path[0]], path[1:])
    return out


def _set_path(data: dict, path: Path_, value: Any) -> None:
    for k in path[:-1]:
        data = data.setdefault(k, {})
    data[path[-1]] = value


def _check_observed_source(base: _Doc, child: _Doc, fname: str) -> None:
    """A variant that changes observed counts says where they come from: the merged counts
    would otherwise carry the base's ``source`` into reports and provenance."""
    path = ("calibration", "observed")
    mine, theirs = child.data, base.data
    for k in path:
        mine = mine.get(k) if isinstance(mine, dict) else None
        theirs = theirs.get(k) if isinstance(theirs, dict) else None
    if not (isinstance(mine, dict) and isinstance(theirs, dict)) or "source" in mine:
        return
    if not any(fam in mine for fam in ("first_claims", "refugee_stocks")):
        return
    line = child.lines.get(path)
    where = f"{fname}:{line[1]}" if line else fname
    raise ScenarioError([
        f"{where}: calibration.observed: this variant changes observed counts but not their "
        f"source (the base's is {_short(theirs.get('source'))}). Fix: add source: to "
        "calibration.observed, saying where these counts come from"])


def _extend(base: _Doc, child: _Doc, fname: str) -> _Doc:
    """Merge a child document onto its base, carrying every field's file and line along."""
    bdata, cdata = dict(base.data), dict(child.data)
    _check_observed_source(base, child, fname)
    # the keyed lists both files hold merge item by item (the others replace)
    merged: dict[Path_, tuple[list, list[tuple[int | None, int | None]]]] = {}
    for path in KEYED_LISTS:
        b, c = _get_list(bdata, path), _get_list(cdata, path)
        if b is not None and c is not None:
            # an empty list says "none of the base's" (merging nothing would keep them all)
            merged[path] = _merge_keyed(b, c, path, child, fname) if c else ([], [])
            bdata, cdata = _pop_path(bdata, path), _pop_path(cdata, path)
    data = _merge(bdata, cdata)
    for path, (items, _) in merged.items():
        _set_path(data, path, items)

    # Paths where the child replaced what the base had: the base's lines below them now
    # belong to the child's line (a bare number replaces only the parameter's value).
    owned: dict[Path_, tuple[str, int]] = {}

    def walk(b: Any, c: Any, path: Path_) -> None:
        if isinstance(b, dict) and isinstance(c, dict):
            for k, v in c.items():
                if k in b:
                    walk(b[k], v, path + (str(k),))
        elif path in child.lines:
            if _sets_value(b, c):
                owned[path + ("value",)] = child.lines[path]
            else:
                owned[path] = child.lines[path]

    walk(bdata, cdata, ())

    def item_of_merged(k: Path_) -> bool:  # a line inside an item of a merged list
        return any(len(k) > len(p) and _under(k, p) for p in merged)

    lines: dict[Path_, tuple[str, int]] = {}
    for k, loc in base.lines.items():
        if item_of_merged(k):
            continue
        owner = next((k[:n] for n in range(len(k), 0, -1) if k[:n] in owned), None)
        lines[k] = owned[owner] if owner is not None else loc
    lines.update({k: v for k, v in child.lines.items() if not item_of_merged(k)})
    # ``shown``: how an item of a merged list is named in the file that wrote it
    shown = {k: v for k, v in base.shown.items()
             if not any(_under(k, p) for p in KEYED_LISTS if _get_list(child.data, p)
                        is not None)}
    for path, (_, origin) in merged.items():
        n = len(path)
        for j, (bi, ci) in enumerate(origin):
            here = path + (j,)
            if bi is not None:
                lines.update({here + k[n + 1:]: v for k, v in base.lines.items()
                              if _under(k, path + (bi,))})
                shown[here] = base.shown.get(path + (bi,), path + (bi,))
            if ci is not None:
                lines.update({here + k[n + 1:]: v for k, v in child.lines.items()
                              if _under(k, path + (ci,))})
                shown[here] = path + (ci,)
    return _Doc(data, lines, shown)


_NO_EXTENDS = object()


def _resolve(doc: _Doc, fname: str, here: Path | None, chain: tuple[Path, ...]) -> _Doc:
    """Check the top level is a mapping and apply its ``extends``, if any."""
    if not isinstance(doc.data, dict):
        raise ScenarioError([f"{fname}:1: scenario: the top level is a "
                             f"{type(doc.data).__name__}, not a mapping. Fix: write one "
                             "`key: value` per line (name:, horizon:, ...), e.g. start with "
                             "`extends: nk-onward`"])
    parent = doc.data.pop("extends", _NO_EXTENDS)
    if parent is _NO_EXTENDS:
        return doc
    line = doc.lines.get(("extends",), (fname, 1))[1]
    if not isinstance(parent, str) or not parent.strip():
        raise ScenarioError([f"{fname}:{line}: extends: expected the name of a built-in "
                             f"scenario or a path (got {_short(parent)}). Fix: write e.g. "
                             "extends: nk-onward or extends: ./base.yaml"])
    try:
        base_path = resolve_path(parent, relative_to=here)
    except ScenarioError as exc:
        raise ScenarioError([f"{fname}:{line}: extends: {m}" for m in exc.messages]) from None
    if base_path.resolve() in chain:
        loop = " -> ".join(str(p) for p in chain + (base_path.resolve(),))
        raise ScenarioError([f"{fname}:{line}: extends: {parent} leads back to a file that "
                             f"extends it ({loop}). Fix: remove `extends` from one of them"])
    if len(chain) >= MAX_EXTENDS:
        raise ScenarioError([f"{fname}:{line}: extends: chain longer than {MAX_EXTENDS} files. "
                             "Fix: extend a scenario nearer the root"])
    base = _read(base_path, chain)
    return _extend(base, doc, fname)


def _read(path: Path, chain: tuple[Path, ...] = ()) -> _Doc:
    fname = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioError([f"{fname}: {size} bytes is too large for a scenario file "
                                 f"(limit {MAX_FILE_BYTES}). Fix: a scenario is a few kB; "
                                 "extend a built-in (extends: nk-onward) and write only what "
                                 "changes"])
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([f"{fname}: cannot read ({exc.strerror}). Fix: check the path and "
                             "its permissions"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError([f"{fname}:{line}: not UTF-8 text (byte {exc.start}); this does "
                             "not look like a scenario file. Fix: save it as UTF-8 text"
                             ]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    doc = _parse_cached(text, fname)
    return _resolve(doc, fname, path.parent, chain + (path.resolve(),))


_PARSED: OrderedDict[tuple[str, str], _Doc] = OrderedDict()
_PARSED_MAX = 16
_PARSED_LOCK = threading.Lock()
_CACHED_NODES = 5_000


def _parse_cached(text: str, fname: str) -> _Doc:
    """:func:`_parse_yaml`, remembering the last few files (keyed by name and content).

    Parsing is the slow part of loading (the pure-Python parser); an ensemble or a child
    scenario loads the same base again and again. The key is the text itself, so an edited
    file is always parsed afresh. Callers get a copy they may change.
    """
    key = (fname, text)
    with _PARSED_LOCK:  # the dashboard loads scenarios from several threads
        doc = _PARSED.get(key)
        if doc is not None:
            _PARSED.move_to_end(key)
    if doc is None:
        doc = _parse_yaml(text, fname)
        if len(doc.lines) > _CACHED_NODES:  # copying a big one costs more than parsing it
            return doc
        with _PARSED_LOCK:
            _PARSED[key] = doc
            while len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)
    # keys and values of the line maps are tuples: only the data needs a deep copy
    return _Doc(copy.deepcopy(doc.data), dict(doc.lines), dict(doc.shown))


# --- validation ------------------------------------------------------------------------------


def _hint(err_type: str) -> str:
    if err_type == "extra_forbidden":
        return f"remove this key or fix its spelling (see {scenario_show_command()})"
    if err_type == "missing":
        return "add this field"
    if err_type in ("finite_number",):
        return "write a finite number (not .nan or .inf)"
    if err_type.startswith(("float", "int")):
        return "write a number"
    if err_type.startswith("bool"):
        return "write true or false"
    if err_type == "string_pattern_mismatch":
        return "write a three-letter ISO 3166 code in capitals, like GBR"
    if err_type.startswith("string"):
        return "write text (quote it if it looks like a number or date)"
    if err_type in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping: one `key: value` per line, indented below this key"
    if err_type in ("list_type", "tuple_type", "set_type"):
        return "write a list, e.g. [1, 2]"
    if err_type == "literal_error":
        return "use one of the values listed"
    if err_type in ("too_short", "too_long"):
        return "give the number of items stated"
    if err_type.startswith(("greater_than", "less_than")):
        return "use a value within the stated limit"
    return _show()


_SKIP = {"params", "[key]", "Param"}  # model internals and union members, not YAML keys


def _clean(loc: tuple) -> Path_:
    return tuple(p for p in loc if not (isinstance(p, str) and (
        p in _SKIP or p.startswith(("function-", "literal[", "json-or-python")))))


def _locate(path: Path_, lines: dict[Path_, tuple[str, int]], shown: dict[Path_, Path_],
            default: str) -> tuple[str, str]:
    """Map a field path to (file:line of its deepest known key, dotted path as written)."""
    found: Path_ = ()
    for p in path:
        cand = found + (p,)
        if cand not in lines and isinstance(p, int):
            cand = found + (str(p),)  # an integer mapping key (inflow values)
        if cand not in lines:
            break
        found = cand
    fname, line = lines.get(found, (default, 0))
    where = f"{fname}:{line}" if line else fname
    show = path
    for n in range(len(path), 1, -1):  # an item of a merged list: as its file names it
        if path[:n] in shown:
            show = shown[path[:n]] + path[n:]
            break
    return where, dotted(show)


def validate_dict(data: Any, lines: dict[Path_, tuple[str, int]] | None = None,
                  fname: str = "<scenario>", shown: dict[Path_, Path_] | None = None
                  ) -> Scenario:
    """Validate an already parsed scenario mapping; raise :class:`ScenarioError` if invalid."""
    lines = lines or {}
    unknown = _unknown_parameters(data, lines, fname, shown or {})
    if unknown:  # before the fields of each: a misspelt name is the problem, not its fields
        raise ScenarioError(unknown)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    except RecursionError:
        raise ScenarioError([f"{fname}: scenario: nested too deeply. Fix: {_show()}"]) from None
    raise ScenarioError(_messages(errors, lines, fname, shown))


def _unknown_parameters(data: Any, lines: dict[Path_, tuple[str, int]], fname: str,
                        shown: dict[Path_, Path_]) -> list[str]:
    """``file:line`` messages for names under ``parameters`` that are no parameter, each
    with the nearest valid name."""
    import difflib

    from onward.scenario.parameters import GLOBAL_PARAMETERS

    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict):
        return []
    groups: dict[str, list[str]] = {}
    for key in GLOBAL_PARAMETERS:
        g, k = key.split(".")
        groups.setdefault(g, []).append(k)
    out = []
    for g, grp in params.items():
        if g not in groups:
            near = difflib.get_close_matches(str(g), list(groups), n=1)
            path: Path_ = ("parameters", str(g))
            fix = f"did you mean {near[0]}?" if near else f"use one of {', '.join(groups)}"
        elif isinstance(grp, dict):
            for k in grp:
                if k in groups[g]:
                    continue
                every = [f"{gg}.{kk}" for gg, ks in groups.items() for kk in ks]
                # a few near names: "discrimnation" is as close to wage_discrimination as
                # to discrimination_rate
                near = (_nearest(str(k), groups[g])
                        or difflib.get_close_matches(f"{g}.{k}", every, n=1))
                where, field_path = _locate(("parameters", g, str(k)), lines, shown, fname)
                fix = (f"did you mean {_one_of(near)}?" if near else "fix its spelling; "
                       f"{parameters_command()} lists the parameters")
                out.append(f"{where}: {field_path}: unknown parameter. Fix: {fix}")
            continue
        else:
            continue
        where, field_path = _locate(path, lines, shown, fname)
        out.append(f"{where}: {field_path}: unknown parameter group. Fix: {fix}")
    return out


def _nearest(word: str, names: list[str]) -> list[str]:
    """The names closest to ``word`` (difflib), every one as close as the closest."""
    import difflib

    near = difflib.get_close_matches(word, names, n=3)
    score = [difflib.SequenceMatcher(None, word, m).ratio() for m in near]
    return [m for m, r in zip(near, score, strict=True) if r >= score[0] - 0.02]


def _one_of(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


def _messages(errors: list, lines: dict[Path_, tuple[str, int]], fname: str,
              shown: dict[Path_, Path_] | None = None, prefix: Path_ = ()) -> list[str]:
    """One ``file:line: field: problem. Fix: ...`` line per pydantic error."""
    msgs: list[str] = []
    flat = []  # a FieldErrors stands for one error per field it names
    for e in errors:
        err = (e.get("ctx") or {}).get("error")
        flat += [{**e, "ctx": {"error": one}} for one in err.errors] \
            if isinstance(err, FieldErrors) else [e]
    # a misspelt key (taget:) is both an extra key and a missing field beside it: say it
    # once, as the spelling to fix
    missing: dict[Path_, list[str]] = {}
    for e in flat:
        loc = _clean(e["loc"])
        if e["type"] == "missing" and loc:
            missing.setdefault(loc[:-1], []).append(str(loc[-1]))
    respelt: dict[Path_, str] = {}
    for e in flat:
        loc = _clean(e["loc"])
        if e["type"] == "extra_forbidden" and len(loc) > 1 and missing.get(loc[:-1]):
            near = _nearest(str(loc[-1]), missing[loc[:-1]])
            if near:
                respelt[loc] = near[0]
    meant = {loc[:-1] + (name,) for loc, name in respelt.items()}  # the fields they meant
    flat = [e for e in flat if not (e["type"] == "missing" and _clean(e["loc"]) in meant)]
    for e in flat:
        err = (e.get("ctx") or {}).get("error")
        path = prefix + _clean(e["loc"])
        if isinstance(err, FieldError):
            # of fields that clash, the one the file being loaded wrote (not its base's)
            paths = [path + q for q in (err.path, *err.also)]
            path = next((q for q in paths if lines.get(q, ("",))[0] == fname), paths[0])
            msg, hint = err.problem, err.fix or _show()
        else:
            msg = e["msg"].removeprefix("Value error, ")
            hint = _hint(e["type"])
            if _clean(e["loc"]) in respelt:
                hint = f"did you mean {respelt[_clean(e['loc'])]}?"
            if e["type"] == "extra_forbidden" and len(path) == 1:
                import difflib

                near = difflib.get_close_matches(str(path[0]), list(Scenario.model_fields), n=1)
                if near:
                    hint = f"did you mean {near[0]}? (or remove this key)"
            if e["type"] != "missing" and "input" in e and not isinstance(
                    e["input"], (dict, list)):
                msg += f" (got {_short(e['input'])})"
        where, field_path = _locate(path, lines, shown or {}, fname)
        line = f"{where}: {field_path or 'scenario'}: {msg}. Fix: {hint}"
        if line not in msgs:
            msgs.append(line)
    if len(msgs) > MAX_MESSAGES:
        msgs = msgs[:MAX_MESSAGES] + [f"{fname}: ... and {len(msgs) - MAX_MESSAGES} more "
                                      "problems. Fix: correct the ones above first"]
    return msgs


def load_scenario(name_or_path: str | Path | Scenario,
                  notes: list[str] | None = None) -> Scenario:
    """Load and validate a scenario by built-in name or path.

    A :class:`Scenario` object is validated again, as a copy: one changed in Python after
    loading (``sc.destinations["GBR"].params["detection"].value = 5``) is checked as a file
    with those values would be.

    ``notes``, if given, receives one ``file:line: field: problem. Fix: ...`` line per
    thing that loads but will not work as written (:func:`calibration_notes`,
    :func:`inflow_notes`).

    Raises
    ------
    ScenarioError
        With one line per problem: file, line, field path, what is wrong and the fix.
    """
    from onward.arguments import scenario_arg

    scenario_arg(name_or_path)
    if isinstance(name_or_path, Scenario):
        return validate_dict(scenario_to_dict(name_or_path),
                             fname=f"scenario '{name_or_path.name}' (as changed in Python)")
    path = resolve_path(name_or_path)
    doc = _read(path)
    expand_microdata(doc, str(path))
    return _validated(doc, str(path), notes)


def _validated(doc: _Doc, fname: str, notes: list[str] | None) -> Scenario:
    """The scenario of the resolved ``doc``, validated; ``notes`` (if given) receives the
    loader's notes on it (:func:`calibration_notes`, :func:`inflow_notes`)."""
    sc = validate_dict(doc.data, doc.lines, fname, doc.shown)
    if notes is not None:
        for notes_on in (calibration_notes, inflow_notes):
            notes += notes_on(sc, doc.lines, fname, doc.shown)
    return sc


def calibration_notes(sc: Scenario, lines: dict[Path_, tuple[str, int]], fname: str,
                      shown: dict[Path_, Path_] | None = None) -> list[str]:
    """Calibration years and observed counts outside the horizon, one line each.

    These are notes, not errors: a scenario as recorded with a run, or a variant that
    shortens its base's horizon for an experiment, carries the base's calibration block
    whole, and it runs. But ``onward calibrate`` refuses calibration years outside the
    horizon (noted wherever they come from), and held-out years and counts outside it are
    never used (noted where the file being loaded wrote them: its base's are expected).
    """
    first, last = sc.horizon.start.year, sc.horizon.end.year
    span = f"{first}-{last}"
    shown = shown or {}
    where_h, _ = _locate(("horizon",), lines, shown, fname)
    out = []
    cal = sc.calibration
    for key in ("years", "held_out"):
        outside = sorted(y for y in getattr(cal, key) if not first <= y <= last)
        path: Path_ = ("calibration", key)
        mine = lines.get(path, (fname,))[0] == fname
        if not outside or not (mine or key == "years"):
            continue
        where, field_path = _locate(path, lines, shown, fname)
        what = (command("onward calibrate", "onward.calibrate") + " refuses them"
                if key == "years"
                else "never simulated, so never scored")
        here = "" if mine else f" in {fname} (this block is its base's)"
        also = (f" (or give calibrate "
                f"{option('years', 'YEARS', flag='--calibration-years', placeholder=True)})"
                if key == "years" else "")
        out.append(f"{where}: {field_path}: {_span(outside)} outside the horizon {span} "
                   f"({where_h}): {what}. Fix: set calibration.{key} inside {span}{here}"
                   f"{also}, or move the horizon")
    obs = cal.observed
    for fam in ("first_claims", "refugee_stocks"):
        cells = [(c, y) for c, y, *_ in obs.cells(fam)] if obs is not None else []
        outside = [(c, y) for c, y in cells if not first <= y <= last
                   and lines.get(("calibration", "observed", fam, c, str(y)),
                                 (fname,))[0] == fname]
        if outside:
            code, year = outside[0]
            where, field_path = _locate(("calibration", "observed", fam, code, str(year)),
                                        lines, shown, fname)
            more = (f" (with {len(outside) - 1} more: "
                    f"{_span(sorted({y for _, y in outside}))})" if len(outside) > 1 else "")
            out.append(f"{where}: {field_path}: a count of {year}, outside the horizon {span}"
                       f"{more}: never simulated, so never compared or fitted. Fix: remove "
                       "it (a typo of the year?), or move the horizon to include it")
    return out


def inflow_notes(sc: Scenario, lines: dict[Path_, tuple[str, int]], fname: str,
                 shown: dict[Path_, Path_] | None = None) -> list[str]:
    """Inline arrivals before the horizon's start, which never enter the run (one line).

    A note, not an error: a variant that starts its base later keeps the base's earlier
    years, and a run recorded with it reloads. Named at the values if the file being loaded
    wrote them, else at its horizon."""
    inflow = sc.population.inflow
    early = sorted(y for y, v in (inflow.values or {}).items()
                   if y < sc.horizon.start.year and v > 0) if inflow.source == "inline" else []
    if not early:
        return []
    path: Path_ = ("population", "inflow", "values", str(early[0]))
    mine = lines.get(path, (fname,))[0] == fname
    where, field_path = _locate(path if mine else ("horizon",), lines, shown or {}, fname)
    persons = sum(inflow.values[y] for y in early)
    return [f"{where}: {field_path}: arrivals in {_span(early)} ({persons:,.0f} persons) are "
            f"before the horizon's start ({sc.horizon.start}) and never enter the run. Fix: "
            "count those present at the start in population.inflow.initial"
            + (", and remove the earlier years" if mine else ", and set the base's earlier "
               "years to 0 in population.inflow.values")]


def load_text(text: str, fname: str = "<string>", notes: list[str] | None = None) -> Scenario:
    """Validate a scenario given as YAML text (``extends`` resolves against built-ins);
    ``notes`` as for :func:`load_scenario`."""
    doc = _resolve(_parse_yaml(text, fname), fname, None, ())
    expand_microdata(doc, fname, from_file=False)
    return _validated(doc, fname, notes)


# --- microdata: records of real people in, binned counts out ---------------------------------

_MICRO = ("population", "attributes", "microdata")


def expand_microdata(doc: _Doc, fname: str, from_file: bool = True) -> None:
    """Replace ``population.attributes.microdata`` by histogram distributions, in place.

    The CSV must lie in the folder of the scenario file that names it. Only binned counts
    (cells of fewer than ``min_cell`` records set to zero) leave this function; the
    records themselves are dropped as soon as they are counted.
    """
    from onward.scenario.microdata import MicrodataError, histograms

    attrs = doc.data.get("population") if isinstance(doc.data, dict) else None
    attrs = attrs.get("attributes") if isinstance(attrs, dict) else None
    if not isinstance(attrs, dict) or "microdata" not in attrs:
        return
    from onward.scenario.schema import Microdata

    if not isinstance(attrs["microdata"], dict):
        where, field_path = _locate(_MICRO, doc.lines, doc.shown, fname)
        raise ScenarioError([f"{where}: {field_path}: {_short(str(attrs['microdata']))} is not "
                             "a mapping. Fix: write file: (a CSV in the scenario's folder), "
                             "columns: {attribute: column, ...} and source: below it"])
    try:
        spec = Microdata.model_validate(attrs["microdata"])
    except ValidationError as exc:
        raise ScenarioError(_messages(exc.errors(include_url=False), doc.lines, fname,
                                      doc.shown, _MICRO)) from None
    where_file, line = doc.lines.get(_MICRO + ("file",), doc.lines.get(_MICRO, (fname, 0)))
    at = f"{where_file}:{line}" if line else where_file
    if not from_file:
        raise ScenarioError([f"{at}: {dotted(_MICRO + ('file',))}: microdata is read from the "
                             "folder of the scenario file, and this scenario is text with no "
                             "folder. Fix: save the scenario as a file next to the CSV and "
                             "load that file"])
    try:
        made = histograms(Path(where_file).parent, spec)
    except MicrodataError as exc:
        where, field_path = _locate(_MICRO + exc.field, doc.lines, doc.shown, fname)
        raise ScenarioError([f"{where}: {field_path}: {exc.problem}. Fix: {exc.fix}"]) from None
    for attr, dist in made.items():
        attrs[attr] = dist
        loc = doc.lines.get(_MICRO + ("columns", attr), (where_file, line))
        for k in [k for k in doc.lines if k[:3] == _MICRO[:2] + (attr,)]:
            del doc.lines[k]
        doc.lines[_MICRO[:2] + (attr,)] = loc
    del attrs["microdata"]


# --- writing and hashing ---------------------------------------------------------------------


def scenario_to_dict(sc: Scenario) -> dict[str, Any]:
    """A plain mapping that :func:`validate_dict` turns back into the same scenario."""
    d = sc.model_dump(mode="python", exclude={"destinations", "horizon", "events", "routes"})
    d["horizon"] = {"start": str(sc.horizon.start), "end": str(sc.horizon.end)}
    if sc.routes is not None:  # absent when unused: older scenarios keep their hashes
        d["routes"] = sc.routes.model_dump(mode="python", by_alias=True, exclude={"closures"})
        d["routes"]["closures"] = [
            {**cl.model_dump(by_alias=True, exclude={"date", "end"}), "date": str(cl.date),
             "end": None if cl.end is None else str(cl.end)}
            for cl in sc.routes.closures]
    # fields added after scenarios were first hashed appear only when used, so the
    # hashes of existing scenarios (and the calibrations keyed by them) stay the same
    if d["calibration"].get("observed") is None:
        d["calibration"].pop("observed", None)
    attrs = d["population"]["attributes"]
    if attrs.get("microdata") is None:
        attrs.pop("microdata", None)
    for dist in attrs.values():
        if isinstance(dist, dict) and "kind" in dist and dist["kind"] != "histogram":
            dist.pop("edges", None)
            dist.pop("weights", None)
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
