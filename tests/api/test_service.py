"""``/health``, ``/metrics``, ``/docs``, errors that never show a trace, and a new active run
that the server picks up at once (a new engine, no stale cached list)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import Live, serve
from timbre.config import Settings
from timbre.services.data import load_data
from timbre.services.runs import train_run
from timbre.store import Store

ENDPOINTS = {
    ("get", "/v1/recommend/user/{user_id}"),
    ("get", "/v1/recommend/similar/{item_id}"),
    ("post", "/v1/recommendations"),
    ("post", "/v1/next-track"),
    ("post", "/v1/feedback"),
    ("get", "/v1/users"),
    ("post", "/v1/users"),
    ("delete", "/v1/users/{user_id}"),
    ("post", "/v1/users/{user_id}/fetch"),
    ("post", "/v1/users/bulk-fetch"),
    ("get", "/v1/stats"),
    ("get", "/health"),
    ("get", "/metrics"),
}


def test_health_says_the_store_answers_and_which_run_is_loaded(live: Live) -> None:
    with httpx.Client(base_url=live.url) as bare:
        answer = bare.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["store"] == {"ok": True}
    run = body["run"]
    assert run["loaded"] and run["model"] == "als" and run["dataset"] == "hetrec-lastfm-2k"
    assert 0 <= run["age_seconds"] < 24 * 3600 and run["stale"] == "trained on the current data"


def test_health_is_503_without_a_run(demo_home: Path, tmp_path: Path) -> None:
    shutil.copytree(demo_home, tmp_path / "home")
    for live in serve(Settings(home=tmp_path / "home")):
        with httpx.Client(base_url=live.url) as bare:
            answer = bare.get("/health")
            listed = bare.get("/v1/recommend/user/2", headers={"Authorization": ""})
        with live.client() as client:
            untrained = client.get("/v1/recommend/user/2")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
    assert "no trained model" in answer.json()["run"]["error"]
    assert listed.status_code == 401
    assert untrained.status_code == 503 and untrained.json()["error"]["code"] == "no_model"
    assert "train one first" in untrained.json()["error"]["message"]


def test_metrics_count_requests_latency_cache_and_model_age(live: Live) -> None:
    with live.client() as client:
        client.get("/v1/recommend/user/11")
        client.get("/v1/recommend/user/11")
        client.get("/v1/recommend/user/11", params={"n": 0})
    with httpx.Client(base_url=live.url) as bare:
        answer = bare.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families >= {
        "timbre_api_requests_total", "timbre_api_request_duration_seconds",
        "timbre_api_cache_total", "timbre_api_rate_limited_total", "timbre_api_model_age_seconds",
    }  # fmt: skip
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    user = 'endpoint="/v1/recommend/user/{user_id}"'
    assert float(samples[f'timbre_api_requests_total{{{user},method="GET",status="422"}}']) >= 1
    assert float(samples[f'timbre_api_requests_total{{{user},method="GET",status="200"}}']) >= 2
    assert float(samples[f"timbre_api_request_duration_seconds_count{{{user}}}"]) >= 3
    assert float(samples['timbre_api_cache_total{result="hit"}']) >= 1
    assert float(samples['timbre_api_cache_total{result="miss"}']) >= 1
    assert 0 <= float(samples["timbre_api_model_age_seconds"]) < 24 * 3600


def test_the_openapi_docs_list_every_endpoint(live: Live) -> None:
    with httpx.Client(base_url=live.url) as bare:
        docs = bare.get("/docs")
        spec = bare.get("/openapi.json").json()
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert found == ENDPOINTS
    assert spec["info"]["title"] == "Timbre API"


def test_an_unknown_route_or_method_is_json(live: Live) -> None:
    with live.client() as client:
        missing = client.get("/v1/nothing-here")
        method = client.put("/v1/stats")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_such_endpoint"
    assert method.status_code == 405
    assert method.json()["error"]["code"] == "method_not_allowed"


@pytest.fixture
def failing(api_home: Path) -> Iterator[Live]:
    def add_broken_route(app: FastAPI) -> None:
        def broken() -> None:
            secret_detail = {"password": "hunter2"}
            raise RuntimeError(f"database exploded with {secret_detail}")

        app.add_api_route("/v1/broken", broken)

    yield from serve(Settings(home=api_home), prepare=add_broken_route)


def test_an_unexpected_error_is_a_500_without_a_trace(failing: Live) -> None:
    with httpx.Client(base_url=failing.url) as bare:
        answer = bare.get("/v1/broken")
    assert answer.status_code == 500
    assert answer.json() == {
        "error": {
            "code": "internal_error",
            "message": "an internal error occurred; the server's log has the details",
        }
    }
    assert "Traceback" not in answer.text and "hunter2" not in answer.text


def test_a_new_active_run_is_served_at_once(live: Live) -> None:
    settings = live.server.settings
    with live.client() as client:
        before = client.get("/v1/recommend/user/3").json()
        with Store.open(settings) as store:
            run_id = train_run(
                store, settings, load_data(store), "als", {"factors": 16, "iterations": 3}
            ).run_id
            store.set_active_run(run_id)
        after = client.get("/v1/recommend/user/3")
        with Store.open(settings) as store:
            store.set_active_run(before["run_id"])
        back = client.get("/v1/recommend/user/3")
    assert after.headers["x-timbre-cache"] == "miss"
    assert after.json()["run_id"] == run_id != before["run_id"]
    assert after.json()["recommendations"] != before["recommendations"]
    assert back.json() == before
