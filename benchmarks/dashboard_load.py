"""Load test of ``onward dashboard``: concurrent browser sessions on loopback; a screenshot.

    python benchmarks/dashboard_load.py                  # 1, 5, 10, 20 sessions -> figure
    python benchmarks/dashboard_load.py --levels 4 --until 2002 --json   # small, fast
    python benchmarks/dashboard_load.py --screenshot docs/img/dashboard.png

Starts the dashboard on a free 127.0.0.1 port (or uses ``--url``), then for each level N
opens N browser sessions at once in headless Chromium (Debian's ``/usr/bin/chromium``,
driven by Playwright; never ``playwright install``). Every session loads the page, presses
Run on the flagship scenario (each with its own seed, so every session costs a
full simulation) and waits for the result. Measured per session: seconds until
the page is ready, and seconds from the click until the numbers show. Counted as errors:
timeouts, JavaScript errors, failed requests, error messages on the page, and any request
to an address other than loopback (all such requests are blocked). Writes the figure
(``--figure``, default ``docs/img/dashboard-load.png``) and prints a summary (``--json``).

The dashboard runs at most one simulation per core at a time and queues the rest (see
``onward.dashboard.results``), so run latency grows with N by design while nothing fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("ONWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
ROOT = Path(__file__).resolve().parents[1]


async def _block_external(page, attempts: list[str]) -> None:
    async def route(r):
        url = r.request.url
        if url.startswith(LOOPBACK):
            await r.continue_()
        else:
            attempts.append(url)
            await r.abort()

    await page.route("**/*", route)


async def one_session(browser, url: str, until: str, timeout_s: float, seed: int
                      ) -> dict[str, Any]:
    """Open a fresh session, run once with its own seed; returns timings and problems.

    Each session asks for a different seed, so none is answered from the dashboard's cache
    of identical runs: every session costs a full simulation.
    """
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    problems: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"requestfailed: {r.url}")
            if r.url.startswith("http://127.0.0.1") else None)
    await _block_external(page, external)
    out: dict[str, Any] = {"ready_s": None, "run_s": None}
    t0 = time.perf_counter()
    try:
        await page.goto(url, timeout=timeout_s * 1000)
        await page.wait_for_selector(".onward-run", timeout=timeout_s * 1000)
        out["ready_s"] = time.perf_counter() - t0
        await page.locator(".onward-seed input").fill(str(seed))
        if until:
            await page.locator(".onward-until input").fill(until)
        t1 = time.perf_counter()
        await page.click(".onward-run")
        await page.wait_for_selector(".onward-total-latest", timeout=timeout_s * 1000)
        out["run_s"] = time.perf_counter() - t1
        for m in await page.locator(".onward-message").all_inner_texts():
            problems.append(f"message: {m[:200]}")
    except Exception as exc:  # a timeout or a crash is an error of this session
        problems.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await ctx.close()
    out["problems"] = problems + [f"external request: {u}" for u in external]
    return out


async def level(url: str, sessions: int, until: str, timeout_s: float) -> dict[str, Any]:
    """``sessions`` sessions at once in one headless Chromium."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        t0 = time.perf_counter()
        results = await asyncio.gather(
            *[one_session(browser, url, until, timeout_s, seed=1000 * sessions + i)
              for i in range(sessions)])
        wall = time.perf_counter() - t0
        await browser.close()
    runs = [r["run_s"] for r in results if r["run_s"] is not None]
    ready = [r["ready_s"] for r in results if r["ready_s"] is not None]
    problems = [p for r in results for p in r["problems"]]
    return {
        "sessions": sessions,
        "completed": len(runs),
        "errors": sum(1 for r in results if r["problems"] or r["run_s"] is None),
        "problems": problems[:20],
        "ready_s": ready,
        "run_s": runs,
        "run_p50_s": statistics.median(runs) if runs else None,
        "run_max_s": max(runs) if runs else None,
        "ready_p50_s": statistics.median(ready) if ready else None,
        "wall_s": wall,
    }


def figure(results: list[dict[str, Any]], path: Path, note: str) -> None:
    """Run latency (click to numbers) and page-ready time per session, by concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    levels = [r["sessions"] for r in results]
    pos = range(len(levels))
    ax.boxplot([r["run_s"] or [float("nan")] for r in results], positions=list(pos),
               widths=0.5, showfliers=True)
    for i, r in zip(pos, results, strict=True):
        ax.scatter([i] * len(r["ready_s"]), r["ready_s"], marker="x", s=14, color="#888",
                   label="page ready" if i == 0 else None, zorder=3)
    ax.set_xticks(list(pos), [f"{r['sessions']}\n{r['completed']} done, {r['errors']} errors"
                              for r in results])
    for tick, r in zip(ax.get_xticklabels(), results, strict=True):
        tick.set_color("#b03030" if r["errors"] else "#2a7a2a")
    ax.set_xlabel("concurrent browser sessions (each presses Run once, own seed)")
    ax.set_ylabel("seconds")
    ax.set_title("onward dashboard under load: click to numbers (boxes), page ready (x)",
                 fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    fig.text(0.01, 0.01, note, fontsize=6.5, color="#555")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


async def screenshot(url: str, path: Path) -> None:
    """Run the flagship once, keep it as A, raise discrimination, run again; save the page."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
        external: list[str] = []
        await _block_external(page, external)
        await page.goto(url)
        await page.click(".onward-run", timeout=60_000)
        await page.wait_for_selector(".onward-total-latest", timeout=120_000)
        await page.screenshot(path=str(path), full_page=False)
        await browser.close()
    if external:
        raise SystemExit(f"the page asked for external resources: {external[:5]}")


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _note(a: argparse.Namespace) -> str:
    until = f" --until {a.until}" if a.until else ""
    span = f"to {a.until}" if a.until else "1999-2025"
    return (f"{os.cpu_count()} CPUs (shared), nk-onward {span}"
            f", client timeout {a.timeout:g} s, {time.strftime('%Y-%m-%d')}:\n`python benchmarks/"
            f"dashboard_load.py --levels {a.levels}{until} --timeout {a.timeout:g}`")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--levels", default="1,5,10,20", help="comma-separated session counts")
    ap.add_argument("--until", default="", help="last simulated year (empty: whole horizon)")
    ap.add_argument("--url", help="use a running dashboard instead of starting one")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per session")
    ap.add_argument("--figure", type=Path, default=ROOT / "docs/img/dashboard-load.png")
    ap.add_argument("--no-figure", action="store_true")
    ap.add_argument("--screenshot", type=Path, help="only save a screenshot to this file")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--replot", type=Path, help="only redraw the figure from saved --json output")
    a = ap.parse_args(argv)
    if a.replot:
        figure(json.loads(a.replot.read_text()), a.figure, _note(a))
        return 0
    from onward.dashboard.server import free_port, spawn, stop

    with tempfile.TemporaryDirectory() as tmp:
        proc = None
        url = a.url
        if url is None:
            port = free_port()
            proc = spawn(port, store=Path(tmp) / "store.duckdb", scenario_dir=Path(tmp),
                         cwd=Path(tmp), log=Path(tmp) / "server.log")
            url = f"http://127.0.0.1:{port}/"
        try:
            if a.screenshot:
                asyncio.run(screenshot(url, a.screenshot))
                print(a.screenshot)
                return 0
            results = []
            for n in a.levels.split(","):
                results.append(asyncio.run(level(url, int(n), a.until, a.timeout)))
                results[-1]["server_rss_mb"] = _rss_mb(proc.pid) if proc else None
        finally:
            if proc is not None:
                stop(proc)
    if not a.no_figure:
        figure(results, a.figure, _note(a))
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            p50 = f"{r['run_p50_s']:.1f}" if r["run_p50_s"] is not None else "-"
            mx = f"{r['run_max_s']:.1f}" if r["run_max_s"] is not None else "-"
            rss = f", server {r['server_rss_mb']:.0f} MB" if r.get("server_rss_mb") else ""
            print(f"{r['sessions']:>3} sessions: {r['completed']} completed, {r['errors']} "
                  f"errors, run p50 {p50} s, max {mx} s, wall {r['wall_s']:.1f} s{rss}")
            for p in r["problems"][:5]:
                print("    ", p)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
