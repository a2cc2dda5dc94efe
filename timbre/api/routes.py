"""``/v1`` recommendation endpoints (user, similar, cold start, next track, feedback) and
``/health`` / ``/metrics``: each calls the same service functions as the CLI and the app.

The routes (and the key dependencies in ``auth.py``) are ``async``: they run one at a time on
the server's event loop. Ranking is CPU work under the GIL; in Starlette's thread pool the
threads only contended for it (benchmarks/bench_api.py: 42 uncached answers/s instead of 98 at
100 offered, cached p99 6.1 s instead of 15 ms). The Last.fm collection's routes, which wait on
the network, stay in the pool."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from timbre import hybrid
from timbre.api.auth import admin_key, read_key, server_of
from timbre.api.cache import cache_key
from timbre.api.errors import ApiError
from timbre.api.schemas import (
    MAX_N,
    FeedbackBody,
    NextTrackBody,
    RecommendationsBody,
    filters_of,
    records,
    weights_of,
)
from timbre.api.server import Served, Server
from timbre.services.feedback import record_feedback
from timbre.services.keys import ApiKey
from timbre.services.people import identify
from timbre.services.recommendations import (
    ListenerList,
    next_track,
    rank_listener,
    rank_profile,
    similar_items,
)

router = APIRouter()
ReadKey = Annotated[ApiKey, Depends(read_key)]
AdminKey = Annotated[ApiKey, Depends(admin_key)]
N = Annotated[int, Query(ge=1, le=MAX_N, description="how many items")]
#: The header that says whether a list came from the cache.
CACHE_HEADER = "X-Timbre-Cache"


def _json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _answer(body: bytes, cached: bool | None = None) -> Response:
    headers = {} if cached is None else {CACHE_HEADER: "hit" if cached else "miss"}
    return Response(body, media_type="application/json", headers=headers)


def _cached(server: Server, key: str, compute: Callable[[], bytes]) -> Response:
    """The cached body under ``key``, else ``compute()`` stored under it."""
    body = server.cache.get(key)
    if body is not None:
        server.metrics.cache.labels("hit").inc()
        return _answer(body, True)
    server.metrics.cache.labels("miss").inc()
    body = compute()
    server.cache.set(key, body)
    return _answer(body, False)


def _list_payload(served: Served, weights: hybrid.Weights, made: ListenerList) -> bytes:
    data = served.engine.data
    payload: dict[str, Any] = {
        "run_id": served.run_id,
        "model": served.run["model"],
        "dataset": served.run["dataset"],
        "user_id": made.person,
        "weights": weights.as_dict(),
        "rule": made.ranking.rule,
        "notes": list(made.ranking.notes),
        "recommendations": records(made.rows),
    }
    if made.seeds:
        payload["seeds"] = [data.items.id(s) for s in made.seeds]
    if made.mapped is not None:
        payload["mapped"] = made.mapped.as_dict()
    return _json(payload)


def _user_list(
    server: Server, user_id: str, n: int, weights: hybrid.Weights, filters: hybrid.Filters
) -> Response:
    with server.store.reading():  # the five reads of an answer on one connection
        return _user_answer(server, user_id, n, weights, filters)


def _user_answer(
    server: Server, user_id: str, n: int, weights: hybrid.Weights, filters: hybrid.Filters
) -> Response:
    served = server.served()
    who = identify(server.store, user_id)  # read once: for the key, and to rank on a miss
    key = cache_key(
        kind="user",
        run=served.run_id,
        profiles=served.marks[2:],
        person=who.key,
        marks=server.store.interaction_marks([who.key, *who.accounts]),
        weights=weights.as_dict(),
        filters=asdict(filters),
        n=n,
    )

    def compute() -> bytes:
        made = rank_listener(server.store, served.engine, user_id, weights, n, filters, who=who)
        return _list_payload(served, weights, made)

    return _cached(server, key, compute)


@router.get("/v1/recommend/user/{user_id}", tags=["recommendations"])
async def recommend_user(
    user_id: str,
    request: Request,
    _key: ReadKey,
    n: N = 10,
    preset: Annotated[str | None, Query(description="a named weight set")] = None,
    weights: Annotated[
        str | None, Query(description="cf=..,content=..,personality=..,novelty=..,diversity=..")
    ] = None,
    filters: Annotated[
        str | None,
        Query(description="min_listeners=5,include_tags=rock|pop,include_seen=true,..."),
    ] = None,
) -> Response:
    """A person's hybrid list with each component's contribution and "because" (cached per
    run, person, weights and filters)."""
    server = server_of(request)
    return _user_list(server, user_id, n, weights_of(preset, weights), filters_of(filters))


@router.get("/v1/recommend/similar/{item_id}", tags=["recommendations"])
async def recommend_similar(
    item_id: str,
    request: Request,
    _key: ReadKey,
    n: N = 10,
    cf: bool = True,
    content: bool = True,
) -> Response:
    """Items like one item: CF and/or content similarity, each normalised, averaged."""
    server = server_of(request)
    served = server.served()
    key = cache_key(kind="similar", run=served.run_id, item=item_id, n=n, cf=cf, content=content)

    def compute() -> bytes:
        frame, item = similar_items(served.engine, item_id, n, cf, content)
        item_key = served.engine.data.items.id(item)
        payload = {"run_id": served.run_id, "item_id": item_key, "similar": records(frame)}
        return _json(payload)

    return _cached(server, key, compute)


@router.post("/v1/recommendations", tags=["recommendations"])
async def recommendations(body: RecommendationsBody, request: Request, _key: ReadKey) -> Response:
    """A list for a person by ``user_id`` (as ``GET /v1/recommend/user``), or a cold-start
    list from ``traits`` (Big Five z-scores) and/or ``seed_items``."""
    server = server_of(request)
    weights = weights_of(body.preset, body.weights)
    filters = body.filters.filters()
    if body.user_id is not None:
        if body.traits or body.seed_items:
            message = "give user_id, or traits and/or seed_items, not both"
            raise ApiError(422, "invalid_request", message, "user_id")
        return _user_list(server, body.user_id, body.n, weights, filters)
    served = server.served()
    made = rank_profile(served.engine, body.traits, body.seed_items, weights, body.n, filters)
    return _answer(_list_payload(served, weights, made))


@router.post("/v1/next-track", tags=["recommendations"])
async def next_tracks(body: NextTrackBody, request: Request, _key: ReadKey) -> Response:
    """What to play after ``track_sequence`` (item ids or names, oldest first)."""
    server = server_of(request)
    served = server.served()
    weights = weights_of(body.preset, body.weights)
    frame, seeds = next_track(
        served.engine, body.track_sequence, weights, body.n, body.filters.filters()
    )
    data = served.engine.data
    payload = {
        "run_id": served.run_id,
        "weights": weights.as_dict(),
        "seeds": [data.items.id(s) for s in seeds],
        "recommendations": records(frame),
    }
    return _answer(_json(payload))


@router.post("/v1/feedback", tags=["recommendations"])
async def feedback(body: FeedbackBody, request: Request, _key: AdminKey) -> JSONResponse:
    """Like, skip or block items for a person, as the app's buttons do; their next list
    reflects it at once (its cache entry no longer matches)."""
    server = server_of(request)
    served = server.served()
    done = record_feedback(
        server.store, served.engine.data, body.user_id, body.items, body.kind, body.undo
    )
    return JSONResponse(
        {
            "user_id": done.person,
            "kind": done.kind,
            "items": list(done.item_keys),
            "rows": done.rows,
            "undo": done.undo,
        }
    )


@router.get("/health", tags=["service"])
async def health(request: Request) -> JSONResponse:
    """The store answers, the active run is loaded (and how old it is); 503 when not."""
    ok, body = server_of(request).health()
    return JSONResponse({"status": "ok" if ok else "unavailable", **body}, 200 if ok else 503)


@router.get("/metrics", tags=["service"])
async def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency per endpoint, cache hits and misses,
    rate-limit rejections, the served model's age."""
    from prometheus_client import CONTENT_TYPE_LATEST

    server = server_of(request)
    served = server.loaded()
    if served is not None:
        server.metrics.model_age.set(served.model_age_s())
    return Response(server.metrics.text(), media_type=CONTENT_TYPE_LATEST)
