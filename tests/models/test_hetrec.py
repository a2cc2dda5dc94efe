"""On the real HetRec demo, similar artists are ones a listener would recognise as related."""

from __future__ import annotations

import pytest

from timbre.interactions import InteractionData
from timbre.models import create_model

# Hand-checked: artists a listener of the seed would call related (same scene or genre).
RELATED = {
    "Metallica": {
        "Iron Maiden",
        "Megadeth",
        "AC/DC",
        "Black Sabbath",
        "Pantera",
        "Slayer",
        "Motörhead",
        "Judas Priest",
        "Guns N' Roses",
        "System of a Down",
        "Ozzy Osbourne",
        "Anthrax",
        "Black Label Society",
        "Dokken",
        "Clutch",
        "HammerFall",
        "Slash's Snakepit",
        "Velvet Revolver",
        "Led Zeppelin",
        "All That Remains",
        "Sepultura",
        "Slipknot",
        "Disturbed",
        "Tool",
        "Korn",
        "Rammstein",
        "Avenged Sevenfold",
        "Dream Theater",
    },
    "Britney Spears": {
        "Rihanna",
        "Christina Aguilera",
        "Lady Gaga",
        "Katy Perry",
        "Beyoncé",
        "Ke$ha",
        "Madonna",
        "Shakira",
        "Kylie Minogue",
        "Miley Cyrus",
        "P!nk",
        "The Pussycat Dolls",
        "Kelly Clarkson",
        "Avril Lavigne",
        "Lindsay Lohan",
        "Gwen Stefani",
        "Lily Allen",
        "BoA",
        "Thalía",
        "Jessica Simpson",
        "Hilary Duff",
        "Ashley Tisdale",
        "Spice Girls",
    },
    "Bob Dylan": {
        "Neil Young",
        "The Beatles",
        "The Rolling Stones",
        "Led Zeppelin",
        "The Who",
        "John Lennon",
        "The Doors",
        "The Kinks",
        "The Velvet Underground",
        "Simon & Garfunkel",
        "The Byrds",
        "Crosby, Stills & Nash",
        "Buffalo Springfield",
        "Paul McCartney",
        "Creedence Clearwater Revival",
        "Jimi Hendrix",
        "The Jimi Hendrix Experience",
        "Pink Floyd",
        "Tom Waits",
        "Joe Cocker",
        "Cream",
        "The Yardbirds",
        "Leonard Cohen",
        "Tom Petty and the Heartbreakers",
        "Johnny Cash",
        "Van Morrison",
        "Nick Drake",
    },
}

PARAMS = {
    "als": {},
    "bpr": {},
    "item-knn": {},
    "user-knn": {},
    "ease": {},
    "content": {},
}


@pytest.fixture(scope="module", params=sorted(PARAMS))
def fitted(request: pytest.FixtureRequest, demo_data: InteractionData):  # type: ignore[no-untyped-def]
    name = request.param
    return name, create_model(name, PARAMS[name]).fit(demo_data)


@pytest.mark.parametrize("seed", sorted(RELATED))
def test_similar_artists_are_recognisably_related(
    fitted,
    seed: str,
    demo_data: InteractionData,  # type: ignore[no-untyped-def]
) -> None:
    name, model = fitted
    ranking = model.similar_items(demo_data.find_item(seed), n=10)
    names = [demo_data.item_name(i) for i in ranking.items]
    related = [n for n in names if n in RELATED[seed]]
    assert len(related) >= 5, f"{name} on {seed}: {names}"


def test_recommendations_for_a_metal_fan_are_mostly_metal(demo_data: InteractionData) -> None:
    model = create_model("als").fit(demo_data)
    # a new listener who played only five metal bands
    from scipy import sparse as sp

    seeds = [
        demo_data.find_item(n) for n in ("Metallica", "Slayer", "Megadeth", "Pantera", "Anthrax")
    ]
    row = sp.csr_matrix(([10.0] * 5, ([0] * 5, seeds)), shape=(1, demo_data.n_items))
    ranking = model.recommend(n=10, user_items=row)
    tags = demo_data.item_meta["tags"]
    metal = [i for i in ranking.items if any("metal" in t for t in tags.iloc[int(i)])]
    assert len(metal) >= 7, [demo_data.item_name(i) for i in ranking.items]
