"""Recommender models behind one contract (:class:`~timbre.models.base.Recommender`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from timbre.errors import ParameterError
from timbre.models.base import (
    Param,
    ParamSpec,
    ProgressCallback,
    Recommendations,
    Recommender,
    top_n,
)
from timbre.models.content import Content
from timbre.models.factorization import ALS, BPR
from timbre.models.linear import EASE, Popularity
from timbre.models.neighbours import ItemKNN, UserKNN

#: Every model family by its registry name, in the order the UI lists them.
MODELS: dict[str, type[Recommender]] = {
    klass.name: klass for klass in (ALS, BPR, ItemKNN, UserKNN, EASE, Popularity, Content)
}


def model_class(name: str) -> type[Recommender]:
    """The model class registered as ``name``; ``ValueError`` listing the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise ParameterError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def parse_params(name: str, assignments: Sequence[str]) -> dict[str, Any]:
    """Turn ``["factors=32", "weighting=log"]`` into typed, validated parameters for ``name``.

    Raises ``ValueError`` naming the parameter (unknown name, wrong type, out of range).
    """
    specs = {spec.name: spec for spec in model_class(name).param_specs()}
    params: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"parameters are key=value; got {assignment!r}")
        if key not in specs:
            raise ParameterError(
                f"the {name} model has no parameter {key!r}; it has {', '.join(specs)}"
            )
        params[key] = specs[key].parse(value)
    return params


def create_model(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
    """A new, unfitted model of family ``name`` with ``params`` (validated)."""
    klass = model_class(name)
    specs = {spec.name: spec for spec in klass.param_specs()}
    for key, value in (params or {}).items():
        if key not in specs:
            raise ParameterError(
                f"the {name} model has no parameter {key!r}; it has {', '.join(specs)}"
            )
        specs[key].validate(value)
    return klass(**dict(params or {}))


__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "MODELS",
    "Content",
    "ItemKNN",
    "Param",
    "ParamSpec",
    "Popularity",
    "ProgressCallback",
    "Recommendations",
    "Recommender",
    "UserKNN",
    "create_model",
    "model_class",
    "parse_params",
    "top_n",
]
