"""A person's own listening onto a run's items, without retraining; runs that outlive new data."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tests.cli_helpers import run_cli
from timbre.config import Settings
from timbre.errors import TimbreError
from timbre.interactions import InteractionData, Vocabulary
from timbre.models import Recommender
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.people import map_plays
from timbre.services.runs import choose_run, load_run, serve_run, staleness
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store

METAL = {
    "Metallica": ["One", "Battery", "Fade to Black"],
    "Slayer": ["Angel of Death", "Raining Blood"],
    "Iron Maiden": ["The Trooper", "Aces High"],
    "Megadeth": ["Symphony of Destruction"],
    "Opeth": ["Ghost of Perdition"],
    "Pantera": ["Walk"],
    "Some Unknown Band": ["Nothing"],
}


def _scrobbles(path: Path) -> Path:
    """A Last.fm CSV export (uts layout) of a metal listener: 5 plays of each track."""
    lines = ["uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid"]
    moment = 1_647_971_700
    for artist, tracks in METAL.items():
        for track in tracks:
            for _ in range(5):
                moment += 300
                lines.append(f"{moment},x,{artist},,Album,,{track},")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def home(demo_als_home: Path, tmp_path: Path) -> str:
    """A private copy of the demo with the default ALS run active (what a presenter has)."""
    folder = tmp_path / "home"
    shutil.copytree(demo_als_home, folder)
    return str(folder)


@pytest.mark.slow
def test_imported_listening_is_recommended_from_without_retraining(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _scrobbles(tmp_path / "scrobbles.csv")
    code, _, err = run_cli(capsys, "--home", home, "import", str(csv), "--user", "me")
    assert code == 0, err
    code, out, err = run_cli(capsys, "--home", home, "recommend", "--user", "me", "-n", "20")
    assert code == 0, err
    assert out.splitlines()[0] == (
        "me: 50 of 55 plays mapped onto 6 items of the model (1 account: lastfm:me)"
    )
    code, out, err = run_cli(
        capsys, "--home", home, "recommend", "--user", "me", "-n", "20", "--json"
    )
    payload = json.loads(out)
    mapped = payload["mapped"]
    assert (mapped["plays"], mapped["mapped_plays"], mapped["items"]) == (55, 50, 6)
    assert mapped["unmatched"] == [{"name": "Some Unknown Band - Nothing", "plays": 5.0}]
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
    tags = dict(zip(data.item_meta["key"], data.item_meta["tags"], strict=True))
    listed = [row["item_id"] for row in payload["recommendations"]]
    metal = [key for key in listed if any("metal" in str(t) for t in tags[key] or [])]
    assert len(listed) == 20 and len(metal) >= 10, (len(metal), listed)
    names = dict(zip(data.item_meta["key"], data.item_meta["name"], strict=True))
    assert not {names[key] for key in listed} & set(METAL)  # what they played is not listed


def test_an_unknown_person_without_accounts_is_one_clear_line(
    home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "--home", home, "recommend", "--user", "nobody")
    assert code == 1 and out == ""
    assert "no account or questionnaire profile is linked to 'nobody'" in err
    assert err.count("\n") == 1


@pytest.mark.slow
def test_a_run_keeps_serving_after_new_interactions_and_knows_it_is_stale(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _scrobbles(tmp_path / "scrobbles.csv")
    argv = ["--home", home, "import", str(csv), "--user", "me", "--dataset", DEMO_DATASET]
    code, _, err = run_cli(capsys, *argv)
    assert code == 0, err
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
        run = choose_run(store, DEMO_DATASET)
        assert run["fingerprint"] != data.fingerprint  # the data changed since training
        _, trained = serve_run(run, data)
        assert trained.fingerprint == run["fingerprint"] and trained.n_users == data.n_users - 1
        stale = staleness(trained, data)
        assert (stale.new_users, stale.new_items, stale.new_pairs, stale.changed_pairs) == (
            1, 11, 11, 0,
        )  # fmt: skip
        assert stale.text().startswith("stale: 11 user-item pairs arrived or changed")
        engine = engine_for_run(store, data, run)  # refused before: "the data changed since"
        assert engine.data.fingerprint == run["fingerprint"]
        with pytest.raises(TimbreError, match="the data changed since"):
            load_run(run, data)  # what needs the current indices still says so
    code, out, err = run_cli(capsys, "--home", home, "recommend", "--user", "me", "-n", "5")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("run 1: stale: 11 user-item pairs arrived")
    assert lines[1].startswith("me: 50 of 55 plays mapped onto 6 items")
    code, out, err = run_cli(capsys, "--home", home, "recommend", "--user", "2", "--json")
    assert code == 0 and json.loads(out)["run_stale"]["arrived"] == 11


def test_artifacts_keep_their_vocabularies(tmp_path: Path) -> None:
    data = _tracks()
    model = Recommender.load(_fit("item-knn", data).save(tmp_path / "m.npz"))
    assert model.user_ids_ is not None and model.item_ids_ is not None
    assert list(model.user_ids_) == list(data.users.ids)
    assert list(model.item_ids_) == list(data.items.ids)
    rebuilt = data.as_trained(model.user_ids_, model.item_ids_, model.user_items_)
    assert rebuilt.fingerprint == data.fingerprint


def test_track_plays_match_a_track_level_run_by_name_and_artist() -> None:
    data = _tracks()
    plays = pd.DataFrame(
        {
            "item_key": ["spotify:track:x", "lastfm:track:y", "lastfm:track:z", "t:a1"],
            "kind": ["track", "track", "track", "track"],
            "name": ["Airbag", "PARANOID ANDROID", "Airbag", "whatever"],
            "artist": ["Radiohead", "radiohead", "Someone Else", "x"],
            "weight": [2.0, 3.0, 4.0, 1.0],
        }
    )
    mapped = map_plays("me", ["lastfm:me"], plays, data)
    row = mapped.row.toarray()[0]
    assert row[data.items.index("t:a1")] == 1.0  # the same id
    assert row[data.items.index("t:r1")] == 2.0  # Airbag by Radiohead
    assert row[data.items.index("t:r2")] == 3.0  # case and accents ignored
    assert (mapped.plays, mapped.mapped_plays, mapped.items) == (4, 3, 3)
    assert mapped.unmatched.to_dict("records") == [{"name": "Someone Else - Airbag", "plays": 4.0}]


def test_artist_level_runs_count_track_plays_for_their_artist() -> None:
    items = pd.DataFrame(
        {"key": ["a:1", "a:2"], "name": ["Motörhead", "Opeth"], "kind": "artist", "artist": None}
    )
    data = InteractionData(
        "d", Vocabulary(["u"], "user"), Vocabulary(["a:1", "a:2"]),
        sp.csr_matrix(np.ones((1, 2), dtype=np.float32)), items,
    )  # fmt: skip
    plays = pd.DataFrame(
        {
            "item_key": ["x:1", "x:2", "x:3"],
            "kind": ["track", "track", "artist"],
            "name": ["Ace of Spades", "Overkill", "opeth"],
            "artist": ["Motorhead", "MOTÖRHEAD", None],
            "weight": [1.0, 1.0, 5.0],
        }
    )
    row = map_plays("me", [], plays, data).row.toarray()[0]
    assert row.tolist() == [2.0, 5.0]


def _tracks() -> InteractionData:
    items = pd.DataFrame(
        {
            "key": ["t:a1", "t:r1", "t:r2", "t:r3"],
            "name": ["Song", "Airbag", "Paranoid Android", "Airbag"],
            "kind": "track",
            "artist": ["A", "Radiohead", "Radiohéad", "Cover Band"],
        }
    )
    frame = pd.DataFrame(
        {
            "user_key": ["u1", "u1", "u2", "u2", "u3", "u3"],
            "item_key": ["t:a1", "t:r1", "t:r1", "t:r2", "t:r2", "t:r3"],
            "weight": [1.0, 2.0, 1.0, 3.0, 1.0, 1.0],
        }
    )
    return InteractionData.from_frames(frame, items, "tracks")


def _fit(family: str, data: InteractionData) -> Recommender:
    from timbre.models import create_model

    return create_model(family).fit(data)


def _answers(tmp_path: Path, value: int) -> Path:
    from timbre import personality as pers

    path = tmp_path / f"answers-{value}.json"
    path.write_text(json.dumps({code: value for code in pers.get_instrument("mini-ipip").codes()}))
    return path


@pytest.mark.slow
def test_a_profile_saved_for_a_user_reaches_their_list_and_a_profile_alone_gets_one(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = str(_answers(tmp_path, 5))
    score = ["personality", "score", "--instrument", "mini-ipip", "--answers", answers]
    code, out, err = run_cli(capsys, "--home", home, *score, "--user", "2", "--json")
    assert code == 0, err
    assert json.loads(out)["user"] == "hetrec:user:2"  # the key recommend --user 2 reads
    weights = "cf=0.5,personality=0.5"
    argv = ["--home", home, "recommend", "--weights", weights, "--json"]
    code, out, err = run_cli(capsys, *argv, "--user", "2")
    assert code == 0, err
    assert any(row["personality"] > 0 for row in json.loads(out)["recommendations"])

    code, out, err = run_cli(capsys, "--home", home, *score, "--user", "me", "--json")
    assert code == 0 and json.loads(out)["user"] == "me"
    code, out, err = run_cli(capsys, *argv, "--user", "me")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["mapped"]["plays"] == 0 and len(payload["recommendations"]) == 10
    assert any(row["personality"] > 0 for row in payload["recommendations"])


@pytest.mark.slow
def test_open_and_closed_personas_get_lists_of_different_depth(home: str) -> None:
    from timbre import personality as pers
    from timbre.hybrid import Weights
    from timbre.services.people import person_components

    ipip = pers.get_instrument("ipip50")
    zs = [pers.trait_z(pers.score(ipip, pers.persona_answers(i, ipip))) for i in range(5)]
    open_z = max(zs, key=lambda z: z["openness"])
    closed_z = min(zs, key=lambda z: z["openness"])
    assert open_z["openness"] - closed_z["openness"] > 1  # real responses, clearly apart
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
        engine = engine_for_run(store, data, choose_run(store, DEMO_DATASET))
        depth = engine.attribute_matrix[:, list(pers.ATTRIBUTES).index("depth")]
        means = []
        for z in (open_z, closed_z):
            components, mapped = person_components(store, engine, "a-new-person", z)
            assert mapped.plays == 0  # a profile and no history
            ranking = engine.rank(components, Weights(), 20)
            assert ranking.rule == "no history: personality + popularity"
            means.append(float(depth[ranking.items].mean()))
    assert means[0] > means[1], means  # Greenberg et al. (2016): openness and depth, r = .13


def _metal(data: InteractionData, keys: list[str]) -> int:
    tags = dict(zip(data.item_meta["key"], data.item_meta["tags"], strict=True))
    return sum(any("metal" in str(t) for t in tags[key] or []) for key in keys)


@pytest.mark.slow
def test_a_profile_only_person_with_seed_artists_gets_their_kind_of_music(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = str(_answers(tmp_path, 3))
    score = ["personality", "score", "--instrument", "mini-ipip", "--answers", answers]
    code, _, err = run_cli(capsys, "--home", home, *score, "--user", "newbie", "--json")
    assert code == 0, err
    argv = ["--home", home, "recommend", "--user", "newbie", "-n", "20", "--json"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli(capsys, *argv, "--seed", "Slayer", "--seed", "metallica")
    assert code == 0, err
    seeded = json.loads(out)
    assert plain["rule"] == "no history: personality + popularity"
    assert seeded["rule"] == "fewer than 5 interactions: personality + popularity + content"
    assert seeded["mapped"]["plays"] == 0 and len(seeded["seeds"]) == 2
    assert "seeds: Slayer, Metallica (counted as liked)" in seeded["notes"]
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
    rows = seeded["recommendations"]
    before = _metal(data, [r["item_id"] for r in plain["recommendations"]])
    after = _metal(data, [r["item_id"] for r in rows])
    assert after > before and after >= 10, (before, after)
    assert not {r["item_name"] for r in rows} & {"Slayer", "Metallica"}  # the seeds: not listed
    assert all(r["content"] > 0 for r in rows[:5])
    assert any("Slayer" in r["because"] or "Metallica" in r["because"] for r in rows)

    code, out, err = run_cli(capsys, *argv, "--seed", "Slayr")
    assert code == 1 and out == ""
    assert "unknown item: 'Slayr'; did you mean" in err and "'Slayer'" in err


def test_seed_names_are_matched_like_seed_items_and_unknown_ones_say_so(
    demo_data: InteractionData,
) -> None:
    from timbre.services.people import find_seeds, parse_seeds

    names = parse_seeds(" Slayer, ,METALLICA,slayer , Metalica ,Qqxzzv")
    assert names == ["Slayer", "METALLICA", "slayer", "Metalica", "Qqxzzv"]
    seeds = find_seeds(demo_data, names)
    assert seeds.names(demo_data) == ["Slayer", "Metallica"]  # a repeat is kept once
    assert len(seeds.unknown) == 2
    assert seeds.unknown[0].startswith("unknown item: 'Metalica'; did you mean")
    assert "'Metallica'" in seeds.unknown[0]
    assert seeds.unknown[1] == "unknown item: 'Qqxzzv'"


def test_seed_without_a_user_is_refused(home: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "--home", home, "recommend", "--group", "2,3", "--seed", "x")
    assert code == 1 and "--seed names a person's seed artists: give --user" in err


def test_a_group_export_names_its_members_and_adds_up(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "group.csv"
    code, _, err = run_cli(
        capsys, "--home", home, "recommend", "--group", "2,3", "--aggregate", "least-misery",
        "-n", "10", "--out", str(target),
    )  # fmt: skip
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert "# group: hetrec:user:2, hetrec:user:3; aggregation: least-misery" in text
    frame = pd.read_csv(target, comment="#")
    parts = ["cf", "content", "personality", "novelty", "diversity_bonus", "feedback"]
    assert (frame[parts].sum(axis=1) - frame["score"]).abs().max() < 1e-3


def _score_persona(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], persona: int, user: str
) -> None:
    """Save demo persona ``persona``'s Mini-IPIP answers as ``user``'s profile, by the CLI."""
    from timbre import personality as pers

    ipip = pers.get_instrument("mini-ipip")
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(pers.persona_answers(persona, ipip)), encoding="utf-8")
    code, _, err = run_cli(
        capsys, "--home", home, "personality", "score", "--user", user,
        "--instrument", "mini-ipip", "--answers", str(answers),
    )  # fmt: skip
    assert code == 0, err


def test_an_edited_prior_reaches_the_list_and_the_export_names_it(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19 item 3 (CLI): ``--prior FILE`` feeds the list; the export names the table."""
    from timbre import personality as pers

    _score_persona(home, tmp_path, capsys, 0, "prior-person")
    table = pers.default_coefficients()
    flipped = table.assign(coefficient=-table["coefficient"])
    edited = tmp_path / "prior.csv"
    flipped.to_csv(edited, index=False)
    lists = {}
    for name, extra in (("shipped", []), ("edited", ["--prior", str(edited)])):
        out = tmp_path / f"{name}.csv"
        code, _, err = run_cli(
            capsys, "--home", home, "recommend", "--user", "prior-person", "-n", "10",
            "--out", str(out), *extra,
        )  # fmt: skip
        assert code == 0, err
        lists[name] = out.read_text(encoding="utf-8")
    digest = pers.coefficients_digest(pers.validate_coefficients(flipped))
    assert f"# personality prior: {edited} (sha256 {digest})" in lists["edited"]
    assert "# personality prior: the shipped table" in lists["shipped"]
    items = {
        k: pd.read_csv(io.StringIO(v), comment="#")["item_id"].tolist() for k, v in lists.items()
    }
    assert items["shipped"] != items["edited"]
    bad = tmp_path / "bad.csv"
    bad.write_text("trait,attribute,coefficient,source\nopenness,depth,7,x\n", encoding="utf-8")
    code, _, err = run_cli(
        capsys, "--home", home, "recommend", "--user", "prior-person", "--prior", str(bad)
    )
    assert code == 1 and "coefficient must be a number from -1 to 1" in err


def test_recommend_takes_a_listener_floor_and_presenter_safe(
    home: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        capsys, "--home", home, "recommend", "--user", "2", "-n", "30", "--json",
        "--min-listeners", "20", "--presenter-safe",
    )  # fmt: skip
    assert code == 0, err
    with Store.open(Settings(home=Path(home))) as store:
        data = load_data(store, DEMO_DATASET)
    listeners = dict(zip(data.items.ids, data.listeners, strict=True))
    assert all(listeners[row["item_id"]] >= 20 for row in json.loads(out)["recommendations"])
    code, _, err = run_cli(
        capsys, "--home", home, "recommend", "--user", "2", "--min-listeners", "-1"
    )
    assert code == 1 and "--min-listeners must be 0 or more" in err


def test_every_export_names_how_it_was_made(
    home: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 17, provenance: version, data set with its revision and the data's fingerprint,
    run, weights, normalisation, filters, the profile used, seeds for next-track."""
    import timbre

    _score_persona(home, tmp_path, capsys, 1, "hetrec:user:2")
    made = {}
    for name, mode in (
        ("user", ["--user", "2", "--min-listeners", "3"]),
        ("stranger", ["--user", "3"]),
        ("next", ["--seed-items", "Metallica,Megadeth"]),
    ):
        out = tmp_path / f"{name}.csv"
        code, _, err = run_cli(
            capsys, "--home", home, "recommend", *mode, "-n", "5", "--out", str(out)
        )
        assert code == 0, err
        made[name] = [
            line[2:] for line in out.read_text(encoding="utf-8").splitlines() if line[:2] == "# "
        ]
    user = made["user"]
    assert user[0].startswith(f"Timbre {timbre.__version__} recommendations")
    assert user[1].startswith("data set: hetrec-lastfm-2k (revision ")
    assert "; data fingerprint " in user[1]
    assert any(line.startswith("weights: cf=") for line in user)
    assert any(line.startswith("normalisation: minmax") for line in user)
    assert any(line.startswith("cf model: run ") for line in user)
    assert "filters: heard items left out; at least 3 listeners" in user
    profile = next(line for line in user if line.startswith("personality profile"))
    assert profile.startswith("personality profile (trait z-scores): ")
    assert "personality profile: none (the personality component is 0)" in made["stranger"]
    assert "seeds: Metallica (hetrec:artist:707), Megadeth (hetrec:artist:918)" in made["next"]
    rows = pd.read_csv(tmp_path / "next.csv", comment="#")
    assert (rows["artist"] == rows["item_name"]).all()  # artist items name their artist
