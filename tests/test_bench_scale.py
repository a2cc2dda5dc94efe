"""The research-scale benchmark's pipeline stage (import, ALS, all-listeners Parquet export,
200 x 200 heatmap; issue 15) runs end to end on a small size, each stage timed with its peak
memory, so the 17.5M-row run (``--rows 17500000 --stages pipeline``) is one command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bench_scale


def test_the_pipeline_stage_runs_every_step(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    assert bench_scale.main(["--rows", "4000", "--stages", "pipeline", "--out", str(out)]) == 0
    (size,) = json.loads(out.read_text(encoding="utf-8"))["sizes"]
    stages = size["stages"]
    assert list(stages) == ["import", "train", "export", "heatmap"]
    for name, stage in stages.items():
        assert stage["code"] == 0, name
        assert stage["seconds"] > 0 and stage["rss_mb"] > 0 and stage["wall_s"] > 0, name
    assert stages["export"]["rows"] > 0
    assert stages["export"]["rows"] <= size["users"] * 50


def test_the_pipeline_runs_alone() -> None:
    with pytest.raises(SystemExit):
        bench_scale.main(["--rows", "4000", "--stages", "pipeline", "import"])
