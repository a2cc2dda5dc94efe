"""Hybrid engines for a registry run, and the metrics panel that follows the Tune sliders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from timbre import personality as pers
from timbre.evaluation import SplitSpec
from timbre.hybrid import HybridEngine, MetricsPanel, MMRSpace, Normalization
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.services.runs import Run, serve_run
from timbre.store import Store

#: The split behind every live metrics panel (the Tune page's "300 held-out users").
PANEL_SPLIT = SplitSpec()
#: How many held-out users the panel measures.
PANEL_SAMPLE = 300


def stored_profiles(store: Store) -> dict[str, dict[str, float]]:
    """Trait z-scores of every person's newest questionnaire profile, by user key."""
    return pers.latest_trait_z(store.list_profiles())


def engine_for_run(
    store: Store,
    data: InteractionData,
    run: Run,
    normalization: Normalization = "minmax",
    space: MMRSpace = "svd",
    coefficients: pd.DataFrame | None = None,
) -> HybridEngine:
    """The engine for a registry run's model, with every stored profile.

    It serves from the data the run was trained on (:func:`serve_run`): interactions that
    arrived since do not stop it; a person's newer plays reach it by fold-in
    (:mod:`timbre.services.people`)."""
    model, trained = serve_run(run, data)
    return HybridEngine(trained, model, stored_profiles(store), coefficients, normalization, space)


def metrics_panel(
    data: InteractionData,
    model: str,
    params: Mapping[str, Any],
    normalization: Normalization = "minmax",
    space: MMRSpace = "svd",
    split: SplitSpec = PANEL_SPLIT,
    sample: int | None = PANEL_SAMPLE,
    coefficients: pd.DataFrame | None = None,
) -> MetricsPanel:
    """A panel for a model family and its parameters, refitted on the train part of ``split``
    (the test items stay unseen) and ranking through an engine like the one that serves (with
    the same personality ``coefficients``)."""
    made = split.make(data)
    fitted = create_model(model, dict(params)).fit(made.train)
    engine = HybridEngine(made.train, fitted, None, coefficients, normalization, space)
    return MetricsPanel(engine, made, sample=sample)
