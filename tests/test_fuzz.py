"""Fuzzing the scenario loader (bounded campaign for CI) and regressions of what it found.

The generator lives in ``scripts/fuzz_scenarios.py``; the full campaign (10,000 cases and
an ``onward validate`` sample of 100) is ``python3 scripts/fuzz_scenarios.py`` (see
docs/reliability.md). Here: 1,020 cases in-process (every mutation family 60 times), each
under a deadline, and a subprocess sample through ``onward validate``.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from onward.scenario import ScenarioError, load_scenario, load_text
from onward.scenario.loader import MAX_DEPTH, MAX_NODES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fuzz_scenarios as fuzz  # noqa: E402

#: master seed of the CI campaign (the full campaign uses seed 1, so CI sees other cases)
SEED = int(os.environ.get("ONWARD_FUZZ_SEED", "2"))
CASES = int(os.environ.get("ONWARD_FUZZ_CASES", str(60 * len(fuzz.FAMILIES))))


def test_bounded_campaign_no_traceback_no_hang() -> None:
    fuzz.CANARY.unlink(missing_ok=True)
    t0 = time.perf_counter()
    results = fuzz.campaign(CASES, seed=SEED, workers=2, deadline_s=fuzz.DEADLINE_S)
    wall = time.perf_counter() - t0
    assert len(results) == CASES >= 1000
    outcomes = Counter(r.outcome for r in results)
    findings = [f"case {r.index} ({r.family}): {r.outcome}: {r.detail}" for r in results
                if r.outcome in ("unclear", "crash", "hang")]
    assert not findings, f"{len(findings)} findings (rebuild one with `python3 " \
        f"scripts/fuzz_scenarios.py --seed {SEED} --show N`):\n" + "\n".join(findings[:20])
    # the campaign exercised both sides, every family
    counts = fuzz.table(results)
    assert outcomes["accepted"] >= 50 and outcomes["refused"] >= 500, outcomes
    for family, c in counts.items():
        assert sum(c.values()) >= CASES // len(fuzz.FAMILIES), family
    assert counts["valid variant"]["refused"] == 0, "a valid variant was refused"
    assert not fuzz.CANARY.exists(), "a scenario ran code"
    print(f"\n{CASES} fuzz cases in {wall:.1f} s: {dict(outcomes)}")


def test_validate_subprocess_sample(tmp_path: Path) -> None:
    """A sample through `onward validate`: exit 0 with `ok`, or exit 2 with one clear error."""
    families = ["valid variant", "wrong types", "alias bombs", "binary junk", "code / tags",
                "deep nesting", "duplicate keys", "truncation"]
    picks = [next(i for i in range(SEED * 1000, SEED * 1000 + 10 * len(fuzz.FAMILIES))
                  if fuzz.FAMILIES[i % len(fuzz.FAMILIES)] == f) for f in families]

    # in-process outcomes first, in the main thread (the per-case deadline uses a signal)
    wants = [fuzz.run_many(SEED, [i])[0].outcome for i in picks]

    def one(k: int) -> tuple[int, str, str, str]:
        folder = tmp_path / str(k)
        folder.mkdir()
        got, detail = fuzz.validate_subprocess(SEED, picks[k], folder)
        return picks[k], got, "refused" if wants[k] == "unclear" else wants[k], detail

    with ThreadPoolExecutor(2) as ex:
        rows = list(ex.map(one, range(len(picks))))
    for index, got, want, detail in rows:
        assert got in ("accepted", "refused"), (index, got, detail)
        assert got == want, (index, got, want, detail)
    assert {r[1] for r in rows} == {"accepted", "refused"}


# --- regressions: what the fuzzer found, and the promises of issue 8 --------------------------


@pytest.mark.parametrize("text", [
    "extends: toy\nevents: " + "[" * 10_000 + "]" * 10_000 + "\n",
    "extends: toy\nx: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
    "extends: toy\ndescription:" + "".join(f"\n{' ' * (i + 1)}k{i}:" for i in range(300))
    + " 1\n",
], ids=["flow-lists", "flow-maps", "block"])
def test_deep_nesting_refused_at_once(text: str) -> None:
    # found by the fuzzer: PyYAML's scanner is quadratic in bracket depth (10,000: ~5 s)
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError, match=rf"deep\.yaml:\d+: nesting deeper than {MAX_DEPTH}"):
        load_text(text, "deep.yaml")
    assert time.perf_counter() - t0 < 0.5


def test_alias_bomb_refused_before_expanding(monkeypatch: pytest.MonkeyPatch) -> None:
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 25)]
    from onward.scenario import loader

    def never(*args: object) -> None:
        raise AssertionError("the loader started to build the document")

    monkeypatch.setattr(loader._Build, "construct", never)
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_text("\n".join(levels) + "\n", "bomb.yaml")
    assert time.perf_counter() - t0 < 0.5
    text = str(info.value)
    assert text.startswith("bomb.yaml: about 10^23 YAML nodes") and f"limit {MAX_NODES}" in text
    assert "Fix:" in text


def test_alias_just_under_the_limit_is_allowed() -> None:
    # a few aliases are legitimate YAML; only expansion size is limited
    sc = load_text("extends: toy\nname: &n aliased\ndescription: *n\n")
    assert sc.description == "aliased"


@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['touch {canary}']",
    "!!python/object/new:os.system ['touch {canary}']",
    "!!python/name:os.system",
    "!!python/module:os",
    "!include /etc/passwd",
])
def test_tags_never_run_code(tag: str) -> None:
    fuzz.CANARY.unlink(missing_ok=True)
    with pytest.raises(ScenarioError, match=r"tags\.yaml:2: .*Fix:"):
        load_text("extends: toy\ndescription: " + tag.format(canary=fuzz.CANARY) + "\n",
                  "tags.yaml")
    assert not fuzz.CANARY.exists()


@pytest.mark.parametrize("text, line", [
    ("extends: toy\nseed: 1\nname: a\nseed: 2\n", 4),
    ("extends: toy\nhorizon: {start: 2000-01, end: 2010-12, start: 2001-01}\n", 2),
    ("extends: toy\nparameters:\n  brokers:\n    share: 0.01\n    share: 0.02\n", 5),
])
def test_duplicate_keys_refused_with_line(text: str, line: int) -> None:
    with pytest.raises(ScenarioError, match=rf"dup\.yaml:{line}: .*duplicate key.*Fix: keep"):
        load_text(text, "dup.yaml")


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom", "/proc/self/environ",
                                    "/etc/passwd", "/", "../../../../etc/hostname"])
def test_extends_special_files_refused_clearly(tmp_path: Path, target: str) -> None:
    p = tmp_path / "child.yaml"
    p.write_text(f"extends: {target}\n")
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    assert time.perf_counter() - t0 < 2.0
    assert fuzz.unclear_reason(info.value, str(p)) is None, str(info.value)


def test_parse_cache_sees_edits(tmp_path: Path) -> None:
    # the loader remembers parsed files by content, so an edit is never missed
    p = tmp_path / "child.yaml"
    p.write_text("extends: toy\nseed: 3\n")
    assert load_scenario(p).seed == 3
    p.write_text("extends: toy\nseed: 4\n")  # same size, same second
    assert load_scenario(p).seed == 4
    sc = load_scenario(p)
    sc.countries.clear()  # callers may change what they get
    assert load_scenario(p).countries
