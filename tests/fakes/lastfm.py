"""A loopback fake of the Last.fm web service (XML over HTTPS) with faults on demand.

It speaks what pylast expects from ``ws.audioscrobbler.com/2.0/``: a form-encoded POST with
``method``, ``api_key`` and the method's parameters; an ``<lfm status="ok">`` document (or
``<lfm status="failed"><error code="N">``) back. Lists are paged (``page``, ``limit``,
``totalPages``) and capped per page like the real service (1000 for top lists, 200 for recent
tracks). TLS uses a throwaway CA from ``trustme``; point ``SSL_CERT_FILE`` at :attr:`ca_path`.

Faults: a seeded share of all requests (``fault_rate``) gets a transient fault (error 29, 8, 11,
16, HTTP 500/503, a reply slower than the client's timeout, a malformed body, a dropped
connection); :meth:`FakeLastfm.fail` scripts faults for matching requests; users not in the data
are unknown (error 6); ``private`` users refuse their history (error 17); a wrong key is error 10.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

import trustme

TRANSIENT = ("29", "8", "11", "16", "500", "503", "slow", "malformed", "reset")
_ERROR_TEXT = {
    "6": "User not found",
    "8": "Operation failed - Most likely the backend service failed. Please try again.",
    "10": "Invalid API key - You must be granted a valid key by last.fm",
    "11": "Service Offline - This service is temporarily offline. Try again later.",
    "16": "There was a temporary error processing your request. Please try again",
    "17": "Login: User required to be logged in",
    "26": "Suspended API key - Access for your account has been suspended, please contact Last.fm",
    "29": "Rate Limit Exceeded - Your IP has made too many requests in a short period",
}
_HTTP_STATUS = {"6": 404, "10": 403, "17": 403, "26": 403, "29": 429}

ARTISTS = (
    "Sigur Rós",
    "Simon & Garfunkel",
    "Radiohead",
    "Björk",
    "Daft Punk",
    "Nina Simone",
    "Massive Attack",
    "Portishead",
    "The Beatles",
    "Kraftwerk",
    *(f"Fake Artist {i:02d}" for i in range(30)),
)
TAGS = ("rock", "electronic", "indie", "jazz", "ambient", "pop", "trip-hop", "folk", "soul")
#: Artists whose tags Last.fm does not know (error 6 on artist.getTopTags).
UNTAGGABLE = ("Fake Artist 29",)


@dataclass
class FakeUser:
    """One Last.fm account's data (lists strongest / newest first as the service serves them)."""

    name: str
    top_artists: list[tuple[str, int]] = field(default_factory=list)
    top_albums: list[tuple[str, str, int]] = field(default_factory=list)
    top_tracks: list[tuple[str, str, int]] = field(default_factory=list)
    loved: list[tuple[str, str, int]] = field(default_factory=list)
    #: (uts, title, artist, album), newest first
    scrobbles: list[tuple[int, str, str, str]] = field(default_factory=list)
    private: bool = False
    now_playing: tuple[str, str] | None = None


def make_user(name: str, scrobbles: int = 120, seed: int | None = None) -> FakeUser:
    """A deterministic user: top lists consistent with a scrobble history of ``scrobbles`` plays."""
    rng = random.Random(
        seed if seed is not None else int(hashlib.md5(name.encode()).hexdigest(), 16)
    )
    artists = rng.sample(ARTISTS, 12)
    weights = [1.0 / (i + 1) for i in range(len(artists))]
    start = 1_600_000_000 + rng.randrange(0, 10_000_000)
    plays: list[tuple[int, str, str, str]] = []
    when = start
    for _ in range(scrobbles):
        artist = rng.choices(artists, weights)[0]
        title = f"Song {rng.randrange(1, 9)} of {artist}"
        album = f"Album {rng.randrange(1, 3)} of {artist}"
        when += rng.randrange(120, 600)
        plays.append((when, title, artist, album))
    plays.reverse()  # newest first
    count = lambda keyf: sorted(  # noqa: E731
        _counts(keyf(p) for p in plays).items(), key=lambda kv: (-kv[1], kv[0])
    )
    top_artists = [(a, n) for a, n in count(lambda p: p[2])]
    top_albums = [(al, ar, n) for (al, ar), n in count(lambda p: (p[3], p[2]))]
    top_tracks = [(t, ar, n) for (t, ar), n in count(lambda p: (p[1], p[2]))]
    loved = [(t, ar, start + 50 * i) for i, (t, ar, _n) in enumerate(top_tracks[:5])]
    return FakeUser(name, top_artists, top_albums, top_tracks, loved, plays)


def _counts(values: Any) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


@dataclass
class Seen:
    """One request as the fake saw it (the API key is recorded only as right or wrong)."""

    at: float
    method: str
    params: dict[str, str]
    key_ok: bool
    fault: str | None = None


@dataclass
class _Script:
    fault: str
    times: int
    method: str | None
    user: str | None
    page: str | None

    def matches(self, method: str, params: dict[str, str]) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.user is None or params.get("user", "").lower() == self.user.lower())
            and (self.page is None or params.get("page", "1") == self.page)
        )


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, context: ssl.SSLContext | None):
        super().__init__(address, handler)
        self.context = context
        self.fake: FakeLastfm

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with contextlib.suppress(ConnectionError, ssl.SSLError, OSError, TimeoutError):
            super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        self.server.fake.handle(self, form)

    def do_GET(self) -> None:
        query = self.path.partition("?")[2]
        form = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        self.server.fake.handle(self, form)

    def reply(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, ssl.SSLError, OSError):
            self.close_connection = True


class FakeLastfm:
    """The fake service; use as a context manager (``with FakeLastfm(users) as fake:``).

    Parameters
    ----------
    users
        Accounts by name (case-insensitive); any other name is "User not found".
    api_key
        The only key accepted (``suspended_key`` is answered with error 26).
    fault_rate, fault_seed, faults
        Share of requests that get a random transient fault, its seed, and which faults.
    slow_seconds
        How long a "slow" reply takes (make it longer than the client's timeout).
    tls
        Serve HTTPS (what pylast needs); ``False`` for plain HTTP.
    """

    def __init__(
        self,
        users: dict[str, FakeUser] | list[FakeUser],
        api_key: str = "fake-lastfm-key-0123456789",
        *,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        faults: tuple[str, ...] = TRANSIENT,
        slow_seconds: float = 0.6,
        suspended_key: str | None = None,
        tls: bool = True,
        workdir: Path | None = None,
    ) -> None:
        listed = users.values() if isinstance(users, dict) else users
        self.users = {u.name.lower(): u for u in listed}
        self.api_key = api_key
        self.suspended_key = suspended_key
        self.fault_rate = fault_rate
        self.faults = faults
        self.slow_seconds = slow_seconds
        self.requests: list[Seen] = []
        self._rng = random.Random(fault_seed)
        self._lock = threading.Lock()
        self._scripts: list[_Script] = []
        self._tls = tls
        self._workdir = workdir
        self.ca_path: Path | None = None
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeLastfm:
        context = None
        if self._tls:
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(context)
            folder = self._workdir or Path(__import__("tempfile").mkdtemp(prefix="fake-lastfm-"))
            self.ca_path = folder / "fake-lastfm-ca.pem"
            ca.cert_pem.write_to_path(str(self.ca_path))
        self._server = _TLSServer(("127.0.0.1", 0), _Handler, context)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeLastfm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start the fake first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API root to give the client."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/2.0/"

    # -- scripting -----------------------------------------------------------------------------
    def fail(
        self,
        fault: str,
        times: int = 1,
        *,
        method: str | None = None,
        user: str | None = None,
        page: int | str | None = None,
    ) -> None:
        """The next ``times`` requests matching ``method`` / ``user`` / ``page`` get ``fault``:
        a Last.fm error code (``"29"``, ``"6"``...), an HTTP status (``"500"``), ``"slow"``,
        ``"malformed"``, ``"reset"`` or ``"echo-key"`` (error 8 whose text repeats the key)."""
        with self._lock:
            self._scripts.append(
                _Script(fault, times, method, user, None if page is None else str(page))
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.fault_rate = 0.0

    def requests_for(self, method: str | None = None, user: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (user is None or r.params.get("user", "").lower() == user.lower())
            ]

    # -- serving -------------------------------------------------------------------------------
    def handle(self, handler: _Handler, form: dict[str, str]) -> None:
        method = form.get("method", "")
        key = form.get("api_key", "")
        params = {k: v for k, v in form.items() if k not in ("api_key", "api_sig", "sk")}
        with self._lock:
            fault = None
            for script in self._scripts:
                if script.times > 0 and script.matches(method, params):
                    script.times -= 1
                    fault = script.fault
                    break
            if fault is None and self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
            self.requests.append(Seen(time.monotonic(), method, params, key == self.api_key, fault))
        if fault is not None and self._fault(handler, fault, key):
            return
        if key == self.suspended_key and key:
            return self._error(handler, "26")
        if key != self.api_key:
            return self._error(handler, "10")
        try:
            body = self._route(method, params)
        except _Err as err:
            return self._error(handler, err.code, err.text)
        handler.reply(
            200, f'<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="ok">\n{body}</lfm>\n'
        )

    def _fault(self, handler: _Handler, fault: str, key: str) -> bool:
        """Serve a fault; ``True`` when the reply is done (``slow`` replies late but normally)."""
        if fault == "slow":
            time.sleep(self.slow_seconds)
            return False
        if fault == "malformed":
            handler.reply(200, '<?xml version="1.0"?><lfm status="ok"><toptracks user=')
            return True
        if fault == "reset":
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault == "echo-key":
            self._error(handler, "8", f"Operation failed for key {key}")
            return True
        if fault in ("500", "502", "503", "504"):
            handler.reply(int(fault), "<html><body>Server error</body></html>")
            return True
        self._error(handler, fault)
        return True

    def _error(self, handler: _Handler, code: str, text: str | None = None) -> None:
        message = text or _ERROR_TEXT.get(code, "Error")
        handler.reply(
            _HTTP_STATUS.get(code, 400),
            '<?xml version="1.0" encoding="UTF-8"?>\n<lfm status="failed">\n'
            f'<error code="{code}">{escape(message)}</error>\n</lfm>\n',
        )

    def _user(self, params: dict[str, str]) -> FakeUser:
        user = self.users.get(params.get("user", "").lower())
        if user is None:
            raise _Err("6", "User not found")
        return user

    def _route(self, method: str, params: dict[str, str]) -> str:
        if method == "user.getInfo":
            user = self._user(params)
            return (
                f"<user><name>{escape(user.name)}</name><realname></realname>"
                f"<playcount>{len(user.scrobbles)}</playcount>"
                f'<registered unixtime="1500000000">2017-07-14 02:40</registered></user>\n'
            )
        if method == "user.getTopArtists":
            user = self._user(params)
            return self._paged(
                "topartists",
                user,
                params,
                user.top_artists,
                1000,
                lambda i, a: (
                    f'<artist rank="{i}"><name>{escape(a[0])}</name>'
                    f"<playcount>{a[1]}</playcount><mbid></mbid><url></url>"
                    '<streamable>0</streamable><image size="small"></image></artist>'
                ),
            )
        if method == "user.getTopAlbums":
            user = self._user(params)
            return self._paged(
                "topalbums",
                user,
                params,
                user.top_albums,
                1000,
                lambda i, a: (
                    f'<album rank="{i}"><name>{escape(a[0])}</name>'
                    f"<playcount>{a[2]}</playcount><mbid></mbid><url></url>"
                    f"<artist><name>{escape(a[1])}</name><mbid></mbid><url></url></artist>"
                    '<image size="small"></image></album>'
                ),
            )
        if method == "user.getTopTracks":
            user = self._user(params)
            return self._paged(
                "toptracks",
                user,
                params,
                user.top_tracks,
                1000,
                lambda i, t: (
                    f'<track rank="{i}"><name>{escape(t[0])}</name><duration>240</duration>'
                    f"<playcount>{t[2]}</playcount><mbid></mbid><url></url>"
                    '<streamable fulltrack="0">0</streamable>'
                    f"<artist><name>{escape(t[1])}</name><mbid></mbid><url></url></artist>"
                    '<image size="small"></image></track>'
                ),
            )
        if method == "user.getLovedTracks":
            user = self._user(params)
            return self._paged(
                "lovedtracks",
                user,
                params,
                user.loved,
                1000,
                lambda i, t: (
                    f"<track><name>{escape(t[0])}</name><mbid></mbid><url></url>"
                    f'<date uts="{t[2]}">{time.strftime("%d %b %Y, %H:%M", time.gmtime(t[2]))}'
                    f"</date><artist><name>{escape(t[1])}</name><mbid></mbid><url></url>"
                    '</artist><image size="small"></image><streamable fulltrack="0">0'
                    "</streamable></track>"
                ),
            )
        if method == "user.getRecentTracks":
            user = self._user(params)
            if user.private:
                raise _Err("17")
            low = int(params["from"]) if params.get("from") else -math.inf
            high = int(params["to"]) if params.get("to") else math.inf
            plays = [p for p in user.scrobbles if low <= p[0] < high]
            prefix = ""
            if user.now_playing and params.get("page", "1") == "1" and not params.get("to"):
                title, artist = user.now_playing
                prefix = (
                    f'<track nowplaying="true"><artist mbid="">{escape(artist)}</artist>'
                    f"<name>{escape(title)}</name><streamable>0</streamable><mbid></mbid>"
                    '<album mbid=""></album><url></url></track>'
                )
            return self._paged(
                "recenttracks",
                user,
                params,
                plays,
                200,
                lambda i, p: (
                    f'<track><artist mbid="">{escape(p[2])}</artist><name>{escape(p[1])}</name>'
                    f'<streamable>0</streamable><mbid></mbid><album mbid="">{escape(p[3])}'
                    f'</album><url></url><image size="small"></image><date uts="{p[0]}">'
                    f"{time.strftime('%d %b %Y, %H:%M', time.gmtime(p[0]))}</date></track>"
                ),
                prefix=prefix,
            )
        if method == "artist.getTopTags":
            artist = params.get("artist", "")
            if artist in UNTAGGABLE or not artist:
                raise _Err("6", "The artist you supplied could not be found")
            return self._tags(f"artist={quoteattr(artist)}", artist)
        if method == "track.getTopTags":
            artist, track = params.get("artist", ""), params.get("track", "")
            if artist in UNTAGGABLE or not track:
                raise _Err("6", "Track not found")
            return self._tags(f"artist={quoteattr(artist)} track={quoteattr(track)}", artist)
        raise _Err("3", "Invalid Method - No method with that name in this package")

    @staticmethod
    def _tags(attributes: str, seed: str) -> str:
        rng = random.Random(seed)
        tags = rng.sample(TAGS, 4)
        rows = "".join(
            f"<tag><count>{100 - 20 * i}</count><name>{escape(t.title() if i == 0 else t)}</name>"
            "<url></url></tag>"
            for i, t in enumerate(tags)
        )
        return f"<toptags {attributes}>{rows}</toptags>\n"

    @staticmethod
    def _paged(
        container: str,
        user: FakeUser,
        params: dict[str, str],
        rows: list[Any],
        cap: int,
        render: Any,
        prefix: str = "",
    ) -> str:
        try:
            limit = min(int(params.get("limit") or 50), cap)
            page = int(params.get("page") or 1)
        except ValueError:
            raise _Err("6", "Invalid parameters") from None
        limit = max(limit, 1)
        total_pages = math.ceil(len(rows) / limit)
        chunk = rows[(page - 1) * limit : page * limit]
        body = "".join(render((page - 1) * limit + i + 1, row) for i, row in enumerate(chunk))
        return (
            f'<{container} user={quoteattr(user.name)} page="{page}" perPage="{limit}" '
            f'totalPages="{total_pages}" total="{len(rows)}">{prefix}{body}</{container}>\n'
        )


class _Err(Exception):
    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.text = text
