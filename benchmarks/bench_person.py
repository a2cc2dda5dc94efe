"""A person's own list, from the shell: import their Last.fm CSV, then ``recommend --user me``.

On a demo home with the default ALS run active (and the demo's matrix cache written by an
earlier command, as on any machine that has run one), each repeat imports a fresh person's
scrobbles (``timbre import FILE --user NAME``) and then asks for their top 20
(``timbre recommend --user NAME -n 20``), both as new processes, as a user types them. The issue
asks for the list within 2 s of the import finishing, without retraining. Reference in the same
run: a process that only imports ``timbre.cli`` (the interpreter and library floor every command
pays).

Run: ``.venv/bin/python -m benchmarks.bench_person [--home DIR] [--repeat 5]``; writes
``benchmarks/results/person.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.test_people import _scrobbles

RESULTS = Path(__file__).resolve().parent / "results" / "person.json"


def _seconds(*argv: str) -> float:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv}: {done.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home with the demo and an ALS run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    timbre = str(Path(sys.executable).with_name("timbre"))
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        shutil.copytree(args.home, home)
        _seconds(timbre, "--home", str(home), "stats")  # any earlier command
        _seconds(timbre, "--home", str(home), "recommend", "--user", "hetrec:user:2")  # caches
        imports, lists, floors = [], [], []
        for repeat in range(args.repeat):
            person = f"bench{repeat}"
            csv = _scrobbles(Path(scratch) / f"{person}.csv")
            imports.append(
                _seconds(timbre, "--home", str(home), "import", str(csv), "--user", person)
            )
            lists.append(
                _seconds(timbre, "--home", str(home), "recommend", "--user", person, "-n", "20")
            )
            floors.append(_seconds(sys.executable, "-c", "import timbre.cli"))
    result = {
        "import_s": round(statistics.median(imports), 2),
        "recommend_s": round(statistics.median(lists), 2),
        "recommend_max_s": round(max(lists), 2),
        "import_floor_s": round(statistics.median(floors), 2),
        "ratio_recommend_to_floor": round(statistics.median(lists) / statistics.median(floors), 2),
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
