"""The JSON API under a fixed offered load: ``GET /v1/recommend/user/{id}`` for random users.

Starts ``timbre serve`` as its own process on a free loopback port, on a demo home with the
default ALS run active (made in a scratch home when ``--home`` is not given), and drives it
with an open-loop asyncio client: request ``i`` is sent at ``start + i / rate`` whether or not
earlier ones have answered, and its latency counts from that moment (so a slow server cannot
hide queueing; a wait for a free connection counts too). Phases, each ``--seconds`` long at
``--rate`` requests/s:

- ``cold``: distinct random users on a fresh server: every answer is a cache miss (ranked);
- ``cached``: the same users again: every answer is a cache hit;
- ``floor`` (the reference, same run): a path no route serves (404) through the same server,
  client and rate: what HTTP, routing and the middleware cost without any Timbre work.

Before the server starts, the same handler runs in this process one request at a time for 200
other users (uncached, then cached): what a request costs the server without HTTP or queueing.

Then the rate limiter: a key with limit ``--limit`` gets ``2 x limit`` requests at once and
must answer exactly ``limit`` 200s and the rest 429 with ``Retry-After``.

The client (:class:`Connections`) is a bounded pool of :data:`CONNECTIONS` keep-alive
HTTP/1.1 connections on asyncio streams, opened before the first phase; every phase, the floor
included, uses it. It replaced an httpx ``AsyncClient`` with up to 400 connections, which on
the same 2 cores took 1.7 ms of CPU per request at the floor and 4.8 to 5.9 ms once answers
queued and the open connections multiplied: a third to a half of a core taken
from the server it measured. This one takes about 0.4 ms. Each phase reports the CPU seconds
per request of the server process (``/proc/PID/stat``) and of this client (``getrusage``), and
their share of the phase's wall time: what the server itself needs, and whether it got it
(other processes on the machine show as a server share below its need).

Goals (issue 18): cached p99 <= 20 ms, uncached p99 <= 100 ms at 100 requests/s, no errors, an
exact limiter. Run: ``.venv/bin/python -m benchmarks.bench_api [--home DIR]``; writes
``benchmarks/results/api.json``. Bounded: about 50 s, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"
#: Keep-alive connections of the load client: far more than the server answers at once (it
#: ranks one request at a time), so a slow answer makes others wait for the server, not for
#: the client; a request that finds every connection busy waits, and that wait counts.
CONNECTIONS = 64
#: The longest a phase may be asked to run (the whole benchmark stays near a minute).
MAX_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _timbre(home: Path, *argv: str) -> str:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "timbre", "--home", str(home), *argv]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"timbre {' '.join(argv)}: {done.stderr[-2000:]}")
    return done.stdout


def _prepare(home: Path | None, scratch: Path) -> Path:
    """A copy of ``home`` (or a new demo home with ALS) that the benchmark may write keys to."""
    target = scratch / "home"
    if home is not None:
        shutil.copytree(home, target)
    else:
        _timbre(target, "demo")
        _timbre(target, "train", "--model", "als")
    return target


def _key(home: Path, name: str, limit: int) -> str:
    made = json.loads(_timbre(home, "keys", "create", "--name", name, "--rate-limit", str(limit),
                              "--json"))  # fmt: skip
    return str(made["key"])


def _in_process(home: Path, users: list[str]) -> dict[str, Any]:
    """The same handler without HTTP, one request at a time in this process: what a request
    costs the server itself (uncached: ranked; cached: auth, marks and the lookup)."""
    import statistics

    from timbre import hybrid
    from timbre.api import routes
    from timbre.api.cache import MemoryCache
    from timbre.api.server import Server
    from timbre.config import Settings
    from timbre.services.keys import find_key

    server = Server(Settings(home=home), cache=MemoryCache())
    server.served()
    weights, filters = hybrid.Weights(), hybrid.Filters()
    out: dict[str, Any] = {}
    for phase in ("cold", "cached"):
        seconds = []
        for user in users:
            started = time.perf_counter()
            find_key(server.store, "tmb_not-a-key")
            routes._user_list(server, user, 10, weights, filters)
            seconds.append(1000 * (time.perf_counter() - started))
        seconds.sort()
        out[phase] = {
            "requests": len(seconds),
            "p50_ms": round(statistics.median(seconds), 2),
            "p99_ms": round(seconds[min(len(seconds) - 1, int(0.99 * len(seconds)))], 2),
        }
    server.close()
    return out


def _users(home: Path) -> list[str]:
    from timbre.config import Settings
    from timbre.services.data import load_data
    from timbre.store import Store

    with Store.open(Settings(home=home)) as store:
        return [str(u) for u in load_data(store).users.ids]


def _cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid`` so far (``None``: this process)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connections:
    """The load client: a bounded pool of keep-alive HTTP/1.1 connections on asyncio streams.

    Each request takes a free connection (or opens one while fewer than ``size`` are open, or
    waits for one), writes a ``GET`` and reads the status line, the headers and a
    ``Content-Length`` body. About 0.1 ms of client CPU a request, where httpx with 400
    connections took 2 to 6 ms and so competed with the server for the 2 cores."""

    def __init__(self, host: str, port: int, headers: dict[str, str], size: int) -> None:
        self.host, self.port, self.size = host, port, size
        lines = [f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self._free = asyncio.Queue()
        self.opened = 0

    async def open_all(self) -> None:
        """Open every connection now (not inside a timed phase)."""
        while self.opened < self.size:
            self.opened += 1
            self._free.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """``GET path``: the status, the headers (lower-case names) and the body."""
        if self._free.empty() and self.opened < self.size:
            self.opened += 1
            try:
                connection = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.opened -= 1
                raise
        else:
            connection = await self._free.get()
        reader, writer = connection
        try:
            writer.write(f"GET {path} HTTP/1.1\r\n".encode("latin-1") + self._head)
            status = int((await reader.readline()).split(b" ", 2)[1])
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers["content-length"]))
        except BaseException:
            self.opened -= 1
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.opened -= 1
            writer.close()
        else:
            self._free.put_nowait(connection)
        return status, headers, body

    async def close(self) -> None:
        while not self._free.empty():
            _, writer = self._free.get_nowait()
            writer.close()
        self.opened = 0


async def _phase(
    client: Connections,
    paths: list[str],
    rate: float,
    expect: int,
    cache: str | None,
    server_pid: int,
) -> dict[str, Any]:
    """Send ``paths`` at ``rate`` per second (open loop); latencies from each scheduled time
    (waiting for a free connection counts); CPU seconds of the server and of this client."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors: list[str] = []
    lag: list[float] = []

    async def one(path: str, due: float) -> None:
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(max(0.0, loop.time() - due))
        try:
            async with asyncio.timeout(30):
                status, headers, body = await client.get(path)
        except (OSError, TimeoutError, ValueError, KeyError, IndexError,
                asyncio.IncompleteReadError) as exc:  # fmt: skip
            errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies.append(loop.time() - due)
        if status != expect:
            errors.append(f"{status}: {body[:200]!r}")
        elif cache is not None and headers.get("x-timbre-cache") != cache:
            errors.append(f"cache {headers.get('x-timbre-cache')} (wanted {cache})")

    started = loop.time() + 0.2
    cpu = (_cpu_s(server_pid), _cpu_s(None))
    tasks = [asyncio.create_task(one(p, started + i / rate)) for i, p in enumerate(paths)]
    await asyncio.gather(*tasks)
    elapsed = loop.time() - started
    server_cpu, client_cpu = _cpu_s(server_pid) - cpu[0], _cpu_s(None) - cpu[1]
    ordered = sorted(latencies)

    def pct(q: float) -> float | None:
        if not ordered:
            return None
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "requests": len(paths),
        "offered_rps": rate,
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(1000 * ordered[-1], 2) if ordered else None,
        "errors": len(errors),
        "first_errors": errors[:5],
        "max_send_lag_ms": round(1000 * max(lag), 2) if lag else None,
        "connections_open": client.opened,
        "server_cpu_ms_per_request": round(1000 * server_cpu / len(paths), 2),
        "client_cpu_ms_per_request": round(1000 * client_cpu / len(paths), 2),
        "server_cpu_share": round(server_cpu / elapsed, 3),
        "client_cpu_share": round(client_cpu / elapsed, 3),
    }


async def _limiter(url: str, token: str, limit: int, path: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        answers = await asyncio.gather(*(client.get(path) for _ in range(2 * limit)))
    codes = [a.status_code for a in answers]
    retry = [a.headers.get("retry-after") for a in answers if a.status_code == 429]
    return {
        "limit": limit,
        "sent": len(codes),
        "ok": codes.count(200),
        "refused_429": codes.count(429),
        "other": len(codes) - codes.count(200) - codes.count(429),
        "all_429_have_retry_after": all(r is not None and int(r) >= 1 for r in retry),
        "exact": codes.count(200) == limit and codes.count(429) == limit,
    }


async def _run(
    port: int, token: str, users: list[str], rate: float, seconds: float, pid: int
) -> dict:
    count = int(rate * seconds)
    chosen = random.Random(18).sample(users, min(count, len(users)))
    paths = [f"/v1/recommend/user/{u}" for u in chosen]
    client = Connections("127.0.0.1", port, {"Authorization": f"Bearer {token}"}, CONNECTIONS)
    await client.open_all()
    try:
        warm, _, body = await client.get("/v1/recommend/user/nobody-warmup-0")  # the engine
        assert warm == 404, body
        floor = await _phase(client, ["/v1/no-such-route"] * len(paths), rate, 404, None, pid)
        cold = await _phase(client, paths, rate, 200, "miss", pid)
        cached = await _phase(client, paths, rate, 200, "hit", pid)
    finally:
        await client.close()
    return {"floor": floor, "cold": cold, "cached": cached, "paths": paths[:1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a home with the demo and an ALS run (default: make one)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (100)")
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds per phase (12)")
    parser.add_argument("--limit", type=int, default=50, help="the limiter check's key limit")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS:g}]")
    load_at_start = [round(v, 2) for v in os.getloadavg()]  # other work on the machine
    with tempfile.TemporaryDirectory() as scratch:
        home = _prepare(Path(args.home) if args.home else None, Path(scratch))
        token = _key(home, "bench", 10_000_000)
        limited = _key(home, "limited", args.limit)
        users = _users(home)
        alone = _in_process(home, random.Random(7).sample(users, 200))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        env.pop("TIMBRE_REDIS_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "timbre", "--home", str(home), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)
            load_before = os.getloadavg()
            phases = asyncio.run(_run(port, token, users, args.rate, args.seconds, server.pid))
            cached_path = phases.pop("paths")[0]
            limiter = asyncio.run(_limiter(url, limited, args.limit, cached_path))
            load_after = os.getloadavg()
        finally:
            server.terminate()
            server.wait(timeout=20)
    result = {
        **phases,
        "limiter": limiter,
        "in_process_one_at_a_time": alone,
        "ratio_cold_p50_to_floor_p50": round(
            phases["cold"]["p50_ms"] / phases["floor"]["p50_ms"], 2
        ),
        "ratio_cached_p50_to_floor_p50": round(
            phases["cached"]["p50_ms"] / phases["floor"]["p50_ms"], 2
        ),
        "goals": {
            "cached_p99_ms_max": 20,
            "cold_p99_ms_max": 100,
            "cached_met": phases["cached"]["p99_ms"] <= 20 and not phases["cached"]["errors"],
            "cold_met": phases["cold"]["p99_ms"] <= 100 and not phases["cold"]["errors"],
            "limiter_exact": limiter["exact"] and limiter["all_429_have_retry_after"],
        },
        "cpus": os.cpu_count(),
        "load_average_1_5_15_at_start": load_at_start,
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
