"""The core never imports Streamlit: ``import timbre`` and every core module, in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "timbre"


def core_modules() -> list[str]:
    modules = []
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[:2] == ["timbre", "app"] or "migrations" in parts or parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


def test_core_modules_do_not_import_streamlit() -> None:
    modules = core_modules()
    assert {"timbre", "timbre.store", "timbre.cli", "timbre.sources.files"} <= set(modules)
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + (
            "bad = sorted(m for m in sys.modules\n"
            "             if m == 'streamlit' or m.startswith('streamlit.'))\n"
            "print(','.join(bad))\n"
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"streamlit imported by the core: {done.stdout}"


def test_the_app_helpers_do_import_streamlit() -> None:
    """The check above can fail: the app layer is seen importing Streamlit."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, timbre.app.state; print('streamlit' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.strip() == "True", done.stderr
