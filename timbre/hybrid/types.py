"""The hybrid engine's value types and constants: a listener's components, the filters, a
ranking, prepared listeners."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre import spaces
from timbre.hybrid.weights import COMPONENTS, Weights

#: Spaces the diversity bonus (MMR) can measure similarity in (no trained model needed).
MMRSpace = Literal["svd", "binary", "interactions", "content"]
MMR_SPACES: tuple[str, ...] = get_args(MMRSpace)
#: How a group's member scores are combined.
Aggregate = Literal["average", "least-misery"]
#: The space of the "because you listened to" reasons: co-listening, fast.
REASON_SPACE: spaces.SpaceName = "svd"
#: How much one like or skip moves an item's nearest neighbours (fused-score units; the first
#: design's +-5% per reaction), and how many neighbours it moves.
FEEDBACK_WEIGHT = 0.05
FEEDBACK_NEIGHBOURS = 5
#: MMR re-ranks the best ``POOL`` items by fused score (at least 2 x n).
POOL = 100
NO_HISTORY = "no history: the cf component is item popularity"
CONTENT_NOT_AVAILABLE = (
    "content: not available (this data set has no audio features, tags or genres)"
)


class Scores(Mapping[str, NDArray[np.float32]]):
    """A listener's raw component scores by name, each computed on first use.

    ``ready`` holds what was computed already (a batch scores many listeners at once);
    ``later`` how to compute the rest, which runs only when something reads it: a component no
    weight uses is never computed.
    """

    def __init__(
        self,
        ready: Mapping[str, NDArray[np.float32]],
        later: Mapping[str, Callable[[], NDArray[np.float32]]] | None = None,
    ) -> None:
        self._ready = dict(ready)
        self._later = {k: v for k, v in (later or {}).items() if k not in self._ready}

    def __getitem__(self, name: str) -> NDArray[np.float32]:
        if name not in self._ready:
            make = self._later.pop(name)  # KeyError for a name it does not know
            self._ready[name] = np.asarray(make(), dtype=np.float32)
        return self._ready[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._ready, *self._later])

    def __len__(self) -> int:
        return len(self._ready) + len(self._later)

    def computed(self) -> frozenset[str]:
        """The components computed so far."""
        return frozenset(self._ready)


@dataclass
class Components:
    """Raw component scores of every item for one listener (a user, a seed list, a persona).

    ``raw`` computes a component when it is first read (:class:`Scores`), so a listener ranked
    under weights that leave it out never pays for it.
    """

    raw: Mapping[str, NDArray[np.float32]]
    seen: NDArray[np.int64]
    row: sp.csr_matrix
    history: int
    notes: list[str] = field(default_factory=list)
    #: Added to the fused score after fusion (the listener's feedback: see
    #: :meth:`HybridEngine.with_feedback`); its share of a listed item is the ``feedback``
    #: contribution.
    adjust: NDArray[np.float32] | None = None
    #: Items never recommended to this listener (blocked or skipped), whatever the filters.
    barred: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    #: The listener's row in the CF model (a training user), -1 for a row it was not trained on.
    user: int = -1


@dataclass(frozen=True)
class Filters:
    """Which items may be recommended."""

    exclude_seen: bool = True
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    min_listeners: int = 0
    max_listeners: int | None = None
    #: Hide items whose name or artist holds a word of the presenter-safe blocklist.
    presenter_safe: bool = False

    def text(self) -> str:
        """What the filters do, for provenance lines."""
        parts = ["heard items left out" if self.exclude_seen else "heard items kept"]
        if self.include_tags:
            parts.append("only tags " + ", ".join(self.include_tags))
        if self.exclude_tags:
            parts.append("never tags " + ", ".join(self.exclude_tags))
        if self.min_listeners:
            parts.append(f"at least {self.min_listeners} listeners")
        if self.max_listeners is not None:
            parts.append(f"at most {self.max_listeners} listeners")
        if self.presenter_safe:
            parts.append("presenter safe (blocklisted names hidden)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Ranking:
    """A hybrid top-N: items best first with the final score and each part of it.

    ``contributions`` holds one array per component (weight x normalised score) and
    ``diversity_bonus`` (diversity weight x (1 - max similarity to the items above it)); they
    add up to ``scores``.
    """

    items: NDArray[np.int64]
    scores: NDArray[np.float32]
    contributions: dict[str, NDArray[np.float32]]
    because: list[list[int]]
    weights: Weights
    rule: str
    notes: tuple[str, ...] = ()
    #: ``because`` as a ``len(items) x k`` array, -1 where an item has fewer reasons (what
    #: the export reads; ``None``: build it from ``because``).
    reason_items: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class Exclusions:
    """Items no listener may get (``allowed`` False) and (``rows[k]``, ``items[k]``) pairs one
    listener may not (heard, blocked, skipped): the masks, kept sparse."""

    allowed: NDArray[np.bool_]
    rows: NDArray[np.int64]
    items: NDArray[np.int64]

    def masks(self, count: int) -> NDArray[np.bool_]:
        """``count x n_items``: True where an item may be recommended."""
        masks = np.tile(self.allowed, (count, 1))
        masks[self.rows, self.items] = False
        return masks

    def apply(self, scores: NDArray[np.float32]) -> None:
        """Set the scores of what is left out to -inf, in place."""
        if not self.allowed.all():
            scores[:, ~self.allowed] = -np.inf
        scores[self.rows, self.items] = -np.inf


@dataclass(frozen=True)
class Prepared:
    """Listeners ready to rank: their components normalised and the items each may get.

    Built once by :meth:`HybridEngine.prepare`; a weight change only re-ranks (the Tune page,
    the metrics panel).
    """

    members: tuple[Components, ...]
    #: Normalised scores (``len(members) x n_items``) of the components some member needs; a
    #: component left out, or a member's row of it that ``ready`` marks False, weighs 0.
    parts: dict[str, NDArray[np.float32]]
    masks: NDArray[np.bool_]
    #: Per component in ``parts``, which members' rows were normalised (``None``: all).
    ready: dict[str, NDArray[np.bool_]] | None = None
    #: ``masks`` kept sparse (what fusion applies); ``None``: apply ``masks``.
    excluded: Exclusions | None = None
    #: The item of each column, per member (ascending; a short row repeats its last item,
    #: masked): the candidates of a pool drawn from the index (:mod:`timbre.hybrid.pool`),
    #: for one weight mix. ``None``: the columns are every item.
    columns: NDArray[np.int64] | None = None

    def __len__(self) -> int:
        return len(self.members)


def empty_ranking(chosen: Weights, rule: str, components: Components) -> Ranking:
    """The ranking of a listener with no item left (no items, every contribution empty)."""
    empty = np.zeros(0, dtype=np.float32)
    contributions = {name: empty for name in (*COMPONENTS, "diversity_bonus")}
    return Ranking(
        np.zeros(0, dtype=np.int64), empty, contributions, [], chosen, rule, tuple(components.notes)
    )
