"""Fuzz the scenario loader: generated and mutated scenario files, each accepted or refused
with a clear message, none raising a traceback and none hanging.

Every case is made from ``(seed, index)`` by a seeded mutation engine (structure-aware
mutations of the built-in ``toy`` scenario plus byte-level damage, in the spirit of
AFL/atheris), so any case can be rebuilt and inspected by its index. Each case is written
to a file and loaded in-process with :func:`onward.scenario.load_scenario` under a
per-case deadline; a sample also goes through ``onward validate`` as a subprocess.

Outcomes: ``accepted``; ``refused`` (a :class:`ScenarioError` whose every line reads
``file[:line]: ... Fix: ...``); ``unclear`` (refused, but a message breaks that form);
``crash`` (any other exception: a traceback); ``hang`` (over the deadline).

The full campaign (documented in docs/reliability.md)::

    python3 scripts/fuzz_scenarios.py --cases 10000 --subprocess 100 --json /tmp/fuzz.json
    python3 scripts/reliability_figures.py --fuzz-json /tmp/fuzz.json --only fuzz

Rebuild one case::

    python3 scripts/fuzz_scenarios.py --show 1234          # prints the file and outcome

The bounded campaign of the CI lives in ``tests/test_fuzz.py`` and uses this module.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from onward.scenario import ScenarioError, load_scenario
from onward.scenario.loader import builtin_dir

#: CPU seconds one case may take in-process before it counts as a hang (and six times that
#: in wall-clock seconds)
DEADLINE_S = 10.0
OUTCOMES = ("accepted", "refused", "unclear", "crash", "hang")

TOY_TEXT = (builtin_dir() / "toy.yaml").read_text(encoding="utf-8")
TOY = yaml.safe_load(TOY_TEXT)
#: a file that a scenario able to run code would create (it must never exist)
CANARY = Path(tempfile.gettempdir()) / "onward-fuzz-canary"


# --- the mutation engine -------------------------------------------------------------------


def _paths(x: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(x, dict):
        for k, v in x.items():
            out.extend(_paths(v, prefix + (k,)))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            out.extend(_paths(v, prefix + (i,)))
    return out


PATHS = _paths(TOY)

def _get(data: Any, path: tuple) -> Any:
    for p in path:
        data = data[p]
    return data


NUMERIC_PATHS = [p for p in PATHS if isinstance(_get(TOY, p), (int, float))
                 and not isinstance(_get(TOY, p), bool)]
COUNT_PATHS = [p for p in NUMERIC_PATHS if p[:2] == ("population", "inflow")
               or p[-1] in ("value", "mean", "sd", "a", "b")]

UNICODE = ["é", "ü", "ß", "北", "한국", "🙂", "\u200b", "\u202e", "\ufeff", "\u0000", "\x85",
           "\u2028", "𝔘𝔫𝔦", "ǅ", "İ", "\ud7ff", "\U0010ffff", "\t", "\\", "'", '"', "#", ":",
           "- ", "&a", "*a", "!", "%", "@", "`", "{", "}", "[", "]", ">", "|"]
WEIRD_SCALARS: list[Any] = [
    None, True, False, 0, -1, -10**6, 10**6, 10**18, 2**63, 2**64, 10**400, -10**400,
    1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf"), "", " ", "NaN",
    ".nan", ".inf", "1e999", "0x1F", "0o17", "1_000", "2010-13", "2010-02-30", "0000",
    "9999-12-31", "yes", "no", "on", "null", "~", "GBR", "gbr", "G", "GBRR", "data",
    "inline", "destinations.CRP.open", "parameters.x.y", "a" * 5000, [], {}, [1, 2, 3],
    {"value": 1}, {"value": float("nan"), "source": "x"}, [[[[]]]], {"a": {"b": {"c": {}}}},
]


def _rand_unicode(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.5:
            out.append(rng.choice(UNICODE))
        elif r < 0.8:
            out.append(chr(rng.randrange(32, 0x2FFF)))
        else:
            c = rng.randrange(0, 0x10FFFF)
            out.append(chr(c) if not 0xD800 <= c <= 0xDFFF else "?")
    return "".join(out)


def _rand_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if r < 0.55 or depth > 3:
        return rng.choice(WEIRD_SCALARS)
    if r < 0.7:
        return _rand_unicode(rng, rng.randrange(1, 20))
    if r < 0.85:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {_rand_key(rng): _rand_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def _rand_key(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.5:
        return rng.choice(["name", "value", "source", "prior", "free", "extends", "events",
                           "kind", "mean", "GBR", "CRP", "role", "values", "date", "id"])
    if r < 0.8:
        return _rand_unicode(rng, rng.randrange(1, 8))
    return rng.choice([0, 1, -1, 2000, 3.5, True, None])


def _set(data: Any, path: tuple, value: Any, delete: bool = False) -> None:
    try:
        parent = _get(data, path[:-1])
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


def _dump(data: Any, rng: random.Random) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=rng.random() < 0.7,
                              default_flow_style=rng.choice([False, None, True]), width=100)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return TOY_TEXT


def _fresh() -> dict:
    import copy

    return copy.deepcopy(TOY)


def m_valid(rng: random.Random) -> str:
    """Small valid variants: extends a built-in and changes a few things."""
    lines = ["extends: " + rng.choice(["toy", "nk-onward", "base.yaml", "./base.yaml"])]
    if rng.random() < 0.6:
        lines.append(f"seed: {rng.randrange(0, 10**6)}")
    if rng.random() < 0.5:
        lines.append(f"name: variant-{rng.randrange(1000)}")
    if rng.random() < 0.5:
        lines.append("parameters:\n  integration:\n    discrimination_rate: "
                     f"{rng.uniform(0, 0.4):.3f}")
    if rng.random() < 0.3:
        lines.append("description: " + json.dumps(_rand_unicode(rng, 10), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def m_wrong_type(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 4)):
        _set(data, rng.choice(PATHS), _rand_value(rng))
    return _dump(data, rng)


def m_missing(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 5)):
        _set(data, rng.choice(PATHS), None, delete=True)
    return _dump(data, rng)


def m_huge(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 4)):
        big = rng.choice([10**rng.randrange(10, 400), -(10**rng.randrange(10, 400)), 1e308,
                          -1e308, 2**63, 2**63 - 1, 2**64])
        _set(data, rng.choice(NUMERIC_PATHS), big)
    text = _dump(data, rng)
    if rng.random() < 0.3:  # numbers YAML reads but Python may not
        text = text.replace("seed: 7", "seed: " + "9" * rng.randrange(20, 5000), 1)
    return text


def m_nan(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 4)):
        _set(data, rng.choice(NUMERIC_PATHS), rng.choice([float("nan"), float("inf"),
                                                          float("-inf")]))
    return _dump(data, rng)


def m_negative(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(COUNT_PATHS)
        try:
            v = _get(data, path)
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            _set(data, path, -abs(v) - rng.choice([0, 1, 0.5, 1e6]))
    return _dump(data, rng)


def m_unicode(rng: random.Random) -> str:
    data = _fresh()
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(PATHS)
        if rng.random() < 0.5:
            _set(data, path, _rand_unicode(rng, rng.randrange(1, 30)))
        else:  # a unicode key next to a real one
            try:
                parent = _get(data, path[:-1])
                if isinstance(parent, dict):
                    parent[_rand_unicode(rng, rng.randrange(1, 6))] = 1
            except (KeyError, IndexError, TypeError):
                pass
    return _dump(data, rng)


def m_nesting(rng: random.Random) -> str:
    depth = rng.choice([10, 50, 63, 64, 65, 100, 1000, 10_000, 100_000])
    style = rng.randrange(4)
    if style == 0:
        inner = "[" * depth + "]" * depth
    elif style == 1:
        inner = "{a: " * depth + "1" + "}" * depth
    elif style == 2:
        inner = "[" * depth  # unclosed
    else:
        block = "".join(f"\n{' ' * (i + 1)}k{i}:" for i in range(min(depth, 2000)))
        return "extends: toy\ndescription:" + block + " 1\n"
    where = rng.choice(["description", "parameters", "events", "x"])
    return f"extends: toy\n{where}: {inner}\n"


def m_bomb(rng: random.Random) -> str:
    width = rng.randrange(2, 12)
    levels = rng.randrange(2, 12)
    flow_map = rng.random() < 0.3
    lines = ["extends: toy"] if rng.random() < 0.5 else []
    lines.append("x0: &a0 " + ("{p: lol, q: lol}" if flow_map else "[lol, lol, lol]"))
    for i in range(1, levels):
        items = ", ".join([f"*a{i - 1}"] * width)
        body = "{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width)) + "}" if flow_map \
            else f"[{items}]"
        lines.append(f"x{i}: &a{i} {body}")
    if rng.random() < 0.3:
        lines.append(f"description: *a{levels - 1}")
    if rng.random() < 0.2:
        lines.append("r: &r [1, *r]")  # recursive
    return "\n".join(lines) + "\n"


def m_duplicate(rng: random.Random) -> str:
    lines = TOY_TEXT.splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+:", line)]
    i = rng.choice(keyed)
    j = i + 1
    indent = len(lines[i]) - len(lines[i].lstrip())
    while j < len(lines) and (not lines[j].strip() or
                              len(lines[j]) - len(lines[j].lstrip()) > indent):
        j += 1
    block = lines[i:j]
    at = rng.choice([i, j])
    if rng.random() < 0.3:  # duplicate inside a flow mapping instead
        return "extends: toy\nhorizon: {start: 2000-01, end: 2010-12, start: 2001-01}\n"
    return "\n".join(lines[:at] + block + lines[at:]) + "\n"


def m_truncate(rng: random.Random) -> bytes:
    raw = TOY_TEXT.encode("utf-8") if rng.random() < 0.7 else m_unicode(rng).encode("utf-8")
    return raw[: rng.randrange(0, len(raw))]


def m_binary(rng: random.Random) -> bytes:
    raw = bytearray(TOY_TEXT.encode("utf-8"))
    r = rng.random()
    if r < 0.25:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
    if r < 0.5:  # bit flips
        for _ in range(rng.randrange(1, 20)):
            k = rng.randrange(len(raw))
            raw[k] ^= 1 << rng.randrange(8)
        return bytes(raw)
    if r < 0.7:  # junk inserted
        k = rng.randrange(len(raw))
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        return bytes(raw[:k]) + junk + bytes(raw[k:])
    if r < 0.8:
        return rng.choice([b"\x89PNG\r\n\x1a\n\x00\x00", b"PK\x03\x04\x14\x00", b"\x7fELF\x02",
                           b"\xff\xfe" + "name: x\n".encode("utf-16-le"), b"\x00" * 100,
                           b"\xef\xbb\xbf" + b"extends: toy\n", b"%PDF-1.4\n"])
    # a UTF-8 text with a control character or a lone surrogate encoded
    k = rng.randrange(len(raw))
    return bytes(raw[:k]) + rng.choice([b"\x07", b"\x1b[31m", b"\xed\xa0\x80", b"\xc0\xaf",
                                        b"\x00", b"\xf4\x90\x80\x80"]) + bytes(raw[k:])


def m_code(rng: random.Random) -> str:
    """Tags that would run code or read files under an unsafe loader; all must be refused."""
    payload = rng.choice([
        f"!!python/object/apply:os.system ['touch {CANARY}']",
        "!!python/object/apply:subprocess.check_output [['id']]",
        f"!!python/object/new:os.system ['touch {CANARY}']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/object:builtins.object {}",
        "!!binary aGVsbG8=",
        "!!set {a, b}",
        "!!omap [a: 1]",
        "!include /etc/passwd",
        "!ENV ${HOME}",
        "!!str 1",
        "!!float abc",
        "!!int 1.5",
        "!!timestamp 2010-99-99",
        "!custom {a: 1}",
    ])
    where = rng.choice(["description", "name", "seed", "x"])
    text = f"extends: toy\n{where}: {payload}\n"
    if rng.random() < 0.2:
        text = "extends: toy\n<<: {seed: 3}\n"
    return text


def m_extends(rng: random.Random) -> str:
    target = rng.choice([
        "/etc/passwd", "/etc/shadow", "/dev/zero", "/dev/urandom", "/proc/self/environ",
        "/proc/self/status", "../../../../../../etc/hostname", "~/.ssh/id_rsa", "",
        "  ", "self.yaml", "case.yaml", "base.yaml", "nowhere.yaml", "nk-onward",
        "NK-ONWARD", "toy.yaml", "/", ".", "..", "\x00", "a" * 5000, "http://example.com/x",
        "file:///etc/passwd", "C:\\x.yaml", 3, None, [], {"a": 1}, True,
    ])
    return yaml.safe_dump({"extends": target, "name": "x"}, allow_unicode=True)


def m_events(rng: random.Random) -> str:
    evs = []
    for _ in range(rng.randrange(1, 6)):
        evs.append({
            "id": rng.choice([None, "e1", "e1", "crp-checks-2010", _rand_unicode(rng, 4)]),
            "date": rng.choice(["2000", "2000-01", "2010-06-15", "2020-12", "2021-01", "1999",
                                "2010-13", "2010-00", "2010-02-29", "2012-02-29", 2010,
                                "0000", "10000", "2010-1-1", None, 2010.5]),
            "target": rng.choice(["destinations.CRP.open", "destinations.XXX.open",
                                  "parameters.brokers.activity", "parameters.network.mean_degree",
                                  "parameters.integration.discrimination_rate", "nonsense",
                                  "destinations.CRP", ""]),
            "value": rng.choice([0, 1, 0.5, -1, 2, 1e308, float("nan"), None, "x"]),
            "op": rng.choice(["set", "scale", "add", None]),
            "remove": rng.choice([False, False, True, "yes", None]),
        })
        evs[-1] = {k: v for k, v in evs[-1].items() if v is not None or rng.random() < 0.2}
    return yaml.safe_dump({"extends": "toy", "events": evs}, allow_unicode=True, sort_keys=False)


def m_text(rng: random.Random) -> str:
    """Character-level damage to the text: deletions, insertions, swaps, tabs, dedents."""
    text = TOY_TEXT
    for _ in range(rng.randrange(1, 8)):
        k = rng.randrange(len(text))
        r = rng.random()
        if r < 0.3:
            text = text[:k] + text[k + rng.randrange(1, 10):]
        elif r < 0.55:
            text = text[:k] + rng.choice([":", "-", "[", "{", "'", '"', "\t", "\n", " ", "&x",
                                          "*x", "!", "|", ">", "? ", "...", "---", "%YAML 1.1",
                                          "#"]) + text[k:]
        elif r < 0.7:
            j = rng.randrange(len(text))
            a, b = sorted((k, j))
            text = text[:a] + text[b:b + 20] + text[a + 20:b] + text[a:a + 20] + text[b + 20:]
        elif r < 0.85:
            lines = text.splitlines()
            i = rng.randrange(len(lines))
            lines[i] = lines[i].lstrip() if rng.random() < 0.5 else "  " + lines[i]
            text = "\n".join(lines)
        else:
            text = text[:k] + "\n---\n" + text[k:]
    return text


def m_random_text(rng: random.Random) -> str:
    """Short random YAML-ish text."""
    alphabet = "abcxyz019 :-[]{}\n\t,'\"&*!|>#%@`?.~" + "é北🙂"
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 300)))


MUTATORS: dict[str, Callable[[random.Random], str | bytes]] = {
    "valid variant": m_valid,
    "wrong types": m_wrong_type,
    "missing fields": m_missing,
    "huge numbers": m_huge,
    "NaN / inf": m_nan,
    "negative counts": m_negative,
    "unicode": m_unicode,
    "deep nesting": m_nesting,
    "alias bombs": m_bomb,
    "duplicate keys": m_duplicate,
    "truncation": m_truncate,
    "binary junk": m_binary,
    "code / tags": m_code,
    "extends paths": m_extends,
    "events": m_events,
    "text damage": m_text,
    "random text": m_random_text,
}
FAMILIES = list(MUTATORS)


def make_case(seed: int, index: int) -> tuple[str, bytes]:
    """The family and bytes of case ``index`` of a campaign with master seed ``seed``."""
    rng = random.Random(f"{seed}:{index}")
    family = FAMILIES[index % len(FAMILIES)]
    body = MUTATORS[family](rng)
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return family, raw


# --- running one case ---------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the per-case alarm (a BaseException, so no ``except Exception`` eats it)."""


@contextmanager
def deadline(seconds: float, wall_factor: float = 6.0) -> Iterator[None]:
    """Raise :class:`Hang` after ``seconds`` of CPU time, or ``wall_factor`` times that of
    wall time (a case stuck waiting), whichever comes first (main thread, Unix).

    CPU time makes the verdict independent of how loaded the machine is: a busy loop
    burns CPU, and a case blocked on I/O is caught by the wall clock.
    """
    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang()

    old_prof = signal.signal(signal.SIGPROF, on_alarm)
    old_alrm = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * wall_factor)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old_prof)
        signal.signal(signal.SIGALRM, old_alrm)


_MESSAGE = re.compile(r"^(?P<file>[^\n]+?)(?::(?P<line>\d+)(?::\d+)?)?: .+Fix: .+$")


def unclear_reason(err: ScenarioError, fname: str) -> str | None:
    """Why a refusal is not clear, or None if every message is ``file[:line]: ... Fix: ...``."""
    if not err.messages:
        return "no messages"
    for m in err.messages:
        if "\n" in m:
            return "multi-line message"
        if "Traceback" in m or 'File "' in m:
            return "traceback text in message"
        if len(m) > 1000:
            return "message longer than 1000 characters"
        if not m.startswith(fname) and not m.startswith(("<", "'")):
            # messages about a base file name that file instead (extends chains)
            if ".yaml" not in m.split(":", 1)[0] and not m.startswith("/"):
                return f"does not start with a file name: {m[:80]!r}"
        if not _MESSAGE.match(m):
            return f"not 'file:line: problem. Fix: ...': {m[:80]!r}"
    return None


@dataclass
class Result:
    index: int
    family: str
    outcome: str
    seconds: float
    detail: str = ""


def run_case(seed: int, index: int, folder: Path, deadline_s: float = DEADLINE_S) -> Result:
    """Write case ``index`` into ``folder`` and load it in-process under a deadline."""
    family, raw = make_case(seed, index)
    (folder / "base.yaml").write_text("extends: toy\nname: base\n", encoding="utf-8")
    path = folder / "case.yaml"
    path.write_bytes(raw)
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        with deadline(deadline_s):
            load_scenario(path)
        outcome, detail = "accepted", ""
    except Hang:
        outcome, detail = "hang", f"over {deadline_s:g} s of CPU time (or {6 * deadline_s:g} " \
            f"s of wall time: {time.perf_counter() - t0:.1f} s)"
    except ScenarioError as err:
        why = unclear_reason(err, str(path))
        outcome, detail = ("unclear", why) if why else ("refused", err.messages[0][:300])
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a finding
        import traceback

        outcome = "crash"
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-500:]
    return Result(index, family, outcome, time.process_time() - c0, detail)


def run_many(seed: int, indices: list[int], deadline_s: float = DEADLINE_S) -> list[Result]:
    """Run cases in this process, in a private temporary folder."""
    with tempfile.TemporaryDirectory(prefix="onward-fuzz-") as tmp:
        folder = Path(tmp)
        return [run_case(seed, i, folder, deadline_s) for i in indices]


def validate_subprocess(seed: int, index: int, folder: Path, timeout: float = 120.0
                        ) -> tuple[str, str]:
    """Run ``onward validate`` on case ``index``; return (outcome, detail).

    ``accepted`` (exit 0, ``ok``), ``refused`` (exit 2, one ``error:`` message, no
    traceback), ``crash`` (anything else) or ``hang`` (over ``timeout``).
    """
    family, raw = make_case(seed, index)
    (folder / "base.yaml").write_text("extends: toy\nname: base\n", encoding="utf-8")
    path = folder / "case.yaml"
    path.write_bytes(raw)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", "validate",
                               str(path)], capture_output=True, text=True, timeout=timeout,
                              env=env, errors="replace", cwd=folder)
    except subprocess.TimeoutExpired:
        return "hang", f"over {timeout:g} s"
    both = proc.stdout + proc.stderr
    if "Traceback" in both:
        return "crash", both[-500:]
    if proc.returncode == 0 and proc.stdout.startswith("ok"):
        return "accepted", ""
    if proc.returncode == 2 and proc.stderr.startswith("error:") and "Fix:" in proc.stderr:
        return "refused", proc.stderr.splitlines()[0][:300]
    return "crash", f"exit {proc.returncode}: {both[-500:]}"


# --- the campaign --------------------------------------------------------------------------


def _chunk(args: tuple[int, list[int], float]) -> list[Result]:
    return run_many(*args)


def campaign(cases: int, seed: int = 1, workers: int = 1, deadline_s: float = DEADLINE_S,
             progress: bool = False) -> list[Result]:
    """Run cases 0..cases-1, split over ``workers`` processes."""
    idx = list(range(cases))
    if workers <= 1:
        return run_many(seed, idx, deadline_s)
    chunks = [idx[k::workers * 8] for k in range(workers * 8)]
    out: list[Result] = []
    with ProcessPoolExecutor(workers) as ex:
        for res in ex.map(_chunk, [(seed, c, deadline_s) for c in chunks]):
            out.extend(res)
            if progress:
                print(f"  {len(out)}/{cases}", file=sys.stderr, flush=True)
    return sorted(out, key=lambda r: r.index)


def table(results: list[Result]) -> dict[str, dict[str, int]]:
    """Counts by family and outcome."""
    out: dict[str, dict[str, int]] = {f: dict.fromkeys(OUTCOMES, 0) for f in FAMILIES}
    for r in results:
        out[r.family][r.outcome] += 1
    return out


def figure(results: list[Result], path: Path, subprocess_counts: Counter | None = None
           ) -> None:
    """Stacked bars: outcome of every case, by mutation family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = table(results)
    colours = {"accepted": "#4c9f70", "refused": "#4a78b5", "unclear": "#e0a030",
               "crash": "#c0392b", "hang": "#7d3c98"}
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    left = [0] * len(FAMILIES)
    for o in OUTCOMES:
        vals = [counts[f][o] for f in FAMILIES]
        if sum(vals) == 0 and o in ("unclear", "crash", "hang"):
            ax.barh([0], [0], color=colours[o], label=f"{o}: 0")
            continue
        ax.barh(FAMILIES, vals, left=left, color=colours[o],
                label=f"{o}: {sum(vals)}")
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("generated scenario files")
    slowest = max(r.seconds for r in results)
    title = (f"Loader fuzzing: {len(results):,} cases, slowest {slowest:.2f} s of CPU")
    if subprocess_counts:
        title += "\n`onward validate` subprocess sample: " + ", ".join(
            f"{k} {v}" for k, v in sorted(subprocess_counts.items()))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--deadline", type=float, default=DEADLINE_S,
                    help="seconds per case before it counts as a hang")
    ap.add_argument("--subprocess", type=int, default=0,
                    help="also run this many cases (spread over families) through "
                         "`onward validate`")
    ap.add_argument("--figure", type=Path, default=None, help="write a PNG here")
    ap.add_argument("--json", type=Path, default=None, help="write the counts here")
    ap.add_argument("--show", type=int, default=None, help="print case N and its outcome")
    args = ap.parse_args(argv)

    if args.show is not None:
        family, raw = make_case(args.seed, args.show)
        print(f"# case {args.show} ({family}), {len(raw)} bytes")
        sys.stdout.write(raw.decode("utf-8", "replace")[:5000] + "\n")
        r = run_many(args.seed, [args.show], args.deadline)[0]
        print(f"# outcome: {r.outcome} in {r.seconds:.3f} s: {r.detail}")
        return 0

    t0 = time.perf_counter()
    results = campaign(args.cases, args.seed, args.workers, args.deadline, progress=True)
    wall = time.perf_counter() - t0
    counts = table(results)
    total = Counter(r.outcome for r in results)
    width = max(map(len, FAMILIES))
    print(f"{'family':<{width}}  " + "  ".join(f"{o:>8}" for o in OUTCOMES))
    for f in FAMILIES:
        print(f"{f:<{width}}  " + "  ".join(f"{counts[f][o]:>8}" for o in OUTCOMES))
    print(f"{'total':<{width}}  " + "  ".join(f"{total[o]:>8}" for o in OUTCOMES))
    slow = sorted(results, key=lambda r: -r.seconds)[:3]
    print(f"{len(results)} cases in {wall:.1f} s with {args.workers} workers; slowest (CPU): "
          + ", ".join(f"#{r.index} {r.family} {r.seconds:.2f} s" for r in slow))
    bad = [r for r in results if r.outcome in ("unclear", "crash", "hang")]
    if CANARY.exists():
        bad.append(Result(-1, "code / tags", "crash", 0.0, f"{CANARY} was created"))
    for r in bad[:30]:
        print(f"FINDING case {r.index} ({r.family}): {r.outcome}: {r.detail}")

    sub: Counter = Counter()
    if args.subprocess:
        step = max(args.cases // args.subprocess, 1)
        sample = list(range(0, args.cases, step))[: args.subprocess]
        with tempfile.TemporaryDirectory(prefix="onward-fuzz-cli-") as tmp:
            for i in sample:
                outcome, detail = validate_subprocess(args.seed, i, Path(tmp))
                expect = results[i].outcome if i < len(results) else None
                if expect in ("refused", "unclear"):
                    expect = "refused"
                if outcome != expect:
                    bad.append(Result(i, results[i].family, "crash", 0.0,
                                      f"validate said {outcome}, in-process {expect}: {detail}"))
                    print(f"FINDING case {i}: `onward validate` said {outcome}, in-process "
                          f"{expect}: {detail}")
                sub[outcome] += 1
        print("onward validate sample: " + ", ".join(f"{k} {v}" for k, v in sorted(sub.items())))
    if args.figure:
        figure(results, args.figure, sub or None)
        print(f"figure: {args.figure}")
    if args.json:
        args.json.write_text(json.dumps({"cases": len(results), "seconds": wall,
                                         "by_family": counts, "total": dict(total),
                                         "subprocess": dict(sub)}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
