"""The engine computes a component only when a weight uses it (issue 15, serving at scale):
with cf-only weights the content model is never fitted and no personality scores are made,
on every path (rank, rank_many, next_tracks, group, the all-listeners export); and the lists
are exactly those of the eager path (every component computed up front), batched MMR and
batched reasons included."""

from __future__ import annotations

import numpy as np
import pytest

from timbre import hybrid
from timbre.hybrid import HybridEngine, Weights
from timbre.hybrid.mmr import mmr, mmr_rows
from timbre.hybrid.reasons import because, because_rows
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.models.base import top_n_rows

CF_ONLY = hybrid.preset("cf-only")
#: Every component and the diversity bonus (MMR).
EVERYTHING = Weights(cf=0.5, content=0.2, personality=0.1, novelty=0.1, diversity=0.1)


@pytest.fixture(scope="module")
def model(demo_data: InteractionData) -> object:
    return create_model("als", {"factors": 16, "iterations": 5}).fit(demo_data)


def _engine(data: InteractionData, model: object) -> HybridEngine:
    profile = {"openness": 2.0, "agreeableness": -1.0}
    return HybridEngine(data, model, profiles={data.users.id(3): profile})  # type: ignore[arg-type]


def _content_fitted(engine: HybridEngine) -> bool:
    return "content_model" in engine.__dict__


def test_cf_only_never_fits_the_content_model_nor_scores_personality(
    demo_data: InteractionData, model: object
) -> None:
    engine = _engine(demo_data, model)
    users = np.arange(40)
    frame = hybrid.batch_frame(engine, users, CF_ONLY, 5, schedule=None)
    assert frame["user_id"].nunique() == 40
    one = engine.components_for_user(3)
    engine.rank(one, CF_ONLY, 5, schedule=None)
    members = engine.components_batch(users[:8], needs={"cf": np.ones(8, dtype=bool)})
    engine.rank_many(members, CF_ONLY, 5, schedule=None)
    engine.next_tracks([1, 2, 3], CF_ONLY, 5)
    engine.group([0, 1, 2], CF_ONLY, 5)
    row = engine.components_for_row(demo_data.user_items[5])
    engine.rank(row, CF_ONLY, 5, schedule=None)
    assert not _content_fitted(engine)
    for components in (one, *members, row):
        assert components.raw.computed() <= {"cf", "novelty"}  # type: ignore[attr-defined]
    # reading a component computes it then, and only then
    assert np.isfinite(one.raw["content"]).any()
    assert _content_fitted(engine)
    assert "content" in one.raw.computed()  # type: ignore[attr-defined]


def test_the_cold_start_rule_gets_its_components_and_no_one_else(
    demo_data: InteractionData, model: object
) -> None:
    engine = _engine(demo_data, model)
    histories = demo_data.items_per_user
    cold = int(np.flatnonzero((histories > 0) & (histories < 5))[0])
    warm = int(np.flatnonzero(histories >= 5)[0])
    needs = hybrid.fusion.component_needs([histories[cold], histories[warm]], CF_ONLY)
    members = engine.components_batch([cold, warm], needs=needs)
    rankings = engine.rank_many(members, CF_ONLY, 5)
    assert members[0].raw.computed() >= {"cf", "content"}  # type: ignore[attr-defined]
    assert "content" not in members[1].raw.computed()  # type: ignore[attr-defined]
    assert rankings[0].contributions["content"].any()
    assert not rankings[1].contributions["content"].any()


@pytest.mark.parametrize("weights", [CF_ONLY, Weights(), EVERYTHING])
def test_lazy_lists_equal_the_eager_path(
    demo_data: InteractionData, model: object, weights: Weights
) -> None:
    users = np.arange(0, 1800, 7)
    lazy = _engine(demo_data, model)
    eager = _engine(demo_data, model)
    rankings = lazy.rank_many(
        lazy.components_batch(
            users, needs=hybrid.fusion.component_needs(demo_data.items_per_user[users], weights)
        ),
        weights,
        20,
    )
    reference = eager.rank_prepared(eager.prepare(eager.components_batch(users)), weights, 20)
    for got, want in zip(rankings, reference, strict=True):
        assert np.array_equal(got.items, want.items)
        assert np.array_equal(got.scores, want.scores)
        assert got.because == want.because
        for name, values in want.contributions.items():
            assert np.array_equal(got.contributions[name], values), name
    one = lazy.rank(lazy.components_for_user(int(users[3])), weights, 20)
    assert np.array_equal(one.items, reference[3].items)
    assert one.because == reference[3].because


def test_batched_mmr_and_reasons_equal_one_listener_at_a_time(
    demo_data: InteractionData, model: object
) -> None:
    engine = _engine(demo_data, model)
    users = np.arange(0, 1800, 11)
    members = engine.components_batch(users)
    prepared = engine.prepare(members)
    fused = hybrid.fuse(prepared.parts, EVERYTHING)
    np.copyto(fused, np.float32(-np.inf), where=~prepared.masks)
    pools = top_n_rows(fused, 100)
    pools[0] = (pools[0][0][:7], pools[0][1][:7])  # a short pool pads the batch
    for diversity in (0.0, 0.05, 0.5, 2.0):
        batched = mmr_rows(pools, engine.mmr_space, diversity, 20)
        for (pool, values), (items, bonus) in zip(pools, batched, strict=True):
            want_items, want_bonus = mmr(pool, values, engine.mmr_space, diversity, 20)
            assert np.array_equal(items, want_items)
            assert np.array_equal(bonus, want_bonus)
    lists = [items for items, _ in mmr_rows(pools, engine.mmr_space, 0.1, 20)]
    rows = [c.row for c in members]
    for k in (1, 3):
        batched_reasons = because_rows(engine.reason_space, rows, lists, k)
        for row, items, (got, table) in zip(rows, lists, batched_reasons, strict=True):
            want = because(engine.reason_space, row, items, k)
            assert got == want
            assert [[int(i) for i in t if i >= 0] for t in table] == want


def test_float32_throughout(demo_data: InteractionData, model: object) -> None:
    engine = _engine(demo_data, model)
    members = engine.components_batch(np.arange(10))
    parts = engine.normalized_batch(members)
    assert {v.dtype for v in parts.values()} == {np.dtype(np.float32)}
    assert {members[0].raw[c].dtype for c in hybrid.COMPONENTS} == {np.dtype(np.float32)}
    assert engine.attribute_matrix.dtype == np.float32


def test_a_users_row_is_the_scipy_row(demo_data: InteractionData, model: object) -> None:
    engine = _engine(demo_data, model)
    users = np.array([0, 5, 17, 3])
    for user, components in zip(users, engine.components_batch(users, needs={}), strict=True):
        want = demo_data.user_items[int(user)]
        assert (components.row != want).nnz == 0 and components.row.shape == want.shape
        assert np.array_equal(components.row.indices, want.indices)
        assert np.array_equal((components.row + want).toarray(), 2 * want.toarray())
