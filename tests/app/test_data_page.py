"""AppTest: the Data page shows demo statistics and charts, imports uploads, reports bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import metric_values, open_page, plotly_figures, shown
from tests.app.helpers import values as plotly_values
from timbre.config import load_settings
from timbre.store import Store

PAGE = "pages/data.py"
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _contents() -> dict[str, str]:
    with Store.open(load_settings()) as store:
        return store.content_digest()


def test_statistics_and_charts_on_the_demo(demo_app_home: Path) -> None:
    at = open_page(PAGE, 30)
    assert not at.exception
    values = metric_values(at)
    assert values["Users"][0] == "1,892"
    assert values["Artists"][0] == "17,632"
    assert values["Interactions"][0] == "92,834"
    figures = plotly_figures(at)
    titles = [fig["layout"]["title"]["text"] for fig in figures]
    assert titles == [
        "Plays per user",
        "Most played",
        "Genre mix (catalogue genres)",
        "Catalogue match rate",
    ]
    plays, top = figures[0], figures[1]
    assert sum(plotly_values(plays["data"][0]["y"])) == 1892
    # the most played HetRec artist, drawn last in a horizontal bar chart
    assert plotly_values(top["data"][0]["y"])[-1] == "Britney Spears"


def _upload_and_import(at: AppTest, name: str, content: bytes, user: str = "") -> AppTest:
    at.file_uploader(key="data_uploads_0").upload(name, content, "application/octet-stream")
    if user:
        at.text_input(key="data_user").input(user)
    at.button(key="data_import_submit").click()
    return at.run()


def test_importing_a_lastfm_export_shows_the_report(demo_app_home: Path) -> None:
    sample = next(SAMPLES.glob("*lastfm*.csv"))
    at = open_page(PAGE, 60)
    at = _upload_and_import(at, sample.name, sample.read_bytes(), user="presenter")
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Imported into data set" in s.value for s in at.success)
    values = metric_values(at)
    assert int(values["Rows read"][0].replace(",", "")) > 0
    assert values["Catalogue match"][0].endswith("%")


def test_a_binary_file_named_csv_is_refused_and_changes_nothing(demo_app_home: Path) -> None:
    before = _contents()
    at = open_page(PAGE, 60)
    at = _upload_and_import(at, "plays.csv", bytes(range(256)) * 64)
    assert not at.exception
    assert at.error, "a binary file must give an error message"
    assert "csv" in at.error[0].value.lower()
    assert _contents() == before


# --- every malformed input gives its specific message in the app, and changes nothing ---------
from tests.sources.test_malformed import FAILING, Case  # noqa: E402
from tests.test_store import listening_batch  # noqa: E402

# the app offers only valid formats in its select box, so "unknown-format" cannot happen there
APP_CASES = [c for c in FAILING if "max_zip_bytes" not in c.options and c.id != "unknown-format"]


@pytest.fixture
def small_app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "small-home"
    monkeypatch.setenv("TIMBRE_HOME", str(home))
    monkeypatch.delenv("TIMBRE_DATABASE_URL", raising=False)
    with Store.open(load_settings()) as store:
        store.write_batch(listening_batch())
    return home


@pytest.mark.parametrize("case", APP_CASES, ids=[c.id for c in APP_CASES])
def test_malformed_upload_shows_its_message_and_changes_nothing(
    case: Case, small_app_home: Path, tmp_path: Path
) -> None:
    before = _contents()
    at = open_page(PAGE, 30)
    path = case.write(tmp_path)
    at.file_uploader(key="data_uploads_0").upload(
        path.name, path.read_bytes(), "application/octet-stream"
    )
    if "format" in case.options:
        at.selectbox(key="data_format").set_value(case.options["format"])
    if case.options.get("user", "me"):
        at.text_input(key="data_user").input("me")
    columns = case.options.get("columns")
    if columns:
        at.text_input(key="data_columns").input(
            ", ".join(f"{role}={name}" for role, name in columns.items())
        )
    at.button(key="data_import_submit").click()
    at.run()
    assert not at.exception
    assert at.error, f"{case.id}: no error shown"
    assert case.message in shown(at.error[0].value)
    assert _contents() == before
