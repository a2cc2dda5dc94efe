"""Time from ``streamlit run`` to an interactive home page: first start (empty store, the app
loads the demo itself) and later starts (demo already loaded), against a reference measured in
the same run: a bare one-line Streamlit page on the same machine and browser.

Run: ``.venv/bin/python -m benchmarks.startup [--repeat N] [--screenshot docs/screenshot-data.png]``
Writes ``benchmarks/results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.e2e.harness import ROOT, chromium, streamlit_server, wait_for_app

RESULTS = ROOT / "benchmarks" / "results" / "startup.json"


def time_to_interactive(browser: Any, home: Path, app: Path | None, expect: str) -> float:
    """Seconds from process start to the page showing ``expect`` with the script run finished."""
    with streamlit_server(home, app=app) as server:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(server.url)
        wait_for_app(page, timeout=120)
        page.get_by_text(expect).first.wait_for()
        elapsed = time.perf_counter() - server.started
        page.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, help="save a Data page screenshot here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        root = Path(tmp)
        bare = root / "bare_app.py"
        bare.write_text("import streamlit as st\nst.title('Bare page')\n")
        reference, first, warm = [], [], []
        for n in range(args.repeat):
            reference.append(time_to_interactive(browser, root / f"ref{n}", bare, "Bare page"))
            home = root / f"home{n}"
            first.append(time_to_interactive(browser, home, None, "92,834"))
            warm.append(time_to_interactive(browser, home, None, "92,834"))
        if args.screenshot:
            with streamlit_server(root / "home0") as server:
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.set_default_timeout(120_000)
                page.goto(f"{server.url}/Data")
                wait_for_app(page, timeout=120)
                page.locator("[data-testid=stPlotlyChart]").first.wait_for()
                page.wait_for_timeout(1500)
                page.screenshot(path=str(args.screenshot), full_page=False)
    ref = statistics.median(reference)
    result = {
        "repeat": args.repeat,
        "reference_bare_page_s": round(ref, 2),
        "first_start_s": round(statistics.median(first), 2),
        "warm_start_s": round(statistics.median(warm), 2),
        "first_start_ratio": round(statistics.median(first) / ref, 2),
        "warm_start_ratio": round(statistics.median(warm) / ref, 2),
        "all": {"reference": reference, "first": first, "warm": warm},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "all"}, indent=2))


if __name__ == "__main__":
    main()
