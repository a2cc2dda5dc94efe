"""Timbre: a music-recommendation workbench core (no Streamlit here; see ``timbre.app``)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
