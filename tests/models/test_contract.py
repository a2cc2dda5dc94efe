"""One contract, every model: the checker-board answer, unknowns, exclusion, order, round trips."""

from __future__ import annotations

import inspect
import itertools
import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from timbre.errors import NotFittedError, StorageError, TimbreError, TimbreWarning
from timbre.interactions import InteractionData
from timbre.models import MODELS, Recommender, create_model
from timbre.models.base import sidecar_path

from .conftest import N, checkerboard


class ContractTests:
    """Mixin: subclasses set ``model_name`` and ``params``; every test runs for each model."""

    model_name: ClassVar[str]
    params: ClassVar[dict[str, Any]] = {}
    #: whether the model learns the two taste groups (popularity cannot)
    personalised: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, board: InteractionData) -> Recommender:
        return create_model(cls.model_name, cls.params).fit(board)

    def expected_top(self, board: InteractionData, user: int) -> int:
        if self.personalised:
            return user  # the held-out item of the user's own parity
        # popularity: the most listened unplayed item, lower index first on ties
        counts = np.diff(board.user_items.tocsc().indptr)
        unseen = np.setdiff1d(np.arange(N), board.user_items[user].indices)
        return int(unseen[np.lexsort((unseen, -counts[unseen]))][0])

    def test_top_recommendation_is_the_known_answer(
        self, model: Recommender, board: InteractionData
    ) -> None:
        hits, expected_hits = 0, 0
        for user in range(N):
            top = int(model.recommend(user, n=1).items[0])
            assert top == self.expected_top(board, user), f"user {user}"
            hits += top == user  # the held-out item is the only relevant one
            expected_hits += self.expected_top(board, user) == user
        precision_at_1 = hits / N
        assert precision_at_1 == (1.0 if self.personalised else expected_hits / N)

    def test_recommendations_exclude_seen_items(self, model: Recommender) -> None:
        for user in range(N):
            seen = set(model.user_items_[user].indices)
            items = model.recommend(user, n=N).items
            assert not seen & set(items.tolist())
            assert len(items) == N - len(seen)

    def test_include_seen_ranks_the_whole_catalogue(self, model: Recommender) -> None:
        scores = model.score(3)[0]
        ranking = model.recommend(3, n=N, exclude_seen=False)
        assert len(ranking) == int(np.isfinite(scores).sum())
        assert set(model.user_items_[3].indices) <= set(ranking.items.tolist())

    def test_scores_are_non_increasing(self, model: Recommender) -> None:
        for user in (0, 1, 17):
            scores = model.recommend(user, n=N, exclude_seen=False).scores
            assert np.all(np.diff(scores) <= 0)

    def test_ranking_scores_equal_score_matrix(self, model: Recommender) -> None:
        ranking = model.recommend(5, n=10)
        assert np.allclose(ranking.scores, model.score(5)[0, ranking.items])

    def test_unknown_user_gets_nan_scores_and_a_clear_error(self, model: Recommender) -> None:
        scores = model.score([0, N + 5, -1])
        assert scores.shape == (3, N)
        assert np.isnan(scores[1:]).all()
        assert not np.isnan(scores[0]).all()
        with pytest.raises(TimbreError, match="not in the model"):
            model.recommend(N + 5)

    def test_unknown_item_gets_a_clear_error(self, model: Recommender) -> None:
        with pytest.raises(TimbreError, match="not in the model"):
            model.similar_items(N)
        with pytest.raises(TimbreError, match="not in the model"):
            model.similar_items(-1)

    def test_similar_items_leave_the_item_out_and_are_ordered(self, model: Recommender) -> None:
        ranking = model.similar_items(4, n=5)
        assert 4 not in ranking.items
        assert np.all(np.diff(ranking.scores) <= 0)
        if self.personalised:
            assert all(i % 2 == 0 for i in ranking.items), ranking.items

    def test_batch_equals_single_user_calls(self, model: Recommender) -> None:
        users = [0, 7, 12, 39]
        batch = model.recommend_batch(users, n=6)
        for user, ranking in zip(users, batch, strict=True):
            single = model.recommend(user, n=6)
            assert ranking.user == user
            assert np.array_equal(ranking.items, single.items)
            # float32 products of a block and of one row may differ in the last bits
            assert np.allclose(ranking.scores, single.scores, rtol=1e-4, atol=1e-6)

    def test_save_load_round_trip_gives_identical_recommendations(
        self, model: Recommender, board: InteractionData, tmp_path: Path
    ) -> None:
        path = model.save(tmp_path / "model.npz")
        meta = json.loads(sidecar_path(path).read_text())
        assert meta["model"] == self.model_name
        assert meta["fingerprint"] == board.fingerprint
        assert meta["params"] == model.get_params()
        loaded = Recommender.load(path, board)
        assert type(loaded) is type(model)
        for before, after in zip(
            model.recommend_batch(range(N), n=8), loaded.recommend_batch(range(N), n=8), strict=True
        ):
            assert np.array_equal(before.items, after.items)
            assert np.array_equal(before.scores, after.scores)
        assert np.array_equal(model.similar_items(2, n=5).items, loaded.similar_items(2, n=5).items)
        assert not list(tmp_path.glob(".*")), "temporary files left behind"

    def test_loading_on_different_data_is_refused(self, model: Recommender, tmp_path: Path) -> None:
        path = model.save(tmp_path / "model.npz")
        other = checkerboard(N + 2)
        with pytest.raises(TimbreError, match="trained on different data"):
            Recommender.load(path, other)

    def test_new_user_row_is_scored_or_falls_back_clearly(self, model: Recommender) -> None:
        # a fresh listener of odd items (not in training) who has not heard item 7 and 9
        row = sp.csr_matrix(
            ([1.0] * 5, ([0] * 5, [1, 3, 5, 11, 13])), shape=(1, N), dtype=np.float32
        )
        if model.supports_new_users:
            with warnings.catch_warnings():
                warnings.simplefilter("error", TimbreWarning)
                ranking = model.recommend(n=3, user_items=row)
            assert ranking.fallback is None
            assert ranking.user == -1
            if self.personalised:
                assert all(i % 2 == 1 for i in ranking.items), ranking.items
            assert not {1, 3, 5, 11, 13} & set(ranking.items.tolist())
            if self.personalised:
                # a known user's own row, given as a new row, gets their known answer
                again = model.recommend(n=1, user_items=model.user_items_[6])
                assert int(again.items[0]) == 6
        else:
            with pytest.warns(TimbreWarning, match="cannot score users"):
                ranking = model.recommend(n=3, user_items=row)
            assert ranking.fallback and "popular" in ranking.fallback
            assert not {1, 3, 5, 11, 13} & set(ranking.items.tolist())

    def test_the_model_describes_itself_and_each_hyper_parameter(self) -> None:
        # title and summary come from the docstring; PARAMS must describe every __init__ field
        # and nothing else (learned state is not one)
        klass = MODELS[self.model_name]
        assert klass.title and "\n" not in klass.title and not klass.title.endswith(".")
        assert klass.summary.endswith(".") and klass.title not in klass.summary
        described = sorted(spec.name for spec in klass.param_specs())
        assert described == sorted(inspect.signature(klass).parameters)

    def test_unfitted_model_raises_not_fitted(self) -> None:
        with pytest.raises(NotFittedError):
            create_model(self.model_name, self.params).recommend(0)

    def test_explanations_point_at_listened_items(self, model: Recommender) -> None:
        try:
            reasons = model.explain(2, 2, n=3)
        except TimbreError as exc:
            assert "cannot explain" in str(exc)
            return
        seen = set(model.user_items_[2].indices)
        assert 1 <= len(reasons) <= 3
        assert {item for item, _ in reasons} <= seen
        assert all(a[1] >= b[1] for a, b in itertools.pairwise(reasons))


class TestALS(ContractTests):
    model_name = "als"
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 10, "weighting": "confidence"}


class TestALSWithBM25(ContractTests):
    model_name = "als"
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 10, "weighting": "bm25"}


class TestBPR(ContractTests):
    model_name = "bpr"
    params: ClassVar[dict[str, Any]] = {"factors": 8, "iterations": 200, "learning_rate": 0.05}


class TestItemKNN(ContractTests):
    model_name = "item-knn"
    params: ClassVar[dict[str, Any]] = {"K": 20}


class TestItemKNNWithBM25(ContractTests):
    model_name = "item-knn"
    params: ClassVar[dict[str, Any]] = {"K": 20, "similarity": "bm25"}


class TestUserKNN(ContractTests):
    model_name = "user-knn"
    params: ClassVar[dict[str, Any]] = {"k": 10}


class TestEASE(ContractTests):
    model_name = "ease"
    params: ClassVar[dict[str, Any]] = {"l2": 10.0}


class TestPopularity(ContractTests):
    model_name = "popularity"
    personalised = False


class TestContent(ContractTests):
    model_name = "content"
    params: ClassVar[dict[str, Any]] = {"space": "tags", "min_tag_items": 1}


def test_every_registered_model_has_a_contract_test() -> None:
    tested = {cls.model_name for cls in ContractTests.__subclasses__()}
    assert tested == set(MODELS)


def test_damaged_artifact_is_refused_clearly(board: InteractionData, tmp_path: Path) -> None:
    path = create_model("popularity").fit(board).save(tmp_path / "pop.npz")
    path.write_bytes(b"not a zip")
    with pytest.raises(StorageError, match="cannot read model artifact"):
        Recommender.load(path)
    sidecar_path(path).unlink()
    with pytest.raises(StorageError, match="missing"):
        Recommender.load(path)
