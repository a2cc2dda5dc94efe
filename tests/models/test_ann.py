"""Approximate similar items past a catalogue size (issue 15, item 4): forced on the demo with
a low threshold, the approximate index's lists hold >= 95% of the exact top-50 (recall@50), go
through the same calls (the model's similar items and the hybrid engine's), and exact search
stays the default below the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from timbre.hybrid import HybridEngine
from timbre.interactions import InteractionData
from timbre.models import ann, create_model
from timbre.models.factorization import ALS


@pytest.fixture(scope="module")
def als(demo_data: InteractionData) -> ALS:
    model = create_model("als", {"factors": 32, "iterations": 5}).fit(demo_data)
    assert isinstance(model, ALS)
    return model


def _items(data: InteractionData, count: int = 60) -> list[int]:
    popular = np.argsort(-data.listeners, kind="stable")[:2000]
    return [int(i) for i in np.random.default_rng(0).choice(popular, count, replace=False)]


def test_exact_below_the_threshold(als: ALS, demo_data: InteractionData) -> None:
    assert demo_data.n_items < ann.ANN_MIN_ITEMS
    assert als.similar_candidates(0, 10) is None


def test_forced_ann_keeps_recall_at_50(
    als: ALS, demo_data: InteractionData, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _items(demo_data)
    exact = [als.similar_items(i, 50).items for i in items]
    monkeypatch.setattr(ann, "ANN_MIN_ITEMS", 1000)
    approximate = [als.similar_items(i, 50) for i in items]
    candidates = als.similar_candidates(items[0], 51)
    assert candidates is not None and len(candidates) < demo_data.n_items / 10
    recall = np.mean(
        [len(set(a.items) & set(b)) / 50 for a, b in zip(approximate, exact, strict=True)]
    )
    assert recall >= 0.95, recall
    for item, ranking in zip(items, approximate, strict=True):
        assert item not in ranking.items and len(ranking.items) == 50
        # each listed item is scored exactly, as the exact search scores it
        full = als._item_similarity(item)
        assert np.allclose(ranking.scores, full[ranking.items], rtol=1e-5, atol=1e-6)


def test_the_engine_ranks_similar_items_from_the_same_candidates(
    als: ALS, demo_data: InteractionData, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = HybridEngine(demo_data, als)
    items = _items(demo_data, 20)
    exact = [engine.similar(i, 50, use_content=False)[0] for i in items]
    monkeypatch.setattr(ann, "ANN_MIN_ITEMS", 1000)
    recall = []
    for item, want in zip(items, exact, strict=True):
        got, scores = engine.similar(item, 50, use_content=False)
        candidates = als.similar_candidates(item, 51)
        assert candidates is not None and set(got.tolist()) <= set(candidates.tolist())
        assert np.all(np.diff(scores) <= 0)
        recall.append(len(set(got.tolist()) & set(want.tolist())) / 50)
        both, _ = engine.similar(item, 10)  # CF and content, over the same candidates
        assert set(both.tolist()) <= set(candidates.tolist())
    assert np.mean(recall) >= 0.95
