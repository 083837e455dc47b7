"""Shared by the slow report, profile and dashboard tests: one real, reduced ``asv run``.

``real_results(tmp_path_factory)`` clones pyhf's real history (the bundle in
../shared/pyhf), runs a reduced selection at main's tip with the ``numpy``
requirement preset and ``--quick`` (environment in ``.asv/test-env``, reused
between sessions) and returns where everything is. It runs once per test
session however many modules ask (a plain cache, not a fixture, so that
several test modules can share it). Also a small headless Chromium driver
over the DevTools protocol on a pipe (no websocket, standard library only).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import clone_pyhf_history
from pyhfbench import asvconf

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Shared with tests/test_suite_e2e.py: asv reuses built environments between sessions.
ENV_DIR = REPO_ROOT / ".asv" / "test-env"
MACHINE = "report-test"
#: numpy/cpu measured over bins, batch sizes and two interpolation codes; numpy/gpu and
#: jax/cpu selected too, to be skipped (no GPU; jax not in the numpy preset).
SELECTION = (
    r"bench_baseline\.HypotestUncorrelatedBackground\.time_hypotest\('numpy', 'cpu', (1|10|50)\)"
    r"|bench_baseline\.HypotestUncorrelatedBackground\.time_hypotest\('(numpy', 'gpu|jax', 'cpu)', 10\)"
    r"|bench_baseline\.HypotestUncorrelatedBackground\.track_cls_obs\('numpy', 'cpu', (1|10)\)"
    r"|bench_model\.BatchedLogpdf\.time_batched_logpdf\('numpy', 'cpu', '64b', (1|10|100)\)"
    r"|bench_interpolation\.Interpolation\.time_tensorized\('numpy', 'cpu', '(0|4p)', 'small'\)"
)
PROFILED = "bench_baseline.HypotestUncorrelatedBackground.time_hypotest"


@dataclass
class RealResults:
    work: Path
    config: Path
    results_dir: Path
    html_dir: Path
    commit: str
    run_log: str
    run_seconds: float
    env: dict  # the environment asv ran with (pallet cache and mirror)


_CACHE = {}


def asv(config, *args, check=True, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "asv", *args, "--config", str(config)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env or dict(os.environ),
    )
    if check:
        assert result.returncode == 0, f"asv {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def real_results(tmp_path_factory):
    if "run" in _CACHE:
        return _CACHE["run"]
    work = tmp_path_factory.mktemp("report-e2e")
    clone_pyhf_history(work / "pyhf")
    tip = subprocess.run(["git", "-C", str(work / "pyhf"), "rev-parse", "main"],
                         capture_output=True, text=True, check=True).stdout.strip()
    config = asvconf.write_config(
        asvconf.derive_config(repo=work / "pyhf", matrix="numpy", results_dir=work / "results",
                              html_dir=work / "html", env_dir=ENV_DIR),
        work / "asv.json",
    )
    env = dict(os.environ, PYHF_BENCH_CACHE=str(work / "cache"))
    mirror = REPO_ROOT.parent / "shared" / "pallets"
    if mirror.is_dir():
        env.setdefault("PYHF_BENCH_PALLET_MIRROR", str(mirror))
    asv(config, "machine", "--yes", "--machine", MACHINE, env=env)
    started = time.perf_counter()
    run_log = asv(config, "run", "--machine", MACHINE, "--quick", "--show-stderr",
                  "--bench", SELECTION, f"{tip}^!", env=env)
    _CACHE["run"] = RealResults(work, config, work / "results", work / "html",
                                tip, run_log, time.perf_counter() - started, env)
    return _CACHE["run"]


# --------------------------------------------------------------------------- Chromium

#: No network beyond this host: every name but 127.0.0.1 fails to resolve.
NETWORK_OFF = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--no-default-browser-check", "--disable-dev-shm-usage",
                  "--window-size=1400,1000", "--remote-debugging-pipe")


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium():
    """Chromium's path; skip without it, except under CI=true, where that is a failure."""
    path = find_chromium()
    if path is None:
        message = "chromium is not installed (scripts/install-chromium installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class Browser:
    """Headless Chromium driven over the DevTools protocol on fds 3 and 4."""

    def __init__(self, binary, user_data_dir, log_path, extra_flags=()):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child: fd 3 reads commands, fd 4 writes replies
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={user_data_dir}",
             "--enable-logging=stderr", "--v=0", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=wire, close_fds=False,  # our pipes are close-on-exec but fds 3, 4
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies = {}
        self.events = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = None

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._cond:
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cond.notify_all()

    def send(self, method, params=None, session=True, timeout=60):
        self._next_id += 1
        ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise TimeoutError(f"no reply to {method} (chromium exit {self.process.poll()})")
                self._cond.wait(min(left, 1.0))
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def navigate(self, url, timeout=60):
        start = len(self.events)
        result = self.send("Page.navigate", {"url": url})
        if "errorText" in result:
            raise RuntimeError(f"navigation to {url} failed: {result['errorText']}")
        if result.get("loaderId"):  # a new document, not a jump within this one
            self.wait_for_event("Page.loadEventFired", start, timeout)
        return start

    def wait_for_event(self, method, start=0, timeout=60):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if event.get("method") == method:
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {method} within {timeout} s")
                self._cond.wait(min(left, 1.0))

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.25)
        return False

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params.update(captureBeyondViewport=True, clip={
                "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000),
                "scale": 1})
        data = self.send("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def problems(self, start=0):
        """JavaScript errors and failed loads since event ``start``: [text]."""
        found = []
        for event in self.events[start:]:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("exception: " + (details.get("exception", {}).get("description")
                                              or details.get("text", "")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                found.append(f"load failed: {params.get('errorText')} ({params.get('type')})")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                found.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return found

    def requested(self, start=0):
        """The URLs the page asked for since event ``start``."""
        return [e["params"]["request"]["url"] for e in self.events[start:]
                if e.get("method") == "Network.requestWillBeSent"]

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()


class StaticServer:
    """``python -m http.server`` on 127.0.0.1, a free port, serving one folder."""

    def __init__(self, folder, log_path):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
             "--directory", str(folder)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("http.server did not start")

    def close(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
