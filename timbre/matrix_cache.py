"""The matrix cache: a loaded data set (CSR, vocabularies, item metadata, tags) on disk.

Loading a data set from the store builds its matrix from every interaction row (seconds on the
demo, minutes at millions of rows); every command and page after the first reads this cache
instead. A cache folder is named by the data set and a *token* that changes with every write to
the data set's rows (``Store.dataset_revision``), so a stale folder is never read: it is simply
not asked for, and the next save of the data set removes it.

Files (no pickles; format 4): ``matrix.npz`` (uncompressed, read with ``allow_pickle=False``:
the CSR arrays, and each vocabulary's ids as one UTF-8 byte array joined by a separator no id
contains, split back in one call: no pandas Index or frame of strings is built to read it),
a Feather (Arrow IPC) frame of the item metadata (its list columns, the tags and
genres, turned back into lists by Arrow in one call rather than one NumPy array per item), the
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
import pyarrow as pa
import scipy.sparse as sp
from numpy.typing import NDArray
from pyarrow import feather

from timbre.atomic import atomic_write
from timbre.interactions import DeferredFrame, InteractionData, Vocabulary

log = logging.getLogger(__name__)

#: Bumped when the files' layout changes (old folders are then never read).
FORMAT = 4
#: ``InteractionData`` frames stored (as Feather) when present.
FRAMES = ("events", "tag_weights", "tag_events")
#: Separators tried, in order, to join a vocabulary's ids (the first no id contains).
SEPARATORS = ("\n", "\x00", "\x1f", "\x1e", "\ufffe", "\uffff")
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
    """Every file is read (and checked: sizes, UTF-8, Arrow's layout) here; only turning the ids
    into Python strings and the item metadata into a pandas frame waits for their first use."""
    with np.load(folder / "matrix.npz", allow_pickle=False) as arrays:
        shape = (int(arrays["shape"][0]), int(arrays["shape"][1]))
        matrix = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape, dtype=np.float32
        )
        users, items = (_keys(arrays, name) for name in ("users", "items"))
    meta = _mapped(folder / "items.feather")
    events, tag_weights, tag_events = (
        _deferred_frame(path) if (path := folder / f"{name}.feather").is_file() else None
        for name in FRAMES
    )
    return InteractionData(
        dataset,
        Vocabulary.deferred(users.count, users.split, "user"),
        Vocabulary.deferred(items.count, items.split, "item"),
        matrix,
        DeferredFrame(items.count, lambda: _read_meta(meta)),
        events,
        tag_weights,
        tag_events,
    )


def _mapped(path: Path) -> pa.Buffer:
    """The Arrow file at ``path``, memory-mapped (still readable if the folder is removed
    meanwhile: a newer revision's save drops it) and its layout checked."""
    with pa.memory_map(str(path)) as source:
        buffer = source.read_buffer()
    with pa.ipc.open_file(pa.BufferReader(buffer)):
        pass
    return buffer


def _deferred_frame(path: Path) -> DeferredFrame:
    """A Feather frame mapped now (an Arrow file, or a miss), made a pandas frame on first use."""
    buffer = _mapped(path)
    return DeferredFrame(None, lambda: pd.read_feather(pa.BufferReader(buffer)))


def _join_keys(ids: NDArray[np.object_]) -> dict[str, NDArray[Any]]:
    """``ids`` as one UTF-8 byte array joined by a separator none of them contains."""
    keys = [str(key) for key in ids]
    for separator in SEPARATORS:
        text = separator.join(keys)
        if text.count(separator) == max(len(keys) - 1, 0):  # no id holds the separator
            blob = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
            return {"blob": blob, "separator": np.array([ord(separator)], dtype=np.int32)}
    raise OSError("every separator occurs in some id; not cached")  # logged, never raised


class _Keys:
    """One vocabulary's ids as :func:`_join_keys` saved them: decoded (checked) at once, split
    into strings by :meth:`split` on first use."""

    def __init__(self, keys: Any, name: str) -> None:
        self.count = int(keys[f"{name}_count"][0])
        self._separator = chr(int(keys[f"{name}_separator"][0]))
        self._text = keys[f"{name}_blob"].tobytes().decode("utf-8")
        if self.count and self._text.count(self._separator) != self.count - 1:
            raise ValueError(f"{name}: the ids do not add up to the {self.count} saved")

    def split(self) -> list[str]:
        return self._text.split(self._separator) if self.count else []


def _keys(keys: Any, name: str) -> _Keys:
    return _Keys(keys, name)


def _read_meta(raw: pa.Buffer) -> pd.DataFrame:
    """The item metadata frame from its Feather file's bytes; Arrow's list columns become
    lists of strings (as the store's are) in one call each."""
    with pa.ipc.open_file(pa.BufferReader(raw)) as reader:
        schema = reader.schema
    lists = [field.name for field in schema if pa.types.is_list(field.type)]
    meta = pd.read_feather(
        pa.BufferReader(raw), columns=[n for n in schema.names if n not in lists]
    )
    if lists:
        table = feather.read_table(pa.BufferReader(raw), columns=lists)
        for name in lists:
            meta.insert(schema.names.index(name), name, table.column(name).to_pylist())
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
        keys = {}
        for name, vocab in (("users", data.users), ("items", data.items)):
            joined = _join_keys(vocab.ids)
            keys.update({f"{name}_{part}": values for part, values in joined.items()})
            keys[f"{name}_count"] = np.array([len(vocab)], dtype=np.int64)
        np.savez(
            staging / "matrix.npz",
            data=m.data,
            indices=m.indices,
            indptr=m.indptr,
            shape=np.asarray(m.shape, dtype=np.int64),
            allow_pickle=False,
            **keys,
        )
        meta = data.item_meta.reset_index(drop=True)
        meta.to_feather(staging / "items.feather", compression="uncompressed")
        for name in FRAMES:
            frame = getattr(data, name)
            if frame is not None:
                frame = frame.reset_index(drop=True)
                frame.to_feather(staging / f"{name}.feather", compression="uncompressed")
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
