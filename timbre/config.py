"""Settings for Timbre, resolved in one place: explicit arguments > environment > secrets file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timbre.errors import TimbreError

#: The repository root (the folder holding ``timbre/``, ``data/`` and ``streamlit_app.py``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Bundled demo data shipped with the repository.
DATA_DIR = REPO_ROOT / "data"
#: Default home for local state (SQLite store, model artifacts); git-ignored.
DEFAULT_HOME = DATA_DIR / "local"

ENV_HOME = "TIMBRE_HOME"
ENV_DATABASE_URL = "TIMBRE_DATABASE_URL"
#: Where the live connectors send requests (unset: the real services). Tests point them at
#: loopback fakes; a company proxy or a mirror could go here too.
ENV_LASTFM_API_ROOT = "TIMBRE_LASTFM_API_ROOT"
ENV_SPOTIFY_API_ROOT = "TIMBRE_SPOTIFY_API_ROOT"
ENV_SPOTIFY_ACCOUNTS_ROOT = "TIMBRE_SPOTIFY_ACCOUNTS_ROOT"
#: The presenter password's hash (``timbre presenter-hash``); also ``presenter_password_hash``
#: in the secrets file. Set, the app is read-only until the presenter unlocks it.
ENV_PRESENTER_HASH = "TIMBRE_PRESENTER_PASSWORD_HASH"
PRESENTER_HASH = "presenter_password_hash"

#: Secret names looked up in the environment (upper case) and in ``.streamlit/secrets.toml``.
SECRET_NAMES = (
    "lastfm_api_key",
    "lastfm_api_secret",
    "spotify_client_id",
    "spotify_redirect_uri",
)


def read_secrets_file(path: Path | None = None) -> dict[str, Any]:
    """Read ``.streamlit/secrets.toml`` without Streamlit; a missing file gives ``{}``.

    Raises
    ------
    TimbreError
        If the file exists but is not valid TOML (the message never includes its content).
    """
    path = path or REPO_ROOT / ".streamlit" / "secrets.toml"
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TimbreError(
            f"{path} is not valid TOML (line {getattr(exc, 'lineno', '?')})"
        ) from None


@dataclass(frozen=True)
class Settings:
    """Where Timbre keeps its state and which credentials it may use.

    Parameters
    ----------
    home
        Folder for local state: the default SQLite store and model artifacts.
    database_url
        SQLAlchemy URL of the store; ``None`` means SQLite at ``home / "timbre.db"``.
    secrets
        API keys by name (see ``SECRET_NAMES``) and the presenter password hash
        (``PRESENTER_HASH``); never logged, stored or exported.
    lastfm_api_root, spotify_api_root, spotify_accounts_root
        Base URLs of the live services (``TIMBRE_LASTFM_API_ROOT``, ...); ``None`` means the
        real ones (``timbre.sources.lastfm`` / ``spotify`` hold the defaults).
    """

    home: Path
    database_url: str | None = None
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    lastfm_api_root: str | None = None
    spotify_api_root: str | None = None
    spotify_accounts_root: str | None = None

    @property
    def resolved_database_url(self) -> str:
        """The store's SQLAlchemy URL (SQLite under ``home`` unless one was given)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'timbre.db'}"

    @property
    def artifacts_dir(self) -> Path:
        """Folder for saved model artifacts."""
        return self.home / "artifacts"

    def secret(self, name: str) -> str | None:
        """A secret by name, or ``None`` when it is not configured."""
        value = self.secrets.get(name)
        return value or None


def load_settings(
    home: str | Path | None = None,
    database_url: str | None = None,
    secrets_path: Path | None = None,
) -> Settings:
    """Resolve settings: explicit arguments first, then the environment, then the secrets file.

    Parameters
    ----------
    home
        ``--home``; else ``TIMBRE_HOME``; else ``<repo>/data/local``.
    database_url
        ``--db``; else ``TIMBRE_DATABASE_URL``; else SQLite under ``home``.
    secrets_path
        Override the secrets file location (tests).
    """
    file_secrets = read_secrets_file(secrets_path)
    resolved_home = Path(home or os.environ.get(ENV_HOME) or DEFAULT_HOME).expanduser()
    url = database_url or os.environ.get(ENV_DATABASE_URL) or file_secrets.get("database_url")
    secrets: dict[str, str] = {}
    for name in SECRET_NAMES:
        value = os.environ.get(name.upper()) or file_secrets.get(name)
        if value:
            secrets[name] = str(value)
    presenter = os.environ.get(ENV_PRESENTER_HASH) or file_secrets.get(PRESENTER_HASH)
    if presenter:
        secrets[PRESENTER_HASH] = str(presenter)
    return Settings(
        home=resolved_home,
        database_url=url or None,
        secrets=secrets,
        lastfm_api_root=os.environ.get(ENV_LASTFM_API_ROOT) or None,
        spotify_api_root=os.environ.get(ENV_SPOTIFY_API_ROOT) or None,
        spotify_accounts_root=os.environ.get(ENV_SPOTIFY_ACCOUNTS_ROOT) or None,
    )
