"""The JSON API (FastAPI) on ``timbre.services``: keys, limits, cache, health and metrics."""

from __future__ import annotations

from timbre.api.app import create_app

__all__ = ["create_app"]
