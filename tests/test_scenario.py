"""The scenario language: loading, ``extends``, round trips and one clear message per error."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onward.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    load_text,
    scenario_hash,
    scenario_to_dict,
    scenario_to_yaml,
)
from onward.scenario.loader import MAX_FILE_BYTES, builtin_dir, validate_dict

FLAGSHIP = "nk-onward"


@pytest.fixture(scope="module")
def flagship() -> Scenario:
    return load_scenario(FLAGSHIP)


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def error_of(source: Path | str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(source)
    return info.value


def assert_clear(err: ScenarioError, fname: str, line: int | None = None,
                 field: str | None = None, *also: str) -> str:
    """The message names the file, the line, the field path and a fix, without a traceback."""
    text = str(err)
    assert err.messages, "ScenarioError without messages"
    assert text == "\n".join(err.messages)
    for m in err.messages:
        assert "\n" not in m
    assert "Traceback" not in text and 'File "' not in text
    assert fname in text, text
    if line is not None:
        assert re.search(rf"{re.escape(fname)}:{line}\b", text), text
    if field is not None:
        assert field in text, text
    assert "Fix:" in text, text
    for s in also:
        assert s in text, text
    return text


def flat(d: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    """Leaves of a nested mapping by path (lists are leaves)."""
    if isinstance(d, dict):
        out: dict[tuple, Any] = {}
        for k, v in d.items():
            out.update(flat(v, prefix + (k,)))
        return out
    return {prefix: d}


def diff(a: Scenario, b: Scenario) -> dict[tuple, tuple[Any, Any]]:
    fa, fb = flat(scenario_to_dict(a)), flat(scenario_to_dict(b))
    return {k: (fa.get(k), fb.get(k)) for k in set(fa) | set(fb) if fa.get(k) != fb.get(k)}


# --- the flagship and round trips ------------------------------------------------------------


def test_flagship_loads(flagship: Scenario) -> None:
    assert flagship.name == FLAGSHIP
    assert flagship.first_country == "KOR"
    assert flagship.origin == "PRK"
    assert "GBR" in flagship.destinations
    assert len(flagship.events) >= 10
    assert flagship.free_parameters()
    assert re.fullmatch(r"[0-9a-f]{16}", scenario_hash(flagship))


def test_yaml_round_trip(flagship: Scenario, tmp_path: Path) -> None:
    text = scenario_to_yaml(flagship)
    assert "extends" not in yaml.safe_load(text)
    again = load_text(text)
    assert again == flagship
    assert scenario_hash(again) == scenario_hash(flagship)
    from_file = load_scenario(write(tmp_path, "shown.yaml", text))
    assert from_file == flagship
    assert scenario_to_yaml(from_file) == text


def test_round_trip_of_a_child(tmp_path: Path) -> None:
    child = load_scenario(write(tmp_path, "child.yaml", """\
extends: nk-onward
name: child
parameters:
  brokers:
    share: 0.02
events:
  - {id: gbr-kk-2011, remove: true}
  - {date: 2020-06, target: parameters.brokers.activity, value: 0.5}
"""))
    again = load_text(scenario_to_yaml(child))
    assert again == child
    assert scenario_hash(again) == scenario_hash(child)


def test_show_command_prints_yaml_that_loads_back(flagship: Scenario, capsys) -> None:
    cli = pytest.importorskip("onward.interfaces.cli")
    cli.scenario_show(FLAGSHIP)
    assert load_text(capsys.readouterr().out) == flagship


# --- extends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["value: 0.25", "{value: 0.25}", "0.25"])
def test_override_one_parameter(flagship: Scenario, tmp_path: Path, form: str) -> None:
    if form.startswith("value"):
        body = f"    discrimination_rate:\n      {form}\n"
    else:
        body = f"    discrimination_rate: {form}\n"
    child = load_scenario(write(tmp_path, "child.yaml",
                                "extends: nk-onward\nparameters:\n  integration:\n" + body))
    assert child.param("integration.discrimination_rate") == 0.25
    changes = diff(flagship, child)
    assert changes == {
        ("parameters", "integration", "discrimination_rate", "value"): (0.1, 0.25)
    }
    # prior, free flag and source stay those of the base
    p = child.parameters["integration"]["discrimination_rate"]
    assert p.prior == (0.0, 0.4) and p.free
    assert scenario_hash(child) != scenario_hash(flagship)


@pytest.mark.parametrize("form", ["{value: 0.7}", "0.7"])
def test_override_one_destination_parameter(flagship: Scenario, tmp_path: Path,
                                            form: str) -> None:
    child = load_scenario(write(tmp_path, "child.yaml",
                                f"extends: nk-onward\ndestinations:\n  GBR:\n"
                                f"    recognition_rate: {form}\n"))
    assert diff(flagship, child) == {
        ("destinations", "GBR", "recognition_rate", "value"): (0.8, 0.7)
    }
    assert scenario_hash(child) != scenario_hash(flagship)


def test_same_values_same_hash(flagship: Scenario, tmp_path: Path) -> None:
    child = load_scenario(write(tmp_path, "child.yaml", "extends: nk-onward\nseed: 1\n"))
    assert child == flagship
    assert scenario_hash(child) == scenario_hash(flagship)


@pytest.mark.parametrize("ref", ["../base/base.yaml", "../base/base"])
def test_extends_relative_path(flagship: Scenario, tmp_path: Path, ref: str) -> None:
    write(tmp_path, "base/base.yaml", """\
extends: nk-onward
name: base
parameters:
  brokers:
    share: 0.02
""")
    child = load_scenario(write(tmp_path, "kids/child.yaml", f"""\
extends: {ref}
name: child
seed: 7
destinations:
  CAN:
    travel_cost: 5
"""))
    assert child.name == "child"
    assert diff(flagship, child) == {
        ("name",): ("nk-onward", "child"),
        ("seed",): (1, 7),
        ("parameters", "brokers", "share", "value"): (0.01, 0.02),
        ("destinations", "CAN", "travel_cost", "value"): (4.0, 5.0),
    }


def test_events_remove_replace_and_add(flagship: Scenario, tmp_path: Path) -> None:
    child = load_scenario(write(tmp_path, "child.yaml", """\
extends: nk-onward
events:
  - id: gbr-kk-2011
    remove: true
  - id: can-rir-2008
    value: 0.6
  - id: new-closure
    date: 2020-03
    target: destinations.NOR.open
    value: 0
    label: border closed
"""))
    before = {e.id: e for e in flagship.events}
    after = {e.id: e for e in child.events}
    assert "gbr-kk-2011" in before and "gbr-kk-2011" not in after
    assert set(after) == set(before) - {"gbr-kk-2011"} | {"new-closure"}
    # replaced by id: only the value changes, in place
    rir = after["can-rir-2008"]
    assert rir.value == 0.6
    assert rir.model_dump(exclude={"value"}) == \
        before["can-rir-2008"].model_dump(exclude={"value"})
    order = [e.id for e in child.events]
    assert order.index("can-rir-2008") == [e.id for e in flagship.events].index("can-rir-2008")
    # added at the end
    assert order[-1] == "new-closure"
    assert str(child.events[-1].date) == "2020-03"
    assert child.events[-1].target == "destinations.NOR.open"
    # nothing else changed
    untouched = [e for e in flagship.events if e.id not in ("gbr-kk-2011", "can-rir-2008")]
    assert [e for e in child.events if e.id in {u.id for u in untouched}] == untouched


def test_remove_unknown_event(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", "extends: nk-onward\nevents:\n  - id: nope\n"
              "    remove: true\n")
    assert_clear(error_of(p), "child.yaml", 3, "events[0]", "nope", "gbr-kk-2011")


def test_error_in_replaced_event_points_at_child(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", """\
extends: nk-onward
events:
  - id: gbr-kk-2011
    value: 2
""")
    text = assert_clear(error_of(p), "child.yaml", 4, "events[0].value")
    assert "nk-onward.yaml" not in text


# --- one clear message per error -------------------------------------------------------------

HEAD = "extends: nk-onward\nname: child\n"

# (case, body after HEAD (lines 3...), line of the offending key, field path, other text)
ERRORS = [
    ("unknown top-level key", "seed: 3\ncolour: blue\n", 4, "colour", ()),
    ("unknown parameter",
     "parameters:\n  integration:\n    job_loss_rate: 0.02\n    typo: 0.3\n",
     6, "parameters.integration.typo", ("unknown parameter",)),
    ("unknown parameter group", "parameters:\n  integraton:\n    job_loss_rate: 0.02\n",
     4, "parameters.integraton", ("unknown parameter group", "did you mean integration?")),
    ("wrong type",
     "parameters:\n  integration:\n    discrimination_rate:\n      prior: [0, 0.4]\n"
     "      value: \"abc\"\n",
     7, "parameters.integration.discrimination_rate.value", ("number", "'abc'")),
    ("wrong type for a section", "calibration: 2000-2012\n", 3, "calibration", ()),
    ("event date outside the horizon",
     "events:\n  - id: later\n    target: destinations.GBR.detection\n    value: 0.5\n"
     "    date: 2040-01\n",
     7, "events[0].date", ("2040-01", "horizon")),
    ("event date not a date",
     "events:\n  - id: later\n    target: destinations.GBR.detection\n    value: 0.5\n"
     "    date: soon\n",
     7, "events[0].date", ("soon",)),
    ("probability > 1",
     "parameters:\n  integration:\n    discrimination_rate:\n      value: 1.5\n",
     6, "parameters.integration.discrimination_rate", ("1.5", "[0.0, 1.0]")),
    ("probability > 1, bare number",
     "parameters:\n  integration:\n    discrimination_rate: 1.5\n",
     5, "parameters.integration.discrimination_rate", ("1.5",)),
    ("negative probability", "parameters:\n  brokers:\n    share: -0.1\n",
     5, "parameters.brokers.share", ("-0.1",)),
    ("destination probability > 1",
     "destinations:\n  GBR:\n    detection: 0.4\n    recognition_rate:\n      value: 1.2\n",
     7, "destinations.GBR.recognition_rate", ("1.2",)),
    ("destination probability > 1, bare number",
     "destinations:\n  GBR:\n    detection: 0.4\n    recognition_rate: 1.2\n",
     6, "destinations.GBR.recognition_rate", ("1.2",)),
    ("unknown destination parameter",
     "destinations:\n  GBR:\n    detection: 0.4\n    recognition: 0.5\n",
     6, "destinations.GBR.recognition", ("recognition_rate",)),
    ("event target names an undeclared destination",
     "events:\n  - id: fra\n    date: 2010-01\n    target: destinations.FRA.recognition_rate\n"
     "    value: 0.5\n",
     6, "events[0].target", ("FRA",)),
    ("event target is not a parameter",
     "events:\n  - id: x\n    date: 2010-01\n    target: parameters.brokers.nothing\n"
     "    value: 0.5\n",
     6, "events[0].target", ("parameters.brokers.nothing",)),
    ("event changes a parameter read only at setup",
     "events:\n  - id: x\n    date: 2010-01\n    target: parameters.network.mean_degree\n"
     "    value: 5\n",
     6, "events[0].target", ("set up",)),
    ("event value outside bounds",
     "events:\n  - id: x\n    date: 2010-01\n    target: parameters.brokers.uptake\n"
     "    value: 3\n",
     7, "events[0].value", ("3",)),
    ("destination not declared under countries",
     "destinations:\n  GBR:\n    detection: 0.4\n  FRA:\n    name: France\n"
     "    recognition_rate: 0.5\n",
     6, "destinations.FRA", ("countries",)),
    ("destination declared as transit",
     "destinations:\n  CHN:\n    name: China\n", 4, "destinations.CHN", ("transit",)),
    ("duplicate key", "seed: 1\ndescription: x\nseed: 2\n", 5, "seed", ("duplicate",)),
    ("duplicate nested key",
     "parameters:\n  brokers:\n    share: 0.02\n    fee: 1\n    share: 0.03\n",
     7, "parameters.brokers.share", ("duplicate",)),
    ("free parameter without prior (prior: null)",
     "parameters:\n  integration:\n    job_loss_rate:\n      free: true\n      prior: null\n",
     7, "parameters.integration.job_loss_rate", ("prior",)),
    ("free parameter without prior (none in base)",
     "destinations:\n  GBR:\n    welfare:\n      free: true\n",
     5, "destinations.GBR.welfare", ("prior",)),
    ("value outside its prior",
     "parameters:\n  integration:\n    job_loss_rate:\n      value: 0.09\n"
     "      prior: [0.0, 0.05]\n",
     5, "parameters.integration.job_loss_rate", ("0.09", "prior")),
    ("prior low > high",
     "parameters:\n  integration:\n    job_loss_rate:\n      prior: [0.1, 0.01]\n",
     6, "parameters.integration.job_loss_rate.prior", ("low <= high",)),
    ("prior outside hard bounds",
     "parameters:\n  integration:\n    job_loss_rate:\n      prior: [0.0, 1.5]\n",
     6, "parameters.integration.job_loss_rate.prior", ("1.5",)),
    ("NaN value", "parameters:\n  integration:\n    job_loss_rate:\n      value: .nan\n",
     6, "parameters.integration.job_loss_rate.value", ("finite",)),
    ("NaN value, bare number", "parameters:\n  integration:\n    job_loss_rate: .nan\n",
     5, "parameters.integration.job_loss_rate", ("finite",)),
    ("infinite value", "destinations:\n  GBR:\n    travel_cost: .inf\n",
     5, "destinations.GBR.travel_cost", ("finite",)),
    ("lower-case country code", "countries:\n  gbr: {name: x, role: destination}\n",
     4, "countries.gbr", ("GBR",)),
    ("horizon backwards", "horizon: {start: 2000, end: 1999}\n", 3, "horizon.end", ()),
    ("unknown output", "outputs: [flows, nonsense]\n", 3, "outputs", ("nonsense",)),
    ("extends not a name", "seed: 2\n", 1, "extends", ()),  # HEAD replaced below
    ("non-mapping parameter group", "parameters:\n  integration: [1, 2]\n",
     4, "parameters.integration", ()),
    ("YAML tag", "seed: !!python/object:os.system {}\n", 3, None, ("!!python",)),
]


@pytest.mark.parametrize("case,body,line,field,also", ERRORS, ids=[e[0] for e in ERRORS])
def test_clear_error(tmp_path: Path, case: str, body: str, line: int, field: str | None,
                     also: tuple[str, ...]) -> None:
    head = "extends: [nk-onward]\nname: child\n" if case == "extends not a name" else HEAD
    p = write(tmp_path, "child.yaml", head + body)
    text = assert_clear(error_of(p), "child.yaml", line, field, *also)
    assert "nk-onward.yaml" not in text  # the problem is in the child, not the base
    # the same text through load_text names the given file name
    with pytest.raises(ScenarioError) as info:
        load_text(head + body, "inline.yaml")
    assert_clear(info.value, "inline.yaml", line, field)


@pytest.mark.parametrize("body,line", [
    # a key indented less than its siblings
    ("parameters:\n  integration:\n    job_loss_rate: 0.02\n   discrimination_rate: 0.1\n", 6),
    # an unclosed bracket; YAML notices on the next line
    ("outputs: [flows, stocks\nseed: 2\n", 4),
    # a key indented more than its siblings
    ("seed: 2\n  description: x\n", 4),
    # an unclosed quote
    ("description: 'unclosed\nseed: 2\n", 5),
    # a tab
    ("seed: 2\n\tdescription: x\n", 4),
], ids=["dedent", "bracket", "indent", "quote", "tab"])
def test_yaml_syntax_error(tmp_path: Path, body: str, line: int) -> None:
    p = write(tmp_path, "child.yaml", HEAD + body)
    assert_clear(error_of(p), "child.yaml", line, None, "YAML syntax error")


def test_empty_file(tmp_path: Path) -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        assert_clear(error_of(write(tmp_path, "child.yaml", text)), "child.yaml", None, None,
                     "empty")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_not_a_mapping(tmp_path: Path, text: str) -> None:
    assert_clear(error_of(write(tmp_path, "child.yaml", text)), "child.yaml", 1, None,
                 "mapping")


@pytest.mark.parametrize("junk", [
    bytes(range(256)) * 4,                      # not UTF-8
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",     # an image
    b"name: x\nseed: \x00\x01\x02\n",           # UTF-8, but control characters
    b"\xff\xfe\x00n\x00a\x00m\x00e",            # UTF-16
], ids=["bytes", "png", "control", "utf16"])
def test_binary_junk(tmp_path: Path, junk: bytes) -> None:
    p = tmp_path / "child.yaml"
    p.write_bytes(junk)
    assert_clear(error_of(p), "child.yaml", None, None, "UTF-8")


def test_binary_junk_line(tmp_path: Path) -> None:
    p = tmp_path / "child.yaml"
    p.write_bytes(b"extends: nk-onward\nname: x\nseed: \x07\n")
    assert_clear(error_of(p), "child.yaml", 3)


def test_extends_loop(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path, "b.yaml", "name: b\nextends: ./a.yaml\n")
    text = assert_clear(error_of(tmp_path / "a.yaml"), "b.yaml", 2, "extends", "a.yaml")
    assert "loop" in text or "leads back" in text


def test_extends_itself(tmp_path: Path) -> None:
    p = write(tmp_path, "self.yaml", "extends: self.yaml\n")
    assert_clear(error_of(p), "self.yaml", 1, "extends")


def test_extends_missing_file(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", "name: child\nextends: ../nowhere/missing.yaml\n")
    assert_clear(error_of(p), "child.yaml", 2, "extends", "missing.yaml", "nk-onward")


def test_extends_very_long_name(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", "extends: " + "x" * 5000 + "\n")
    text = assert_clear(error_of(p), "child.yaml", 1, "extends")
    assert len(text) < 1000


def test_error_in_base_names_the_base(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", "extends: nk-onward\nseed: 1\nseed: 2\n")
    p = write(tmp_path, "child.yaml", "extends: base.yaml\n")
    assert_clear(error_of(p), "base.yaml", 3, "seed", "duplicate")


def test_missing_scenario_name() -> None:
    assert_clear(error_of("no-such-scenario"), "no-such-scenario", None, None, "nk-onward")


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("text", [
    BILLION_LAUGHS,
    "extends: nk-onward\n" + BILLION_LAUGHS.replace("a: &a", "description: &a"),
    # nested mappings rather than lists
    "a: &a {x: 1, y: 2, z: 3}\n" + "".join(
        f"{n}: &{n} {{p: *{m}, q: *{m}, r: *{m}, s: *{m}, t: *{m}, u: *{m}}}\n"
        for m, n in zip("abcdefghij", "bcdefghijk", strict=True)),
], ids=["lists", "in-a-scenario", "mappings"])
def test_alias_bomb_refused_quickly(tmp_path: Path, text: str) -> None:
    p = write(tmp_path, "bomb.yaml", text)
    t0 = time.perf_counter()
    err = error_of(p)
    assert time.perf_counter() - t0 < 2.0
    assert_clear(err, "bomb.yaml", None, None, "alias")


def test_recursive_alias(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", "extends: nk-onward\ndescription: &d [1, *d]\n")
    assert_clear(error_of(p), "child.yaml", 2, None, "alias")


def test_deep_nesting(tmp_path: Path) -> None:
    for text in ("a: " + "[" * 100_000 + "\n", "a: " + "[" * 100 + "]" * 100 + "\n",
                 "a:" + "".join(f"\n{' ' * i}k{i}:" for i in range(1, 120)) + " 1\n"):
        t0 = time.perf_counter()
        assert_clear(error_of(write(tmp_path, "deep.yaml", text)), "deep.yaml")
        assert time.perf_counter() - t0 < 5.0


def test_huge_file(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    p.write_text("extends: nk-onward\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 10))
    t0 = time.perf_counter()
    text = assert_clear(error_of(p), "huge.yaml", None, None, "too large")
    assert time.perf_counter() - t0 < 2.0
    assert len(text) < 1000
    with pytest.raises(ScenarioError, match="too large"):
        load_text("a: " + "x" * (MAX_FILE_BYTES + 1))


def test_many_values_few_messages(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", HEAD + "outputs: [" + ", ".join(["1"] * 5000) + "]\n")
    err = error_of(p)
    assert_clear(err, "child.yaml", 3, "outputs")
    assert len(err.messages) <= 25


def test_remove_without_extends(flagship: Scenario) -> None:
    data = yaml.safe_load(scenario_to_yaml(flagship))
    data["events"].append({"id": "other", "date": "2011", "remove": True,
                           "target": "destinations.GBR.detection"})
    with pytest.raises(ScenarioError) as info:
        validate_dict(data, fname="full.yaml")
    assert_clear(info.value, "full.yaml", None, "events[", "remove")


# --- random damage never escapes as another exception -----------------------------------------

RAW = yaml.safe_load((builtin_dir() / "nk-onward.yaml").read_text(encoding="utf-8"))


def _paths(x: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(x, dict):
        for k, v in x.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.extend(_paths(v, prefix + (i,)))
    return out


PATHS = _paths(RAW)

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.sampled_from(["GBR", "FRA", "2010-03", "data", "destinations.GBR.detection", "1e9"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.text(max_size=8), st.integers()),
                                            inner, max_size=4)),
    max_leaves=8,
)
mutation = st.tuples(st.sampled_from(PATHS), st.sampled_from(["replace", "delete"]), values)


def _mutate(data: Any, path: tuple, op: str, value: Any) -> None:
    parent = data
    for p in path[:-1]:
        try:
            parent = parent[p]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation removed this path
    last = path[-1]
    try:
        if op == "delete" and isinstance(parent, dict):
            del parent[last]
        elif op == "delete" and isinstance(parent, list):
            parent.pop(last)
        else:
            parent[last] = copy.deepcopy(value)
    except (KeyError, IndexError, TypeError):
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=3))
def test_random_damage_gives_scenario_error(muts: list) -> None:
    data = copy.deepcopy(RAW)
    for path, op, value in muts:
        _mutate(data, path, op, value)
    try:
        sc = validate_dict(data, fname="damaged.yaml")
    except ScenarioError as err:
        assert err.messages
        for m in err.messages:
            assert "\n" not in m and m.startswith("damaged.yaml") and "Fix:" in m
        return
    # whatever validates also round-trips
    again = load_text(scenario_to_yaml(sc))
    assert again == sc
    assert scenario_hash(again) == scenario_hash(sc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=2))
def test_random_damage_through_yaml_text(muts: list) -> None:
    data = copy.deepcopy(RAW)
    for path, op, value in muts:
        _mutate(data, path, op, value)
    try:
        text = yaml.safe_dump(data, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        load_text(text, "damaged.yaml")
    except ScenarioError as err:
        assert "damaged.yaml" in str(err) and "Fix:" in str(err)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_gives_scenario_error(text: str) -> None:
    try:
        load_text(text, "random.yaml")
    except ScenarioError as err:
        assert "random.yaml" in str(err)
        assert all("\n" not in m for m in err.messages)


def test_nan_prior(tmp_path: Path) -> None:
    p = write(tmp_path, "child.yaml", "extends: nk-onward\nparameters:\n  brokers:\n"
              "    share:\n      prior: [.nan, 0.5]\n")
    assert_clear(error_of(p), "child.yaml", 5, "parameters.brokers.share.prior")


def test_free_shares_of_the_refused_cannot_sum_above_one(tmp_path: Path) -> None:
    """refused_return + refused_remigrate are shares of the refused: a scenario whose
    priors let a calibration or a sensitivity analysis draw a pair above 1 is refused,
    naming the prior; one whose priors stay within 1 loads."""
    p = write(tmp_path, "child.yaml", "extends: nk-onward\nparameters:\n  after_decision:\n"
              "    refused_return:\n      free: true\n")
    text = assert_clear(error_of(p), "child.yaml", 4,
                        "parameters.after_decision.refused_return")
    assert "up to 1.1 > 1" in text
    p = write(tmp_path, "ok.yaml", "extends: nk-onward\nparameters:\n  after_decision:\n"
              "    refused_return:\n      free: true\n      prior: [0, 0.9]\n")
    assert load_scenario(p).free_parameters()["parameters.after_decision.refused_return"]


ROUTE_VARIANT = """\
extends: nk-onward
routes:
  closures:
    - {id: tha-2015, what: location, name: Bangkok, date: 2015-01, end: 2016-01,
       label: a year's closure, source: test}
    - {id: lao-2023, capacity: 30}
    - {id: mng-2023, remove: true}
  links:
    - {from: Seoul, to: Paris, months: 0.5}
    - {from: Paris, to: Oslo, remove: true}
    - {from: Paris, to: Madrid, distance_km: 1000, mode: bus, months: 0.25, cost: 0.3,
       source: test}
  locations:
    - {name: Madrid, type: transit, country: ESP, source: test}
"""


def test_route_lists_merge_item_by_item(flagship: Scenario, tmp_path: Path) -> None:
    """A variant's closures (by id), links (by from and to) and locations (by name) update,
    remove or add items of its base's lists, as events do; it used to replace each whole
    list, so adding one closure silently dropped the base's six."""
    child = load_scenario(write(tmp_path, "child.yaml", ROUTE_VARIANT))
    base, new = flagship.routes, child.routes
    assert base is not None and new is not None
    before = {c.id: c for c in base.closures}
    after = {c.id: c for c in new.closures}
    assert set(after) == set(before) - {"mng-2023"} | {"tha-2015"}
    assert after["lao-2023"].capacity == 30
    assert after["lao-2023"].model_dump(exclude={"capacity"}) == \
        before["lao-2023"].model_dump(exclude={"capacity"})
    assert [after[k] for k in ("prk-chn-2020", "chn-lao-2020")] == \
        [before[k] for k in ("prk-chn-2020", "chn-lao-2020")]
    links = {(lk.from_, lk.to): lk for lk in new.links}
    old = {(lk.from_, lk.to): lk for lk in base.links}
    assert set(links) == set(old) - {("Paris", "Oslo")} | {("Paris", "Madrid")}
    assert links[("Seoul", "Paris")].months == 0.5
    assert links[("Seoul", "Paris")].cost == old[("Seoul", "Paris")].cost
    assert [loc.name for loc in new.locations] == [loc.name for loc in base.locations] + \
        ["Madrid"]


def test_an_empty_list_in_a_variant_drops_all_of_the_bases(flagship: Scenario,
                                                            tmp_path: Path) -> None:
    """`events: []` or `closures: []` in a variant means none (it used to merge nothing, so
    every event of the base stayed); the other lists stay the base's."""
    child = load_scenario(write(tmp_path, "none.yaml", "extends: nk-onward\nevents: []\n"
                                "routes:\n  closures: []\n"))
    assert flagship.events and flagship.routes.closures
    assert child.events == [] and child.routes.closures == []
    assert child.routes.links == flagship.routes.links
    assert child.parameters == flagship.parameters
    from onward.engine.compile import compile_scenario

    compile_scenario(child, seed=1)  # it compiles: nothing refers to a dropped item


@pytest.mark.parametrize("body, line, field, also", [
    ("routes:\n  closures:\n    - {id: nope-2015, remove: true}\n", 4, "routes.closures[0]",
     "lao-2023"),
    ("routes:\n  links:\n    - {from: Seoul, to: Mars, remove: true}\n", 4, "routes.links[0]",
     "Seoul -> Mars"),
    ("routes:\n  closures:\n    - {id: lao-2023, capacity: -3}\n", 4,
     "routes.closures[0].capacity", ">= 0"),
])
def test_errors_in_merged_route_items_name_the_child(tmp_path: Path, body: str, line: int,
                                                      field: str, also: str) -> None:
    p = write(tmp_path, "child.yaml", "extends: nk-onward\n" + body)
    assert_clear(error_of(p), "child.yaml", line, field, also)


def test_a_horizon_ending_with_a_bare_year_runs_to_its_december(tmp_path: Path) -> None:
    """``end: 2015`` used to mean January 2015, so the last year held one month (and its
    first claims looked like a collapse); it means December, as ``end: 2015-12`` does."""
    year = load_scenario(write(tmp_path, "y.yaml", "extends: toy\nhorizon: {end: 2015}\n"))
    month = load_scenario(write(tmp_path, "m.yaml", "extends: toy\nhorizon: {end: 2015-12}\n"))
    assert year.horizon.months == month.horizon.months == 16 * 12
    assert str(year.horizon.end) == "2015-12"


def test_a_shorter_variant_is_told_which_inherited_events_to_drop(tmp_path: Path) -> None:
    """Ending a variant's horizon before some of its base's events names them all and how
    to drop them (it named one at a time and told the user to edit the built-in file)."""
    p = write(tmp_path, "short.yaml", "extends: nk-onward\nhorizon: {end: 2012}\n")
    text = str(error_of(p))
    late = [e.id for e in load_scenario("nk-onward").events if e.date.year > 2012]
    assert len(late) >= 2 and all(i in text for i in late[1:])
    assert f"- {{id: {late[0]}, remove: true}}" in text
    body = "".join(f"  - {{id: {i}, remove: true}}\n" for i in late)
    ok = load_scenario(write(tmp_path, "ok.yaml",
                             "extends: nk-onward\nhorizon: {end: 2012}\nevents:\n" + body))
    assert ok.horizon.end.year == 2012


def test_a_scenario_changed_in_python_is_validated_again(tmp_path: Path) -> None:
    """A Scenario object changed after loading used to run (and be stored) with values a
    file may not hold; every entry point now validates it again, as a copy."""
    from onward.api import run, simulate

    sc = load_scenario("toy")
    sc.destinations["CRP"].params["recognition_rate"].value = 5.0
    for call in (lambda: simulate(sc, until=2001),
                 lambda: run(sc, store=tmp_path / "s.duckdb")):
        with pytest.raises(ScenarioError, match=re.escape(
                "scenario 'toy' (as changed in Python): destinations.CRP.recognition_rate")):
            call()
    assert not (tmp_path / "s.duckdb").exists()
    sc.destinations["CRP"].params["recognition_rate"].value = 0.5
    again = load_scenario(sc)
    assert again is not sc and again.destinations["CRP"].params["recognition_rate"].value == 0.5


@pytest.mark.parametrize("body, field, text", [
    ("population:\n  inflow: {source: inline, values: {2003: 6.0e9}}\n",
     "population.inflow.values[2003]", "more than any flow"),
    ("population:\n  inflow: {source: inline, values: {2003: 600}, initial: 3.0e9}\n",
     "population.inflow.initial", "more than the limit"),
    ("population:\n  attributes:\n    age: {min: 80, max: 75}\n",
     "population.attributes.age.min", "above max"),
])
def test_impossible_population_numbers_are_refused(tmp_path: Path, body: str, field: str,
                                                   text: str) -> None:
    """An inflow typo (6.0e9 a year) validated and then died in NumPy's MemoryError (41.5
    GiB); an age range with min above max ran with every age at the max."""
    p = write(tmp_path, "child.yaml", "extends: toy\n" + body)
    assert_clear(error_of(p), "child.yaml", None, field, text)


def test_a_population_too_large_for_memory_is_refused_before_allocating() -> None:
    """Inflows each within the limit but too many persons for this machine's memory in all
    are refused before anything is allocated, naming the fields to check."""
    from onward.engine.compile import compile_scenario
    from onward.engine.population import PopulationTooLarge, build

    values = ", ".join(f"{y}: 9.0e7" for y in range(2000, 2021))
    big = load_text("extends: toy\npopulation:\n  inflow: {source: inline, values: {"
                    + values + "}, initial: 0}\n", "big.yaml")
    with pytest.raises(PopulationTooLarge, match="population.inflow: the scenario brings "
                       "about 1,890,0"):
        build(compile_scenario(big))


def test_extends_is_relative_to_the_file_wherever_the_command_runs(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """A relative `extends:` path also resolved against the current folder, so a file
    loaded in the folder it was written from and failed everywhere else; it resolves
    against the file's own folder only, and `scenario new --minimal` writes it so."""
    from cli_helper import cli

    write(tmp_path, "v/v1.yaml", "extends: toy\nname: v1\n")
    (tmp_path / "sub").mkdir()
    cli("scenario", "new", "e", "--from", "v/v1.yaml", "--minimal", "-o", "sub/e.yaml",
        cwd=tmp_path)
    assert "extends: ../v/v1.yaml" in (tmp_path / "sub" / "e.yaml").read_text()
    for where in (tmp_path, tmp_path / "sub", tmp_path.parent):
        monkeypatch.chdir(where)
        assert load_scenario(tmp_path / "sub" / "e.yaml").name == "e"
    # written relative to the folder the command ran in, it no longer loads by accident
    wrong = write(tmp_path, "sub/wrong.yaml", "extends: v/v1.yaml\n")
    monkeypatch.chdir(tmp_path)
    assert_clear(error_of(wrong), "wrong.yaml", 1, "extends",
                 "(the folder of the file that names it)")
    # `scenario new mine.yaml` wrote mine.yaml.yaml named 'mine.yaml'
    cli("scenario", "new", "mine.yaml", "--from", "toy", "--minimal", cwd=tmp_path)
    assert load_scenario(tmp_path / "mine.yaml").name == "mine"


def test_route_outputs_without_routes_are_refused(tmp_path: Path) -> None:
    """outputs: [transit, journeys] in a scenario with no route graph validated and stored
    nothing, silently."""
    p = write(tmp_path, "child.yaml", "extends: toy\noutputs: [applications, transit]\n")
    assert_clear(error_of(p), "child.yaml", 2, "outputs", "no routes: section")


@pytest.mark.parametrize("body, line, field, text", [
    ("events:\n  - {id: x1, date: 2005-02-30, target: destinations.DLT.open, value: 0}\n", 3,
     "events[0].date", "write a date of the calendar"),
    ("parameters:\n  integration:\n    discrimination_rate: \"0.2\"\n", 4,
     "parameters.integration.discrimination_rate", "write 0.2 without the quotes"),
    ("destinations:\n  CRP:\n    welfare: '0.5'\n", 4, "destinations.CRP.welfare",
     "(a number in quotes)"),
])
def test_a_bad_date_or_a_quoted_number_names_its_field(tmp_path: Path, body: str, line: int,
                                                       field: str, text: str) -> None:
    """2005-02-30 lost its field name; a number in quotes was told to "write a mapping"."""
    p = write(tmp_path, "child.yaml", "extends: toy\n" + body)
    assert_clear(error_of(p), "child.yaml", line, field, text)


@pytest.mark.parametrize("table", ["mou_arivals", "ukho_applications"])
def test_an_inflow_table_that_is_not_one_is_refused_when_validating(tmp_path: Path,
                                                                     table: str) -> None:
    """A misspelt (or non-arrivals) inflow table validated, then the run died in a
    KeyError traceback."""
    path = write(tmp_path, "tbl.yaml", "extends: nk-onward\nname: dt\npopulation:\n"
                 f"  inflow:\n    table: {table}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path)
    msg = str(e.value)
    assert f"tbl.yaml:5: population.inflow.table: '{table}' is not a packaged table of " \
        "arrivals (those are: mou_arrivals)" in msg and "Fix: write one of mou_arrivals" in msg


OBSERVED = """extends: toy
calibration:
  years: 2000-2014
  held_out: 2015-2020
  targets: [first_claims]
  observed:
    source: "a test"
    first_claims:
{series}
"""


@pytest.mark.parametrize("series, line, field, problem", [
    ("      XYZ: {2001: 4}", 9, "calibration.observed.first_claims.XYZ",
     "XYZ is not a destination of this scenario"),
    ("      CRP: {2001: -4}", 9, "calibration.observed.first_claims.CRP[2001]",
     "-4.0 is not a count >= 0"),
    ("      CRP: {2001: [-9, 3]}", 9, "calibration.observed.first_claims.CRP[2001]",
     "is not a count >= 0 (or an interval [low, high]"),
    ("      CRP: {199: 4}", 9, "calibration.observed.first_claims.CRP[199]",
     "199 is not a calendar year"),
])
def test_a_scenarios_own_observed_counts_are_checked(tmp_path: Path, series: str, line: int,
                                                     field: str, problem: str) -> None:
    msg = str(error_of(write(tmp_path, "obs.yaml", OBSERVED.format(series=series))))
    assert f"obs.yaml:{line}: {field}" in msg and problem in msg and "Fix:" in msg, msg


def test_observed_family_must_be_a_target_and_years_inside_the_horizon(tmp_path: Path) -> None:
    text = OBSERVED.format(series="      CRP: {2001: 4}").replace(
        "first_claims:\n      CRP", "refugee_stocks:\n      CRP")
    msg = str(error_of(write(tmp_path, "fam.yaml", text)))
    assert "calibration.observed.refugee_stocks: refugee_stocks are given but are not a " \
        "calibration target" in msg and "Fix: add refugee_stocks to calibration.targets" in msg
    # calibration years beyond the horizon were dropped silently (or failed in jargon);
    # a variant may shorten the horizon (for an experiment), calibrating it is refused
    from onward.calibration import CalibrationError
    from onward.calibration.targets import fitting_targets

    sc = load_scenario(write(tmp_path, "yrs.yaml", "extends: toy\ncalibration: "
                             "{years: 2010-2023, held_out: []}\n"))
    with pytest.raises(CalibrationError, match="calibration years 2021-2023 are outside its "
                       "horizon 2000-2020. Fix: set calibration.years"):
        fitting_targets(sc)
    # held-out years past the horizon are not scored; a shorter variant keeps its base's
    assert load_scenario(write(tmp_path, "short.yaml", "extends: toy\nhorizon: {end: 2015}\n"
                               )).calibration.held_out == list(range(2015, 2021))


def test_the_toys_synthetic_counts_are_its_targets_and_its_summary() -> None:
    """toy could not be calibrated (made-up countries have no packaged data); it now brings
    synthetic counts, which the fitting, the scoring and the run summary read."""
    from onward.analysis.runs import observed_first_claims
    from onward.calibration.targets import fitting_targets, scoring_targets

    sc = load_scenario("toy")
    own = sc.calibration.observed
    assert own is not None and own.source.startswith("synthetic")
    fit = fitting_targets(sc).frame()
    assert sorted(fit.year.unique()) == list(range(2000, 2015))  # no held-out year
    assert set(fit.destination) == {"CRP", "DLT", "ELB"} and set(fit.family) == {"first_claims"}
    crp = fit[fit.destination == "CRP"].set_index("year").observed
    assert crp[2009] == own.first_claims["CRP"][2009] == 174
    held = scoring_targets(sc, [2015, 2020]).frame()
    assert len(held) == 6
    obs = observed_first_claims(sc)
    assert len(obs) == 63 and not obs.masked.any()
    # a scenario without its own counts hashes as before the field existed
    assert scenario_hash(load_scenario("nk-onward")) == "8190bcf96c928f79"


@pytest.mark.parametrize("body, expect", [
    # a misspelt parameter with only {free: true} was told to add value and source
    ("parameters:\n  network:\n    diaspora_shar: {free: true}\n",
     "e.yaml:4: parameters.network.diaspora_shar: unknown parameter. Fix: did you mean "
     "diaspora_share?"),
    ("parameters:\n  netwrk:\n    diaspora_share: 0.1\n",
     "e.yaml:3: parameters.netwrk: unknown parameter group. Fix: did you mean network?"),
    # a word where a number goes was told to 'write a mapping'
    ("parameters:\n  integration:\n    discrimination_rate: high\n",
     "e.yaml:4: parameters.integration.discrimination_rate: 'high' is not a number. Fix: "
     "write a number"),
    ("paramters:\n  integration:\n    discrimination_rate: 0.1\n",
     "e.yaml:2: paramters: Extra inputs are not permitted. Fix: did you mean parameters?"),
    # a misspelt decision rule passed `onward validate` and failed only at run time,
    # with no file, line or fix
    ("decision:\n  rule: aspiration_capabilities\n",
     "e.yaml:3: decision.rule: unknown rule 'aspiration_capabilities'. Fix: did you mean "
     "aspirations_capabilities?"),
])
def test_misspellings_get_the_nearest_name(tmp_path: Path, body: str, expect: str) -> None:
    msg = " ".join(str(error_of(write(tmp_path, "e.yaml", "extends: nk-onward\n" + body)))
                   .split())
    assert expect in msg, msg


def test_missing_files_and_a_bare_microdata_name_say_where_and_what(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """A missing scenario on the command line was said to be 'relative to the file that
    names it'; `microdata: survey.csv` was told to 'write a mapping' without its keys."""
    monkeypatch.chdir(tmp_path)
    msg = str(error_of("nonexist.yaml"))
    assert f"relative to {tmp_path}, where this runs" in msg
    msg = str(error_of(write(tmp_path, "ext.yaml", "extends: nothere.yaml\n")))
    assert f"relative to {tmp_path} (the folder of the file that names it)" in msg
    msg = str(error_of(write(tmp_path, "m.yaml", "extends: nk-onward\npopulation:\n"
                             "  attributes:\n    microdata: survey.csv\n")))
    assert "m.yaml:4: population.attributes.microdata: 'survey.csv' is not a mapping. Fix: " \
        "write file:" in msg and "columns:" in msg and "source:" in msg


def test_a_backwards_interval_is_shown_the_right_way_round(tmp_path: Path) -> None:
    msg = str(error_of(write(tmp_path, "obs.yaml", OBSERVED.format(
        series="      CRP: {2001: [5, 1]}"))))
    assert "CRP[2001]: [5, 1] runs backwards. Fix: write [1, 5] (low, high)" in msg


def test_an_event_target_without_its_section_is_told_the_full_name(tmp_path: Path) -> None:
    msg = str(error_of(write(tmp_path, "ev.yaml", "extends: nk-onward\nevents:\n  - {id: x, "
                             "date: 2010, target: integration.discrimination_rate, value: 0.1}"
                             "\n")))
    assert "'integration.discrimination_rate' is not a parameter. Fix: write " \
        "parameters.integration.discrimination_rate" in msg


def test_the_readme_event_examples_validate(tmp_path: Path) -> None:
    import re as re_

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re_.findall(r"```yaml\n(.*?)```", readme, re_.S)
                 if "crackdown-2010" in b)
    sc = load_scenario(write(tmp_path, "v.yaml", "extends: nk-onward\n" + block))
    assert {"crackdown-2010", "kor-2012"} <= {e.id for e in sc.events}


def test_a_variant_that_changes_observed_counts_must_name_their_source(tmp_path: Path) -> None:
    """A variant of the toy that changed a count kept the toy's source ("synthetic ..."), so
    reports called the variant's counts synthetic; it must say where they come from."""
    write(tmp_path, "base.yaml", OBSERVED.format(series="      CRP: {2001: 4}"))
    path = write(tmp_path, "var.yaml", "extends: base.yaml\ncalibration:\n  observed:\n"
                 "    first_claims:\n      CRP: {2002: 9}\n")
    msg = str(error_of(path))
    assert "var.yaml:3: calibration.observed: this variant changes observed counts but " \
        "not their source (the base's is 'a test')" in msg
    assert "Fix: add source: to calibration.observed" in msg
    # with its own source, the counts merge (the base's years kept) and the source is its own
    write(tmp_path, "var.yaml", "extends: base.yaml\ncalibration:\n  observed:\n"
          "    source: a survey\n    first_claims:\n      CRP: {2002: 9}\n")
    own = load_scenario(path).calibration.observed
    assert own.source == "a survey"
    assert own.first_claims["CRP"][2001] == 4 and own.first_claims["CRP"][2002] == 9
    # a variant that only changes the source is fine too
    write(tmp_path, "var.yaml", "extends: base.yaml\ncalibration:\n  observed:\n"
          "    source: the same counts, cited properly\n")
    assert load_scenario(path).calibration.observed.source.startswith("the same")


@pytest.mark.parametrize("change, field", [("years: 2000-2014", "years"),
                                           ("held_out: 2012-2015", "held_out")])
def test_a_variants_clashing_years_are_named_where_the_variant_wrote_them(
        tmp_path: Path, change: str, field: str) -> None:
    """A variant that moved its calibration years into the base's held-out years was told
    of the base's line (nk-onward.yaml:330: calibration.held_out), which it cannot edit."""
    path = write(tmp_path, "v.yaml", f"extends: nk-onward\nname: v\ncalibration:\n  {change}\n")
    msg = str(error_of(path))
    assert f"v.yaml:4: calibration.{field}: years [" in msg, msg
    assert "are both calibration and held-out years" in msg and "nk-onward.yaml" not in msg


def test_every_parameter_out_of_bounds_is_named_not_only_the_first(tmp_path: Path) -> None:
    """discrimination_rate: 1.7 (line 5) and GBR detection: 3 (line 8): only line 8 was
    reported; two global parameters out of range: only the first in registry order."""
    path = write(tmp_path, "b.yaml", "extends: nk-onward\nname: b\nparameters:\n"
                 "  integration:\n    discrimination_rate: 1.7\n    glass_ceiling: 7\n"
                 "destinations:\n  GBR:\n    detection: 3\n")
    msg = str(error_of(path))
    assert "b.yaml:5: parameters.integration.discrimination_rate.value: value 1.7 is " \
        "outside [0.0, 1.0]" in msg
    assert "b.yaml:6: parameters.integration.glass_ceiling: value 7.0 lies outside its " \
        "prior" in msg
    assert "b.yaml:9: destinations.GBR.detection.value: value 3.0 is outside" in msg


def test_a_bound_names_the_kind_of_number_as_a_noun(tmp_path: Path) -> None:
    """'outside [0.0, inf] (a positive)': the kind read as an adjective without its noun;
    it reads '(a positive number)', and a switch says it is 0 or 1."""
    path = write(tmp_path, "k.yaml", "extends: nk-onward\nname: k\nparameters:\n"
                 "  resettlement:\n    settlement_grant: -2\n"
                 "destinations:\n  GBR:\n    open: 2\n")
    msg = str(error_of(path))
    assert "outside [0.0, inf] (a positive number)" in msg, msg
    assert "outside [0.0, 1.0] (a switch, 0 or 1)" in msg, msg
    assert "(a positive)" not in msg


def test_a_misspelt_parameter_gets_every_near_name(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", "extends: nk-onward\nname: m\nparameters:\n"
                 "  integration:\n    discrimnation: 0.2\n")
    msg = str(error_of(path))
    assert "did you mean " in msg and "discrimination_rate" in msg and \
        "wage_discrimination" in msg


def test_a_scale_event_must_keep_its_parameter_in_range(tmp_path: Path) -> None:
    """op: scale, value: 3 on recognition_rate (0.8 -> 2.4) validated and ran, clipped to 1
    without a word; an event target typo got no suggestion; '(a months)'."""
    path = write(tmp_path, "s.yaml", "extends: nk-onward\nname: s\nevents:\n  - {id: x, date: "
                 "2009, target: destinations.GBR.recognition_rate, op: scale, value: 3}\n")
    msg = str(error_of(path))
    assert "s.yaml:4: events[0].value: scales recognition_rate from 0.8 to 2.4, outside " \
        "[0.0, 1.0] (a probability). Fix: give a factor of at most 1.25" in msg
    # applied in date order after a set: 0.5 x 1.5 = 0.75 is fine
    write(tmp_path, "s.yaml", "extends: nk-onward\nname: s\nevents:\n"
          "  - {id: a, date: 2010, target: destinations.GBR.recognition_rate, op: scale, "
          "value: 1.5}\n  - {id: b, date: 2009, target: destinations.GBR.recognition_rate, "
          "value: 0.5}\n")
    assert load_scenario(path).name == "s"
    path = write(tmp_path, "t.yaml", "extends: nk-onward\nname: t\nevents:\n  - {id: x, date: "
                 "2009, target: parameters.integration.discrimnation_rate, value: 0.3}\n")
    assert "did you mean parameters.integration.discrimination_rate?" in str(error_of(path))
    path = write(tmp_path, "m.yaml", "extends: nk-onward\nname: m\nparameters:\n"
                 "  resettlement:\n    support_months: 500\n")
    assert "(in months)" in str(error_of(path))


def test_a_negative_inflow_is_named_at_its_year(tmp_path: Path) -> None:
    """It was reported at 'values:' (line 6), not at the year that is wrong (line 9)."""
    path = write(tmp_path, "inf.yaml", "extends: toy\nname: inf\npopulation:\n  inflow:\n"
                 "    source: inline\n    values:\n      2000: 100\n      2001: 120\n"
                 "      2002: -5\n      2003: 90\n")
    msg = str(error_of(path))
    assert "inf.yaml:9: population.inflow.values[2002]: -5 is not a count of arrivals" in msg


# --- slips a policy analyst makes (a user test, 2026-11-27) -----------------------------


@pytest.mark.parametrize("events, expected", [
    # "+50%" written as a factor of 50: a grant of 100 months of wage
    ("{date: 2016, target: parameters.resettlement.settlement_grant, op: scale, value: 50, "
     "label: x, source: y}", "did you mean a factor of 1.5 (+50%)?"),
    # "50%" written as 50 where the unit is the native mean wage
    ("{date: 2016, target: parameters.integration.welfare_income, value: 50, label: x, "
     "source: y}", "did you mean 0.5 (50% as a share)?"),
])
def test_an_event_far_beyond_its_prior_is_refused(tmp_path, events, expected):
    f = write(tmp_path, "k.yaml", f"extends: nk-onward\nname: k\nevents:\n  - {events}\n")
    text = assert_clear(error_of(f), "k.yaml", 4, "events[0].value")
    assert expected in text and "times its prior's upper end" in text


def test_plausible_policy_events_still_load(tmp_path):
    f = write(tmp_path, "ok.yaml", "extends: nk-onward\nname: ok\nevents:\n"
              "  - {date: 2016, target: parameters.resettlement.settlement_grant, op: scale, "
              "value: 2, label: x, source: y}\n"
              "  - {date: 2016, target: parameters.integration.welfare_income, value: 0.5, "
              "label: x, source: y}\n"
              # meant: a prior that includes it makes a large value deliberate
              "  - {date: 2017, target: destinations.GBR.travel_cost, value: 30, label: x, "
              "source: y}\n"
              "destinations:\n  GBR:\n    travel_cost: {value: 3, prior: [0, 30], "
              "source: y}\n")
    assert load_scenario(f).name == "ok"


@pytest.mark.parametrize("body, line, field, expected", [
    ("destinations:\n  UK: {recognition_rate: 0.3}\n", 4, "destinations.UK",
     "did you mean GBR (United Kingdom)?"),
    ("destinations:\n  Canada: {recognition_rate: 0.3}\n", 4, "destinations.Canada",
     "did you mean CAN (Canada)?"),
    ("events:\n  - {date: 2012, target: destinations.uk.recognition_rate, value: 0.2, "
     "label: x, source: y}\n", 4, "events[0].target", "did you mean GBR (United Kingdom)?"),
    ("destinations:\n  GBR: {checks_prior_nationality: yes}\n", 4,
     "destinations.GBR.checks_prior_nationality", "write 1 (yes as a number"),
    ("parameters:\n  integration:\n    discrimination_rate:\n", 5,
     "parameters.integration.discrimination_rate", "write a number after the colon"),
    ("parameters:\n  integration:\n    discrimination_rate: 50\n", 5,
     "parameters.integration.discrimination_rate", "did you mean 0.5 (50% as a share)?"),
    ("parameters:\n  resettlement:\n    settlement_grant: 8000000\n", 5,
     "parameters.resettlement.settlement_grant", "(months of native wage)"),
])
def test_slips_of_code_and_unit_get_their_fix(tmp_path, body, line, field, expected):
    f = write(tmp_path, "s.yaml", f"extends: nk-onward\nname: s\n{body}")
    text = assert_clear(error_of(f), "s.yaml", line, field)
    assert expected in text, text


def test_a_year_range_may_be_written_with_a_dash():
    """'--years 2008–2015' (an en dash, as text copied from a report has it) was "not a year
    range"."""
    from onward.scenario.schema import _years

    assert _years("2008–2015") == _years("2008-2015") == list(range(2008, 2016))
    assert _years("2008 — 2009") == [2008, 2009]


def test_a_misspelt_key_is_named_once_with_its_spelling(tmp_path):
    """'taget:' in an event gave two messages ("target: Field required" and "taget: Extra
    inputs are not permitted") and no suggestion."""
    f = write(tmp_path, "t.yaml", "extends: nk-onward\nname: t\nevents:\n  - {date: 2012, "
              "taget: destinations.GBR.recognition_rate, value: 0.2, label: x, source: y}\n")
    err = error_of(f)
    assert len(err.messages) == 1, err.messages
    assert_clear(err, "t.yaml", 4, "events[0].taget", "did you mean target?")


def test_a_new_destination_without_a_location_is_named_in_the_variant(tmp_path, flagship):
    """A variant adding France (a full destination) was told
    'nk-onward.yaml:348: routes.locations: no destination location for FRA': a line of the
    installed base it cannot edit. The message now names the variant's own line and the
    YAML to add, which then loads."""
    from onward.scenario.loader import scenario_to_dict

    fra = scenario_to_dict(flagship)["destinations"]["NOR"] | {"name": "France"}
    doc = {"extends": "nk-onward", "name": "fr",
           "countries": {"FRA": {"name": "France", "role": "destination"}},
           "destinations": {"FRA": fra}}
    f = write(tmp_path, "fr.yaml", yaml.safe_dump(doc, sort_keys=False))
    text = assert_clear(error_of(f), "fr.yaml", None, "destinations.FRA")
    assert "fr.yaml:" in text and "nk-onward.yaml" not in text
    assert "no destination location for FRA" in text and "type: destination, country: FRA" in text
    f.write_text(f.read_text() + "routes:\n  locations:\n  - {name: Lyon, type: destination, "
                 "country: FRA, source: t}\n  links:\n  - {from: Seoul, to: Lyon, distance_km: "
                 "9000, mode: flight, months: 0.05, source: t}\n")
    assert "FRA" in load_scenario(f).destinations


def test_what_a_variant_changes_is_said_in_words(flagship):
    """compare's output and report name what each alternative changes (a report offered each
    scenario's whole YAML: 1,800 lines for the flagship)."""
    from onward.scenario.diff import scenario_changes

    alt = load_text("extends: nk-onward\nname: a\nevents:\n"
                    "  - {id: gbr-designation-2010, remove: true}\n"
                    "  - {id: g, date: 2016, target: parameters.resettlement.settlement_grant,"
                    " op: scale, value: 1.5, label: x, source: y}\n"
                    "parameters:\n  integration:\n    discrimination_rate: 0.2\n", "a.yaml")
    said = scenario_changes(flagship, alt)
    assert said == [
        "event g added (2016: parameters.resettlement.settlement_grant x 1.5)",
        "event gbr-designation-2010 removed (2010-03-02: "
        "destinations.GBR.checks_prior_nationality = 1)",
        "parameters.integration.discrimination_rate: 0.1 -> 0.2"]
    assert scenario_changes(flagship, flagship) == []
    # a changed source or label changes no number: not a change
    relabelled = load_text("extends: nk-onward\nname: b\nparameters:\n  integration:\n"
                           "    discrimination_rate: {value: 0.1, source: other}\n", "b.yaml")
    assert scenario_changes(flagship, relabelled) == []


def test_a_new_location_named_as_one_of_the_bases_is_a_clash(tmp_path, flagship):
    """A new destination's location called Paris merged into the base's hub Paris (and its
    broker-only link from Seoul), then failed with 'no route from Seoul to Paris without
    broker-only links'. The clash is named where the variant wrote it."""
    from onward.scenario.loader import scenario_to_dict

    fra = scenario_to_dict(flagship)["destinations"]["NOR"] | {"name": "France"}
    doc = {"extends": "nk-onward", "name": "fr",
           "countries": {"FRA": {"name": "France", "role": "destination"}},
           "destinations": {"FRA": fra},
           "routes": {"locations": [{"name": "Paris", "type": "destination", "country": "FRA",
                                     "source": "t"}],
                      "links": [{"from": "Seoul", "to": "Paris", "distance_km": 9000,
                                 "mode": "flight", "months": 0.05, "source": "t"}]}}
    f = write(tmp_path, "fr.yaml", yaml.safe_dump(doc, sort_keys=False))
    assert_clear(error_of(f), "fr.yaml", None, "routes.locations[0]",
                 "'Paris' is already a location of the scenario this one extends (type hub)",
                 "give yours another name")


def test_inline_inflow_years_that_would_be_lost_are_refused(tmp_path: Path) -> None:
    """A year left out of inline values ran as no arrivals, and a year before the horizon
    was dropped, both without a word (4,000 persons short in a user's scenario)."""
    toy = scenario_to_yaml(load_scenario("toy"))
    assert "      2005: 800.0\n" in toy
    p = write(tmp_path, "gap.yaml", toy.replace("      2005: 800.0\n", ""))
    assert_clear(error_of(p), "gap.yaml", None, "population.inflow.values",
                 "no value for 2005, between 2000 and 2012", "0 for a year without")
    # years before the start are a note, not an error: a variant starting its base later
    # keeps the base's earlier years (and a run recorded with it must reload)
    p = write(tmp_path, "early.yaml", "extends: toy\nname: early\npopulation:\n"
              "  inflow:\n    values: {1998: 100, 1999: 100}\n")
    notes: list[str] = []
    load_scenario(p, notes)
    (note,) = [n for n in notes if "inflow" in n]
    assert note.startswith(f"{p}:5: population.inflow.values") and "arrivals in 1998-1999 " \
        "(200 persons) are before the horizon's start (2000-01) and never enter the run. " \
        "Fix: count those present at the start in population.inflow.initial" in note
    p = write(tmp_path, "later.yaml", "extends: toy\nname: later\n"
              "horizon: {start: 2003-01, end: 2020-12}\n")
    notes = []
    assert load_scenario(p, notes).horizon.start.year == 2003
    assert any(n.startswith(f"{p}:3: horizon: arrivals in 2000-2002") for n in notes), notes


@pytest.mark.parametrize("body,field,hint", [
    ("female_share: 45", "population.attributes.female_share.value", "did you mean 0.45"),
    ("female_share: {value: 0.5, prior: [0.2, 80], free: true}",
     "population.attributes.female_share.prior", "did you mean 0.8"),
])
def test_a_female_share_is_a_share(tmp_path: Path, body: str, field: str, hint: str) -> None:
    """A percent (45) made every arrival a woman without a word; a share outside [0, 1]
    is refused, with the share it likely meant."""
    p = write(tmp_path, "child.yaml", "extends: toy\nname: child\npopulation:\n"
              f"  attributes:\n    {body}\n")
    assert_clear(error_of(p), "child.yaml", 5, field, "outside [0, 1]", hint)


def test_calibration_years_and_counts_outside_the_horizon_are_noted_where_written(
        tmp_path: Path) -> None:
    """Calibration years outside the horizon validated ok and only calibrate refused them
    (with no file:line); a count of 2030 for a horizon ending 2020 was kept without a word.
    Both load (a variant shortening its base's horizon keeps its calibration block) but are
    noted at the line that wrote them."""
    notes: list[str] = []
    load_scenario(write(tmp_path, "yrs.yaml", "extends: toy\nname: yrs\ncalibration:\n"
                        "  years: 1995-2014\n  held_out: []\n  observed:\n"
                        "    source: a typo\n    first_claims:\n      CRP: {2030: 3}\n"),
                  notes)
    assert len(notes) == 2, notes
    assert notes[0].startswith(f"{tmp_path}/yrs.yaml:4: calibration.years: 1995-1999 "
                               "outside the horizon 2000-2020"), notes
    assert "onward.calibrate refuses them. Fix: set calibration.years inside 2000-2020" \
        in notes[0]
    assert "yrs.yaml:9: calibration.observed.first_claims.CRP.2030: a count of 2030, " \
        "outside the horizon 2000-2020" in notes[1] and "Fix: remove it" in notes[1], notes
    # a shorter variant: its base's years are noted (calibrate refuses them), with the fix
    # in the variant; its base's held-out years and counts are expected, not noted
    notes = []
    load_scenario(write(tmp_path, "short.yaml", "extends: toy\nname: short\n"
                        "horizon: {end: 2010}\nevents:\n"
                        "- {id: bor-antidiscrimination-2015, remove: true}\n"),
                  notes)
    assert len(notes) == 1, notes
    assert "toy.yaml:181: calibration.years: 2011-2014 outside the horizon 2000-2010 " \
        f"({tmp_path}/short.yaml:3)" in notes[0], notes
    assert f"inside 2000-2010 in {tmp_path}/short.yaml (this block is its base's)" in notes[0]
    notes = []
    load_scenario("toy", notes)
    assert notes == []


def test_validate_prints_the_notes(tmp_path: Path) -> None:
    from cli_helper import cli

    write(tmp_path, "yrs.yaml", "extends: toy\nname: yrs\ncalibration:\n  years: 1995-2014\n")
    proc = cli("validate", "yrs.yaml", cwd=tmp_path)
    said = " ".join(proc.stderr.split())
    assert "note: yrs.yaml:4: calibration.years: 1995-1999 outside the horizon 2000-2020" \
        in said, said


def test_a_variant_switching_the_inflow_source_is_named_at_its_own_line(tmp_path: Path
                                                                        ) -> None:
    """`inflow: {source: data}` in a variant of an inline base pointed at the base's
    `table: null` line, a file the user did not edit; the variant's source: is named."""
    p = write(tmp_path, "t.yaml", "extends: toy\nname: t\npopulation:\n"
              "  inflow: {source: data}\n")
    assert_clear(error_of(p), "t.yaml", 4, "population.inflow.source",
                 "inflow from data needs a table")
    p = write(tmp_path, "u.yaml", "extends: nk-onward\nname: u\npopulation:\n"
              "  inflow:\n    source: inline\n")
    assert_clear(error_of(p), "u.yaml", 5, "population.inflow.source",
                 "inline inflow needs values")


def test_a_destination_written_from_scratch_is_told_every_missing_field(tmp_path: Path
                                                                        ) -> None:
    """A destination without a name said 'Input should be a valid string (got None)', and
    its missing parameters were cut off ('... and 5 more')."""
    from onward.scenario.parameters import DESTINATION_PARAMETERS

    p = write(tmp_path, "new.yaml", "extends: toy\nname: new\ncountries:\n"
              "  NEW: {name: Newland, role: destination}\ndestinations:\n"
              "  NEW:\n    recognition_rate: 0.5\n")
    text = assert_clear(error_of(p), "new.yaml", 6, "destinations.NEW.name: Field required")
    assert "valid string" not in text, text
    p = write(tmp_path, "new2.yaml", "extends: toy\nname: new\ncountries:\n"
              "  NEW: {name: Newland, role: destination}\ndestinations:\n"
              "  NEW:\n    name: Newland\n    recognition_rate: 0.5\n")
    text = assert_clear(error_of(p), "new2.yaml", 6, "destinations.NEW: missing destination "
                        "parameters", "onward.scenario.parameters.all_specs()")
    for k in DESTINATION_PARAMETERS:
        assert k == "recognition_rate" or k in text, (k, text)
    assert "more" not in text, text


@pytest.mark.parametrize("body,field,problem", [
    ("age: {kind: normal, mean: 300, sd: 10, min: 16, max: 75, source: typo}",
     "population.attributes.age.mean", "mean 300 is outside [min, max] = [16, 75]: most "
     "draws are clipped to max 75"),
    ("children: {kind: constant, mean: 9, max: 6, source: typo}",
     "population.attributes.children.mean", "every draw is clipped to max 6"),
    ("funds: {kind: lognormal, mean: -3, sd: 0.5, min: 1, source: typo}",
     "population.attributes.funds.mean", "median exp(mean) 0.0497871 is outside"),
    ("skill: {kind: beta, a: 2, b: 8, min: 0.6, source: typo}",
     "population.attributes.skill.min", "mean a/(a+b) 0.2 is outside [min, max] = [0.6, inf]"),
])
def test_an_attribute_centred_outside_its_bounds_is_refused(tmp_path: Path, body: str,
                                                            field: str, problem: str) -> None:
    """`age: {kind: normal, mean: 300, max: 75}` validated ok and clipped every arrival to
    75."""
    p = write(tmp_path, "child.yaml", "extends: toy\nname: child\npopulation:\n"
              f"  attributes:\n    {body}\n")
    assert_clear(error_of(p), "child.yaml", 5, field, problem, "or widen min/max")


def test_a_misspelt_scenario_name_or_file_gets_the_one_it_meant(tmp_path, monkeypatch):
    """`onward run nk-onwrd` listed the built-ins without saying which was meant; a
    misspelt built-in name or a file beside it is now named first."""
    from onward.scenario import ScenarioError
    from onward.scenario.loader import resolve_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "policy-a.yaml").write_text("extends: toy\n")
    for typed, meant in (("nk-onwrd", "did you mean nk-onward?"),
                         ("polcy-a.yaml", "did you mean policy-a.yaml?"),
                         ("polcy-a", "did you mean policy-a.yaml?")):
        with pytest.raises(ScenarioError, match=re.escape(meant)):
            resolve_path(typed)
    with pytest.raises(ScenarioError) as far:
        resolve_path("zzz")
    assert "did you mean" not in str(far.value) and "nk-onward, toy" in str(far.value)
