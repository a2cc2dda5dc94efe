"""The trait -> music prior, reverse keys item by item, answer files, and the personality CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli_helpers import run_cli as _run
from timbre import personality as pers
from timbre.errors import DataError
from timbre.sources.catalog import read_catalog
from timbre.sources.demo import CATALOG_CSV


@pytest.mark.parametrize("instrument_name", ["ipip50", "mini-ipip"])
def test_every_reverse_keyed_item_counts_six_minus_the_answer(instrument_name: str) -> None:
    instrument = pers.get_instrument(instrument_name)
    reverse = [item for item in instrument.items if item.keyed < 0]
    assert reverse, "the instrument has reverse-keyed items"
    for item in instrument.items:
        answers = {code: 3 for code in instrument.codes()}
        answers[item.code] = 5
        n = len(instrument.trait_items(item.trait))
        expected = 3 + (-2 if item.keyed < 0 else 2) / n  # 6 - 5 = 1 counts two below 3
        got = pers.score(instrument, answers).means[item.trait]
        assert got == pytest.approx(expected), item.code


def test_every_coefficient_has_a_source_and_a_reported_effect() -> None:
    table = pers.default_coefficients()
    assert len(table) >= 8
    assert table["source"].str.len().gt(10).all()
    assert table["reported_effect"].str.len().gt(0).all()
    # the numbers quoted from Greenberg et al. 2016
    greenberg = table[table["source"].str.contains("Greenberg")]
    pairs = {(r.trait, r.attribute): r.coefficient for r in greenberg.itertuples()}
    assert pairs == {
        ("openness", "depth"): 0.13,
        ("agreeableness", "arousal"): -0.12,
        ("conscientiousness", "arousal"): -0.08,
    }


def test_edited_coefficients_are_checked_row_by_row() -> None:
    table = pers.default_coefficients().astype({"coefficient": object})
    table.loc[0, "coefficient"] = "lots"
    table.loc[1, "source"] = ""
    table.loc[2, "trait"] = "charisma"
    with pytest.raises(DataError) as info:
        pers.validate_coefficients(table)
    message = str(info.value)
    assert "row 1: coefficient" in message and "row 2: every coefficient needs a source" in message
    assert "row 3: unknown trait 'charisma'" in message


def _profile(**z: float) -> dict[str, float]:
    return {trait: z.get(trait, 0.0) for trait in pers.TRAITS}


@pytest.fixture(scope="module")
def catalogue_attributes() -> pers.ItemAttributes:
    batch = read_catalog(CATALOG_CSV)
    meta = batch.features.rename(columns={"item_key": "key"})
    return pers.item_attributes(meta)


def test_high_openness_ranks_deep_items_above_shallow_ones_on_the_catalogue(
    catalogue_attributes: pers.ItemAttributes,
) -> None:
    attributes = catalogue_attributes
    assert (attributes.source == "audio").mean() > 0.99
    weights = pers.attribute_weights(_profile(openness=2.0), pers.default_coefficients())
    scores = pers.prior_scores(attributes, weights)
    depth = attributes.values["depth"].to_numpy()
    order = np.argsort(-scores)
    top, bottom = order[:1000], order[-1000:]
    assert depth[top].mean() > depth[bottom].mean() + 1.0
    # and an average profile has no preference at all
    flat = pers.prior_scores(
        attributes, pers.attribute_weights(_profile(), pers.default_coefficients())
    )
    assert np.allclose(flat, 0.0)


def test_items_without_attributes_get_a_neutral_score_not_nan() -> None:
    meta = pd.DataFrame(
        {
            "key": ["a", "b", "c"],
            "tags": [["metal", "thrash metal"], ["ambient"], ["kazoo covers"]],
            "genres": [[], [], []],
        }
    )
    attributes = pers.item_attributes(meta)
    assert attributes.source.tolist() == ["tags", "tags", "none"]
    weights = pers.attribute_weights(_profile(agreeableness=2.0), pers.default_coefficients())
    scores = pers.prior_scores(attributes, weights)
    assert not np.isnan(scores).any() and scores[2] == 0.0
    # agreeable listeners lean away from high-arousal music (Greenberg et al. 2016)
    assert scores[1] > scores[0]
    assert pers.prior_contributions(attributes, weights, 2) == []


def test_exploration_rises_with_openness() -> None:
    low = pers.exploration_level(_profile(openness=-2.0))
    mid = pers.exploration_level(_profile())
    high = pers.exploration_level(_profile(openness=2.0))
    assert mid.level == pytest.approx(0.5)
    assert low.level < mid.level < high.level
    assert low.diversity < high.diversity and low.novelty < high.novelty


def test_trait_z_of_the_norm_mean_is_zero() -> None:
    summary = pd.read_csv(pers.SUMMARY_CSV)
    means = {row.trait: row.mean for row in summary[summary["instrument"] == "ipip50"].itertuples()}
    z = pers.trait_z(pers.Scores("ipip50", means, {}))
    assert all(abs(v) < 1e-9 for v in z.values())


def test_personas_are_complete_real_responses() -> None:
    instrument = pers.get_instrument("ipip50")
    frame = pers.personas()
    assert len(frame) == 5
    openness = [
        pers.score(instrument, pers.persona_answers(i, instrument)).means["openness"]
        for i in range(5)
    ]
    assert openness == sorted(openness)


def test_answer_files_csv_json_and_item_numbers(tmp_path: Path) -> None:
    mini = pers.get_instrument("mini-ipip")
    answers = {code: 4 for code in mini.codes()}
    (tmp_path / "a.json").write_text(json.dumps(answers))
    assert pers.read_answers(tmp_path / "a.json") == answers
    lines = ["item,answer"] + [f"{code},{value}" for code, value in answers.items()]
    (tmp_path / "a.csv").write_text("\n".join(lines))
    assert pers.read_answers(tmp_path / "a.csv") == answers
    # item numbers follow the IPIP-50 administration order: 1 = E1, 2 = A1, 3 = C1, 4 = N1
    (tmp_path / "n.json").write_text(json.dumps({"1": 5, "2": 4, "3": 3, "4": 2}))
    assert pers.read_answers(tmp_path / "n.json") == {"E1": 5, "A1": 4, "C1": 3, "N1": 2}
    (tmp_path / "odd.json").write_text(json.dumps({"E1": 3, "Z9": 2}))
    with pytest.raises(DataError, match="not IPIP-50 items: Z9"):
        pers.read_answers(tmp_path / "odd.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match=r"bad\.json: not valid JSON"):
        pers.read_answers(tmp_path / "bad.json")


def test_personality_cli_scores_saves_ranks_and_exports(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    ipip = pers.get_instrument("ipip50")
    answers = pers.persona_answers(4, ipip)
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers))
    code, out, err = _run(
        capsys,
        "--home",
        str(home),
        "personality",
        "score",
        "--answers",
        str(path),
        "--user",
        "hetrec:user:2",
        "--json",
    )
    assert code == 0, err
    payload = json.loads(out)
    expected = pers.score(ipip, answers)
    assert payload["scores"] == {t: round(m, 4) for t, m in expected.means.items()}
    assert payload["percentiles"] == pers.percentiles(expected)
    code, out, err = _run(
        capsys,
        "--home",
        str(home),
        "personality",
        "prior",
        "--user",
        "hetrec:user:2",
        "-n",
        "5",
        "--json",
    )
    assert code == 0, err
    prior = json.loads(out)
    assert len(prior["items"]) == 5 and prior["items"][0]["prior"] >= prior["items"][-1]["prior"]
    assert prior["items"][0]["because"]
    code, out, err = _run(
        capsys, "--home", str(home), "personality", "export", "--out", str(tmp_path / "p.csv")
    )
    assert code == 0, err
    exported = pd.read_csv(tmp_path / "p.csv")
    assert exported["user_id"].tolist() == ["hetrec:user:2"]
    assert exported["answer_O10"].tolist() == [answers["O10"]]


def test_personality_cli_errors(
    demo_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.json"
    path.write_text(json.dumps({"E1": 4, "A4": 9}))
    code, out, err = _run(
        capsys,
        "--home",
        str(demo_home),
        "personality",
        "score",
        "--answers",
        str(path),
        "--instrument",
        "mini-ipip",
    )
    assert code == 1 and "unanswered:" in err and "not a whole number from 1 to 5: A4" in err
    code, out, err = _run(
        capsys, "--home", str(demo_home), "personality", "prior", "--user", "nobody"
    )
    assert code == 1 and out == "" and "no personality profile for 'nobody'" in err
