"""A large interactions CSV is read and written in chunks, in one transaction: the store ends up
exactly as after reading the whole file at once, a failure in any chunk leaves it unchanged, and
the CLI shows progress."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.cli_helpers import run_cli
from timbre.errors import DataError
from timbre.sources import files
from timbre.sources.interactions_csv import CsvChunks, read_interactions_csv
from timbre.store import Store


def _csv(path: Path, users: int = 40, items: int = 30) -> Path:
    lines = ["user,artist,plays"]
    for u in range(users):
        for i in range(u % 7, items, 3):
            lines.append(f"u{u},artist {i},{(u * i) % 11 + 1}")
    lines.append("u3,artist 4,5")  # a key repeated far from its first row: summed
    lines.append('u5,"an artist, with a comma",2')
    lines.append('u6,"a name with a\nline break",3')  # a quoted line break
    lines.append("u7,artist 1,")  # no weight: dropped and counted
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(store: Store) -> pd.DataFrame:
    frame, _ = store.load_dataset("plays")
    return frame.sort_values(["user_key", "item_key"]).reset_index(drop=True)


def test_chunks_give_the_same_store_and_report_as_one_read(store_url: str, tmp_path: Path) -> None:
    source = _csv(tmp_path / "plays.csv")
    whole = Store.open(f"sqlite:///{tmp_path / 'whole.db'}")
    expected = whole.write_batch(read_interactions_csv(source))
    chunks = CsvChunks(source, chunk_bytes=300)
    batches = list(chunks)
    assert len(batches) > 5  # really in chunks, the quoted line break inside one
    streamed = Store.open(store_url)
    report = streamed.write_batches(CsvChunks(source, chunk_bytes=300), chunks.report)
    pd.testing.assert_frame_equal(_rows(streamed), _rows(whole))
    assert (report.rows_read, report.accepted, report.dropped) == (
        expected.rows_read,
        expected.accepted,
        expected.dropped,
    )
    assert report.written == expected.written
    assert report.unchanged.get("datasets", 0) == 0  # one data set, made once
    assert (report.catalog_candidates, report.catalog_matched) == (
        expected.catalog_candidates,
        expected.catalog_matched,
    )


def test_streaming_into_an_existing_data_set_is_an_idempotent_upsert(
    store_url: str, tmp_path: Path
) -> None:
    source = _csv(tmp_path / "plays.csv")
    store = Store.open(store_url)
    first = CsvChunks(source, chunk_bytes=300)
    store.write_batches(first, first.report)
    before = store.content_digest()
    again = CsvChunks(source, chunk_bytes=300)
    report = store.write_batches(again, again.report)
    assert report.written["interactions"] == 0
    assert store.content_digest() == before


def test_a_bad_chunk_late_in_the_file_leaves_the_store_unchanged(
    store_url: str, tmp_path: Path
) -> None:
    source = _csv(tmp_path / "plays.csv")
    with source.open("a", encoding="utf-8") as out:
        out.write('u9,"never closed,4\n' + "u9,artist 2,1\n" * 50)
    store = Store.open(store_url)
    counts = store.table_counts()
    chunks = CsvChunks(source, chunk_bytes=300)
    with pytest.raises(DataError, match="not a readable CSV"):
        store.write_batches(chunks, chunks.report)
    assert store.table_counts() == counts


def test_the_cli_streams_a_large_file_with_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _csv(tmp_path / "plays.csv", users=400)
    monkeypatch.setattr(files, "STREAM_BYTES", 1_000)  # "large" for the test
    monkeypatch.setattr("timbre.sources.interactions_csv.CHUNK_BYTES", 2_000)
    home = ["--home", str(tmp_path / "home")]
    code, out, err = run_cli(capsys, *home, "import", str(source))
    assert code == 0, err
    assert "rows/s" in err and "of the file" in err and "s left" in err
    assert "accepted" in out and "dropped 1" in out
    whole = Store.open(f"sqlite:///{tmp_path / 'whole.db'}")
    whole.write_batch(read_interactions_csv(source))
    streamed = Store.open(f"sqlite:///{tmp_path / 'home' / 'timbre.db'}")
    pd.testing.assert_frame_equal(_rows(streamed), _rows(whole))


def test_the_app_streams_a_large_upload_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15, item 1 (the app): a large upload is streamed with rows/s and time left."""
    from timbre.app.imports import import_uploads

    source = _csv(tmp_path / "plays.csv", users=400)
    monkeypatch.setattr(files, "STREAM_BYTES", 1_000)
    monkeypatch.setattr("timbre.sources.interactions_csv.CHUNK_BYTES", 2_000)

    class Upload:
        name = "plays.csv"

        def getvalue(self) -> bytes:
            return source.read_bytes()

    seen: list[tuple[float, str]] = []
    streamed = Store.open(f"sqlite:///{tmp_path / 'streamed.db'}")
    result = import_uploads(streamed, [Upload()], progress=lambda f, m: seen.append((f, m)))
    assert len(seen) > 3  # one step per chunk
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    assert all("rows/s" in m and "s left" in m for _, m in seen)
    report = result.reports[0]
    assert result.files == [
        ("plays.csv", f"imported as {report.source} into data set {report.dataset!r}")
    ]
    whole = Store.open(f"sqlite:///{tmp_path / 'whole.db'}")
    whole.write_batch(read_interactions_csv(source))
    pd.testing.assert_frame_equal(_rows(streamed), _rows(whole))
