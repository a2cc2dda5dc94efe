"""Big Five instruments (IPIP-50, Mini-IPIP), scoring, and percentiles from real-data norms.

Neuroticism: the IPIP-50 marker items are published keyed toward Emotional Stability (the data's
N1-N10 columns); Timbre reports Neuroticism, scored with every one of those keys flipped, so a
Neuroticism scale mean equals ``6 - Emotional Stability`` on the 1-5 scale.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from timbre.config import DATA_DIR
from timbre.errors import DataError

Trait = Literal["extraversion", "agreeableness", "conscientiousness", "neuroticism", "openness"]
TRAITS: tuple[Trait, ...] = (
    "extraversion",
    "agreeableness",
    "conscientiousness",
    "neuroticism",
    "openness",
)
PERSONALITY_DIR = DATA_DIR / "personality"
ITEMS_CSV = PERSONALITY_DIR / "ipip50_items.csv"
NORMS_CSV = PERSONALITY_DIR / "norms.csv"
SCALE = (1, 5)
_FACTOR_TO_TRAIT: dict[str, Trait] = {
    "Extraversion": "extraversion",
    "Agreeableness": "agreeableness",
    "Conscientiousness": "conscientiousness",
    "Emotional Stability": "neuroticism",
    "Intellect/Imagination": "openness",
}
#: The 20 Mini-IPIP items (Donnellan, Oswald, Baird & Lucas 2006) as IPIP-50 item codes, in the
#: Mini-IPIP's own order; every one is an IPIP-50 item (ipip.ori.org/MiniIPIPKey.htm).
MINI_IPIP_CODES: tuple[str, ...] = (
    "E1",
    "A4",
    "C5",
    "N8",
    "O3",
    "E2",
    "A5",
    "C6",
    "N2",
    "O4",
    "E7",
    "A9",
    "C7",
    "N6",
    "O2",
    "E4",
    "A7",
    "C4",
    "N4",
    "O6",
)


@dataclass(frozen=True)
class Item:
    """One questionnaire item: its code, text, trait and key (+1, or -1 for reverse-keyed)."""

    code: str
    text: str
    trait: Trait
    keyed: int


@dataclass(frozen=True)
class Instrument:
    """A questionnaire: named items answered on a 1-5 scale."""

    name: str
    title: str
    items: tuple[Item, ...]

    def codes(self) -> list[str]:
        return [item.code for item in self.items]

    def trait_items(self, trait: Trait) -> list[Item]:
        return [item for item in self.items if item.trait == trait]


@dataclass(frozen=True)
class Scores:
    """Scale means (1-5) and sums per trait."""

    instrument: str
    means: dict[Trait, float]
    sums: dict[Trait, int]


def _read_items(path: Path) -> tuple[Item, ...]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            trait = _FACTOR_TO_TRAIT[row["ipip_factor"]]
            keyed = int(row["key"])
            if trait == "neuroticism":
                keyed = -keyed  # published toward Emotional Stability; we report Neuroticism
            items.append(Item(row["item"], row["text"], trait, keyed))
    return tuple(items)


@cache
def instruments() -> dict[str, Instrument]:
    """The available instruments by name: ``ipip50`` and ``mini-ipip``."""
    pool = _read_items(ITEMS_CSV)
    by_code = {item.code: item for item in pool}
    return {
        "ipip50": Instrument("ipip50", "IPIP 50-item Big-Five Factor Markers", pool),
        "mini-ipip": Instrument(
            "mini-ipip", "Mini-IPIP (20 items)", tuple(by_code[c] for c in MINI_IPIP_CODES)
        ),
    }


def get_instrument(name: str) -> Instrument:
    """An instrument by name; ``DataError`` for an unknown one."""
    try:
        return instruments()[name]
    except KeyError:
        raise DataError(
            f"unknown instrument {name!r}; expected one of {', '.join(instruments())}"
        ) from None


def score(instrument: Instrument, answers: Mapping[str, object]) -> Scores:
    """Score answers (item code -> 1..5); reverse-keyed items count ``6 - answer``.

    Raises
    ------
    DataError
        Missing items, or answers that are not whole numbers from 1 to 5 (all named, sorted).
    """
    valid: dict[str, int] = {}
    missing, invalid = [], []
    for code in instrument.codes():
        value = answers.get(code)
        if value is None:
            missing.append(code)
        elif (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not SCALE[0] <= value <= SCALE[1]
        ):
            invalid.append(code)
        else:
            valid[code] = value
    problems = []
    if missing:
        problems.append(f"unanswered: {', '.join(sorted(missing))}")
    if invalid:
        problems.append(f"not a whole number from 1 to 5: {', '.join(sorted(invalid))}")
    if problems:
        raise DataError(f"{instrument.title}: " + "; ".join(problems))
    sums: dict[Trait, int] = {}
    means: dict[Trait, float] = {}
    for trait in TRAITS:
        keyed = [
            valid[i.code] if i.keyed > 0 else 6 - valid[i.code]
            for i in instrument.trait_items(trait)
        ]
        sums[trait] = sum(keyed)
        means[trait] = sum(keyed) / len(keyed)
    return Scores(instrument.name, means, sums)


@cache
def _norms() -> dict[tuple[str, str], list[tuple[float, float]]]:
    table: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with NORMS_CSV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            table.setdefault((row["instrument"], row["trait"]), []).append(
                (float(row["score"]), float(row["percentile"]))
            )
    return table


def percentiles(scores: Scores) -> dict[Trait, float]:
    """Percentile (mid-rank, 0-100) of each trait mean among the real respondents (norms.csv)."""
    table = _norms()
    out: dict[Trait, float] = {}
    for trait, mean in scores.means.items():
        grid = table[(scores.instrument, trait)]
        nearest = min(grid, key=lambda point: abs(point[0] - mean))
        out[trait] = nearest[1]
    return out
