"""Start ``streamlit run`` on a free port and drive it with Playwright in the system Chromium.

Used by the end-to-end tests and by ``benchmarks/startup.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def streamlit_server(
    home: Path,
    timeout: float = 90.0,
    app: Path | None = None,
    address: str = "127.0.0.1",
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Run the app (or ``app``) with ``TIMBRE_HOME=home`` until the block ends, listening on
    ``address`` (loopback unless told), with ``env`` added to the environment.

    Waits for ``/_stcore/health`` to answer ``ok``. A presenter hash in the tests' own
    environment is never passed on (give it in ``env``).
    """
    port = free_port()
    dropped = ("TIMBRE_DATABASE_URL", "TIMBRE_PRESENTER_PASSWORD_HASH")
    environment = {k: v for k, v in os.environ.items() if k not in dropped}
    # no file watcher: an edit in the checkout while a test runs must not reload the app
    environment.update(
        TIMBRE_HOME=str(home),
        OPENBLAS_NUM_THREADS="1",
        STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
        **(env or {}),
    )
    log_path = home.parent / f"streamlit-{port}.log"
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app or ROOT / "streamlit_app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                address,
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path, started)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited early:\n{server.log()}")
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as reply:
                    if reply.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {timeout} s:\n{server.log()}")
            time.sleep(0.2)
        yield server
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser (Debian's, never a downloaded one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def wait_for_app(page: Any, timeout: float = 90.0) -> None:
    """Wait until the script run is finished and no skeleton placeholder remains."""
    page.wait_for_selector(
        "[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout * 1000
    )
    page.wait_for_function(
        "!document.querySelector('[data-testid=stSkeleton]')", timeout=timeout * 1000
    )


def open_page(page: Any, base: str, name: str) -> None:
    """Open page ``name`` (``Tune``) of the app at ``base`` by its address, as a bookmark does."""
    page.goto(f"{base}/{name}")
    wait_for_app(page)


def assert_no_exception(page: Any) -> None:
    """No Streamlit exception box (a traceback) anywhere on the page."""
    boxes = page.locator("[data-testid=stException]")
    assert boxes.count() == 0, boxes.first.inner_text()
