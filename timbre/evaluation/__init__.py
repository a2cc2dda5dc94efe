"""Offline evaluation: split and sweep specs, splits, metrics, the experiment runner, tests.

``splits`` (frozen split specs and the splitters), ``metrics`` (one definition per metric),
``runner`` (rankers fitted on a split and measured), ``sweeps`` (tuning on validation only),
``significance`` (paired tests) and ``files`` (the split and lists as tables).
"""

from __future__ import annotations

from timbre.evaluation.files import recommendation_frame, split_frames
from timbre.evaluation.metrics import (
    DEFINITIONS,
    ILD_SPACE,
    LIST_METRICS,
    RANKING_METRICS,
    average_popularity,
    coverage,
    intra_list_diversity,
    list_metrics,
    metric_label,
    novelty,
    ranking_metrics,
)
from timbre.evaluation.runner import (
    Experiment,
    ModelRanker,
    ModelResult,
    Ranker,
    as_rankers,
    evaluate_model,
    evaluate_ranker,
    parse_model_specs,
    recommend_lists,
    run_experiment,
)
from timbre.evaluation.significance import comparisons, holm, paired_test
from timbre.evaluation.splits import (
    PROTOCOLS,
    Protocol,
    Split,
    SplitSpec,
    make_split,
    split_leave_k_out,
    split_temporal,
    split_user_holdout,
)
from timbre.evaluation.sweeps import (
    SWEEP_MODES,
    RankerFactory,
    SweepMode,
    SweepResult,
    SweepSpec,
    best_config,
    model_factory,
    parse_grid,
    sweep,
)

__all__ = [
    "DEFINITIONS",
    "ILD_SPACE",
    "LIST_METRICS",
    "PROTOCOLS",
    "RANKING_METRICS",
    "SWEEP_MODES",
    "Experiment",
    "ModelRanker",
    "ModelResult",
    "Protocol",
    "Ranker",
    "RankerFactory",
    "Split",
    "SplitSpec",
    "SweepMode",
    "SweepResult",
    "SweepSpec",
    "as_rankers",
    "average_popularity",
    "best_config",
    "comparisons",
    "coverage",
    "evaluate_model",
    "evaluate_ranker",
    "holm",
    "intra_list_diversity",
    "list_metrics",
    "make_split",
    "metric_label",
    "model_factory",
    "novelty",
    "paired_test",
    "parse_grid",
    "parse_model_specs",
    "ranking_metrics",
    "recommend_lists",
    "recommendation_frame",
    "run_experiment",
    "split_frames",
    "split_leave_k_out",
    "split_temporal",
    "split_user_holdout",
    "sweep",
]
