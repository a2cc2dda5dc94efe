"""Issue 19 item 1: an artist's catalogue match earns its trust before its audio features
describe the artist (genre agreement or several tracks), the personality prior's attributes are
shrunk by that evidence and prefer tags where it is thin, and the evidence is shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from timbre import personality as pers
from timbre.interactions import InteractionData

#: HetRec artists the name match gave another act's track (issue 19): catalogue genre, the
#: attribute the tags make clearest.
MISMATCHED = ("Shaman", "Suicide Commando", "Trouble")


def _row(data: InteractionData, name: str) -> int:
    return int(np.flatnonzero(data.item_meta["name"].to_numpy() == name)[0])


@pytest.fixture(scope="module")
def attributes(demo_data: InteractionData) -> pers.ItemAttributes:
    return pers.item_attributes(demo_data.item_meta)


@pytest.fixture(scope="module")
def tag_attributes(demo_data: InteractionData) -> pers.ItemAttributes:
    """The attributes the items' tags alone give (audio features dropped)."""
    return pers.item_attributes(demo_data.item_meta.assign(energy=np.nan))


@pytest.mark.parametrize("name", MISMATCHED)
def test_mismatched_artists_carry_the_attributes_their_tags_give(
    demo_data: InteractionData,
    attributes: pers.ItemAttributes,
    tag_attributes: pers.ItemAttributes,
    name: str,
) -> None:
    row = _row(demo_data, name)
    now = attributes.values.iloc[row].to_numpy()
    from_tags = tag_attributes.values.iloc[row].to_numpy()
    assert np.abs(from_tags).max() > 0.5  # the tags do say something
    assert np.corrcoef(now, from_tags)[0, 1] > 0.95, (name, now, from_tags)
    assert attributes.source.iloc[row] == "tags"
    assert "1 catalogue track" in attributes.evidence.iloc[row]


@pytest.mark.parametrize(("name", "wrong"), [("Shaman", "latin"), ("Suicide Commando", "pop")])
def test_a_disagreeing_single_track_match_links_no_genre_and_no_audio(
    demo_data: InteractionData, name: str, wrong: str
) -> None:
    item = demo_data.item_meta.iloc[_row(demo_data, name)]
    assert wrong not in list(item["genres"])
    assert np.isnan(item["energy"]) and item["audio_trust"] == 0.0
    assert f"genre {wrong} disagrees with the tags: audio not used" in item["audio_evidence"]


def test_no_artist_matched_through_one_track_gets_extreme_audio_values(
    demo_data: InteractionData, attributes: pers.ItemAttributes
) -> None:
    meta = demo_data.item_meta
    single = meta["audio_evidence"].str.startswith("1 catalogue track,").to_numpy()
    assert single.sum() > 100
    assert (attributes.audio_share[single] <= 1 / 3 + 1e-9).all()
    # untagged single-track artists keep a third of their audio: nothing far from neutral
    values = attributes.values[single].abs().to_numpy()
    tagged = attributes.source[single].isin(["tags"]).to_numpy()
    assert values[~tagged].max() < 1.6  # a full-trust catalogue track reaches 4 and more


# A sample checked by hand (the attributes, tags, genres and evidence read on the demo, see the
# issue's closing note): well-matched artists with many tracks keep most of their audio;
# thin matches give way to the tags; an unmatched artist has tags only.
HAND_CHECKED = {
    "Metallica": ("audio+tags", 0.8, "10 catalogue tracks, genre rock agrees with the tags"),
    "Eminem": ("audio+tags", 0.9, "39 catalogue tracks"),
    "Shakira": ("audio+tags", 0.85, "17 catalogue tracks"),
    "Daft Punk": ("audio+tags", 0.8, "11 catalogue tracks, genre edm, pop, rock agrees"),
    "Madonna": ("audio+tags", 0.7, "5 catalogue tracks, genre latin, pop agrees"),
    "Björk": ("tags", 0.0, "2 catalogue tracks"),
    "Brian Eno": ("tags", 0.0, ""),
}


@pytest.mark.parametrize("name", sorted(HAND_CHECKED))
def test_hand_checked_sample(
    demo_data: InteractionData, attributes: pers.ItemAttributes, name: str
) -> None:
    source, least_share, evidence = HAND_CHECKED[name]
    row = _row(demo_data, name)
    assert attributes.source.iloc[row] == source
    share = float(attributes.audio_share.iloc[row])
    assert share >= least_share and (share == 0.0) == (least_share == 0.0)
    assert evidence in attributes.evidence.iloc[row]


def test_trust_blends_audio_and_tags_by_the_evidence() -> None:
    audio = {
        "energy": [0.9, 0.1, 0.5, 0.9],
        "loudness": [-3.0, -20.0, -9.0, -3.0],
        "tempo": [170.0, 70.0, 120.0, 170.0],
        "acousticness": [0.0, 0.9, 0.4, 0.0],
        "valence": [0.2, 0.8, 0.5, 0.2],
        "danceability": [0.3, 0.7, 0.5, 0.3],
        "instrumentalness": [0.1, 0.8, 0.3, 0.1],
        "speechiness": [0.05, 0.03, 0.1, 0.05],
    }
    meta = pd.DataFrame(
        {
            "key": ["own", "quiet", "mid", "thin"],
            **audio,
            "tags": [[], [], ["ambient"], ["ambient"]],
            "genres": [[], [], [], []],
            "audio_trust": [1.0, 1.0, 0.6, 1 / 3],
            "audio_evidence": ["own audio features", "", "3 catalogue tracks", "1 track"],
        }
    )
    out = pers.item_attributes(meta)
    assert out.source.tolist() == ["audio", "audio", "audio+tags", "tags"]
    assert out.audio_share.tolist() == pytest.approx([1.0, 1.0, 0.6, 0.0])
    assert out.evidence.iloc[2] == "audio 0.60 + tags 0.40 (3 catalogue tracks)"
    assert "thin beside the tags: tags used" in out.evidence.iloc[3]
    full = pers.item_attributes(meta.assign(audio_trust=1.0)).values
    tags = pers.item_attributes(meta.assign(energy=np.nan)).values
    expected = 0.6 * full.iloc[2] + 0.4 * tags.iloc[2]
    assert out.values.iloc[2].to_numpy() == pytest.approx(expected.to_numpy())
