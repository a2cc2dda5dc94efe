"""Writing a file so that a crash never leaves half of it under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process's umask, read once at import (reading it means setting it).
UMASK = _current_umask()


def atomic_write(target: Path, write: Callable[[IO[bytes]], Any], sync: bool = False) -> Path:
    """Write ``target`` through a temporary file in its folder, renamed into place once complete,
    with the permissions ``open()`` would give it (``mkstemp`` makes 0600); ``sync`` flushes it
    to disk before the rename. The folder is created when missing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temp, 0o666 & ~UMASK)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target
