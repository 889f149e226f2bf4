"""docs/odd.md stays in sync with the parameter registry, the engine's stages and the rules.

The ODD+D description is the model's documentation for readers who never open the code, so
a parameter added without a row, a stale row, a renamed stage or an undocumented decision
rule must fail here.
"""

from __future__ import annotations

import inspect
import math
import re
import textwrap
from pathlib import Path

import pytest

from onward.engine.model import Engine
from onward.rules import rule_names
from onward.scenario.parameters import DESTINATION_PARAMETERS, GLOBAL_PARAMETERS, ParamSpec

ODD = Path(__file__).resolve().parents[1] / "docs" / "odd.md"
COLUMNS = ["parameter", "group", "unit", "kind", "bounds", "description", "flagship value",
           "flagship prior", "source"]
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")


@pytest.fixture(scope="module")
def odd() -> str:
    assert ODD.is_file(), f"{ODD} is missing"
    return ODD.read_text(encoding="utf-8")


def _plain(text: str) -> str:
    return text.replace("`", "").strip()


def _split_row(line: str) -> list[str]:
    body = line.strip()
    assert body.startswith("|") and body.endswith("|"), f"not a table row: {line!r}"
    cells = re.split(r"(?<!\\)\|", body[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def _section(text: str, title: re.Pattern[str]) -> list[str]:
    """Lines of the first section whose heading matches ``title``, up to the next heading of
    the same or a higher level (sub-headings are part of the section)."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        m = HEADING.match(line)
        if m and title.search(m.group(2)):
            level = len(m.group(1))
            out = [line]
            for nxt in lines[k + 1:]:
                h = HEADING.match(nxt)
                if h and len(h.group(1)) <= level:
                    break
                out.append(nxt)
            return out
    raise AssertionError(f"docs/odd.md has no heading matching {title.pattern!r}")


def _labels(lines: list[str]) -> set[str]:
    """Heading texts and bold spans of ``lines``, without backticks."""
    out: set[str] = set()
    for line in lines:
        m = HEADING.match(line)
        if m:
            out.add(_plain(m.group(2)))
        for b in BOLD.finditer(line):
            out.add(_plain(b.group(1) or b.group(2)))
    return out


def _mentioned(name: str, labels: set[str]) -> bool:
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])")
    return any(word.search(label) for label in labels)


@pytest.fixture(scope="module")
def table(odd: str) -> dict[str, dict[str, str]]:
    lines = odd.splitlines()
    starts = [k for k, ln in enumerate(lines) if ln.strip() == "## Parameters"]
    assert len(starts) == 1, "docs/odd.md needs exactly one '## Parameters' heading"
    k = starts[0] + 1
    while k < len(lines) and not lines[k].lstrip().startswith("|"):
        assert not HEADING.match(lines[k]), "the Parameters section holds no table"
        k += 1
    rows: list[str] = []
    while k < len(lines) and lines[k].lstrip().startswith("|"):
        rows.append(lines[k])
        k += 1
    assert len(rows) >= 3, "the Parameters table is empty"
    header = [c.lower() for c in _split_row(rows[0])]
    assert header == COLUMNS, f"Parameters table columns are {header}, expected {COLUMNS}"
    assert all(re.fullmatch(r":?-{3,}:?", c) for c in _split_row(rows[1])), "bad separator row"
    out: dict[str, dict[str, str]] = {}
    for line in rows[2:]:
        cells = _split_row(line)
        assert len(cells) == len(COLUMNS), f"row has {len(cells)} cells: {line!r}"
        row = dict(zip(COLUMNS, cells, strict=True))
        name = _plain(row["parameter"])
        assert name not in out, f"parameter {name} has two rows"
        out[name] = row
    return out


def _registry() -> dict[str, ParamSpec]:
    reg: dict[str, ParamSpec] = dict(GLOBAL_PARAMETERS)
    for k, spec in DESTINATION_PARAMETERS.items():
        reg[f"destinations.*.{k}"] = spec
    return reg


def test_parameter_rows_match_registry_exactly(table: dict[str, dict[str, str]]) -> None:
    expected = set(GLOBAL_PARAMETERS) | {"destinations.*." + k for k in DESTINATION_PARAMETERS}
    documented = set(table)
    missing = sorted(expected - documented)
    stale = sorted(documented - expected)
    assert not missing, f"parameters missing from docs/odd.md ## Parameters: {missing}"
    assert not stale, f"rows in docs/odd.md ## Parameters that are no parameter: {stale}"


def test_parameter_unit_kind_group(table: dict[str, dict[str, str]]) -> None:
    bad = []
    for name, spec in _registry().items():
        row = table.get(name)
        if row is None:
            continue  # reported by the test above
        group = "destinations" if name.startswith("destinations.") else spec.group
        got = (_plain(row["unit"]), _plain(row["kind"]), _plain(row["group"]))
        if got != (spec.unit, spec.kind, group):
            bad.append(f"{name}: doc says unit/kind/group {got}, registry "
                       f"{(spec.unit, spec.kind, group)}")
    assert not bad, "\n".join(bad)


def _parse_bounds(cell: str) -> tuple[float | None, float | None]:
    m = re.fullmatch(r"[\[(]\s*([^,\s]+)\s*,\s*([^,\s]+)\s*[\])]", _plain(cell))
    assert m, f"bounds cell {cell!r} is not like [0, 1] or (-inf, inf)"
    lo, hi = (float(x) for x in m.groups())
    return (None if math.isinf(lo) else lo), (None if math.isinf(hi) else hi)


def test_parameter_bounds(table: dict[str, dict[str, str]]) -> None:
    bad = []
    for name, spec in _registry().items():
        row = table.get(name)
        if row is None:
            continue
        if _parse_bounds(row["bounds"]) != spec.bounds():
            bad.append(f"{name}: doc bounds {row['bounds']}, registry {spec.bounds()}")
    assert not bad, "\n".join(bad)


def test_parameter_rows_are_filled(table: dict[str, dict[str, str]]) -> None:
    for name, row in table.items():
        for col in ("description", "flagship value", "source"):
            assert row[col], f"{name}: empty '{col}' cell"


def _step_stages() -> list[str]:
    src = textwrap.dedent(inspect.getsource(Engine.step))
    names = re.findall(r"self\._timed\(\s*[\"']([A-Za-z_]\w*)[\"']", src)
    assert names, "found no self._timed(...) stage calls in Engine.step"
    return names


def test_every_stage_is_in_process_overview(odd: str) -> None:
    overview = _section(odd, re.compile(r"process overview", re.IGNORECASE))
    labels = _labels(overview)
    missing = [s for s in _step_stages() if not _mentioned(s, labels)]
    assert not missing, (f"stages of Engine.step not named as a heading or in bold in the "
                         f"process overview of docs/odd.md: {missing}")


def test_every_stage_has_a_submodel(odd: str) -> None:
    submodels = _section(odd, re.compile(r"submodels", re.IGNORECASE))
    headings = {_plain(m.group(2)) for ln in submodels if (m := HEADING.match(ln))}
    missing = [s for s in _step_stages() if not _mentioned(s, headings)]
    assert not missing, f"stages without a submodel heading in docs/odd.md: {missing}"


@pytest.mark.parametrize("rule", rule_names())
def test_every_decision_rule_is_described(odd: str, rule: str) -> None:
    section = _section(odd, re.compile(r"individual decision making", re.IGNORECASE))
    assert _mentioned(rule, _labels(section)), (
        f"decision rule '{rule}' is not described (as a heading or in bold) in the "
        "'Individual decision making' section of docs/odd.md")
    # the text from where the rule is named up to the next heading describes it
    k = next(i for i, ln in enumerate(section) if rule in ln)
    body = [section[k].split(rule, 1)[1]]
    for ln in section[k + 1:]:
        if HEADING.match(ln):
            break
        body.append(ln)
    words = re.findall(r"\w+", " ".join(body))
    assert len(words) >= 20, f"decision rule '{rule}' has no description in docs/odd.md"


def test_flagship_events_are_listed(odd: str) -> None:
    from onward.scenario import load_scenario

    sc = load_scenario("nk-onward")
    missing = [ev.id for ev in sc.events if ev.id and f"`{ev.id}`" not in odd]
    assert not missing, f"flagship events not in the events table of docs/odd.md: {missing}"
