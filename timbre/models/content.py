"""Content-based model: a user's profile is the weighted mean of what they played."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import matrix_cache
from timbre.errors import DataError
from timbre.features import ContentSpace, content_vectors
from timbre.interactions import InteractionData, row_normalize
from timbre.models.base import Param, ProgressCallback, Recommender
from timbre.models.neighbours import _sparse_arrays, _sparse_from
from timbre.models.weighting import WEIGHTINGS, Weighting, weight_matrix


@dataclass(eq=False, kw_only=True)
class Content(Recommender):
    """Content (audio features and tags).

    Profiles each user as the weighted mean of the audio-feature / tag vectors of what they played
    and ranks items by cosine. Needs no other listeners; scores any user.

    Content vectors come from :func:`timbre.features.content_vectors`: audio features where the
    catalogue has them, Last.fm tags and genres (TF-IDF) otherwise. Items with no content score
    NaN (the model knows nothing about them).
    """

    name: ClassVar[str] = "content"
    PARAMS: ClassVar[tuple[Param, ...]] = (
        Param(
            "space",
            "auto: audio where known, tags otherwise; or audio / tags only.",
            choices=("auto", "audio", "tags"),
            search=("auto", "tags"),
        ),
        Param(
            "audio_weight",
            "In auto space, the audio share for items with both.",
            low=0.0,
            high=1.0,
            search=(0.2, 0.5, 0.8),
        ),
        Param("weighting", "How play counts weigh items in the profile.", choices=WEIGHTINGS),
        Param("min_tag_items", "Ignore tags used by fewer items than this.", low=1),
    )

    space: ContentSpace = "auto"
    audio_weight: float = 0.5
    weighting: Weighting = "log"
    min_tag_items: int = 2

    vectors_: sp.csr_matrix = field(init=False, repr=False)
    known_: NDArray[np.bool_] = field(init=False, repr=False)

    def _fit(self, data: InteractionData, progress: ProgressCallback) -> None:
        progress(0.2, "building content vectors")
        self.vectors_, self.known_ = self._vectors(data)
        if not self.known_.any():
            raise DataError(
                f"data set {data.dataset!r} has no audio features or tags for the "
                f"{self.space!r} content space"
            )

    def _vectors(self, data: InteractionData) -> tuple[sp.csr_matrix, NDArray[np.bool_]]:
        """The content vectors and which items have any (from the matrix cache when the data
        was loaded through it: they depend only on its item metadata)."""
        name = f"content-{self.space}-{float(self.audio_weight):g}-{int(self.min_tag_items)}"
        found = matrix_cache.load_arrays(data, name)
        if found is not None and int(found["shape"][0]) == data.n_items:
            shape = (int(found["shape"][0]), int(found["shape"][1]))
            matrix = sp.csr_matrix(
                (found["values"], found["indices"], found["indptr"]), shape=shape
            )
            return matrix, found["known"].astype(bool)
        vectors = content_vectors(
            data.item_meta, self.space, self.audio_weight, int(self.min_tag_items)
        )
        m = sp.csr_matrix(vectors.matrix, dtype=np.float32)
        matrix_cache.save_arrays(
            data, name, values=m.data, indices=m.indices, indptr=m.indptr,
            shape=np.asarray(m.shape, dtype=np.int64), known=vectors.known,
        )  # fmt: skip
        return m, vectors.known

    def _transposed(self) -> sp.csr_matrix:
        """``vectors_.T`` as CSR, built once per ``vectors_``: the matrix SciPy converts the
        transpose to in every product with it (0.3 ms of a 1 ms request on the demo), so the
        scores are the same to the bit."""
        held = self.__dict__.get("_vectors_t")
        if held is None or held[0] is not self.vectors_:
            held = (self.vectors_, sp.csr_matrix(self.vectors_.T))
            self.__dict__["_vectors_t"] = held
        return held[1]

    def _profiles(self, user_rows: sp.csr_matrix) -> sp.csr_matrix:
        """Each row's profile: its weighted plays' vectors summed, scaled to unit length."""
        return row_normalize(weight_matrix(user_rows, self.weighting) @ self.vectors_)

    def keep_profiles(self) -> None:
        """Compute every training user's profile now and keep them (until a refit): their
        scores then skip the profile (0.4 ms of a 1 ms request on the demo). Each row is what
        :meth:`_profiles` of that user alone gives (every step works row by row), so the
        scores are the same to the bit. For a long-running server (``timbre serve``)."""
        self.__dict__["_kept"] = (
            self.user_items_,
            self.vectors_,
            self._profiles(self.user_items_),
        )

    def _score(self, user_rows: sp.csr_matrix, users: NDArray[np.int64]) -> NDArray[np.float32]:
        kept = self.__dict__.get("_kept")
        fresh = kept is not None and kept[0] is self.user_items_ and kept[1] is self.vectors_
        if fresh and len(users) and bool((users >= 0).all()):
            profiles = kept[2][users]  # type: ignore[index]
        else:
            profiles = self._profiles(user_rows)
        scores = np.asarray((profiles @ self._transposed()).toarray(), dtype=np.float32)
        scores[:, ~self.known_] = np.nan
        return scores

    def _item_similarity(self, item: int) -> NDArray[np.float32]:
        sims = np.asarray((self.vectors_ @ self.vectors_[item].T).toarray(), np.float32).ravel()
        if not self.known_[item]:
            sims[:] = np.nan
        sims[~self.known_] = np.nan
        return sims

    def _contributions(
        self, row: sp.csr_matrix, item: int
    ) -> tuple[NDArray[np.integer], NDArray[np.floating]]:
        # each listened item's content cosine to ``item``, weighted by its plays
        row = weight_matrix(row, self.weighting)
        sims = np.asarray((self.vectors_[row.indices] @ self.vectors_[item].T).toarray()).ravel()
        return row.indices, row.data * sims

    def _arrays(self) -> dict[str, NDArray[Any]]:
        return {**_sparse_arrays("vectors", self.vectors_), "known": self.known_}

    def _restore(self, arrays: dict[str, NDArray[Any]], meta: dict[str, Any]) -> None:
        self.vectors_ = _sparse_from("vectors", arrays)
        self.known_ = arrays["known"].astype(bool)
