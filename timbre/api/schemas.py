"""Request bodies and the parsing of weights and filters (a bad one is a 422 naming it)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from timbre import hybrid
from timbre.api.errors import ApiError
from timbre.errors import ParameterError

#: The longest list one request may ask for.
MAX_N = 200


class FiltersBody(BaseModel):
    """Which items may be listed (:class:`timbre.hybrid.Filters`)."""

    model_config = ConfigDict(extra="forbid")
    include_seen: Annotated[bool, Field(description="also list items already heard")] = False
    include_tags: list[str] = Field(default_factory=list, description="only items with a tag")
    exclude_tags: list[str] = Field(default_factory=list, description="never items with a tag")
    min_listeners: Annotated[int, Field(ge=0)] = 0
    max_listeners: Annotated[int | None, Field(ge=0)] = None
    presenter_safe: Annotated[bool, Field(description="hide blocklisted names")] = False

    def filters(self) -> hybrid.Filters:
        return hybrid.Filters(
            exclude_seen=not self.include_seen,
            include_tags=tuple(t.strip() for t in self.include_tags if t.strip()),
            exclude_tags=tuple(t.strip() for t in self.exclude_tags if t.strip()),
            min_listeners=self.min_listeners,
            max_listeners=self.max_listeners,
            presenter_safe=self.presenter_safe,
        )


class RankBody(BaseModel):
    """How long a list, with which weights (a preset, or weights by component) and filters."""

    model_config = ConfigDict(extra="forbid")
    n: Annotated[int, Field(ge=1, le=MAX_N)] = 10
    preset: str | None = None
    weights: dict[str, float] | None = Field(
        None, description="cf, content, personality, novelty, diversity (missing = 0)"
    )
    filters: FiltersBody = Field(default_factory=lambda: FiltersBody())


class RecommendationsBody(RankBody):
    """A person by id, or someone known only by trait z-scores and/or seed items."""

    user_id: Annotated[str | None, Field(min_length=1)] = None
    traits: dict[str, float] | None = Field(
        None, description="Big Five z-scores: extraversion, agreeableness, ..."
    )
    seed_items: list[str] = Field(default_factory=list, description="item ids or names")


class NextTrackBody(RankBody):
    """What to play after a sequence of items (ids or names, oldest first)."""

    track_sequence: list[str] = Field(min_length=1)


class FeedbackBody(BaseModel):
    """Like, skip or block items for a person (``undo`` removes the reaction)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1)
    items: list[str] = Field(min_length=1, description="item ids or names")
    kind: Literal["like", "skip", "block"]
    undo: bool = False


class UsersBody(BaseModel):
    """Last.fm user names to track."""

    model_config = ConfigDict(extra="forbid")
    names: list[str] = Field(min_length=1)


class FetchBody(BaseModel):
    """Which kinds to fetch (default: all)."""

    model_config = ConfigDict(extra="forbid")
    kinds: list[str] | None = None


class BulkFetchBody(FetchBody):
    """Which users to fetch (default: every tracked one) and which kinds."""

    names: list[str] | None = None


def weights_of(preset: str | None, weights: str | dict[str, float] | None) -> hybrid.Weights:
    """The weights of a request: ``weights`` (text ``cf=..,content=..`` or a mapping), else a
    preset, else the defaults; a bad one is a 422 naming the field."""
    if preset and weights:
        raise ApiError(422, "invalid_request", "give preset or weights, not both", "weights")
    try:
        if isinstance(weights, dict):
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in weights.values()):
                raise ParameterError("weights must be finite numbers")
            weights = ",".join(f"{k}={v!r}" for k, v in weights.items())
        if weights:
            return hybrid.Weights.parse(weights)
        if preset:
            return hybrid.preset(preset)
    except ParameterError as exc:
        raise ApiError(
            422, "invalid_parameter", str(exc), "weights" if weights else "preset"
        ) from None
    return hybrid.Weights()


def filters_of(text: str | None) -> hybrid.Filters:
    """Filters from a query string ``min_listeners=5,include_tags=rock|pop,include_seen=true``
    (tags separated by ``|``); a bad one is a 422 naming ``filters``."""
    if not text:
        return hybrid.Filters()
    values: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        if not sep:
            message = f"filters: {part!r} is not name=value"
            raise ApiError(422, "invalid_request", message, "filters")
        name = name.strip()
        tags = name in ("include_tags", "exclude_tags")
        values[name] = [t for t in value.split("|") if t.strip()] if tags else value.strip()
    try:
        return FiltersBody(**values).filters()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(
            422, "invalid_request", f"filters.{where}: {first['msg']}", "filters"
        ) from None


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready records (missing values are ``null``)."""
    rows = frame.to_dict("records")
    for row in rows:
        for name, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[name] = None
    return [{str(k): v for k, v in row.items()} for row in rows]
