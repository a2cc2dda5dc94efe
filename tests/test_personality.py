"""Big Five instruments: items, keys, scoring, and percentiles from the real-data norms."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from timbre.errors import DataError
from timbre.personality import (
    MINI_IPIP_CODES,
    NORMS_CSV,
    PERSONALITY_DIR,
    TRAITS,
    get_instrument,
    instruments,
    percentiles,
    score,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ipip50-bffm-openpsychometrics"

# ipip.ori.org/MiniIPIPKey.htm: the Mini-IPIP's items with their keys (Neuroticism, not ES)
MINI_IPIP_KEY = {
    "Am the life of the party.": 1,
    "Talk to a lot of different people at parties.": 1,
    "Don't talk a lot.": -1,
    "Keep in the background.": -1,
    "Sympathize with others' feelings.": 1,
    "Feel others' emotions.": 1,
    "Am not really interested in others.": -1,
    "Am not interested in other people's problems.": -1,
    "Get chores done right away.": 1,
    "Like order.": 1,
    "Often forget to put things back in their proper place.": -1,
    "Make a mess of things.": -1,
    "Have frequent mood swings.": 1,
    "Get upset easily.": 1,
    "Am relaxed most of the time.": -1,
    "Seldom feel blue.": -1,
    "Have a vivid imagination.": 1,
    "Have difficulty understanding abstract ideas.": -1,
    "Am not interested in abstract ideas.": -1,
    "Do not have a good imagination.": -1,
}


def test_ipip50_has_ten_items_per_trait() -> None:
    ipip = get_instrument("ipip50")
    assert len(ipip.items) == 50
    assert all(len(ipip.trait_items(t)) == 10 for t in TRAITS)


def test_every_mini_ipip_item_is_an_ipip50_item_with_the_published_key() -> None:
    mini = get_instrument("mini-ipip")
    pool = {item.code: item for item in get_instrument("ipip50").items}
    assert len(mini.items) == 20 and set(MINI_IPIP_CODES) <= set(pool)
    published = {text.rstrip("."): key for text, key in MINI_IPIP_KEY.items()}
    for item in mini.items:
        assert item is pool[item.code]
        wording = item.text.removeprefix("I ").rstrip(".")
        # the Mini-IPIP drops the leading "I": "I am the life ..." -> "Am the life ..."
        assert wording[0].upper() + wording[1:] in published, item.text
        assert published[wording[0].upper() + wording[1:]] == item.keyed, item.code
    assert all(len(mini.trait_items(t)) == 4 for t in TRAITS)


def test_neuroticism_is_emotional_stability_reversed() -> None:
    with (PERSONALITY_DIR / "ipip50_items.csv").open() as fh:
        published = {row["item"]: int(row["key"]) for row in csv.DictReader(fh)}
    for item in get_instrument("ipip50").trait_items("neuroticism"):
        assert item.keyed == -published[item.code]
    answers = {code: 2 for code in get_instrument("ipip50").codes()}
    answers["N1"] = 5  # "I get stressed out easily." raises Neuroticism
    scores = score(get_instrument("ipip50"), answers)
    assert (
        scores.means["neuroticism"]
        > score(get_instrument("ipip50"), {**answers, "N1": 1}).means["neuroticism"]
    )


def test_all_threes_score_three_and_a_reverse_key_flips() -> None:
    ipip = get_instrument("ipip50")
    answers = {code: 3 for code in ipip.codes()}
    assert score(ipip, answers).means == {t: 3.0 for t in TRAITS}
    answers["E2"] = 5  # "I don't talk a lot." (reverse keyed) counts as 1
    scores = score(ipip, answers)
    assert scores.sums["extraversion"] == 9 * 3 + 1
    assert scores.means["extraversion"] == pytest.approx(2.8)


def test_incomplete_and_out_of_range_answers_name_the_items() -> None:
    mini = get_instrument("mini-ipip")
    answers: dict[str, object] = {code: 3 for code in mini.codes()}
    del answers["O6"], answers["A4"]
    answers["E1"], answers["C5"], answers["N8"] = 6, "4", True
    with pytest.raises(DataError) as info:
        score(mini, answers)
    assert str(info.value) == (
        "Mini-IPIP (20 items): unanswered: A4, O6; not a whole number from 1 to 5: C5, E1, N8"
    )


def test_unknown_instrument() -> None:
    with pytest.raises(DataError, match="unknown instrument 'bfi44'; expected one of ipip50"):
        get_instrument("bfi44")


def test_percentiles_are_monotone_and_centred() -> None:
    for name in instruments():
        low = percentiles(score(get_instrument(name), {c: 1 for c in get_instrument(name).codes()}))
        mid = percentiles(score(get_instrument(name), {c: 3 for c in get_instrument(name).codes()}))
        assert all(0 <= low[t] <= 100 for t in TRAITS)
        with NORMS_CSV.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["instrument"] == name]
        for trait in TRAITS:
            curve = [float(r["percentile"]) for r in rows if r["trait"] == trait]
            # non-decreasing (scores nobody reached repeat the percentile below them)
            assert all(a <= b for a, b in itertools.pairwise(curve)), (name, trait)
            # mid-rank: the top score sits at 100 minus half the share of respondents there;
            # on 4-item scales up to ~16 % answer at the ceiling (Mini-IPIP openness: 92.1)
            assert curve[0] < 5 and curve[-1] > 90
        assert mid != low


def test_the_median_respondent_is_near_the_50th_percentile() -> None:
    with (PERSONALITY_DIR / "norms_summary.csv").open() as fh:
        summary = {(r["instrument"], r["trait"]): r for r in csv.DictReader(fh)}
    ipip = get_instrument("ipip50")
    for trait in TRAITS:
        mean = float(summary[("ipip50", trait)]["mean"])
        # answers that put this trait at its sample mean (rounded to the 0.1 grid)
        scores = score(ipip, {c: 3 for c in ipip.codes()})
        scores.means[trait] = round(mean, 1)
        assert 35 <= percentiles(scores)[trait] <= 65


@pytest.mark.skipif(not (SHARED / "data.csv.gz").is_file(), reason="../shared/data not present")
def test_norms_reproduce_from_the_real_responses(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/build_norms.py", str(SHARED / "data.csv.gz"), str(tmp_path)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "'kept': 19718" in done.stdout and "'an item marked missed (0)': 1" in done.stdout
    assert (tmp_path / "norms.csv").read_text() == NORMS_CSV.read_text()
    summary = PERSONALITY_DIR / "norms_summary.csv"
    assert (tmp_path / "norms_summary.csv").read_text() == summary.read_text()


def test_alphas_match_the_published_checks() -> None:
    """FACTS.md: E .892, A .832, C .813, ES .869, O .794 on the 19,718 complete responses."""
    expected = {
        "extraversion": 0.892,
        "agreeableness": 0.832,
        "conscientiousness": 0.813,
        "neuroticism": 0.869,
        "openness": 0.794,
    }
    with (PERSONALITY_DIR / "norms_summary.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["instrument"] == "ipip50"]
    for row in rows:
        assert int(row["n"]) == 19718
        assert float(row["alpha"]) == pytest.approx(expected[row["trait"]], abs=0.005)


def test_personas_are_labelled_by_their_full_profile() -> None:
    """Issue 19 item 6: "Openness around the 90th percentile" hid Agreeableness z = -3."""
    from timbre.personality import personas

    table = personas()
    assert (
        table["persona"]
        .str.fullmatch(r"O \d+ · C \d+ · E \d+ · A \d+ · N \d+ \(percentiles\)")
        .all()
    )
    high = table[table["chosen_for"].str.contains("90th")].iloc[0]
    assert high["persona"].startswith("O 90 ") and " A 1 " in high["persona"]
