"""A non-editable ``pip install .`` works: package data (migrations, personality tables) ships.

Builds and installs the package into a throwaway virtual environment that borrows the test
environment's dependencies, then runs the installed ``timbre`` from outside the checkout.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_non_editable_install_runs_from_outside_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PYTHONPATH pointing at a checkout (how worktrees run the suite) would shadow the install.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    borrowed = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    own = subprocess.run(
        [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(own, "borrowed-deps.pth").write_text(borrowed + "\n")
    wheels = tmp_path / "wheels"
    subprocess.run(  # built with this environment's setuptools: no download
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--wheel-dir", str(wheels), str(ROOT)],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    wheel = next(wheels.glob("timbre-*.whl"))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True, cwd=tmp_path,
    )  # fmt: skip
    where = subprocess.run(
        [str(python), "-c", "import timbre; print(timbre.__file__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(own) and not where.startswith(str(ROOT)), where
    timbre = [str(env_dir / "bin" / "timbre"), "--home", str(tmp_path / "home")]
    answers = tmp_path / "answers.json"
    items = json.loads(
        subprocess.run(
            [str(python), "-c", "import json, timbre.personality as p;"
             "print(json.dumps(p.get_instrument('mini-ipip').codes()))"],
            capture_output=True, text=True, check=True, cwd=tmp_path,
        ).stdout
    )  # fmt: skip
    answers.write_text(json.dumps({code: 3 for code in items}))
    score = subprocess.run(
        [*timbre, "personality", "score", "--instrument", "mini-ipip", "--answers",
         str(answers), "--user", "me", "--json"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert score.returncode == 0, score.stderr
    payload = json.loads(score.stdout)
    assert payload["profile_id"] == 1 and 0 < payload["percentiles"]["openness"] < 100
    plays = tmp_path / "plays.csv"
    plays.write_text(
        "user,item,weight\n" + "".join(f"u{u},i{i},{u + i}\n" for u in range(6) for i in range(5))
    )
    for command in (["import", str(plays)], ["train", "--model", "popularity"], ["stats"]):
        done = subprocess.run([*timbre, *command], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
