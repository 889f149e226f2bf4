"""Start the dashboard: Solara's Starlette app under uvicorn, on loopback, fully offline.

Safety defaults, each on purpose:

* **Loopback only.** The host is ``127.0.0.1`` unless the caller names another address;
  a non-loopback host is served only when asked for, with a warning, since anyone who can
  reach it can run simulations.
* **No internet.** Solara's JavaScript, CSS and fonts come from the ``solara-assets``
  package on disk. The CDN Solara would fall back to is pointed at a closed loopback port,
  so a missing asset fails loudly in a test instead of being fetched, and telemetry is off.
* **Production mode.** No auto-reload, no file watching, minified assets.

Examples
--------
>>> serve(port=8765)  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Where Solara would fetch an asset missing from solara-assets: a closed loopback port.
_NO_CDN = "http://127.0.0.1:9/no-cdn/"


class ServerError(ValueError):
    """The dashboard cannot start with these options; the message says what to change."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def environment(store: Path | None, scenario_dir: Path | None) -> dict[str, str]:
    """Environment variables that configure Solara and the app (set before importing Solara)."""
    env = {
        "SOLARA_APP": "onward.dashboard.app:Page",
        "SOLARA_MODE": "production",
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false",
        "SOLARA_ASSETS_PROXY": "true",
        "SOLARA_ASSETS_CDN": _NO_CDN,
        "SOLARA_CHECK_HOOKS": "off",
        # a closed tab's session is dropped after 10 minutes, not Solara's default 24 hours
        "SOLARA_KERNEL_CULL_TIMEOUT": "10m",
        # the page's title before its script runs (Solara's default is "Solara ☀️"); the
        # app sets the same with solara.Title once it has loaded
        "SOLARA_THEME_TITLE": "onward dashboard",
    }
    if store is not None:
        env["ONWARD_STORE"] = str(Path(store).expanduser().absolute())
    if scenario_dir is not None:
        env["ONWARD_DASHBOARD_SCENARIOS"] = str(Path(scenario_dir).expanduser().absolute())
    return env


def check_options(host: str, port: int, scenario_dir: Path | None = None) -> None:
    """Raise :class:`ServerError` for a port out of range, an unknown host or a bad folder."""
    if not 0 < port < 65536:
        raise ServerError(f"--port {port}: use a port from 1 to 65535 (default {DEFAULT_PORT})")
    if not is_loopback(host):
        try:
            socket.getaddrinfo(host, port)
        except OSError as exc:
            raise ServerError(f"--host {host}: not an address of this machine ({exc}); "
                              f"leave it out to serve on {DEFAULT_HOST}") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as uvicorn binds: a port whose last connections are in TIME-WAIT (a dashboard
        # stopped a moment ago) is free to listen on, and was refused for ~60 s
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:  # the host, not the port
                raise ServerError(f"--host {host}: not an address of this machine "
                                  f"({exc.strerror}); leave it out to serve on "
                                  f"{DEFAULT_HOST}, or give one of this machine's "
                                  "addresses") from None
            raise ServerError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); "
                              "pick another port with --port") from None
    if scenario_dir is not None and not Path(scenario_dir).is_dir():
        raise ServerError(f"--scenarios {scenario_dir}: not a folder; give the folder that "
                          "holds your scenario YAML files")


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, store: Path | None = None,
          scenario_dir: Path | None = None, log_level: str = "warning") -> None:
    """Serve the dashboard until interrupted (blocks)."""
    check_options(host, port, scenario_dir)
    os.environ.update(environment(store, scenario_dir))
    if not is_loopback(host):
        print(f"warning: serving on {host}, not loopback: anyone who can reach this address "
              "can use the dashboard and run simulations", file=sys.stderr)
    import uvicorn

    # Solara warns on every page load over plain http that it falls back to SameSite=lax
    # cookies; lax is what a loopback dashboard wants.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    from solara.server.starlette import app

    print(f"onward dashboard on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr,
          flush=True)
    served = loopback_guard(app) if is_loopback(host) else app
    server = uvicorn.Server(uvicorn.Config(served, host=host, port=port, log_level=log_level,
                                           reload=False, workers=1, access_log=False))
    failed: list[str] = []
    threading.Thread(target=_check_when_up, args=(f"http://{_url_host(host)}:{port}/",
                                                  failed, server), daemon=True).start()
    server.run()
    if failed:  # the page did not work here: say so, and exit with an error
        raise ServerError(failed[0])


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):  # every address: ask on loopback
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def self_check(url: str, timeout: float = 20.0) -> str | None:
    """Why the dashboard at ``url`` does not work, or None: its page must answer 200 and
    the scripts and styles it names must be there. In a virtual environment made with
    --system-site-packages, Solara looked for its files under the environment's prefix:
    every page answered 500 (or stayed blank on "Loading app"), while the console said the
    dashboard was serving."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback
    try:
        with opener.open(url, timeout=timeout) as r:
            html = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return f"the dashboard's page answers HTTP {exc.code} at {url}"
    except OSError as exc:
        return f"the dashboard's page does not answer at {url} ({exc})"
    local = [u for u in re.findall(r'(?:src|href)="(/[^"/][^"]*\.(?:js|css)[^"]*)"', html)]
    for path in local[:4]:
        try:
            with opener.open(url.rstrip("/") + path, timeout=timeout):
                pass
        except urllib.error.HTTPError as exc:
            return (f"the dashboard's page loads, but {path} answers HTTP {exc.code}: its "
                    "scripts are missing from this Python environment")
        except OSError as exc:
            return f"the dashboard's page loads, but {path} does not ({exc})"
    return None


def _check_when_up(url: str, failed: list[str], server: Any, wait: float = 60.0) -> None:
    """Once ``server`` (uvicorn's) has started, :func:`self_check` it; on a problem,
    record the message and stop the server, so that :func:`serve` reports it."""
    deadline = time.monotonic() + wait
    while not server.started:
        if time.monotonic() > deadline or server.should_exit:
            return  # never came up: uvicorn says why
        time.sleep(0.2)
    problem = self_check(url)
    if problem:
        failed.append(f"{problem}. Fix: install onward into this environment's own Python "
                      "(python -m venv without --system-site-packages, then pip install "
                      "onward), or run onward from the Python its dependencies are "
                      "installed in; the server log above may say more")
        server.should_exit = True


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def _hostname(value: str) -> str:
    """``"127.0.0.1:8765"`` -> ``"127.0.0.1"``; ``"[::1]:8765"`` -> ``"[::1]"``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def loopback_guard(app):
    """Wrap an ASGI app so it answers only requests addressed to a loopback name.

    Listening on 127.0.0.1 keeps other machines out, but a web page open in the user's own
    browser can still reach it: through DNS rebinding (a foreign name that resolves to
    127.0.0.1, seen here as a foreign ``Host``) or a websocket opened by a foreign page
    (seen as a foreign ``Origin``). Both are refused with 403.
    """

    async def guarded(scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            host_ok = _hostname(headers.get("host", "")) in _LOOPBACK_NAMES
            origin = headers.get("origin", "")
            origin_ok = (not origin or origin == "null"
                         or _hostname(origin.split("://", 1)[-1]) in _LOOPBACK_NAMES)
            if not (host_ok and origin_ok):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain")]})
                await send({"type": "http.response.body",
                            "body": b"onward dashboard: only loopback addresses are served\n"})
                return
        await app(scope, receive, send)

    return guarded


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that is free on ``host`` right now (for tests and benchmarks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def spawn(port: int, store: Path | None = None, scenario_dir: Path | None = None,
          host: str = DEFAULT_HOST, cwd: Path | None = None, log: Path | None = None,
          timeout: float = 90.0) -> subprocess.Popen:
    """Start ``onward dashboard`` in a child process; wait until it answers (tests, benchmarks).

    The caller must stop it: ``proc.terminate(); proc.wait()``. Raises RuntimeError (after
    stopping the child) if it does not answer within ``timeout`` seconds.
    """
    cmd = [sys.executable, "-m", "onward.interfaces.cli", "dashboard", "--host", host,
           "--port", str(port)]
    if store is not None:
        cmd += ["--store", str(store)]
    if scenario_dir is not None:
        cmd += ["--scenarios", str(scenario_dir)]
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with opener.open(url, timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"the dashboard did not answer on {url} within {timeout:g} s "
                       f"(exit code {proc.returncode}); see {log or 'its output'}")


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop a dashboard started by :func:`spawn` (terminate, then kill)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    """``python -m onward.dashboard.server [--host H] [--port N] [--store PATH]``."""
    import argparse

    p = argparse.ArgumentParser(prog="onward-dashboard", description=__doc__.split("\n")[0])
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--store", type=Path)
    p.add_argument("--scenarios", type=Path)
    a = p.parse_args(argv)
    try:
        serve(a.host, a.port, a.store, a.scenarios)
    except ServerError as exc:
        p.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
