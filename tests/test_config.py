"""Settings resolution: arguments > environment > secrets file."""

from __future__ import annotations

from pathlib import Path

import pytest

from timbre.config import DEFAULT_HOME, load_settings
from timbre.errors import TimbreError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TIMBRE_HOME",
        "TIMBRE_DATABASE_URL",
        "LASTFM_API_KEY",
        "LASTFM_API_SECRET",
        "SPOTIFY_CLIENT_ID",
        "SPOTIFY_REDIRECT_URI",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_to_sqlite_under_the_repo_data_local(tmp_path: Path) -> None:
    settings = load_settings(secrets_path=tmp_path / "none.toml")
    assert settings.home == DEFAULT_HOME
    assert settings.resolved_database_url == f"sqlite:///{DEFAULT_HOME / 'timbre.db'}"


def test_arguments_beat_environment_beat_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('lastfm_api_key = "from-file"\ndatabase_url = "sqlite:///file.db"\n')
    monkeypatch.setenv("TIMBRE_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("LASTFM_API_KEY", "from-env")
    settings = load_settings(secrets_path=secrets)
    assert settings.home == tmp_path / "env-home"
    assert settings.secret("lastfm_api_key") == "from-env"
    assert settings.resolved_database_url == "sqlite:///file.db"
    monkeypatch.setenv("TIMBRE_DATABASE_URL", "sqlite:///env.db")
    assert load_settings(secrets_path=secrets).resolved_database_url == "sqlite:///env.db"
    explicit = load_settings(
        home=tmp_path / "arg", database_url="sqlite:///arg.db", secrets_path=secrets
    )
    assert explicit.home == tmp_path / "arg"
    assert explicit.resolved_database_url == "sqlite:///arg.db"


def test_secrets_never_show_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTFM_API_KEY", "s3cr3t-value")
    settings = load_settings(secrets_path=tmp_path / "none.toml")
    assert "s3cr3t-value" not in repr(settings)
    assert settings.secret("spotify_client_id") is None


def test_broken_secrets_file_is_a_clear_error_without_its_content(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('lastfm_api_key = "abc\n')
    with pytest.raises(TimbreError, match="not valid TOML") as info:
        load_settings(secrets_path=secrets)
    assert "abc" not in str(info.value)
