"""Issue 16, item 1: hostile names are shown as text on every page, in real Chromium.

A data set whose name, item names and user ids hold Markdown images and links, raw HTML,
Streamlit's own Markdown (colours, icons, LaTeX), headings, formula prefixes, a newline and a
direction override is imported with the CLI and a model trained on it; every page of the
navigation is then visited and made to show those names (lists, errors that echo a typed name,
flash messages, tables, captions). A loopback server whose address every hostile URL names
records each request: it must see none, no Markdown or HTML from the data may be rendered,
and the names must be visible as written. The 5 MB item id and a name holding a NUL are
refused or dropped with a clear message.
"""

from __future__ import annotations

import csv
import io
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.harness import ROOT, Server, assert_no_exception, streamlit_server, wait_for_app
from timbre.export import FORMULA_PREFIXES

#: A 1x1 transparent GIF: what the recorder answers, so a fetched image would load.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
#: Texts an element made by rendering the data's Markdown would hold (bold, emphasis, heading,
#: link, colour directive, image alt text).
MARKERS = ["bold", "star", "heading", "line2", "click", "alarm", "px", "u", "ds", "heavy", "anchor"]


class Recorder:
    """A loopback HTTP server that records every request (method and path) it is sent."""

    def __init__(self) -> None:
        seen = self.requests = []  # type: list[str]

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(PIXEL)))
                self.end_headers()
                self.wfile.write(PIXEL)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.netloc = f"127.0.0.1:{self.server.server_address[1]}"
        self.url = f"http://{self.netloc}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def hostile_names(url: str) -> tuple[str, list[str], list[str]]:
    """The data set name, item names and user ids, every URL pointing at ``url``."""
    dataset = f"**bold** [ds]({url}/ds-link) ![ds]({url}/ds-img.png)"
    items = [
        f"![px]({url}/item-img.png)",
        f"[click]({url}/item-link)",
        f'<img src="{url}/item-html.png">',
        "<b>heavy</b>",
        f'<a href="{url}/item-anchor">anchor</a>',
        '=HYPERLINK("http://example.invalid")',
        "+1",
        "-2",
        "@SUM(A1)",
        ":red[alarm] :material/home: $x^2$ :skull:",
        "# heading",
        "line1\n# line2",
        "rtl\u202eevil",
        "**bold**",
    ]
    users = [
        f"![u]({url}/user-img.png)",
        f'<img src="{url}/user-html.png">',
        "=cmd|' /C calc'!A0",
        "*star*",
    ]
    return dataset, items, users


def write_plays(path: Path, items: list[str], users: list[str]) -> None:
    """Every hostile user plays 12 items (and 30 plain users too), plus one 5 MB item id."""
    catalogue = items + [f"artist {i}" for i in range(40)]
    people = users + [f"user{i}" for i in range(30)]
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as stream:
        out = csv.writer(stream)
        out.writerow(["user", "item", "weight"])
        for user in people:
            for item in rng.sample(catalogue, 12):
                out.writerow([user, item, rng.randint(1, 50)])
        # the hostile items are played by the plain users too: in every top list
        for user in people[len(users) :]:
            for item in items:
                out.writerow([user, item, 60])
        out.writerow(["user0", "z" * 5_000_000, 3])


def timbre(home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timbre", "--home", str(home), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as running:
        yield running


@pytest.fixture(scope="module")
def hostile_home(recorder: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with only the hostile data set, ALS trained on it (with the CLI)."""
    folder = tmp_path_factory.mktemp("hostile")
    home = folder / "home"
    dataset, items, users = hostile_names(recorder.url)
    write_plays(folder / "plays.csv", items, users)
    done = timbre(home, "import", str(folder / "plays.csv"), "--dataset", dataset)
    assert done.returncode == 0, done.stderr
    assert "dropped 1: item id longer than 500 characters" in done.stdout, done.stdout
    trained = timbre(home, "train", "--model", "als", "--dataset", dataset)
    assert trained.returncode == 0, trained.stderr
    return home


@pytest.fixture(scope="module")
def hostile_server(browser: Any, hostile_home: Path) -> Iterator[Server]:
    # no file watcher: a source file saved meanwhile (another worktree's edit) must not reload
    # modules under the running server (an error class reloaded is no longer caught)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMLIT_SERVER_FILE_WATCHER_TYPE", "none")
        with streamlit_server(hostile_home) as server:
            yield server


def test_the_cli_export_of_hostile_names_is_formula_safe_in_cells_header_and_comments(
    hostile_home: Path, recorder: Recorder, tmp_path: Path
) -> None:
    dataset, items, users = hostile_names(recorder.url)
    out = tmp_path / "recs.csv"
    done = timbre(hostile_home, "recommend", "--user", users[2], "-n", "60", "--out", str(out))
    assert done.returncode == 0, done.stderr
    _assert_safe_csv(out.read_text(encoding="utf-8"), dataset, items)


def test_names_the_import_refuses_say_why_and_change_nothing(
    hostile_home: Path, tmp_path: Path
) -> None:
    before = timbre(hostile_home, "stats").stdout
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"user,item\nu1,nul\x00name\n")
    refused = timbre(hostile_home, "import", str(nul), "--dataset", "fine")
    assert refused.returncode != 0 and "looks binary" in refused.stderr, refused.stderr
    plain = tmp_path / "plain.csv"
    plain.write_text("user,item\nu1,i1\n")
    for name, code in (("new\nline", "U+000A"), ("rtl\u202eevil", "U+202E"), ("x" * 201, "201")):
        refused = timbre(hostile_home, "import", str(plain), "--dataset", name)
        assert refused.returncode != 0 and code in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    assert timbre(hostile_home, "stats").stdout == before


def _assert_safe_csv(text: str, dataset: str, items: list[str]) -> None:
    """One ``# `` comment line per provenance line, then a CSV whose every text cell and header
    is formula-safe, holding the hostile names as written (a leading ``'`` aside)."""
    lines = text.split("\n")
    header = next(n for n, line in enumerate(lines) if not line.startswith("# "))
    comments = lines[:header]  # (a quoted name's newline may start a later line with "# ")
    # the name as written, then its revision (and the data's fingerprint)
    assert any(line.startswith(f"# data set: {dataset} (revision ") for line in comments), comments
    body = "\n".join(lines[len(comments) :])
    assert not any(line.startswith(FORMULA_PREFIXES) for line in lines)
    assert "\u202e" not in "\n".join(comments)
    frame = pd.read_csv(io.StringIO(body), keep_default_na=False)
    assert not [c for c in frame.columns if c.startswith(FORMULA_PREFIXES)]
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    assert {"user_id", "item_id", "item_name", "because"} <= set(text_columns)
    cells = [str(v) for column in text_columns for v in frame[column]]
    risky = [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)]
    assert not risky, risky
    assert any(cell.startswith("'") for cell in cells)  # a hostile name was neutralised
    plain = [n for n in items if not n.startswith(FORMULA_PREFIXES)]
    assert any(name in cell for name in plain for cell in cells)  # the others kept as written


#: What the browser must not do with the data: fetch from, or link to, the recorder; render
#: the data's Markdown (an element whose whole text is a marker, LaTeX, a coloured span).
_RENDERED = """([netloc, markers]) => {
  const bad = [];
  for (const el of document.querySelectorAll('img, a, image, iframe, source, video, audio, link')) {
    for (const attr of ['src', 'href', 'xlink:href', 'srcset']) {
      const value = el.getAttribute(attr);
      if (value && value.includes(netloc)) bad.push(el.outerHTML.slice(0, 160));
    }
  }
  const rendered = '[data-testid=stMarkdownContainer] :is(strong, em, b, h1, h2, h3, h4, h5, h6, '
    + 'a, del, li, img, span, blockquote)';
  for (const el of document.querySelectorAll(rendered)) {
    const text = (el.tagName === 'IMG' ? el.alt : el.textContent).trim();
    if (markers.includes(text)) bad.push(el.outerHTML.slice(0, 160));
  }
  // Plotly's own tags (<b>, <a href>) in a chart's labels, titles and hover text
  for (const el of document.querySelectorAll('.js-plotly-plot :is(text, tspan, a)')) {
    if (markers.includes(el.textContent.trim())) bad.push('plotly: ' + el.outerHTML.slice(0, 160));
  }
  // Streamlit's LaTeX, material icons and emoji shortcodes
  const main = '[data-testid=stMain] ';
  for (const el of document.querySelectorAll(
      `${main}.katex, ${main}[data-testid=stMarkdownContainer] span[role=img]`)) {
    bad.push(el.outerHTML.slice(0, 160));
  }
  if (document.querySelector('[data-testid=stMain]').innerText.includes('\\u{1F480}')) {
    bad.push('the :skull: shortcode became an emoji');
  }
  return bad;
}"""


class Visit:
    """The browser side: each step waits for the run, then checks the page."""

    def __init__(self, page: Any, server: Server, recorder: Recorder) -> None:
        self.page, self.server, self.recorder = page, server, recorder
        self.sent: list[str] = []  # requests the browser made to the recorder
        self.rendered: dict[str, list[str]] = {}
        self.shown: list[str] = []  # the main area's text on each step
        page.on(
            "request",
            lambda request: self.sent.append(request.url) if recorder.netloc in request.url else 0,
        )

    def check(self, step: str) -> None:
        with suppress(PlaywrightTimeout):  # the rerun an action starts, if not over already
            self.page.wait_for_selector(
                "[data-testid=stApp][data-test-script-state=running]", timeout=2000
            )
        wait_for_app(self.page)
        assert_no_exception(self.page)
        bad = self.page.evaluate(_RENDERED, [self.recorder.netloc, MARKERS])
        if bad:
            self.rendered[step] = bad
        self.shown.append(str(self.page.locator("[data-testid=stMain]").inner_text()))

    def open(self, title: str) -> None:
        if title == "Home":
            self.page.goto(self.server.url)
        else:
            self.page.locator("[data-testid=stSidebarNav] a", has_text=title).first.click()
            self.page.wait_for_url(re.compile(rf"/{title}$"))
        self.check(title)

    def type(self, label: str, text: str, step: str, nth: int = 0) -> None:
        box = self.page.get_by_role("textbox", name=label).nth(nth)
        box.fill(text)
        box.press("Control+Enter" if "\n" in text else "Enter")
        self.check(step)

    def click(self, name: str, step: str) -> None:
        self.page.get_by_role("button", name=name).first.click()
        self.check(step)


def _visit_every_page(visit: Visit, tmp_path: Path) -> None:
    url = visit.recorder.url
    dataset, items, users = hostile_names(url)
    key = f"{dataset}:user:{users[0]}"
    unknown = f"![nope]({url}/typed-img.png)"
    visit.open("Home")
    visit.open("You")
    visit.type("Your id", f"![me]({url}/person-img.png)", "You: a hostile person")
    visit.type("Seed artists (comma separated)", f"{items[0]}, {unknown}", "You: seeds")
    visit.page.locator(".st-key-you_like_1 button").click()
    visit.check("You: like")
    visit.open("Data")
    big = tmp_path / "big.csv"
    big.write_text("user,item\nu1," + "z" * 5_000_000 + "\n")
    visit.page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(big))
    visit.page.locator("[data-testid=stFileChipName][title='big.csv']").wait_for()
    visit.page.get_by_role("button", name="Import", exact=True).click()
    visit.page.get_by_text("item id longer than 500 characters").first.wait_for()
    visit.check("Data: a 5 MB item id")
    visit.open("Personality")
    visit.type("Listener", users[3], "Personality: listener")
    visit.click("Fill with persona", "Personality: persona")
    visit.click("Score and save", "Personality: saved")
    visit.open("Train")
    visit.type("Artist or track", items[0], "Train: similar items")
    visit.type("Artist or track", unknown, "Train: unknown item")
    visit.page.get_by_role("tab", name="Recommendations for a user").click()
    visit.type("User id", key, "Train: a hostile user")
    visit.type("User id", unknown, "Train: unknown user")
    visit.open("Similarity")
    visit.open("Tune")
    visit.type("Listener id (a data set's listener, or a person: me, a Last.fm name)", key, "Tune")
    visit.type(
        "Listener id (a data set's listener, or a person: me, a Last.fm name)", unknown, "Tune: ?"
    )
    visit.open("Recommend")
    listener = "Listener id (a data set's listener, or a person: me, a Last.fm name)"
    visit.type(listener, users[2], "Recommend: a hostile listener")
    with visit.page.expect_download() as info:
        visit.page.get_by_role("button", name="Download this list (CSV)").click()
    _assert_safe_csv(Path(info.value.path()).read_text(encoding="utf-8"), dataset, items)
    visit.type(listener, unknown, "Recommend: unknown listener")
    visit.page.get_by_text("Similar items", exact=True).click()
    visit.check("Recommend: similar items mode")
    visit.type("Artist or track", items[2], "Recommend: similar to a hostile item")
    visit.type("Artist or track", unknown, "Recommend: unknown item")


def test_hostile_names_are_shown_as_text_on_every_page(
    hostile_server: Server, recorder: Recorder, page: Any, tmp_path: Path
) -> None:
    visit = Visit(page, hostile_server, recorder)
    try:
        _visit_every_page(visit, tmp_path)
    except Exception:
        shot = hostile_server.log_path.with_name("hostile-failure.png")
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}\n{hostile_server.log()[-5000:]}")
        raise
    assert not recorder.requests, recorder.requests
    assert not visit.sent, visit.sent
    assert not visit.rendered, visit.rendered
    shown = "\n".join(visit.shown)
    dataset, _, users = hostile_names(recorder.url)
    for literal in ("![px](", dataset, "**bold**", "<img src=", "![nope](", users[3]):
        assert literal in shown, literal
    assert "item id longer than 500 characters" in shown
