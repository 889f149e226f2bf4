"""The dashboard: server-side checks, store access, and the page driven in headless Chromium.

The browser tests start ``onward dashboard`` on a free loopback port in a child process
and drive it with Playwright in Debian's Chromium (``/usr/bin/chromium``; never
``playwright install``). Every request to an address other than loopback is blocked and
fails the test, so the page is shown to work with no internet. A missing Chromium fails
these tests rather than skipping them: ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import onward
from onward.dashboard import inputs, results
from onward.dashboard.figures import flows_figure
from onward.dashboard.inputs import InputError, Setting, check_setting
from onward.dashboard.server import (
    ServerError,
    check_options,
    environment,
    free_port,
    is_loopback,
    spawn,
    stop,
)
from onward.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ONWARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
SLIDER = ".onward-slider-parameters-integration-discrimination_rate"
WAIT_MS = 150_000  # a run on a loaded 2-core machine: engine plus figure


# ----------------------------------------------------------------------------- no browser


@pytest.fixture(scope="module")
def nk():
    return load_scenario("nk-onward")


@pytest.mark.parametrize("setting, expected", [
    (Setting(seed="abc"), "Seed: 'abc' is not a whole number"),
    (Setting(seed="-1"), "Seed: -1 is outside"),
    (Setting(until="1800"), "Last year: 1800 is outside 1999..2025"),
    (Setting(values={"parameters.integration.discrimination_rate": "lots"}), "not a number"),
    (Setting(values={"parameters.integration.discrimination_rate": float("inf")}),
     "not a finite number"),
    (Setting(values={"parameters.integration.discrimination_rate": 7}), "outside [0.0, 1.0]"),
    (Setting(values={"parameters.aspiration.intercept": 0}), "is not a control"),
    (Setting(values={"parameters.integration.discrimination_rate": [1]}), "expected text"),
    (Setting(overrides="destinations.XYZ.detection = 0.5"), "destination 'XYZ' is not in"),
    (Setting(overrides="just words"), "has no '='"),
    (Setting(overrides="parameters.after_decision.refused_return = 0.95"),
     "refused_return + refused_remigrate"),
    (Setting(overrides="x = 1\n" * 100), "at most 40"),
    (Setting(seed="1" * 5000), "at most 4000"),
    (Setting(event="gbr-designation-2010", event_date="2010-13"), "Policy date:"),
    (Setting(event="gbr-designation-2010", event_date="2031"), "outside the horizon"),
    (Setting(event="no-such-event", event_date="2005"), "is not an event"),
    # a global parameter without its section, as `onward validate --list` printed it (it was
    # an IndexError)
    (Setting(overrides="network.mean_degree = 5"), "Fix: write parameters.network.mean_degree"),
    (Setting(overrides="= 5"), "'' is not a parameter"),
    (Setting(overrides="events.no-such.lead_months = 3"), "is not an event id"),
])
def test_bad_values_become_messages(nk, setting, expected):
    with pytest.raises(InputError) as info:
        check_setting(nk, setting)
    assert any(expected in m for m in info.value.messages), info.value.messages


def test_good_setting_moves_values_and_event(nk):
    checked = check_setting(nk, Setting(
        values={"parameters.integration.discrimination_rate": 0.3,
                "destinations.GBR.recognition_rate": "0.9"},
        seed=" 4 ", until="2010", event="gbr-designation-2010", event_date="2005-06",
        overrides="destinations.GBR.detection = 0.2  # a comment\n"))
    sc = checked.scenario
    assert sc.param("integration.discrimination_rate") == 0.3
    assert sc.destinations["GBR"].params["recognition_rate"].value == 0.9
    assert sc.destinations["GBR"].params["detection"].value == 0.2
    ev = next(e for e in sc.events if e.id == "gbr-designation-2010")
    assert str(ev.date) == "2005-06"
    assert (checked.seed, checked.until) == (4, 2010)
    assert nk.param("integration.discrimination_rate") == 0.1  # the original is untouched


def test_opening_a_stored_run_brings_its_seed_and_overrides(tmp_path):
    """"Open run-XXXX's scenario" took the run's file only: a run of `onward run
    --posterior` (its values are overrides, an event's lead among them) ran again as the
    plain scenario. The run's seed and overrides now fill the fields, and running them
    gives the stored run's numbers."""
    store = tmp_path / "s.duckdb"
    ov = {"parameters.integration.glass_ceiling": 0.55,
          "events.gbr-designation-2010.lead_months": 7.0}
    onward.run("nk-onward", seed=4, store=store, overrides=ov)
    run_id = onward.store.Store(store).list_runs().run_id.iloc[0]
    seed, text = results.run_setting(run_id, store)
    assert seed == "4" and "glass_ceiling = 0.55" in text and "lead_months = 7.0" in text
    sc, _ = results._load_run_scenario(run_id, store)
    checked = check_setting(sc, Setting(seed=seed, overrides=text))
    want = onward.store.Store(store).read_table("applications", run_id)
    got = onward.simulate(checked.scenario, seed=checked.seed).tables()["applications"]
    assert got.persons.sum() == want.persons.sum() > 0
    plain = onward.simulate("nk-onward", seed=4).tables()["applications"]
    assert plain.persons.sum() != want.persons.sum()  # (the test can tell them apart)


def test_sliders_cover_the_main_parameters(nk):
    targets = [s.target for s in inputs.sliders(nk)]
    assert targets[:4] == [t for t, _ in inputs.MAIN_PARAMETERS]
    assert "destinations.GBR.recognition_rate" in targets
    for s in inputs.sliders(nk):
        assert s.low <= s.default <= s.high and s.step > 0


def test_run_checked_summarises_against_observed(nk):
    out = results.run_checked(check_setting(nk, Setting(until="2003")))
    assert out.ok, out.messages
    assert out.chart.startswith("data:image/png;base64,")
    again = results.run_checked(check_setting(nk, Setting(until="2003")))
    assert again.wall_seconds == 0.0 and again.summary.equals(out.summary)  # from the cache
    assert {"simulated", "observed", "lower", "upper", "masked"} <= set(out.summary.columns)
    assert set(out.totals.destination) == set(nk.destination_codes)
    fig = flows_figure(out.summary, out.description)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == len(nk.destination_codes)


def test_saved_scenarios_are_offered_and_nothing_else_is_read(tmp_path):
    (tmp_path / "mine.yaml").write_text("extends: toy\nname: mine\n")
    (tmp_path / "broken.yaml").write_text("extends: toy\nseed: [\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    choices = results.scenario_choices(tmp_path)
    assert "builtin:nk-onward" in choices and "file:mine.yaml" in choices
    assert "file:notes.txt" not in choices
    sc, msg = results.load_choice("file:mine.yaml", tmp_path)
    assert msg == "" and sc is not None and sc.name == "mine"
    sc, msg = results.load_choice("file:broken.yaml", tmp_path)
    assert sc is None and "does not load" in msg
    for key in ("file:../../etc/passwd", "file:notes.txt", "/etc/passwd", "run:../x"):
        sc, msg = results.load_choice(key, tmp_path)
        assert sc is None and msg


def test_server_options_are_checked():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    with pytest.raises(ServerError, match="--port 0"):
        check_options("127.0.0.1", 0)
    with pytest.raises(ServerError, match="not a folder"):
        check_options("127.0.0.1", free_port(), Path("/no/such/folder"))
    # an address this machine does not have was blamed on the port
    with pytest.raises(ServerError, match=r"--host 10\.255\.255\.1: not an address of this"):
        check_options("10.255.255.1", free_port())
    env = environment(None, None)
    assert env["SOLARA_ASSETS_CDN"].startswith("http://127.0.0.1:")  # never the internet
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "false"
    assert env["SOLARA_MODE"] == "production"


def test_cli_refuses_a_bad_port(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", "dashboard",
                           "--port", "70000"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "--port 70000" in proc.stderr


def test_store_reads_never_lock_out_a_writer(tmp_path):
    """Reads in a loop (as a busy dashboard would) while another process writes runs."""
    store = tmp_path / "s.duckdb"
    writer = (
        "import pandas as pd, sys\n"
        "from onward.store import Store\n"
        "s = Store(sys.argv[1], timeout=20)\n"
        "for i in range(8):\n"
        "    s.write_run({'scenario': 'w', 'seed': i}, {'t': pd.DataFrame({'x': range(50)})})\n"
    )
    stop_reading = threading.Event()
    reads: list[str] = []

    def read_loop() -> None:
        while not stop_reading.is_set():
            df, msg = results.stored_runs(store)
            reads.append("ok" if df is not None else msg)

    t = threading.Thread(target=read_loop)
    t.start()
    try:
        proc = subprocess.run([sys.executable, "-c", writer, str(store)], capture_output=True,
                              text=True, timeout=120)
    finally:
        stop_reading.set()
        t.join()
    assert proc.returncode == 0, proc.stderr
    df, msg = results.stored_runs(store)
    assert msg == "" and len(df) == 8
    assert reads and all(r == "ok" or "in use" in r for r in reads)
    # an experiment's single runs are left out, and seeds are ids, not numbers to format
    import pandas as pd

    from onward.store import Store

    Store(store).write_run({"kind": "ensemble-job", "scenario": "w", "seed": 2858679583},
                           {"t": pd.DataFrame({"x": [1]})})
    Store(store).write_run({"kind": "run", "scenario": "w", "seed": 2858679583},
                           {"t": pd.DataFrame({"x": [1]})})
    df, _ = results.stored_runs(store)
    assert len(df) == 9 and "ensemble-job" not in set(df.kind) and df.seed[0] == "2858679583"
    # only runs the page can show are listed (an experiment's summary could be picked and
    # then had "no simulated-vs-observed table"), a posterior's run says so, and the time
    # is to the second
    Store(store).write_run({"kind": "ensemble", "scenario": "w", "seed": 1},
                           {"t": pd.DataFrame({"x": [1]})})
    Store(store).write_run({"kind": "run", "scenario": "w", "seed": 1, "posterior": "fit1"},
                           {"t": pd.DataFrame({"x": [1]})})
    df, _ = results.stored_runs(store)
    assert set(df.kind) == {"run"} and len(df) == 10
    assert df.posterior[0] == "fit1" and df.posterior[1] == ""
    assert len(df.created_at[0]) == len("2026-11-27 14:34:27")


# ----------------------------------------------------------------------------- browser


def _chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(apt-get install chromium); .ci/run installs it")
    return CHROMIUM


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state = line.split()[1:4]
            addr, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(addr)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard")
    store = tmp / "store.duckdb"
    onward.run("toy", seed=1, store=store)  # one stored run to browse
    port = free_port()
    proc = spawn(port, store=store, scenario_dir=tmp, cwd=tmp, log=tmp / "server.log")
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "port": port, "proc": proc, "tmp": tmp}
    finally:
        workers = _children(proc.pid)
        stop(proc)
    deadline = time.monotonic() + 15
    while workers and time.monotonic() < deadline:
        workers = {p for p in workers if Path(f"/proc/{p}").exists()}
        time.sleep(0.3)
    assert not workers, f"worker processes outlived the server: {workers}"


def _children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    path = _chromium_path()
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data-dir
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=path, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def page(browser, server):
    """A new tab (its own dashboard session) that may not leave loopback."""
    pg = browser.new_page()
    external: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith(LOOPBACK):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    def response(r):
        if r.status >= 400:
            errors.append(f"HTTP {r.status} for {r.url}")

    pg.route("**/*", route)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("response", response)
    pg.goto(server["url"])
    pg.wait_for_selector(".onward-run", timeout=60_000)
    yield pg
    pg.close()
    assert external == [], f"the page tried to reach the internet: {external[:5]}"
    assert errors == [], f"JavaScript errors: {errors[:5]}"
    assert server["proc"].poll() is None, "the server died"
    log = (server["tmp"] / "server.log").read_text(errors="replace")
    # an asset missing from solara-assets makes the server try its (disabled) CDN
    assert "Could not load URL" not in log, log[-2000:]
    assert "Traceback" not in log, log[-3000:]


def _click_run(pg) -> None:
    """Press Run once it is enabled again (for a moment after a run it is still disabled,
    and a click then did nothing), after the fields' last keystrokes have reached the
    server."""
    pg.wait_for_selector(".onward-run:not([disabled])", timeout=WAIT_MS)
    pg.wait_for_timeout(300)
    pg.click(".onward-run")


def _run_and_wait(pg, description_part: str) -> str:
    _click_run(pg)
    pg.wait_for_selector(f".onward-description-latest:has-text('{description_part}')",
                         timeout=WAIT_MS)
    return pg.inner_text(".onward-total-latest")


def test_server_listens_on_loopback_only(server):
    addrs = _listening_addresses(server["port"])
    assert addrs, "no listening socket found"
    # 0100007F is 127.0.0.1 in /proc's byte order; 0.0.0.0 would be 00000000
    assert addrs == {"0100007F"}, addrs


@pytest.mark.parametrize("headers, status", [
    ({}, 200),
    ({"Host": "localhost"}, 200),
    ({"Host": "attacker.example"}, 403),  # DNS rebinding: a foreign name for 127.0.0.1
    ({"Origin": "http://attacker.example"}, 403),  # a foreign page calling in
])
def test_only_loopback_names_are_served(server, headers, status):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(server["url"], headers=headers)
    try:
        with opener.open(req, timeout=30) as r:
            got = r.status
    except urllib.error.HTTPError as exc:
        got = exc.code
    assert got == status


def test_the_served_page_is_titled_before_its_script_runs(server):
    """The HTML as served (what a tab, a bookmark or a search shows before the app's script
    sets its title) names onward, not Solara."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(server["url"], timeout=30) as r:
        html = r.read().decode()
    assert "<title>onward dashboard</title>" in html, html[:400]


def test_slider_run_changes_numbers_and_chart(page):
    page.locator(".onward-until input").fill("2010")  # a shorter run keeps the test quick
    before = _run_and_wait(page, "to 2010")
    chart_before = page.get_attribute(".onward-flows-latest img", "src")
    assert before.replace(",", "").isdigit() and chart_before
    page.click(".onward-pin")  # keep as A

    thumb = page.locator(f"{SLIDER} [role=slider]")
    thumb.focus()
    thumb.press("End")  # the top of the slider's range
    page.wait_for_selector(f"{SLIDER}:has-text('0.4')", timeout=30_000)
    after = _run_and_wait(page, "discrimination_rate 0.4")
    chart_after = page.get_attribute(".onward-flows-latest img", "src")
    assert after != before
    assert chart_after and chart_after != chart_before
    assert page.locator(".onward-message").count() == 0

    page.get_by_role("tab", name="Compare").click()
    page.wait_for_selector(".onward-flows-compare-a img", timeout=60_000)
    page.wait_for_selector(".onward-flows-compare-b img", timeout=60_000)
    assert page.locator(".onward-diff").count() == 1
    assert page.locator(".onward-two-scenarios").count() == 0  # two settings of one


def test_a_comparison_of_two_scenarios_says_so(page):
    """A kept from nk-onward and a toy run as B were compared without a word, and B's
    headline read "GBR: simulated first claims 0" (the toy has no GBR)."""
    page.locator(".onward-until input").fill("2001")
    _run_and_wait(page, "nk-onward")
    page.click(".onward-pin")
    page.locator(".onward-scenario .v-select__selections").click()
    page.get_by_role("option", name="toy (built-in)").click()
    page.wait_for_selector("text=Recognition rate: Carpania", timeout=60_000)
    page.locator(".onward-until input").fill("2001")
    _run_and_wait(page, "toy")
    page.get_by_role("tab", name="Compare").click()
    page.wait_for_selector(".onward-two-scenarios", timeout=60_000)
    text = page.inner_text(".onward-compare")
    assert "GBR: simulated first claims" in text  # A's own headline
    assert "CRP: simulated first claims" in text  # B's own, not "GBR ... 0"


def test_bad_typed_values_show_messages_and_the_page_carries_on(page, server):
    page.locator(".onward-seed input").fill("abc")
    page.locator(".onward-overrides textarea").fill(
        "parameters.integration.discrimination_rate = 7\nnonsense")
    _click_run(page)
    page.wait_for_selector(".onward-message", timeout=60_000)
    text = " ".join(page.locator(".onward-message").all_inner_texts())
    assert "Seed: 'abc' is not a whole number" in text
    assert "has no '='" in text
    page.locator(".onward-overrides textarea").fill(
        "parameters.integration.discrimination_rate = 7")
    page.locator(".onward-seed input").fill("2")
    _click_run(page)
    page.wait_for_selector(".onward-message:has-text('outside')", timeout=60_000)
    # the session still works: fix the values and run
    page.locator(".onward-overrides textarea").fill("")
    page.locator(".onward-until input").fill("2003")
    total = _run_and_wait(page, "seed 2")
    assert total.replace(",", "").isdigit()
    assert page.locator(".onward-message").count() == 0
    # a bad value after a good run: the message replaces that result (it stayed below the
    # message, described as the last setting, and could be kept as A)
    page.locator(".onward-seed input").fill("abc")
    _click_run(page)
    page.wait_for_selector(".onward-message", timeout=60_000)
    page.wait_for_selector(".onward-total-latest", state="detached", timeout=30_000)
    assert server["proc"].poll() is None


def test_stored_runs_can_be_browsed(page):
    page.get_by_role("tab", name="Stored runs").click()
    page.wait_for_selector(".onward-runs:has-text('run-0001')", timeout=60_000)
    page.locator(".onward-run-select .v-select__selections").click()
    page.get_by_role("option", name="run-0001").click()
    page.wait_for_selector(".onward-flows-stored img", timeout=60_000)
    # the stored run's scenario (toy) can be opened in the controls and run again
    page.click(".onward-open-run")
    page.wait_for_selector("text=Recognition rate: Carpania", timeout=60_000)
    page.get_by_role("tab", name="Flows").click()
    # with its seed (and overrides: none here), as the run was stored (waited for: on a
    # loaded machine the field was read before the server's update reached it)
    from playwright.sync_api import expect

    expect(page.locator(".onward-seed input")).to_have_value("1", timeout=60_000)
    page.locator(".onward-until input").fill("2004")
    _run_and_wait(page, "toy · seed 1 · to 2004")


def test_a_stored_comparison_can_be_shown(page, server):
    """An analyst who ran `onward compare` picks it under Stored runs and sees its
    scenarios side by side (written after the page opened: Refresh lists it)."""
    from onward.experiments.ensemble import compare

    short, checks = _short_pair()
    exp = compare(short, [checks], n=2, store=server["tmp"] / "store.duckdb",
                  workers=1).experiment_id
    page.get_by_role("tab", name="Stored runs").click()
    page.click(".onward-refresh")
    page.wait_for_selector(f".onward-experiments:has-text('{exp}')", timeout=60_000)
    page.locator(".onward-experiment-select .v-select__selections").click()
    page.get_by_role("option", name=exp).click()
    page.wait_for_selector(".onward-exp-chart-applications img", timeout=WAIT_MS)
    claims = page.inner_text(".onward-exp-claims")
    assert "toy: simulated" in claims and "toy-checks: simulated / observed" in claims
    assert "crp-checks-2003 added" in page.inner_text(".onward-experiment")
    assert page.locator(".onward-exp-effects").count() == 1


@pytest.mark.slow
def test_small_load_holds_without_errors(server):
    """A bounded load test: 4 sessions at once on loopback, each runs once, no errors."""
    _chromium_path()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dashboard_load.py"), "--url", server["url"],
         "--levels", "4", "--until", "2002", "--timeout", "150", "--no-figure", "--json"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ONWARD_CHROMIUM=CHROMIUM))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (res,) = json.loads(proc.stdout)
    assert res["errors"] == 0 and res["completed"] == 4, res["problems"]
    assert time.perf_counter() - t0 < 300


def test_a_port_in_time_wait_is_free_to_serve_on():
    """Restarting the dashboard at once on its port was refused ("Address already in use")
    while the last connections sat in TIME-WAIT; uvicorn itself binds with SO_REUSEADDR."""
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    conn.close()  # the server side closes first: its end waits in TIME-WAIT
    client.close()
    server.close()
    check_options("127.0.0.1", port)  # no ServerError


def test_the_totals_name_the_scenarios_own_observed_source():
    """The toy's synthetic counts were labelled "observed (UNHCR)" on the page."""
    from onward import viz

    toy = load_scenario("toy")
    out = results.run_checked(check_setting(toy, Setting(until="2002")))
    assert out.ok and out.observed_source == viz.observed_label(toy)
    assert "UNHCR" not in out.observed_source


def test_a_nearly_flat_series_is_drawn_inside_its_panel():
    """background_claims = 1e6 gave yearly counts 1,000,040-1,000,052: the panel's top was
    1,000,052.6 and the line sat on the frame, so the panel looked empty; after a run the
    title (the run's description) lost the unit."""
    import pandas as pd

    flows = pd.DataFrame({"year": [2000, 2001, 2002], "destination": "GBR",
                          "simulated": [1_000_040, 1_000_052, 1_000_045]})
    fig = flows_figure(flows, "nk-onward · seed 1")
    top = fig.axes[0].get_ylim()[1]
    assert top >= 1.05 * 1_000_052
    assert "persons" in fig._suptitle.get_text()


def _stub_server(pages: dict[str, tuple[int, str]]):
    """A loopback HTTP server answering ``pages`` (path -> (status, body)), in a thread."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            status, body = pages.get(self.path, (404, "no"))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def test_a_dashboard_that_cannot_work_here_says_so(server):
    """In a venv made with --system-site-packages every page answered 500 (or stayed blank
    for want of its scripts) while the console said it was serving. The server now checks
    its own page once it is up and stops with the reason."""
    from onward.dashboard.server import _check_when_up, self_check

    assert self_check(server["url"]) is None  # the real one works
    broken, url = _stub_server({"/": (500, "KeyError: 'load_extensions'")})
    try:
        assert "answers HTTP 500" in self_check(url)
    finally:
        broken.shutdown()
    blank, url = _stub_server({"/": (200, '<script src="/_solara/cdn/app.min.js"></script>')})
    try:
        assert "/_solara/cdn/app.min.js answers HTTP 404" in self_check(url)

        class Uvicorn:  # what _check_when_up reads and sets of uvicorn's Server
            started, should_exit = True, False

        failed: list[str] = []
        fake = Uvicorn()
        _check_when_up(url, failed, fake)
        assert fake.should_exit and "Fix: install onward into this environment" in failed[0]
    finally:
        blank.shutdown()


def test_a_long_event_label_does_not_widen_the_side_panel(page):
    """Picking "2004-10-18: North Korean Human Rights Act: ..." widened the side panel from
    400 to 523 px, over the tabs and the results."""
    before = page.locator(".v-navigation-drawer").bounding_box()["width"]
    page.locator(".onward-event .v-select__selections").click()
    page.get_by_role("option").first.wait_for(timeout=30_000)  # the menu opens a tick later
    labels = page.get_by_role("option").all_inner_texts()
    page.get_by_role("option", name=max(labels, key=len)).click()
    page.wait_for_selector(".onward-event-date")
    assert page.locator(".v-navigation-drawer").bounding_box()["width"] <= before + 1


def test_reset_clears_every_input_and_keeps_the_result(page):
    """Reset kept the seed, the last year and the overrides, and threw away the result on
    screen; it now clears every input and leaves the result to compare against."""
    page.locator(".onward-seed input").fill("5")
    page.locator(".onward-until input").fill("2002")
    page.locator(".onward-overrides textarea").fill("destinations.GBR.detection = 0.3")
    _run_and_wait(page, "seed 5")
    page.click(".onward-reset")
    # (the fields update one round trip after the click, each in its own time)
    page.wait_for_function("['.onward-seed input', '.onward-until input', "
                           "'.onward-overrides textarea'].every("
                           "s => document.querySelector(s).value === '')", timeout=30_000)
    assert page.locator(".onward-total-latest").count() == 1


def test_a_long_run_description_is_wrapped_inside_the_chart():
    """A run that changes many values had a one-line title cut at both ends of the chart."""
    import pandas as pd

    rows = [(y, d, 10.0) for y in (2000, 2001) for d in ("GBR", "CAN", "DEU", "NLD")]
    flows = pd.DataFrame(rows, columns=["year", "destination", "simulated"])
    title = "toy · seed 1599 · " + " · ".join(
        f"parameters.integration.w_frustration_{i} 0.{i}" for i in range(12))
    fig = flows_figure(flows, title)
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert fig._suptitle.get_text().count("\n") >= 3
    top_panel = max(ax.get_window_extent().y1 for ax in fig.axes if ax.get_visible())
    assert box.y0 > top_panel  # above the panels, not over them


def test_a_slider_that_the_overrides_set_says_so(page):
    """After opening a posterior run, a slider showed the scenario's 0.8 while the overrides
    field (which wins) set 0.608, and nothing said so."""
    page.locator(".onward-overrides textarea").fill(
        "parameters.integration.discrimination_rate = 0.05")
    page.wait_for_selector(".onward-shadowed", timeout=30_000)
    assert "Discrimination" in page.inner_text(".onward-shadowed")
    page.locator(".onward-overrides textarea").fill("destinations.GBR.detection = 0.3")
    page.wait_for_selector(".onward-shadowed", state="detached", timeout=30_000)


def _outcome(rows, scenario="nk-onward"):
    """An :class:`results.Outcome` of a made-up summary: rows of (year, destination,
    simulated, observed, lower, upper)."""
    import pandas as pd

    summary = pd.DataFrame(rows, columns=["year", "destination", "simulated", "observed",
                                          "lower", "upper"])
    return results.Outcome(True, [], scenario, summary, results._totals(summary),
                           scenario=scenario)


def test_a_comparison_over_different_years_shows_no_difference():
    """A run to 2005 kept as A and a whole-horizon run as B showed GBR "87 / 1,172 / B - A
    1,085" without a word and without years in the headers."""
    a = _outcome([(2000, "GBR", 40, None, None, None), (2005, "GBR", 47, None, None, None)])
    b = _outcome([(2000, "GBR", 40, None, None, None), (2020, "GBR", 1132, None, None, None)])
    table, problems = results.compare_totals(a, b)
    assert "B - A" not in table.columns
    assert list(table.columns) == ["destination", "simulated A (2000-2005)",
                                   "simulated B (2000-2020)"]
    assert len(problems) == 1 and "different periods" in problems[0]
    assert "2005" in problems[0] and "Fix:" in problems[0]
    same, problems = results.compare_totals(a, a)
    assert not problems and same["B - A"].tolist() == [0]


def test_a_variant_of_a_scenario_is_compared_without_the_two_scenarios_warning(nk, tmp_path):
    """A kept from nk-onward and B from a saved variant that `extends: nk-onward` (an event
    added) were said to be "two scenarios ... B - A mixes their destinations and data",
    which is false for a variant and steered users off the policy comparison."""
    import dataclasses

    (tmp_path / "v.yaml").write_text(
        "extends: nk-onward\nname: can-checks-2008\nevents:\n"
        "  - {id: can-checks-2008, date: 2008-01, target: destinations.CAN.recognition_rate,"
        " op: scale, value: 0.5}\n")
    variant = load_scenario(str(tmp_path / "v.yaml"))
    rows = [(2000, "GBR", 40, None, None, None)]
    a = dataclasses.replace(_outcome(rows), run=nk)
    b = dataclasses.replace(_outcome(rows, "can-checks-2008"), run=variant)
    warning, note = results.compare_scenarios(a, b)
    assert warning == ""
    assert "event can-checks-2008 added" in note and "same destinations" in note
    # two scenarios that do differ in destinations and data are still warned of
    toy = load_scenario("toy")
    c = dataclasses.replace(_outcome(rows, "toy"), run=toy)
    warning, note = results.compare_scenarios(a, c)
    assert "destinations" in warning and "Fix:" in warning and note == ""
    assert results.compare_scenarios(a, a) == ("", "")


def test_observed_totals_with_masked_counts_show_ranges():
    """The Flows tab read USA 54 where `onward run` gives 30-54: UNHCR prints a count of
    1-5 as 5, and the page summed the 5s as exact."""
    a = _outcome([(2000, "USA", 40, 25, 25, 25), (2001, "USA", 12, 5, 1, 5),
                  (2002, "USA", 9, None, None, None), (2000, "GBR", 500, 600, 600, 600)])
    shown = results.totals_shown(a.totals).set_index("destination")
    assert shown.loc["USA", "observed"] == "26-30"
    assert shown.loc["USA", "simulated / observed"] == "1.73-2.00"
    assert shown.loc["USA", "simulated (all years)"] == 61
    assert shown.loc["USA", "simulated (observed years)"] == 52
    assert shown.loc["GBR", "observed"] == "600"


def test_a_stored_runs_masked_counts_are_drawn_as_intervals():
    """A stored run's table has lower and upper but no masked column: its masked counts were
    drawn as plain dots at 5, the Flows tab's as 1-5 bars (with a dot at 5)."""
    import pandas as pd

    stored = pd.DataFrame({"year": [2000, 2001], "destination": "USA",
                           "simulated": [20.0, 8.0], "observed": [25.0, 5.0],
                           "lower": [25.0, 1.0], "upper": [25.0, 5.0]})
    for flows in (stored, stored.assign(masked=[False, True])):
        ax = flows_figure(flows).axes[0]
        dots = [ln for ln in ax.get_lines() if ln.get_label() == "observed"]
        assert list(dots[0].get_xdata()) == [2000]  # no dot at the masked 5
        bars = [c for c in ax.collections if c.get_label() == "observed 1-5 (masked)"]
        assert len(bars) == 1 and bars[0].get_segments()[0].tolist() == [[2001, 1], [2001, 5]]


def test_a_policy_date_outside_the_horizon_gets_a_fix_for_the_page(nk):
    """The fix said to widen the horizon or add `- {id: ..., remove: true}` under events:
    YAML, which the dashboard has no place for."""
    with pytest.raises(InputError) as err:
        check_setting(nk, Setting(event="gbr-designation-2010", event_date="2035"))
    (message,) = err.value.messages
    assert message.startswith("Policy date: 2035 is outside the horizon 1999-01..2025-12.")
    assert "from 1999-01 to 2025-12" in message and inputs.NO_EVENT in message
    assert "remove: true" not in message and "widen" not in message


def test_stored_runs_lists_the_experiments_too(tmp_path):
    """Stored runs listed single runs only, though the README says it browses the store:
    an experiment (compare, sensitivity, destinations, ensemble) was nowhere on the page."""
    import pandas as pd

    from onward.store import Store

    store = tmp_path / "s.duckdb"
    st = Store(store)
    t = {"t": pd.DataFrame({"x": [1]})}
    st.write_run({"kind": "compare", "experiment_id": "compare-abc", "scenario": "nk-onward"}, t)
    st.write_run({"kind": "compare-job", "experiment_id": "compare-abc",
                  "scenario": "nk-onward"}, t)
    st.write_run({"kind": "sensitivity", "experiment_id": "sensitivity-def",
                  "scenario": "toy"}, t)
    st.write_run({"kind": "run", "scenario": "toy"}, t)
    table, message = results.stored_experiments(store)
    assert message == ""
    assert table[["experiment", "kind"]].values.tolist() == [
        ["sensitivity-def", "sensitivity"], ["compare-abc", "compare"]]  # newest first
    runs, _ = results.stored_runs(store)
    assert runs.run_id.tolist() == ["run-0004"]


# ----------------------------------------------------------------------------- experiments

#: a policy variant of the short toy scenario (cli_helper.SHORT): CRP recognises half as
#: many from 2003
CHECKS_2003 = ("  - {id: crp-checks-2003, date: 2003-01, op: scale, value: 0.5,\n"
               "     target: destinations.CRP.recognition_rate}\n")


def _short_pair():
    from cli_helper import SHORT

    from onward.scenario import load_text

    return (load_text(SHORT, "short.yaml"),
            load_text(SHORT.replace("events:\n", "events:\n" + CHECKS_2003)
                      + "name: toy-checks\n", "checks.yaml"))


@pytest.fixture(scope="module")
def experiments(tmp_path_factory):
    """A store with a small experiment of each kind, on a shortened toy scenario."""
    from onward.experiments.destinations import destinations
    from onward.experiments.ensemble import compare, ensemble
    from onward.experiments.sensitivity import sensitivity

    store = tmp_path_factory.mktemp("experiments") / "s.duckdb"
    short, checks = _short_pair()
    return {"store": store,
            "ensemble": ensemble(short, n=3, seed=1, store=store, workers=1),
            "compare": compare(short, [checks], n=3, seed=1, store=store, workers=1),
            "sensitivity": sensitivity(short, method="morris", n=2, store=store, workers=1),
            "destinations": destinations(short, n=2, store=store, workers=1)}


def _parts(view) -> dict:
    return {p.name: p for p in view.parts}


def test_a_stored_experiment_shows_what_it_holds(experiments):
    """The page listed the store's experiments as a table and said "`onward report`
    writes the report of one": none could be opened there. Each kind now shows its bands,
    scenarios, indices or destinations, read by the report's readers."""
    import duckdb

    from onward.analysis.numbers import count_text
    from onward.analysis.runs import claim_total_text, claim_totals, observed_first_claims
    from onward.experiments.ensemble import effect_text

    store = experiments["store"]
    ens = experiments["ensemble"]
    # through the worker pool, as the page reads it
    view, message = results.stored_experiment(store, ens.experiment_id)
    assert message == "" and view.kind == "ensemble"
    duckdb.connect(str(store)).close()  # nothing holds the file: a writer may open it
    parts = _parts(view)
    assert parts["chart-applications"].chart.startswith("data:image/png;base64,")
    bands = parts["bands-applications"].table
    b = ens.bands[(ens.bands.output == "applications") & (ens.bands.year == 2000)]
    crp = b[b.destination == "CRP"].iloc[0]  # as `onward ensemble` prints it
    assert bands.loc[0, "CRP"] == f"{crp['median']:.0f} [{crp.q05:.0f}-{crp.q95:.0f}]"
    assert list(bands.columns) == ["year", "CRP", "DLT", "ELB"]
    assert "3" in view.facts.iloc[:, 1].tolist()  # replicates

    cmp = experiments["compare"]
    view, message = results.experiment_view(store, cmp.experiment_id)
    assert message == "" and view.kind == "compare"
    parts = _parts(view)
    assert "crp-checks-2003 added" in parts["changes"].text
    assert parts["chart-applications"].chart.startswith("data:image/png;base64,")
    claims = parts["claims"].table.set_index("destination")
    # like for like, as `onward run` sums them: each replicate's total over the years with
    # a data row, then their median
    short, _ = _short_pair()
    obs = observed_first_claims(short)
    app = cmp.values[cmp.values.output == "applications"]
    per = [claim_totals(g[["year", "destination", "value"]].rename(
        columns={"value": "simulated"}).merge(obs, on=["year", "destination"], how="left"),
        list(range(2000, 2007))).set_index("destination").loc["CRP"]
        for _, g in app[app.label == "toy-checks"].groupby("replicate")]
    median = sorted(per, key=lambda r: r.simulated)[1]
    assert claims.loc["CRP", "toy-checks: simulated"] == count_text(median.simulated, ",")
    assert claims.loc["CRP", "toy-checks: simulated / observed"] == claim_total_text(median)[1]
    assert [c for c in claims.columns if c.startswith("observed")] == [
        "observed (synthetic: first claims simulated by on…)"]  # one column for both
    effects = parts["effects"].table.set_index("destination")
    row = next(r for r in cmp.effects.itertuples() if r.destination == "CRP")
    assert effects.loc["CRP", "difference"] == effect_text(row)["difference"]

    view, message = results.experiment_view(store, experiments["sensitivity"].experiment_id)
    indices = _parts(view)["indices"]
    assert message == "" and indices.text.startswith("Morris, applications at CRP")
    assert {"push", "pull"} <= set(indices.table.group)
    # Morris's mu* as the report shows it (text: the lower end clipped at 0), not a number
    # to format (it stopped the whole view with "Unknown format code 'f'")
    from onward.experiments.sensitivity import mu_star_text

    sens = experiments["sensitivity"].indices.set_index("group")
    mu = indices.table.set_index("group")["mu_star [95% interval]"]
    assert mu["push"] == mu_star_text(sens.mu_star["push"], sens.mu_star_conf["push"])

    view, message = results.experiment_view(store, experiments["destinations"].experiment_id)
    parts = _parts(view)
    assert message == "" and parts["chart-destinations"].chart
    table = parts["destinations"].table
    assert list(table.columns) == ["aspect", "measure", "unit", "CRP", "DLT", "ELB"]
    assert "movers" in set(table.measure)


def test_an_experiment_whose_rows_are_missing_says_how_to_fix_it(tmp_path):
    """An experiment listed in the store whose own rows are not there (interrupted, or
    deleted) gets a message with the fix, not a traceback; so do a bad id and a store
    without experiments (which lists none)."""
    import pandas as pd

    from onward.store import Store

    store = tmp_path / "s.duckdb"
    Store(store).write_run({"kind": "run", "scenario": "toy"}, {"t": pd.DataFrame({"x": [1]})})
    table, message = results.stored_experiments(store)
    assert message == "" and table.empty  # the page shows nothing new
    Store(store).write_run({"kind": "compare", "experiment_id": "compare-abc",
                            "scenario": "toy"}, {"t": pd.DataFrame({"x": [1]})})
    view, message = results.stored_experiment(store, "compare-abc")
    assert view is None
    assert "compare-abc" in message and "compare_effects" in message
    assert "Fix: run the `onward compare` command that made it again" in message
    view, message = results.experiment_view(store, "compare-0000")
    assert view is None and "Fix: press Refresh" in message
    view, message = results.experiment_view(store, "../etc/passwd")
    assert view is None and "is not an experiment id" in message


def test_a_comparisons_simulated_totals_round_a_half_away_from_zero():
    """The median of two replicates' totals is often a half: 12.5 persons showed as 12
    (format's .0f, a half to the even neighbour), where `onward compare` and the report
    show 13 (onward.analysis.numbers.count_text)."""
    import pandas as pd

    values = pd.DataFrame([("base", 0, 2000, "USA", 12), ("base", 1, 2000, "USA", 13),
                           ("base", 0, 2000, "XYZ", 2500), ("base", 1, 2000, "XYZ", 2501)],
                          columns=["label", "replicate", "year", "destination", "value"]
                          ).assign(output="applications")
    obs = pd.DataFrame([(2000, "USA", 10.0, 10.0, 10.0)],
                       columns=["year", "destination", "observed", "lower", "upper"])
    shown = results.compare_claims(values, {"base": ("UNHCR", obs)}, [2000]
                                   ).set_index("destination")
    assert shown.loc["USA", "base: simulated"] == "13"
    assert shown.loc["XYZ", "base: simulated"] == "2,501"  # no data row: every year


def test_a_comparisons_claims_are_like_for_like_with_masked_ranges():
    """The totals of a comparison's scenarios against the observed counts use the CLI's
    rules: summed over the years with a data row, a masked count (UNHCR's 5 for 1-5) as a
    range; a destination without data shows its total over every year."""
    import pandas as pd

    rows = [(label, rep, year, dest, value)
            for label, scale in (("base", 1), ("alt", 2)) for rep in range(3)
            for year, dest, value in ((2000, "USA", 40), (2001, "USA", 12),
                                      (2002, "USA", 9), (2000, "XYZ", 7))
            for value in [scale * (value + rep)]]
    values = pd.DataFrame(rows, columns=["label", "replicate", "year", "destination",
                                         "value"]).assign(output="applications")
    obs = pd.DataFrame([(2000, "USA", 25.0, 25.0, 25.0), (2001, "USA", 5.0, 1.0, 5.0)],
                       columns=["year", "destination", "observed", "lower", "upper"])
    shown = results.compare_claims(values, {"base": ("UNHCR", obs), "alt": ("UNHCR", obs)},
                                   [2000, 2001, 2002]).set_index("destination")
    assert list(shown.columns) == ["observed (UNHCR)", "base: simulated",
                                   "base: simulated / observed", "alt: simulated",
                                   "alt: simulated / observed"]
    assert shown.loc["USA", "observed (UNHCR)"] == "26-30"
    assert shown.loc["USA", "base: simulated"] == "54"  # 41 + 13: not 2002, without data
    assert shown.loc["USA", "base: simulated / observed"] == "1.80-2.08"
    assert shown.loc["USA", "alt: simulated"] == "108"
    assert shown.loc["XYZ", "observed (UNHCR)"] == "-"
    assert shown.loc["XYZ", "base: simulated"] == "8"  # every year: no data row
    other = obs.assign(observed=[30.0, 5.0])
    apart = results.compare_claims(values, {"base": ("UNHCR", obs), "alt": ("mine", other)},
                                   [2000, 2001, 2002])
    assert "base: observed (UNHCR)" in apart and "alt: observed (mine)" in apart
