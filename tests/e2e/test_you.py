"""Real browser: the You page end to end: a person, an upload, the list, a skip, the CSV; and
the whole flow (Last.fm by name against the loopback fake, a mixed Spotify export, the
Mini-IPIP, Like and Skip, the CSV) on a server of its own."""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.e2e.harness import (
    Server,
    assert_no_exception,
    open_page,
    streamlit_server,
    wait_for_app,
)
from tests.fakes.lastfm import FakeLastfm, make_user
from tests.sources.test_spotify_mixed import BASIC, EXTENDED, _files
from tests.test_people import _scrobbles

PERSON = "e2eyou"
LASTFM_KEY = "e2e-lastfm-key-3f9a0c6b1d"


def _rows(page: Any) -> list[str]:
    """The list's item names, from the "1. name" lines beside the reaction buttons."""
    texts = page.locator("[data-testid=stText]").all_inner_texts()
    return [m.group(1) for t in texts if (m := re.match(r"^\d+\. (.+)$", t.strip()))]


def _ensure_model(page: Any) -> None:
    train = page.get_by_role("button", name="Train ALS now")
    if train.count():
        train.click()
        page.get_by_role("button", name="Download your list (CSV)").wait_for()
        wait_for_app(page)


def test_you_flow_upload_list_skip_and_download(app_server: Any, page: Any, tmp_path: Path) -> None:
    open_page(page, app_server.url, "You")
    _ensure_model(page)
    assert_no_exception(page)
    box = page.get_by_role("textbox", name="Your id")
    box.fill(PERSON)
    box.press("Enter")
    wait_for_app(page)
    page.get_by_text("With no history and no questionnaire, you get popular items.").wait_for()

    csv = _scrobbles(tmp_path / "scrobbles.csv")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(csv))
    page.get_by_text("scrobbles.csv").first.wait_for()  # uploaded before the form is sent
    page.get_by_role("button", name="Import for me").click()
    line = f"{PERSON}: 50 of 55 plays mapped onto 6 items of the model (1 account: lastfm:{PERSON})"
    page.get_by_text(line).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    before = _rows(page)
    assert len(before) == 10

    page.locator(".st-key-you_skip_1 button").click()
    page.get_by_text(f"skipped: {before[0]}", exact=True).wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    after = _rows(page)
    assert len(after) == 10 and before[0] not in after

    with page.expect_download() as info:
        page.get_by_role("button", name="Download your list (CSV)").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert f"# person: {PERSON}" in header
    assert f"# feedback: you skipped {before[0]}" in header, header
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert frame["item_name"].tolist() == after
    assert set(frame["user_id"]) == {PERSON}


@pytest.fixture
def lastfm_fake(tmp_path: Path) -> Iterator[FakeLastfm]:
    with FakeLastfm([make_user("alice", 120)], api_key=LASTFM_KEY, workdir=tmp_path) as fake:
        yield fake


@pytest.fixture
def fake_backed_server(
    browser: Any,
    demo_als_home: Path,
    lastfm_fake: FakeLastfm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Server]:
    """The app on a copy of the demo with ALS trained, its Last.fm pointed at the fake (the
    server is started with this environment): no request leaves the machine."""
    home = tmp_path / "served" / "home"
    shutil.copytree(demo_als_home, home)
    monkeypatch.setenv("SSL_CERT_FILE", str(lastfm_fake.ca_path))
    monkeypatch.setenv("TIMBRE_LASTFM_API_ROOT", lastfm_fake.url)
    for name in ("LASTFM_API_KEY", "SPOTIFY_CLIENT_ID", "SPOTIFY_REDIRECT_URI"):
        monkeypatch.delenv(name, raising=False)
    with streamlit_server(home) as server:
        yield server


def _step(page: Any) -> None:
    """After an action: the run is over and it showed no traceback and no error."""
    wait_for_app(page)
    assert_no_exception(page)
    errors = page.locator("[data-testid=stAlertContentError]")
    assert errors.count() == 0, errors.all_inner_texts()


def _open_you(page: Any, url: str, person: str) -> None:
    open_page(page, url, "You")
    _step(page)
    _ensure_model(page)
    box = page.get_by_role("textbox", name="Your id")
    box.fill(person)
    box.press("Enter")
    _step(page)
    page.get_by_text("With no history and no questionnaire, you get popular items.").wait_for()


def _plays(page: Any, pattern: str) -> int:
    """The plays the person's mapping line counts, once a line matching ``pattern`` shows."""
    line = page.locator("[data-testid=stText]", has_text=re.compile(pattern))
    line.wait_for()
    found = re.search(r" of ([\d,]+) plays mapped", str(line.inner_text()))
    assert found, line.inner_text()
    return int(found.group(1).replace(",", ""))


def _connect_lastfm(page: Any, person: str) -> int:
    page.get_by_role("textbox", name="Last.fm user name (public data)").fill("alice")
    page.get_by_role("textbox", name="Last.fm API key").fill(LASTFM_KEY)
    page.get_by_role("button", name="Connect Last.fm").click()
    page.get_by_text(f"Last.fm alice: fetch ok; linked to {person}.").wait_for()
    _step(page)
    return _plays(page, rf"^{person}: [\d,]+ of [\d,]+ plays mapped .*\(1 account: lastfm:alice\)$")


def _upload_mixed_spotify(page: Any, person: str, folder: Path) -> int:
    paths = []
    for name, data in _files().items():
        (folder / name).write_bytes(data)
        paths.append(str(folder / name))
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(paths)
    for name in (BASIC, EXTENDED):  # both uploaded before the form is sent
        page.locator(f"[data-testid=stFileChipName][title='{name}']").wait_for()
    page.get_by_role("button", name="Import for me").click()
    page.get_by_text(re.compile(rf"^Imported for {person} into data set")).wait_for()
    _step(page)
    pattern = (
        rf"^{person}: [\d,]+ of [\d,]+ plays mapped onto [\d,]+ items of the model \(2 accounts: "
    )
    return _plays(page, pattern)


def _save_persona(page: Any, person: str) -> None:
    page.get_by_text("Take the Mini-IPIP (20 items)").click()
    page.get_by_role("button", name="Fill with persona").click()
    _step(page)
    page.get_by_role("button", name="Score and save").click()
    page.get_by_text(re.compile(rf"^Saved profile \d+ for {person}\.$")).wait_for()
    _step(page)
    page.get_by_text(re.compile(r"^Saved profile \(mini-ipip, ")).wait_for()


def _react(page: Any, event: str, past: str) -> str:
    """Press ``event`` on the list's first row; its name, once the feedback list shows it."""
    name = _rows(page)[0]
    page.locator(f".st-key-you_{event}_1 button").click()
    page.get_by_text(f"{past}: {name}", exact=True).wait_for()
    _step(page)
    return name


def test_the_whole_you_flow_with_last_fm_a_mixed_spotify_export_and_the_mini_ipip(
    fake_backed_server: Server, lastfm_fake: FakeLastfm, page: Any, tmp_path: Path
) -> None:
    person, started, took = "e2efull", time.perf_counter(), {}
    try:
        _open_you(page, fake_backed_server.url, person)
        took["open"] = time.perf_counter() - started
        from_lastfm = _connect_lastfm(page, person)
        took["last.fm"] = time.perf_counter() - started
        # 2 plays of the basic history, 3 of the extended one; its podcast, a 4 s skip and the
        # 2 plays both histories hold once more are left out
        assert _upload_mixed_spotify(page, person, tmp_path) == from_lastfm + 5
        took["spotify export"] = time.perf_counter() - started
        _save_persona(page, person)
        uses = re.compile(r"^Built from [\d,]+ of your plays and your questionnaire, with")
        page.get_by_text(uses).wait_for()
        assert len(_rows(page)) == 10
        liked = _react(page, "like", "liked")
        skipped = _react(page, "skip", "skipped")
        after = _rows(page)
        assert len(after) == 10 and not {liked, skipped} & set(after)
        with page.expect_download() as info:
            page.get_by_role("button", name="Download your list (CSV)").click()
        text = Path(info.value.path()).read_text(encoding="utf-8")
        mapping = page.locator("[data-testid=stText]", has_text=re.compile(rf"^{person}: "))
        line = str(mapping.inner_text())  # the person's own key joins once they have a profile
        shown = str(page.locator("[data-testid=stMain]").inner_text())
        took["all"] = time.perf_counter() - started
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'failure.png'}\n{fake_backed_server.log()[-5000:]}")
        raise
    print("e2e You flow, seconds since start:", {k: round(v, 1) for k, v in took.items()})
    assert "lastfm:alice" in line and f"spotify:user:{person}" in line, line
    assert not line.startswith(f"{person}: 0 of "), line
    assert lastfm_fake.requests_for(user="alice")  # the fake answered the app's fetch
    assert LASTFM_KEY not in shown and LASTFM_KEY not in text  # the typed key is never shown
    header = [row for row in text.splitlines() if row.startswith("#")]
    assert f"# person: {person}" in header and f"# {line}" in header, "\n".join(header)
    assert f"# feedback: you liked {liked}; you skipped {skipped}" in header, header
    frame = pd.read_csv(io.StringIO(text), comment="#")
    assert frame["item_name"].tolist() == after
    assert skipped not in set(frame["item_name"]) and liked not in set(frame["item_name"])
