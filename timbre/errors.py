"""Timbre's exceptions: every expected failure is a ``TimbreError`` with a clear message."""

from __future__ import annotations


class TimbreError(Exception):
    """Base class of every error Timbre expects and reports to a person (CLI line, ``st.error``)."""


class DataError(TimbreError):
    """Input data is malformed, of the wrong shape, or inconsistent (names file, row, column)."""


class SourceError(TimbreError):
    """An outside source (Last.fm, Spotify, a file system path) failed or refused a request."""


class StorageError(TimbreError):
    """The store cannot be opened, migrated or written (e.g. a schema newer than this code)."""


class NotFoundError(TimbreError):
    """Something named was not found: an unknown user, item, person, run or key."""


class NotFittedError(TimbreError):
    """A model was used before ``fit`` or ``load``."""


class ParameterError(TimbreError, ValueError):
    """A bad option or argument (out of range, unknown name, wrong type); the message names it.

    Also a ``ValueError`` (as scikit-learn's ``InvalidParameterError`` is), so callers that
    expect one keep working and none has to convert it into a ``TimbreError``.
    """


class TimbreWarning(UserWarning):
    """A recoverable data problem: something was dropped or skipped and counted."""
