"""The connection machinery every part of the ``Store`` shares: a connection lent to each
call (one per :meth:`StoreBase.reading` block), database failures turned into Timbre's errors."""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from timbre.errors import ParameterError, StorageError
from timbre.store import locks
from timbre.store.sql import failure_reason


class StoreBase:
    """A SQLAlchemy engine and the connection each call of the ``Store`` runs in (see
    :class:`timbre.store.Store`, which adds opening, migrating and every operation)."""

    def __init__(
        self, engine: Engine, busy_timeout_s: float | None = None, cache_dir: Path | None = None
    ) -> None:
        self.engine = engine
        self.busy_timeout_s = busy_timeout_s
        self._writer = engine.execution_options(**{locks.WRITE_OPTION: True})
        #: Where loaded data sets are cached (``timbre.matrix_cache``); ``None``: no cache.
        self.cache_dir = cache_dir
        #: The connection of the :meth:`reading` block this task or thread is in, if any.
        self._reader: ContextVar[Connection | None] = ContextVar(
            f"timbre_store_reader_{id(self)}", default=None
        )

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release all connections."""
        self.engine.dispose()

    @contextmanager
    def _connection(
        self, *, transaction: bool = False, failure: str = "", operation: str = ""
    ) -> Iterator[Connection]:
        """A connection (with ``transaction``, inside one that commits on success).

        A database failure becomes a ``StorageError`` starting with ``failure`` (one that says
        who keeps the database busy, when it is busy); Timbre's own errors pass through (and
        roll the transaction back). ``operation`` (``"importing ..."``) records a long write
        while it runs, for the messages of other processes that wait for it.
        """
        record = locks.recorded(self._writer, operation) if operation else nullcontext()
        reader = None if transaction else self._reader.get()
        try:
            if reader is not None:
                yield reader
                return
            with record, self._writer.begin() if transaction else self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            if locks.is_busy(exc):
                message = locks.busy_message(self.engine, self.busy_timeout_s)
                raise locks.DatabaseBusy(message) from None
            said = failure or f"the database {self.url} failed"
            raise StorageError(f"{said}: {failure_reason(exc)}") from None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Every read of this task or thread inside the block on one connection: one checkout
        and one snapshot for a sequence of reads (an API answer makes five). Writes still take
        their own transaction; a block within a block uses the outer one's connection."""
        if self._reader.get() is not None:
            yield
            return
        with self._connection() as conn:
            token = self._reader.set(conn)
            try:
                yield
            finally:
                self._reader.reset(token)


def count_argument(name: str, value: int) -> int:
    """``value`` as a count (a whole number, 0 or more).

    Raises
    ------
    ParameterError
        Naming the argument ``name``, when ``value`` is fractional, not a number or negative.
    """
    try:
        count = operator.index(value)
    except TypeError:
        raise ParameterError(f"{name} must be a whole number, got {value!r}") from None
    if count < 0:
        raise ParameterError(f"{name} must be 0 or more, got {count}")
    return count
