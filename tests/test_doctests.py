"""Every ``Examples`` section in the core's docstrings runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import timbre

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(timbre.__path__, "timbre.")
    if not info.name.startswith(("timbre.app", "timbre.migrations", "timbre.__main__"))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_some_modules_have_examples() -> None:
    attempted = sum(doctest.testmod(importlib.import_module(n)).attempted for n in MODULES)
    assert attempted >= 5
