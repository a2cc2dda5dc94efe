"""The hybrid score: weights and presets, normalisation, the engine (the one ranking path),
MMR, tables and the live metrics panel."""

from __future__ import annotations

from timbre.hybrid.engine import HybridEngine
from timbre.hybrid.fusion import fuse
from timbre.hybrid.mmr import mmr
from timbre.hybrid.normalization import NORMALIZATIONS, Normalization, normalize, normalize_rows
from timbre.hybrid.panel import ILD_SPACE, MetricsPanel, ranking_lists
from timbre.hybrid.ranker import HybridRanker, hybrid_from_params
from timbre.hybrid.tables import (
    EXPORT_COLUMNS,
    batch_frame,
    batch_frames,
    export_batch,
    items_frame,
    ranking_frame,
    ranking_rows,
    rankings_frame,
)
from timbre.hybrid.types import (
    CONTENT_NOT_AVAILABLE,
    FEEDBACK_NEIGHBOURS,
    FEEDBACK_WEIGHT,
    MMR_SPACES,
    POOL,
    Components,
    Filters,
    MMRSpace,
    Prepared,
    Ranking,
)
from timbre.hybrid.weights import (
    CHOSEN,
    COMPONENTS,
    DEFAULT_SCHEDULE,
    KNOBS,
    PRESETS,
    ScheduleRule,
    Weights,
    preset,
    schedule_frame,
    schedule_from_frame,
    schedule_weights,
)

__all__ = [
    "CHOSEN",
    "COMPONENTS",
    "CONTENT_NOT_AVAILABLE",
    "DEFAULT_SCHEDULE",
    "EXPORT_COLUMNS",
    "FEEDBACK_NEIGHBOURS",
    "FEEDBACK_WEIGHT",
    "ILD_SPACE",
    "KNOBS",
    "MMR_SPACES",
    "NORMALIZATIONS",
    "POOL",
    "PRESETS",
    "Components",
    "Filters",
    "HybridEngine",
    "HybridRanker",
    "MMRSpace",
    "MetricsPanel",
    "Normalization",
    "Prepared",
    "Ranking",
    "ScheduleRule",
    "Weights",
    "batch_frame",
    "batch_frames",
    "export_batch",
    "fuse",
    "hybrid_from_params",
    "items_frame",
    "mmr",
    "normalize",
    "normalize_rows",
    "preset",
    "ranking_frame",
    "ranking_lists",
    "ranking_rows",
    "rankings_frame",
    "schedule_frame",
    "schedule_from_frame",
    "schedule_weights",
]
