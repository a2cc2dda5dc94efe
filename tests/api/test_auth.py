"""Keys and limits: read endpoints need a key, write endpoints an admin key, a revoked key
fails at once, tokens are stored hashed, and a key's limit lets exactly N requests through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Live, serve
from tests.cli_helpers import run_cli
from timbre.api.limits import RateLimiter
from timbre.config import Settings
from timbre.services.keys import create_key, revoke_key, token_hash
from timbre.store import Store

READS = [
    ("GET", "/v1/recommend/user/2", None),
    ("GET", "/v1/recommend/similar/Metallica", None),
    ("POST", "/v1/recommendations", {"user_id": "2"}),
    ("POST", "/v1/next-track", {"track_sequence": ["Metallica"]}),
    ("GET", "/v1/users", None),
    ("GET", "/v1/stats", None),
]
WRITES = [
    ("POST", "/v1/feedback", {"user_id": "2", "items": ["Metallica"], "kind": "like"}),
    ("POST", "/v1/users", {"names": ["someone"]}),
    ("DELETE", "/v1/users/someone", None),
    ("POST", "/v1/users/someone/fetch", None),
    ("POST", "/v1/users/bulk-fetch", None),
]


def _call(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return (
        client.request(method, path, json=body)
        if body is not None
        else client.request(method, path)
    )


@pytest.mark.parametrize(("method", "path", "body"), READS + WRITES)
def test_every_endpoint_refuses_a_missing_malformed_wrong_or_revoked_key(
    live: Live, method: str, path: str, body: object
) -> None:
    with httpx.Client(base_url=live.url) as bare:
        missing = _call(bare, method, path, body)
        malformed = bare.request(method, path, headers={"Authorization": "Basic abc"})
        wrong = bare.request(method, path, headers={"Authorization": "Bearer tmb_not-a-key"})
    with live.client("revoked") as client:
        revoked = _call(client, method, path, body)
    for answer, code in (
        (missing, "missing_key"),
        (malformed, "malformed_key"),
        (wrong, "invalid_key"),
        (revoked, "revoked_key"),
    ):
        assert answer.status_code == 401, (code, answer.text)
        assert answer.json()["error"]["code"] == code
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_read_key_may_not_write(live: Live, method: str, path: str, body: object) -> None:
    before = live.server.store.table_counts()
    with live.client("read") as client:
        answer = _call(client, method, path, body)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "admin_required"
    assert live.server.store.table_counts() == before


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_a_read_key_may_read(live: Live, method: str, path: str, body: object) -> None:
    with live.client("read") as client:
        answer = _call(client, method, path, body)
    assert answer.status_code == 200, answer.text


def test_a_key_revoked_while_the_server_runs_fails_at_its_next_request(live: Live) -> None:
    with Store.open(live.server.settings) as store:
        key_id, token = create_key(store, "soon revoked")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=live.url, headers=headers) as client:
        assert client.get("/v1/stats").status_code == 200
        with Store.open(live.server.settings) as store:
            revoke_key(store, key_id)
        answer = client.get("/v1/stats")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "revoked_key"


def test_tokens_are_stored_only_as_their_hash(live: Live) -> None:
    token = live.keys["read"]
    with live.server.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM api_keys").fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert token not in flat and token_hash(token) in flat
    assert all(token not in str(row) for row in live.server.store.list_api_keys())


@pytest.fixture
def limited(api_home: Path) -> Iterator[Live]:
    """A server whose keys have small limits, with a clock the test moves."""
    now = [1000.0]
    limiter = RateLimiter(window=60.0, clock=lambda: now[0])
    for started in serve(Settings(home=api_home), limiter=limiter):
        started.clock = now  # type: ignore[attr-defined]
        yield started


def test_a_key_gets_exactly_its_limit_then_429_with_retry_after(limited: Live) -> None:
    path = "/v1/recommend/similar/Metallica"  # cached after the first: fast
    with Store.open(limited.server.settings) as store:
        _, token = create_key(store, "five a minute", rate_limit=5)
    clock = limited.clock  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=limited.url, headers=headers) as client:
        first = [client.get(path).status_code for _ in range(8)]
        refused = client.get(path)
        clock[0] += 30
        still = client.get(path)
        clock[0] += 31  # the first five leave the window
        again = [client.get(path).status_code for _ in range(6)]
        with limited.client("read") as other:  # another key has its own budget
            assert other.get(path).status_code == 200
    assert first == [200] * 5 + [429] * 3
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "60"
    assert still.status_code == 429 and still.headers["retry-after"] == "30"
    assert again == [200] * 5 + [429]
    with httpx.Client(base_url=limited.url) as bare:
        text = bare.get("/metrics").text
    assert "timbre_api_rate_limited_total 6.0" in text


def test_keys_cli_creates_shows_once_lists_and_revokes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    code, out, err = run_cli(capsys, "--home", home, "keys", "create", "--name", "lab", "--admin")
    assert code == 0, err
    token = out.splitlines()[1]
    assert token.startswith("tmb_") and len(token) > 40 and "Shown only now" in err
    code, listed, _ = run_cli(capsys, "--home", home, "keys", "list")
    assert code == 0 and "lab" in listed and "admin" in listed and token not in listed
    assert token[:10] in listed
    code, out, _ = run_cli(capsys, "--home", home, "keys", "revoke", "1")
    assert code == 0 and "revoked" in out
    code, listed, _ = run_cli(capsys, "--home", home, "keys", "list", "--json")
    assert '"revoked_at": "' in listed
    code, _, err = run_cli(capsys, "--home", home, "keys", "revoke", "9")
    assert code == 1 and "no API key 9" in err
    code, _, err = run_cli(
        capsys, "--home", home, "keys", "create", "--name", "x", "--rate-limit", "0"
    )
    assert code == 1 and "rate_limit" in err
