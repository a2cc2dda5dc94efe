"""The lab deployment's policy: the presenter hash, the modes, where the hash is read from, the
``presenter-hash`` command and the loopback default of the start script and config."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from timbre.config import ENV_PRESENTER_HASH, PRESENTER_HASH, REPO_ROOT, load_settings
from timbre.errors import ParameterError
from timbre.presenter import (
    SCHEME,
    hash_password,
    is_loopback,
    mode_for,
    parse_hash,
    verify_password,
)

FAST = 1_000  # iterations for tests (a real hash uses ITERATIONS)


def test_a_hash_verifies_its_password_only() -> None:
    encoded = hash_password("correct horse", iterations=FAST)
    assert encoded.startswith(f"{SCHEME}${FAST}$") and "correct horse" not in encoded
    assert verify_password("correct horse", encoded)
    for wrong in ("correct horse ", "Correct horse", "", "x" * 5000):
        assert not verify_password(wrong, encoded)
    # salted: the same password hashes differently each time, and both verify
    again = hash_password("correct horse", iterations=FAST)
    assert again != encoded and verify_password("correct horse", again)


def test_a_new_hash_uses_the_full_work_factor() -> None:
    iterations, salt, digest = parse_hash(hash_password("pw"))
    assert iterations == 600_000 and len(salt) == 16 and len(digest) == 32


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "hunter2",  # a plain password put where the hash belongs
        "pbkdf2_sha256$1000$c2FsdA",
        "pbkdf2_sha256$many$c2FsdHNhbHQ$" + "A" * 43,
        "md5$1000$c2FsdHNhbHQ$" + "A" * 43,
        "pbkdf2_sha256$10$c2FsdHNhbHQ$" + "A" * 43,  # too few iterations
        "pbkdf2_sha256$1000$c2FsdHNhbHQ$QUJD",  # a digest of the wrong length
    ],
)
def test_a_malformed_hash_matches_nothing_and_is_not_repeated(encoded: str) -> None:
    assert not verify_password("hunter2", encoded)
    with pytest.raises(ParameterError) as caught:
        parse_hash(encoded)
    assert "hunter2" not in str(caught.value)


def test_empty_and_huge_passwords_are_refused() -> None:
    with pytest.raises(ParameterError):
        hash_password("", iterations=FAST)
    with pytest.raises(ParameterError):
        hash_password("x" * 2000, iterations=FAST)


def test_modes_follow_the_address_and_the_hash() -> None:
    assert [is_loopback(a) for a in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost")] == [
        True
    ] * 5
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "192.168.1.5", "lab.example", ""))
    assert mode_for("127.0.0.1", None) == "open"
    assert mode_for(None, None) == "demo"  # Streamlit's default: every interface
    assert mode_for("0.0.0.0", "") == "demo"
    assert mode_for("0.0.0.0", "pbkdf2_sha256$...") == "presenter"
    assert mode_for("127.0.0.1", "pbkdf2_sha256$...") == "presenter"  # set: always gated


def test_the_hash_is_read_from_the_environment_or_the_secrets_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PRESENTER_HASH, raising=False)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'{PRESENTER_HASH} = "from-file"\n')
    assert load_settings(secrets_path=secrets).secret(PRESENTER_HASH) == "from-file"
    assert load_settings(secrets_path=tmp_path / "none.toml").secret(PRESENTER_HASH) is None
    monkeypatch.setenv(ENV_PRESENTER_HASH, "from-env")
    settings = load_settings(secrets_path=secrets)
    assert settings.secret(PRESENTER_HASH) == "from-env"
    assert "from-env" not in repr(settings)


def test_presenter_hash_reads_stdin_and_prints_a_hash_only(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("lab pass word\n"))
    code, out, err = run_cli(capsys, "presenter-hash")
    assert code == 0, err
    encoded = out.strip()
    assert len(out.splitlines()) == 1 and verify_password("lab pass word", encoded)
    assert "lab pass word" not in out + err and PRESENTER_HASH in err


def test_presenter_hash_refuses_an_empty_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    code, out, err = run_cli(capsys, "presenter-hash")
    assert code == 1 and not out and "must not be empty" in err


def test_the_app_listens_on_loopback_by_default() -> None:
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    script = (REPO_ROOT / "scripts" / "run-app.sh").read_text()
    assert '--server.address "${TIMBRE_ADDRESS:-127.0.0.1}"' in script
    readme = (REPO_ROOT / "README.md").read_text()
    assert "## Exposing the app" in readme and "TIMBRE_ADDRESS=0.0.0.0" in readme
