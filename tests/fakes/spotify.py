"""A loopback fake of Spotify's accounts service and Web API (JSON over HTTP) with faults.

Accounts: ``GET /authorize`` (PKCE, S256; answers like a user who clicked "Agree": a 302 to the
redirect URI with ``code`` and ``state``) and ``POST /api/token`` (``authorization_code`` with the
verifier checked against the challenge; ``refresh_token``). API under ``/v1/``: ``me``,
``me/top/tracks|artists`` (three time ranges, paged with absolute ``next`` URLs),
``me/player/recently-played`` (``after`` cursor in ms), ``me/tracks`` (paged), and
``audio-features`` (403 unless ``audio_features_allowed``, as for apps registered after
27 Nov 2024). Every API call needs a current ``Bearer`` token.

Faults on demand (:meth:`FakeSpotify.fail`): ``"429"`` (with ``Retry-After``), HTTP statuses,
``"slow"``, ``"malformed"`` and ``"reset"``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

GENRES = ("art pop", "trip hop", "icelandic indie", "chamber folk", "french house", "krautrock")


@dataclass
class FakeAccount:
    """The signed-in user's data."""

    user_id: str = "tess.listener"
    display_name: str = "Tess"
    #: per time range: track ids, strongest first
    top_tracks: dict[str, list[str]] = field(default_factory=dict)
    top_artists: dict[str, list[str]] = field(default_factory=dict)
    #: (played_at ms, track id), newest first
    recent: list[tuple[int, str]] = field(default_factory=list)
    #: (added_at iso, track id), newest first
    saved: list[tuple[str, str]] = field(default_factory=list)


def make_account(
    seed: int = 7, tracks: int = 90, saved: int = 120
) -> tuple[FakeAccount, dict[str, Any], dict[str, Any]]:
    """A deterministic account with its catalogue: ``(account, tracks by id, artists by id)``."""
    rng = random.Random(seed)
    artists = {
        f"ar{i:03d}xyz": {
            "id": f"ar{i:03d}xyz",
            "name": name,
            "type": "artist",
            "uri": f"spotify:artist:ar{i:03d}xyz",
            "genres": rng.sample(GENRES, 2),
        }
        for i, name in enumerate(
            ["Sigur Rós", "Simon & Garfunkel", "Radiohead", "Björk", "Daft Punk", "Kraftwerk"]
            + [f"Spotify Artist {i:02d}" for i in range(14)]
        )
    }
    artist_ids = list(artists)
    catalogue: dict[str, Any] = {}
    for i in range(tracks):
        artist = artists[rng.choice(artist_ids)]
        track_id = f"tr{i:04d}abcdefghij"
        catalogue[track_id] = {
            "id": track_id,
            "name": f"Track {i} by {artist['name']}",
            "type": "track",
            "uri": f"spotify:track:{track_id}",
            "duration_ms": 180_000 + 1000 * i,
            "artists": [{"id": artist["id"], "name": artist["name"], "type": "artist"}],
            "album": {"id": f"al{i:04d}", "name": f"Album {i % 7}", "type": "album"},
        }
    ids = list(catalogue)
    account = FakeAccount()
    for time_range in ("short_term", "medium_term", "long_term"):
        account.top_tracks[time_range] = rng.sample(ids, 50)
        account.top_artists[time_range] = rng.sample(artist_ids, 15)
    now = 1_760_000_000_000
    account.recent = [(now - 600_000 * i, rng.choice(ids)) for i in range(50)]
    account.saved = [
        (datetime.fromtimestamp(1_700_000_000 - 3600 * i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), t)
        for i, t in enumerate((ids * 3)[:saved])
    ]
    # a saved track whose id is missing (a local file) exercises the name key
    return account, catalogue, artists


@dataclass
class Seen:
    at: float
    method: str
    path: str
    query: dict[str, str]
    authorised: bool
    fault: str | None = None


@dataclass
class _Script:
    fault: str
    times: int
    path: str | None
    retry_after: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeSpotify

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake.handle(self, "GET", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.fake.handle(self, "POST", self.rfile.read(length))

    def reply(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


class FakeSpotify:
    """The fake accounts service and Web API on one loopback port (``with FakeSpotify() as f``)."""

    def __init__(
        self,
        client_id: str = "fake-client-id",
        *,
        audio_features_allowed: bool = False,
        page_cap: int = 50,
        slow_seconds: float = 0.6,
        deny: bool = False,
    ) -> None:
        self.client_id = client_id
        self.account, self.tracks, self.artists = make_account()
        self.audio_features_allowed = audio_features_allowed
        self.page_cap = page_cap
        self.slow_seconds = slow_seconds
        self.deny = deny
        self.requests: list[Seen] = []
        self.codes: dict[str, dict[str, str]] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.issued: list[str] = []
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._server: _Server | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeSpotify:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSpotify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_root(self) -> str:
        return self.root + "/v1/"

    @property
    def accounts_root(self) -> str:
        return self.root + "/"

    # -- scripting -----------------------------------------------------------------------------
    def fail(
        self, fault: str, times: int = 1, *, path: str | None = None, retry_after: int = 1
    ) -> None:
        """The next ``times`` API requests whose path contains ``path`` get ``fault``."""
        with self._lock:
            self._scripts.append(_Script(fault, times, path, retry_after))

    def expire_tokens(self) -> None:
        """Invalidate every access token (the client must refresh)."""
        with self._lock:
            self.access_tokens.clear()

    def api_requests(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.startswith("/v1/") and (path is None or path in r.path)
            ]

    def consent(self, authorize_url: str) -> str:
        """What a browser does when the user clicks "Agree": the URL Spotify redirects to."""
        import http.client

        parts = urlsplit(authorize_url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        conn.close()
        location = response.getheader("Location")
        assert response.status == 302 and location, (response.status, location)
        return location

    # -- serving -------------------------------------------------------------------------------
    def handle(self, handler: _Handler, method: str, body: bytes) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = handler.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self._lock:
            authorised = token in self.access_tokens
            fault = None
            script_wait = 1
            if parts.path.startswith("/v1/"):
                for script in self._scripts:
                    if script.times > 0 and (script.path is None or script.path in parts.path):
                        script.times -= 1
                        fault, script_wait = script.fault, script.retry_after
                        break
            self.requests.append(
                Seen(time.monotonic(), method, parts.path, query, authorised, fault)
            )
        if fault == "slow":
            time.sleep(self.slow_seconds)
        elif fault == "429":
            return handler.reply(
                429,
                {"error": {"status": 429, "message": "API rate limit exceeded"}},
                {"Retry-After": str(script_wait)},
            )
        elif fault == "malformed":
            return handler.reply(200, None, raw=b'{"items": [')
        elif fault == "reset":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return None
        elif fault is not None:
            return handler.reply(int(fault), {"error": {"status": int(fault), "message": "Error"}})
        if parts.path == "/authorize":
            return self._authorize(handler, query)
        if parts.path == "/api/token":
            form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
            return self._token(handler, form)
        if not parts.path.startswith("/v1/"):
            return handler.reply(404, {"error": {"status": 404, "message": "Not found"}})
        if not authorised:
            return handler.reply(401, {"error": {"status": 401, "message": "Invalid access token"}})
        return self._api(handler, parts.path.removeprefix("/v1/").rstrip("/"), query)

    def _authorize(self, handler: _Handler, query: dict[str, str]) -> None:
        redirect = query.get("redirect_uri", "")
        ok = (
            query.get("client_id") == self.client_id
            and query.get("response_type") == "code"
            and query.get("code_challenge_method") == "S256"
            and query.get("code_challenge")
            and redirect
        )
        if not ok:
            return handler.reply(400, {"error": "invalid_request"})
        state = {"state": query["state"]} if "state" in query else {}
        if self.deny:
            target = f"{redirect}?{urlencode({'error': 'access_denied', **state})}"
        else:
            code = secrets.token_urlsafe(16)
            with self._lock:
                self.codes[code] = {
                    "challenge": query["code_challenge"],
                    "redirect_uri": redirect,
                    "scope": query.get("scope", ""),
                }
            target = f"{redirect}?{urlencode({'code': code, **state})}"
        handler.reply(302, {}, {"Location": target})

    def _token(self, handler: _Handler, form: dict[str, str]) -> None:
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id:
            return handler.reply(
                400, {"error": "invalid_client", "error_description": "Invalid client"}
            )
        if grant == "authorization_code":
            with self._lock:
                issued = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            if (
                issued is None
                or issued["redirect_uri"] != form.get("redirect_uri")
                or issued["challenge"] != challenge
            ):
                return handler.reply(
                    400,
                    {"error": "invalid_grant", "error_description": "Invalid authorization code"},
                )
            scope = issued["scope"]
        elif grant == "refresh_token":
            with self._lock:
                known = form.get("refresh_token") in self.refresh_tokens
            if not known:
                return handler.reply(
                    400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
                )
            scope = "user-top-read user-read-recently-played user-library-read"
        else:
            return handler.reply(400, {"error": "unsupported_grant_type"})
        access, refresh = "AT-" + secrets.token_urlsafe(24), "RT-" + secrets.token_urlsafe(24)
        with self._lock:
            self.access_tokens.add(access)
            self.refresh_tokens.add(refresh)
            self.issued += [access, refresh]
        handler.reply(
            200,
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": refresh,
                "scope": scope,
            },
        )

    def _page(self, path: str, query: dict[str, str], rows: list[Any]) -> dict[str, Any]:
        limit = max(1, min(int(query.get("limit") or 20), self.page_cap))
        offset = int(query.get("offset") or 0)
        chunk = rows[offset : offset + limit]
        base = {k: v for k, v in query.items() if k not in ("limit", "offset")}

        def link(at: int) -> str:
            return f"{self.api_root}{path}?{urlencode({**base, 'limit': limit, 'offset': at})}"

        return {
            "href": link(offset),
            "items": chunk,
            "limit": limit,
            "next": link(offset + limit) if offset + limit < len(rows) else None,
            "offset": offset,
            "previous": link(max(0, offset - limit)) if offset else None,
            "total": len(rows),
        }

    def _api(self, handler: _Handler, path: str, query: dict[str, str]) -> None:
        account = self.account
        if path == "me":
            return handler.reply(
                200,
                {
                    "id": account.user_id,
                    "display_name": account.display_name,
                    "type": "user",
                    "uri": f"spotify:user:{account.user_id}",
                },
            )
        if path in ("me/top/tracks", "me/top/artists"):
            time_range = query.get("time_range", "medium_term")
            if path.endswith("tracks"):
                rows = [self.tracks[t] for t in account.top_tracks.get(time_range, [])]
            else:
                rows = [self.artists[a] for a in account.top_artists.get(time_range, [])]
            return handler.reply(200, self._page(path, query, rows))
        if path == "me/player/recently-played":
            after = int(query["after"]) if query.get("after") else None
            limit = max(1, min(int(query.get("limit") or 20), 50))
            plays = [p for p in account.recent if after is None or p[0] > after][:limit]
            items = [
                {
                    "track": self.tracks[t],
                    "played_at": datetime.fromtimestamp(ms / 1000, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%S.%f"
                    )[:-3]
                    + "Z",
                    "context": None,
                }
                for ms, t in plays
            ]
            cursors = {"after": str(plays[0][0]), "before": str(plays[-1][0])} if plays else None
            return handler.reply(
                200,
                {
                    "href": f"{self.api_root}{path}",
                    "items": items,
                    "limit": limit,
                    "next": None,
                    "cursors": cursors,
                },
            )
        if path == "me/tracks":
            rows = [{"added_at": at, "track": self.tracks[t]} for at, t in account.saved]
            return handler.reply(200, self._page(path, query, rows))
        if path == "audio-features":
            if not self.audio_features_allowed:
                return handler.reply(403, {"error": {"status": 403, "message": "Forbidden"}})
            ids = [i for i in query.get("ids", "").split(",") if i]
            rng = random.Random(",".join(ids))
            return handler.reply(
                200,
                {
                    "audio_features": [
                        {
                            "id": i,
                            "danceability": rng.random(),
                            "energy": rng.random(),
                            "key": rng.randrange(12),
                            "loudness": -rng.random() * 20,
                            "mode": rng.randrange(2),
                            "speechiness": rng.random() / 3,
                            "acousticness": rng.random(),
                            "instrumentalness": rng.random(),
                            "liveness": rng.random() / 2,
                            "valence": rng.random(),
                            "tempo": 80 + 80 * rng.random(),
                            "duration_ms": self.tracks.get(i, {}).get("duration_ms", 200_000),
                        }
                        for i in ids
                    ]
                },
            )
        return handler.reply(404, {"error": {"status": 404, "message": "Service not found"}})
