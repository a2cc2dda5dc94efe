"""Running the ``timbre`` command in-process for tests."""

from __future__ import annotations

import pytest

from timbre.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``timbre ARGV``."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
