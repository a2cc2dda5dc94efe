"""The hybrid score: weights, normalisation, single-component rankings, MMR, cold start, export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from timbre import hybrid
from timbre.evaluation import intra_list_diversity
from timbre.export import csv_text, provenance, write_csv
from timbre.hybrid import COMPONENTS, Filters, HybridEngine, Weights
from timbre.interactions import InteractionData
from timbre.models import create_model
from timbre.models.base import top_n


@pytest.fixture(scope="module")
def engine(demo_data: InteractionData) -> HybridEngine:
    model = create_model("als", {"factors": 32}).fit(demo_data)
    profile = {"openness": 2.0, "agreeableness": -1.0}
    return HybridEngine(demo_data, model, profiles={demo_data.users.id(3): profile})


def test_weights_are_validated_and_parsed() -> None:
    with pytest.raises(ValueError, match="at least one of the weights"):
        Weights(cf=0, content=0, personality=0, novelty=0, diversity=0.5)
    with pytest.raises(ValueError, match="'novelty' must be a non-negative"):
        Weights(novelty=-0.1)
    with pytest.raises(ValueError, match="'cf' must be a non-negative"):
        Weights(cf=float("nan"))
    parsed = Weights.parse("cf=0.4, personality=0.4,diversity=0.1,novelty=0.1")
    assert parsed == hybrid.PRESETS["original"]
    with pytest.raises(ValueError, match="weights are name=value"):
        Weights.parse("history=1")
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        hybrid.preset("fast")


def test_normalisations_keep_the_order_and_map_nan_to_the_minimum() -> None:
    values = np.array([3.0, -1.0, np.nan, 10.0, 3.0])
    for method in hybrid.NORMALIZATIONS:
        out = hybrid.normalize(values, method)
        known = ~np.isnan(values)
        assert np.array_equal(
            np.argsort(values[known], kind="stable"), np.argsort(out[known], kind="stable")
        )
        assert out[2] == out[known].min()
        assert out[0] == out[4]  # ties stay ties
    assert hybrid.normalize(values, "minmax")[3] == 1.0
    z = hybrid.normalize(np.array([1.0, 2.0, 3.0]), "zscore")
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    with pytest.raises(ValueError, match="normalization must be one of"):
        hybrid.normalize(values, "softmax")


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("method", ["minmax", "rank", "zscore"])
def test_all_weight_on_one_component_reproduces_its_own_ranking(
    engine: HybridEngine, component: str, method: str
) -> None:
    engine.normalization = method
    try:
        components = engine.components_for_user(3)
        weights = Weights(
            **{c: (1.0 if c == component else 0.0) for c in COMPONENTS}, diversity=0.0
        )
        ranking = engine.rank(components, weights, n=20, schedule=None)
        raw = components.raw[component].astype(np.float64).copy()
        raw[np.isnan(raw)] = -np.inf
        expected, _ = top_n(np.where(np.isinf(raw), np.nan, raw), 20, components.seen)
        # items the component has no opinion on (NaN) rank last in both
        assert np.array_equal(ranking.items, expected), component
    finally:
        engine.normalization = "minmax"


def test_contributions_add_up_to_the_score(engine: HybridEngine) -> None:
    ranking = engine.rank(engine.components_for_user(7), Weights(diversity=0.3), n=15)
    total = sum(ranking.contributions[c] for c in (*COMPONENTS, "diversity_bonus"))
    assert np.allclose(total, ranking.scores, atol=1e-6)
    assert len(ranking.because) == 15 and all(len(b) <= 3 for b in ranking.because)
    listened = set(engine.data.user_items[7].indices)
    assert all(set(b) <= listened for b in ranking.because)
    assert not set(ranking.items) & listened


def test_mmr_with_zero_diversity_is_the_plain_ranking(engine: HybridEngine) -> None:
    components = engine.components_for_user(11)
    plain = engine.rank(components, Weights(diversity=0.0), n=20)
    fused = sum(getattr(Weights(), c) * engine.normalized(components)[c] for c in COMPONENTS)
    expected, _ = top_n(np.where(engine.allowed(components, Filters()), fused, np.nan), 20)
    assert np.array_equal(plain.items, expected)
    assert np.all(plain.contributions["diversity_bonus"] == 0)


def test_diversity_rises_with_the_diversity_weight_on_the_demo(engine: HybridEngine) -> None:
    users = np.arange(0, 300, 3)
    members = engine.components_batch(users)
    levels = []
    for weight in (0.0, 0.2, 0.5, 1.0):
        lists = np.vstack(
            [engine.rank(c, Weights(diversity=weight), n=10, reasons=0).items for c in members]
        )
        levels.append(intra_list_diversity(lists, engine.mmr_space))
    assert levels == sorted(levels) and levels[-1] > levels[0] + 0.05, levels


def test_cold_start_schedule_switches_at_its_thresholds(engine: HybridEngine) -> None:
    chosen = Weights()
    rules = hybrid.DEFAULT_SCHEDULE
    assert hybrid.schedule_weights(0, chosen)[0] == rules[0].weights
    assert hybrid.schedule_weights(1, chosen)[0] == rules[1].weights
    assert hybrid.schedule_weights(4, chosen)[0] == rules[1].weights
    assert hybrid.schedule_weights(5, chosen) == (chosen, "chosen weights")
    edited = hybrid.schedule_from_frame(hybrid.schedule_frame().assign(below=[2, 10]))
    assert hybrid.schedule_weights(9, chosen, edited)[0] == rules[1].weights
    with pytest.raises(Exception, match="row 1"):
        hybrid.schedule_from_frame(hybrid.schedule_frame().assign(below=[0, 5]))


def test_a_persona_without_history_still_gets_recommendations(engine: HybridEngine) -> None:
    z = {
        "openness": 2.0,
        "extraversion": 0.0,
        "agreeableness": 0.0,
        "conscientiousness": 0.0,
        "neuroticism": 0.0,
    }
    components = engine.components_for_row(None, z)
    ranking = engine.rank(components, Weights(), n=10)
    assert len(ranking.items) == 10 and ranking.rule.startswith("no history")
    assert ranking.contributions["personality"].max() > 0
    assert "popularity" in " ".join(ranking.notes)


def test_filters_by_tag_and_popularity(engine: HybridEngine) -> None:
    components = engine.components_for_user(5)
    only_metal = engine.rank(components, Weights(), n=10, filters=Filters(include_tags=("metal",)))
    assert all("metal" in engine.item_tags[i] for i in only_metal.items)
    niche = engine.rank(components, Weights(), n=10, filters=Filters(max_listeners=5))
    assert all(engine.listeners[i] <= 5 for i in niche.items)


def test_next_track_group_and_similar_modes(
    engine: HybridEngine, demo_data: InteractionData
) -> None:
    seeds = [demo_data.find_item("Metallica"), demo_data.find_item("Slayer")]
    ranking = engine.next_tracks(seeds, Weights(), n=10)
    assert not set(seeds) & set(ranking.items)
    tags = [engine.item_tags[i] for i in ranking.items]
    assert sum(any("metal" in t for t in item) for item in tags) >= 7
    group, per_member = engine.group([0, 1, 2], Weights(), n=5, aggregate="least-misery")
    assert per_member.shape == (5, 3)
    assert np.allclose(group.scores, per_member.min(axis=1).to_numpy(), atol=1e-6)
    heard = set().union(*(set(demo_data.user_items[u].indices) for u in (0, 1, 2)))
    assert not heard & set(group.items)
    for use_cf, use_content in ((True, False), (False, True), (True, True)):
        items, _ = engine.similar(seeds[0], 5, use_cf, use_content)
        assert seeds[0] not in items and len(items) == 5
    with pytest.raises(ValueError, match="at least one of CF and content"):
        engine.similar(seeds[0], 5, False, False)


@pytest.mark.parametrize("aggregate", ["average", "least-misery"])
def test_a_group_export_is_explicable(
    engine: HybridEngine, demo_data: InteractionData, aggregate: str
) -> None:
    """Issue 17: every component column of a group row was 0, so score != their sum."""
    weights = Weights(cf=0.5, content=0.2, personality=0.1, novelty=0.2, diversity=0.0)
    group, per_member = engine.group([0, 1, 5], weights, n=10, aggregate=aggregate)
    frame = hybrid.ranking_frame(demo_data, group, "group")
    parts = ["cf", "content", "personality", "novelty", "diversity_bonus", "feedback"]
    assert np.allclose(frame[parts].sum(axis=1), frame["score"], atol=1e-4)
    assert (frame["cf"] > 0).all() and (frame["novelty"] > 0).any()
    assert (frame["personality"] == 0).all() or weights.personality  # no profile: no share
    expected = per_member.mean(axis=1) if aggregate == "average" else per_member.min(axis=1)
    assert np.allclose(frame["score"], expected.to_numpy(), atol=1e-5)


def test_batch_export_equals_single_rankings_and_round_trips(
    engine: HybridEngine, tmp_path: Path
) -> None:
    users = [0, 3, 40]
    frame = hybrid.batch_frame(engine, users, Weights(), n=12)
    assert list(frame.columns) == list(hybrid.EXPORT_COLUMNS)
    for user in users:
        single = hybrid.ranking_frame(
            engine.data,
            engine.rank(engine.components_for_user(user), Weights(), 12),
            engine.data.users.id(user),
        )
        part = frame[frame["user_id"] == engine.data.users.id(user)].reset_index(drop=True)
        assert part["item_id"].tolist() == single["item_id"].tolist()
        assert np.allclose(part["score"], single["score"], atol=1e-5)
    comments = provenance("demo", Weights().as_dict(), "minmax", "svd", {"id": 1, "model": "als"})
    path = write_csv(frame, tmp_path / "recs.csv", comments=comments)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Timbre ") and "recommendations" in text and "cf=0.7" in text
    back = pd.read_csv(path, comment="#", keep_default_na=False)
    assert back["item_id"].tolist() == frame["item_id"].tolist()
    assert np.allclose(back["cf"], frame["cf"])


def test_export_neutralises_spreadsheet_formulas() -> None:
    evil = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "fine", "a=b"]
    frame = pd.DataFrame({"item_name": evil, "score": [-1.5] * len(evil)})
    text = csv_text(frame)
    back = pd.read_csv(io.StringIO(text), keep_default_na=False)
    for cell in back["item_name"]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert back["item_name"].tolist()[-2:] == ["fine", "a=b"]
    assert back["item_name"][0] == '\'=HYPERLINK("http://x")'
    assert back["score"].tolist() == [-1.5] * len(evil)  # numbers are left alone


def test_engine_refuses_a_model_of_other_data(demo_data: InteractionData) -> None:
    from tests.models.conftest import checkerboard

    board = checkerboard()
    model = create_model("popularity").fit(board)
    with pytest.raises(Exception, match="trained on other data"):
        HybridEngine(demo_data, model)


def test_metrics_panel_moves_with_the_weights(demo_data: InteractionData) -> None:
    from timbre.evaluation import make_split

    split = make_split(demo_data)
    model = create_model("als", {"factors": 32}).fit(split.train)
    panel = hybrid.MetricsPanel(HybridEngine(split.train, model), split, sample=100)
    plain = panel.measure(Weights(diversity=0.0))
    diverse = panel.measure(Weights(diversity=1.0))
    assert set(plain) == {
        "ndcg", "recall", "diversity", "novelty", "coverage", "arp",
        "ndcg_ci95", "recall_ci95", "diversity_ci95", "novelty_ci95",
    }  # fmt: skip
    # the panel's 100 users give intervals: narrower than the values, wider than nothing
    for name in ("ndcg", "recall", "diversity", "novelty"):
        assert 0 < plain[f"{name}_ci95"] < plain[name], name
    # the interval of NDCG is 1.96 sd / sqrt(n) of the sampled users' NDCG
    from timbre.evaluation import ranking_metrics

    ndcg = ranking_metrics(panel.lists(Weights(diversity=0.0)), split.test, panel.users, 10)["ndcg"]
    expected = 1.96 * ndcg.std(ddof=1) / np.sqrt(len(ndcg))
    assert plain["ndcg_ci95"] == pytest.approx(expected, rel=1e-9)
    assert diverse["diversity"] > plain["diversity"]
    assert 0 < plain["ndcg"] < 1
    curve = panel.tradeoff(Weights(), values=(0.0, 0.5))
    assert curve["knob"].tolist() == ["diversity", "diversity", "novelty", "novelty"]


def test_a_new_row_is_scored_through_the_models(
    engine: HybridEngine, demo_data: InteractionData
) -> None:
    items = [demo_data.find_item(n) for n in ("Britney Spears", "Christina Aguilera")]
    row = sp.csr_matrix(([5.0, 5.0], ([0, 0], items)), shape=(1, demo_data.n_items))
    ranking = engine.rank(engine.components_for_row(row), Weights(), n=5)
    assert not set(items) & set(ranking.items) and ranking.rule.startswith("fewer than 5")


def test_csv_exports_read_back_with_their_recipe_and_usual_permissions(tmp_path: Path) -> None:
    """Issue 19 item 7: CSVs were written 0600 (Parquet 0644); a plain ``read_csv`` fails on the
    comment lines, so the first line says how to read the file."""
    import os

    frame = pd.DataFrame({"user_id": ["u"], "item_name": ["x"], "score": [1.0]})
    comments = provenance("demo", {"cf": 1.0}, "minmax", "svd")
    csv_path = write_csv(frame, tmp_path / "out.csv", comments=comments)
    first = csv_path.read_text(encoding="utf-8").splitlines()[0]
    assert "read with pandas.read_csv(path, comment='#')" in first
    assert pd.read_csv(csv_path, comment="#").equals(frame)
    from timbre.export import write_parquet

    parquet = write_parquet(frame, tmp_path / "out.parquet", comments)
    modes = {p.suffix: os.stat(p).st_mode & 0o777 for p in (csv_path, parquet)}
    from timbre.atomic import UMASK

    assert modes[".csv"] == modes[".parquet"] == 0o666 & ~UMASK


def test_presenter_safe_and_the_listener_floor_keep_items_off_a_list(
    engine: HybridEngine, demo_data: InteractionData
) -> None:
    """Issue 19 item 2: a slur in an artist's name reached a persona's list; cold-start lists
    were full of artists with one to four listeners."""
    blocked = np.flatnonzero(engine.blocklisted)
    names = [demo_data.item_name(int(i)) for i in blocked]
    assert "Nigga Ft. Belinda" in names and "Socially Retarded" in names
    assert not any("Scunthorpe" in n for n in names)  # whole words only
    safe = hybrid.Filters(presenter_safe=True, min_listeners=5)
    mask = engine.item_mask(safe)
    assert not mask[blocked].any() and not mask[engine.listeners < 5].any()
    persona = engine.components_for_row(None, {"openness": 2.0, "agreeableness": -3.0})
    listed = engine.rank(persona, Weights(), 50, safe).items
    assert not set(listed) & set(blocked) and (engine.listeners[listed] >= 5).all()
    assert "presenter safe" in safe.text() and "at least 5 listeners" in safe.text()
