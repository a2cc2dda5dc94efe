"""The matrix cache: a loaded data set (CSR, vocabularies, item metadata, tags) on disk.

Loading a data set from the store builds its matrix from every interaction row (seconds on the
demo, minutes at millions of rows); every command and page after the first reads this cache
instead. A cache folder is named by the data set and a *token* that changes with every write to
the data set's rows (``Store.dataset_revision``), so a stale folder is never read: it is simply
not asked for, and the next save of the data set removes it.

Files (no pickles): ``matrix.npz`` (CSR arrays, ``allow_pickle=False``), Feather (Arrow IPC)
frames for the users, the item metadata (its ``key`` column is the item vocabulary) and the
optional events and tag frames (Feather, not Parquet: reading it imports in 6 ms, Parquet's
reader in 160 ms, on every command), and ``.npz`` arrays derived from the data (see
:func:`load_arrays`). A folder is written
under a temporary name and renamed into place, so a reader never sees half of one; an unreadable
folder is a miss (rebuilt from the store), never an error.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from timbre.atomic import atomic_write
from timbre.interactions import InteractionData, Vocabulary

log = logging.getLogger(__name__)

#: Bumped when the files' layout changes (old folders are then never read).
FORMAT = 3
#: ``InteractionData`` frames stored (as Feather) when present.
FRAMES = ("events", "tag_weights", "tag_events")
#: Where a loaded data set remembers its cache folder.
FOLDER_KEY = "cache_folder"


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


def folder_for(root: Path, dataset: str, token: object) -> Path:
    """The cache folder of ``dataset`` at revision ``token`` (the token names the data set's
    row too, its id and creation time, so a re-created data set or another store's data set of
    the same name never reads this one's folder; a copied home keeps its cache)."""
    return root / "matrix" / f"{_digest(dataset)}-{_digest(FORMAT, token)}"


def load(folder: Path, dataset: str) -> InteractionData | None:
    """The data set cached in ``folder``, or ``None`` when there is none or it cannot be read."""
    if not (folder / "matrix.npz").is_file():
        return None
    try:
        data = _read(folder, dataset)
    except Exception as exc:  # any unreadable cache is a miss, rebuilt from the store
        log.warning("matrix cache %s unreadable (%s); loading from the store", folder, exc)
        return None
    data.extra[FOLDER_KEY] = folder
    return data


def _read(folder: Path, dataset: str) -> InteractionData:
    with np.load(folder / "matrix.npz", allow_pickle=False) as arrays:
        shape = (int(arrays["shape"][0]), int(arrays["shape"][1]))
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, dtype=np.float32
        )
    users = pd.read_feather(folder / "users.feather")["id"].astype(str)
    meta = _lists_back(pd.read_feather(folder / "items.feather"))
    events, tag_weights, tag_events = (
        pd.read_feather(path) if (path := folder / f"{name}.feather").is_file() else None
        for name in FRAMES
    )
    return InteractionData(
        dataset,
        Vocabulary(users, "user"),
        Vocabulary(meta["key"].astype(str), "item"),
        matrix,
        meta,
        events,
        tag_weights,
        tag_events,
    )


def _lists_back(meta: pd.DataFrame) -> pd.DataFrame:
    """Parquet gives list columns back as arrays: make them lists again (as the store's are)."""
    for column in meta.columns:
        values = meta[column]
        if values.dtype == object and len(values) and isinstance(values.iloc[0], np.ndarray):
            meta[column] = [list(v) if isinstance(v, np.ndarray) else v for v in values]
    return meta


def save(data: InteractionData, folder: Path) -> None:
    """Cache ``data`` in ``folder`` and drop the data set's older folders; a failure to write
    (a full disk, a read-only home) is logged, never raised: the cache only saves time."""
    try:
        _write(data, folder)
    except OSError as exc:
        log.warning("could not write the matrix cache %s: %s", folder, exc)
        return
    data.extra[FOLDER_KEY] = folder
    prefix = folder.name.split("-", 1)[0] + "-"
    for old in folder.parent.glob(prefix + "*"):
        if old != folder and old.is_dir() and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)


def _write(data: InteractionData, folder: Path) -> None:
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        m = data.user_items
        np.savez(
            staging / "matrix.npz",
            data=m.data,
            indices=m.indices,
            indptr=m.indptr,
            shape=np.asarray(m.shape, dtype=np.int64),
        )
        pd.DataFrame({"id": data.users.ids.astype(str)}).to_feather(staging / "users.feather")
        data.item_meta.reset_index(drop=True).to_feather(staging / "items.feather")
        for name in FRAMES:
            frame = getattr(data, name)
            if frame is not None:
                frame.reset_index(drop=True).to_feather(staging / f"{name}.feather")
        os.replace(staging, folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not folder.is_dir():  # another process may have renamed its copy into place first
            raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def load_arrays(data: InteractionData, name: str) -> dict[str, NDArray[Any]] | None:
    """Arrays derived from ``data`` and saved with :func:`save_arrays` (``None``: not cached,
    or ``data`` was not loaded through the cache). Named by ``data``'s fingerprint, so a split
    or a filtered copy of the data set never reads the full data set's arrays."""
    folder = data.extra.get(FOLDER_KEY)
    if not isinstance(folder, Path):
        return None
    path = folder / f"{name}-{data.fingerprint}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: np.asarray(stored[key]) for key in stored.files}
    except (OSError, ValueError) as exc:
        log.warning("cached arrays %s unreadable (%s); rebuilding them", path, exc)
        return None


def save_arrays(data: InteractionData, name: str, **arrays: NDArray[Any]) -> None:
    """Keep arrays derived from ``data`` next to its cached matrix (no-op without a cache)."""
    folder = data.extra.get(FOLDER_KEY)
    if not isinstance(folder, Path) or not folder.is_dir():
        return
    path = folder / f"{name}-{data.fingerprint}.npz"
    try:
        atomic_write(path, lambda out: np.savez(out, allow_pickle=False, **arrays))
    except OSError as exc:
        log.warning("could not cache %s: %s", path, exc)
