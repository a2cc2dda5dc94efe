"""Matrix factorisation with implicit: ALS (with explanations) and BPR."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.matrix_factorization_base import MatrixFactorizationBase
from numpy.typing import NDArray

from timbre.interactions import InteractionData
from timbre.models import ann
from timbre.models.base import (
    Param,
    ProgressCallback,
    Recommendations,
    Recommender,
    one_blas_thread,
    top_n,
)
from timbre.models.weighting import WEIGHTINGS, Weighting, weight_matrix

SIMILAR_SHRINKAGE = Param(
    "similar_shrinkage",
    "Similar items: cosine on factors x n / (n + this), n = the item's listeners, so rarely "
    "played items with barely estimated factors do not crowd the list (0 = plain cosine).",
    low=0.0,
)


@dataclass(eq=False, kw_only=True)
class FactorModel(Recommender):
    """Shared behaviour of latent-factor models: score = user factors . item factors.

    Subclasses build their implicit solver (:meth:`_implicit_model`, from :meth:`_solver_params`)
    and give the defaults of ``regularization`` and ``iterations``.
    """

    #: Training progress is reported every this many iterations.
    progress_every: ClassVar[int] = 1

    factors: int = 64
    regularization: float
    iterations: int
    random_state: int = 42
    similar_shrinkage: float = 10.0

    user_factors_: NDArray[np.float32] = field(init=False, repr=False)
    item_factors_: NDArray[np.float32] = field(init=False, repr=False)

    @abstractmethod
    def _implicit_model(self) -> MatrixFactorizationBase:
        """A new, untrained implicit solver with this model's hyper-parameters."""

    def _solver_params(self) -> dict[str, Any]:
        """The hyper-parameters every implicit factor solver takes, as the types it expects."""
        return {
            "factors": int(self.factors),
            "regularization": float(self.regularization),
            "iterations": int(self.iterations),
            "random_state": int(self.random_state),
        }

    def _weight(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        """The values the solver trains on (the interactions as they are, unless overridden)."""
        return user_items

    def _fit(self, data: InteractionData, progress: ProgressCallback) -> None:
        total = int(self.iterations)

        def on_iteration(iteration: int, *_stats: Any) -> None:
            done = iteration + 1
            if done % self.progress_every == 0 or done == total:
                progress(done / total, f"iteration {done} of {total}")

        weighted = self._weight(self.user_items_)
        with one_blas_thread():
            model = self._implicit_model()  # built inside the limit: implicit checks BLAS here
            model.fit(weighted, show_progress=False, callback=on_iteration)
        self._model = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)

    def _score(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> NDArray[np.float32]:
        factors = np.empty((len(users), self.item_factors_.shape[1]), dtype=np.float32)
        known = users >= 0
        factors[known] = self.user_factors_[users[known]]
        if (~known).any():
            factors[~known] = self._fold_in(user_rows[np.flatnonzero(~known)])
        return np.asarray(factors @ self.item_factors_.T, dtype=np.float32)

    def _fold_in(self, user_rows: sp.csr_matrix) -> NDArray[np.float32]:
        raise NotImplementedError  # only reached when supports_new_users is True

    def _item_similarity(self, item: int) -> NDArray[np.float32]:
        # Cosine on item factors (implicit's similar_items), shrunk by support: x n / (n + s),
        # n = the candidate's listeners. Plain cosine lets rarely played items rank high because
        # their barely estimated factors happen to point the same way: on the demo it found 0 of
        # 10 related artists for Bob Dylan (ALS) and 1 of 10 for Britney Spears (BPR); shrunk
        # with s = 10, 9 and 9 (tests/models/test_hetrec.py).
        return self.similarity_to(item, None)

    def similarity_to(self, item: int, candidates: NDArray[np.int64] | None) -> NDArray[np.float32]:
        """The shrunk cosine of ``item`` to ``candidates`` (every item when ``None``)."""
        factors = self.item_factors_
        chosen = factors if candidates is None else factors[candidates]
        norms = np.linalg.norm(chosen, axis=1)
        norm = np.linalg.norm(factors[[item]], axis=1)[0]  # as the rows' norms are computed
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = (chosen @ factors[item]) / (norms * norm)
        support = self.item_popularity_ if candidates is None else self.item_popularity_[candidates]
        shrink = float(self.similar_shrinkage)
        return np.asarray(cosine * support / (support + shrink), dtype=np.float32)

    def similar_candidates(self, item: int, n: int) -> NDArray[np.int64] | None:
        """Items to score exactly for ``item``'s ``n`` most similar: the approximate index's
        best by the shrunk cosine above :data:`timbre.models.ann.ANN_MIN_ITEMS` items, else
        ``None`` (score every item). The index holds unit factors times each item's shrink
        ``n / (n + s)``, so its inner product with a unit query is the shrunk cosine."""
        if not ann.uses_ann(self.n_items_):
            return None
        unit = self._unit_factors()
        index = self.__dict__.get("_ann_index")
        if index is None:
            support = self.item_popularity_
            shrunk = unit * (support / (support + float(self.similar_shrinkage)))[:, None]
            index = self.__dict__["_ann_index"] = ann.ItemIndex(shrunk)
        ids, _ = index.search(unit[[item]], ann.candidates_for(n, self.n_items_))
        return np.unique(ids[ids >= 0])

    def _unit_factors(self) -> NDArray[np.float32]:
        unit = self.__dict__.get("_unit")
        if unit is None:
            norms = np.linalg.norm(self.item_factors_, axis=1, keepdims=True)
            unit = self.__dict__["_unit"] = np.asarray(
                self.item_factors_ / np.where(norms > 0, norms, 1.0), dtype=np.float32
            )
        return unit

    def similar_items(self, item: int, n: int = 10) -> Recommendations:
        """The ``n`` items most similar to ``item`` (itself left out): exact, or from the
        approximate index's candidates on a large catalogue (each candidate scored exactly)."""
        item = self._check_item(item)
        candidates = self.similar_candidates(item, n + 1)
        if candidates is None:
            return super().similar_items(item, n)
        sims = self.similarity_to(item, candidates)
        keep, values = top_n(sims, n, np.flatnonzero(candidates == item))
        return Recommendations(-1, candidates[keep], values)

    def _arrays(self) -> dict[str, NDArray[Any]]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]


@dataclass(eq=False, kw_only=True)
class ALS(FactorModel):
    """ALS (matrix factorisation).

    Alternating least squares on weighted implicit feedback; the workhorse. New users are folded
    in from their row; explains a score by the listened items.

    Implicit-feedback ALS (Hu, Koren & Volinsky 2008) on implicit's CPU solver.
    """

    name: ClassVar[str] = "als"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "factors",
            "Latent dimensions. More fit finer taste but need more data.",
            low=1,
            search=(32, 64, 128, 192),
        ),
        Param(
            "regularization",
            "L2 penalty on the factors (lambda).",
            low=0.0,
            search=(0.05, 1.0, 10.0, 30.0, 60.0),
        ),
        Param("iterations", "ALS sweeps over users and items.", low=1, high=1000),
        Param(
            "weighting",
            "How play counts become confidences: none, binary, confidence (alpha x count), "
            "log (alpha x log(1+count)) or bm25 (saturated and length-normalised).",
            choices=WEIGHTINGS,
        ),
        Param(
            "alpha",
            "Scale of the confidence for the confidence and log weightings.",
            low=0.0,
            search=(0.5, 1.0, 2.0),
        ),
        Param("K1", "BM25 saturation: how fast extra plays stop adding confidence.", low=0.0),
        Param("B", "BM25 length normalisation (0 = none, 1 = full).", low=0.0, high=1.0),
        Param("random_state", "Seed of the factor initialisation.", low=0),
        SIMILAR_SHRINKAGE,
    )

    weighting: Weighting = "log"
    alpha: float = 1.0
    K1: float = 100.0
    B: float = 0.8
    # defaults of the parameters FactorModel declares
    regularization: float = 0.05
    iterations: int = 15

    def _weight(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        return weight_matrix(user_items, self.weighting, self.alpha, self.K1, self.B)

    def _implicit_model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(**self._solver_params())

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        super()._restore(arrays, meta)
        with one_blas_thread():
            model = self._implicit_model()
        model.user_factors = self.user_factors_
        model.item_factors = self.item_factors_
        self._model = model

    def _fold_in(self, user_rows: sp.csr_matrix) -> NDArray[np.float32]:
        # The least-squares user step of ALS for rows the model has not seen (recalculate_user).
        rows = self._weight(user_rows)
        with one_blas_thread():
            factors = self._model.recalculate_user(np.arange(rows.shape[0]), rows)
        return np.asarray(factors, dtype=np.float32).reshape(rows.shape[0], -1)

    def explain(
        self, user: int, item: int, n: int = 3, user_items: sp.spmatrix | None = None
    ) -> list[tuple[int, float]]:
        """Listened items that contribute most to the score (Hu et al. 2008, section 5)."""
        self._check_item(item)
        row = self._weight(self._user_row(user, user_items))
        if row.nnz == 0:
            return []
        with one_blas_thread():
            _total, contributions, _weights = self._model.explain(0, row, item, N=n)
        return [(int(i), float(s)) for i, s in contributions]


@dataclass(eq=False, kw_only=True)
class BPR(FactorModel):
    """BPR (pairwise ranking).

    Learns factors so that listened items rank above sampled unlistened ones. Uses the
    interactions as binary; cannot score users it was not trained on.

    Bayesian personalised ranking (Rendle et al. 2009) on implicit's CPU solver.
    """

    name: ClassVar[str] = "bpr"
    supports_new_users: ClassVar[bool] = False
    #: Its iterations are many and short.
    progress_every: ClassVar[int] = 5
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "factors",
            "Latent dimensions (one more is added for the item bias).",
            low=1,
            search=(32, 64, 128),
        ),
        Param(
            "learning_rate",
            "Step size of stochastic gradient descent.",
            low=0.0,
            search=(0.005, 0.01, 0.05, 0.1),
        ),
        Param(
            "regularization", "L2 penalty on the factors.", low=0.0, search=(0.0001, 0.001, 0.01)
        ),
        Param("iterations", "Passes over the interactions.", low=1, high=10000, search=(100, 300)),
        Param("random_state", "Seed of initialisation and negative sampling.", low=0),
        SIMILAR_SHRINKAGE,
    )

    learning_rate: float = 0.01
    # defaults of the parameters FactorModel declares
    regularization: float = 0.01
    iterations: int = 100

    def _implicit_model(self) -> BayesianPersonalizedRanking:
        return BayesianPersonalizedRanking(
            learning_rate=float(self.learning_rate),
            num_threads=1,  # one thread: the negative sampling is then reproducible
            **self._solver_params(),
        )
