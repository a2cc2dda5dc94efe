"""Checks of a saved model artifact before any of it is used: readable, unchanged, well-formed.

A ``.npz`` written by ``Recommender.save`` is refused at load, with one line saying why, when it
is not a readable archive (truncated, garbage), is not the file that was saved (its SHA-256
differs from the one its sidecar or the run registry recorded), holds arrays of another shape or
type than the sidecar lists, holds NaN or infinite values, has interaction rows that do not fit
its own numbers of users and items, or has state that does not score its items.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from timbre.errors import StorageError

#: What the model file checks catch when a model scores one user (a state of the wrong shape).
_SCORING_FAULTS = (ValueError, IndexError, TypeError, KeyError, AttributeError)


class _Scorer(Protocol):
    n_items_: int

    def score(self, users: Any) -> NDArray[Any]: ...


def artifact_checksum(path: str | Path) -> str:
    """The SHA-256 (hex) of a file, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def damaged(target: Path, what: str) -> StorageError:
    """The one-line refusal of a damaged artifact."""
    return StorageError(f"model artifact {target} {what}; retrain the model")


def read_arrays(
    target: Path, meta: dict[str, Any], checksum: str | None = None
) -> dict[str, NDArray[Any]]:
    """Every array of an artifact, once the file is found readable, to be the file that was
    written (its SHA-256 is the sidecar's and ``checksum``, when known), and to hold the arrays
    its sidecar lists, finite.

    Raises
    ------
    StorageError
        One line saying which check failed.
    """
    try:
        with np.load(target, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StorageError(
            f"cannot read model artifact {target}: not a readable .npz archive (truncated or "
            f"garbage: {reason}); retrain the model"
        ) from None
    digest = artifact_checksum(target)
    for expected, whose in ((checksum, "the run registry"), (meta.get("sha256"), "its sidecar")):
        if expected and digest != expected:
            raise damaged(
                target,
                f"is not the file that was saved (SHA-256 {digest[:12]}..., {whose} recorded "
                f"{str(expected)[:12]}...): it was changed or damaged since",
            )
    check_arrays(target, meta, arrays)
    return arrays


def check_arrays(target: Path, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    """Refuse arrays whose shape or type differs from the sidecar's list, objects and
    non-finite numbers."""
    listed = meta.get("arrays") or {}
    if not isinstance(listed, dict) or not all(isinstance(v, dict) for v in listed.values()):
        raise damaged(target, "has a sidecar whose list of arrays is damaged")
    for name, spec in listed.items():
        if name not in arrays:
            raise damaged(target, f"lacks its array {name!r}")
        found = arrays[name]
        if list(found.shape) != list(spec.get("shape", found.shape)):
            raise damaged(
                target, f"has array {name!r} of shape {found.shape}, saved as {spec['shape']}"
            )
        if found.dtype.str != spec.get("dtype", found.dtype.str):
            raise damaged(
                target, f"has array {name!r} of type {found.dtype}, saved as {spec['dtype']}"
            )
    for name, found in arrays.items():
        if found.dtype == object:
            raise damaged(target, f"holds objects in {name!r}")
        if np.issubdtype(found.dtype, np.number) and not np.all(np.isfinite(found)):
            bad = int(np.size(found) - np.count_nonzero(np.isfinite(found)))
            raise damaged(target, f"holds {bad:,} non-finite values (NaN or infinite) in {name!r}")


def check_rows(
    target: Path, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]
) -> tuple[int, int]:
    """The artifact's numbers of users and items, once its interaction rows (CSR) and item
    popularity are found to fit them."""
    try:
        n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
        indptr, indices = arrays["user_items.indptr"], arrays["user_items.indices"]
        data, popularity = arrays["user_items.data"], arrays["item_popularity"]
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged(target, f"is incomplete ({exc})") from None
    fits = (
        min(n_users, n_items) >= 1
        and indptr.shape == (n_users + 1,)
        and indptr[0] == 0
        and not np.any(np.diff(indptr) < 0)
        and indptr[-1] == len(indices)
        and len(data) == len(indices)
        and (not len(indices) or (indices.min() >= 0 and indices.max() < n_items))
        and popularity.shape == (n_items,)
    )
    if not fits:
        raise damaged(target, f"does not fit its own {n_users} users x {n_items} items")
    return n_users, n_items


def check_scores(model: _Scorer, target: Path) -> None:
    """Refuse a restored model whose state does not score its first user over its items (what
    factors or a similarity matrix of the wrong shape break)."""
    try:
        scores = np.asarray(model.score(0))
    except _SCORING_FAULTS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise damaged(target, f"has state that does not fit its items ({reason})") from None
    if scores.shape != (1, model.n_items_):
        raise damaged(target, f"scores {scores.shape} items, not its {model.n_items_}")
