"""Big Five instruments (IPIP-50, Mini-IPIP), scoring, and percentiles from real-data norms.

Neuroticism: the IPIP-50 marker items are published keyed toward Emotional Stability (the data's
N1-N10 columns); Timbre reports Neuroticism, scored with every one of those keys flipped, so a
Neuroticism scale mean equals ``6 - Emotional Stability`` on the 1-5 scale.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from timbre.errors import DataError
from timbre.music_attributes import (  # re-exported: the prior's item side lives there
    ATTRIBUTES as ATTRIBUTES,
)
from timbre.music_attributes import AUDIO_COMPOSITES as AUDIO_COMPOSITES
from timbre.music_attributes import LEXICON_CSV as LEXICON_CSV
from timbre.music_attributes import ItemAttributes as ItemAttributes
from timbre.music_attributes import item_attributes as item_attributes
from timbre.music_attributes import prior_contributions as prior_contributions
from timbre.music_attributes import tag_lexicon as tag_lexicon

Trait = Literal["extraversion", "agreeableness", "conscientiousness", "neuroticism", "openness"]
TRAITS: tuple[Trait, ...] = (
    "extraversion",
    "agreeableness",
    "conscientiousness",
    "neuroticism",
    "openness",
)
#: Package data: the items, norms, personas and prior tables (installed with the package).
PERSONALITY_DIR = Path(__file__).resolve().parent / "resources" / "personality"
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


# ----- the trait -> music prior -----------------------------------------------------------------
PRIOR_CSV = PERSONALITY_DIR / "prior.csv"
PERSONAS_CSV = PERSONALITY_DIR / "personas.csv"
SUMMARY_CSV = PERSONALITY_DIR / "norms_summary.csv"

PRIOR_COLUMNS = ("trait", "attribute", "coefficient", "reported_effect", "source", "note")


def default_coefficients() -> pd.DataFrame:
    """The shipped coefficient table (``timbre/resources/personality/prior.csv``): trait, attribute,
    coefficient, reported effect, source, note."""
    return validate_coefficients(pd.read_csv(PRIOR_CSV, dtype=str, keep_default_na=False))


def read_coefficients(path: Path | str) -> pd.DataFrame:
    """An edited coefficient table from a CSV file (``--prior FILE``), checked.

    Raises
    ------
    DataError
        A missing or unreadable file, or a table :func:`validate_coefficients` refuses.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DataError(f"no such coefficient table: {path}") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read the coefficient table {path}: {exc}") from None
    return validate_coefficients(frame)


def coefficients_digest(table: pd.DataFrame) -> str:
    """A short SHA-256 of a coefficient table's trait, attribute and coefficient columns (what
    an export names, so an edited table is told from the shipped one)."""
    rows = table[["trait", "attribute", "coefficient"]].astype(str).to_csv(index=False)
    return hashlib.sha256(rows.encode()).hexdigest()[:12]


def validate_coefficients(frame: pd.DataFrame) -> pd.DataFrame:
    """Check an (edited) coefficient table; returns a clean copy.

    Raises
    ------
    DataError
        Naming each bad row: unknown trait or attribute, a coefficient that is not a number in
        -1..1, or a missing source.
    """
    missing = [c for c in ("trait", "attribute", "coefficient", "source") if c not in frame]
    if missing:
        raise DataError(f"the coefficient table needs columns {', '.join(missing)}")
    table = frame.copy()
    for column in PRIOR_COLUMNS:
        if column not in table:
            table[column] = ""
    problems = []
    values = pd.to_numeric(table["coefficient"], errors="coerce")
    for position, row in enumerate(table.itertuples(index=False), start=1):
        trait, attribute = str(row.trait).strip(), str(row.attribute).strip()
        if trait not in TRAITS:
            problems.append(f"row {position}: unknown trait {trait!r}")
        if attribute not in ATTRIBUTES:
            problems.append(f"row {position}: unknown attribute {attribute!r}")
        value = values.iloc[position - 1]
        if pd.isna(value) or not -1.0 <= float(value) <= 1.0:
            problems.append(f"row {position}: coefficient must be a number from -1 to 1")
        if not str(row.source).strip():
            problems.append(f"row {position}: every coefficient needs a source")
    if problems:
        raise DataError("coefficient table: " + "; ".join(problems))
    table["coefficient"] = values.astype(float)
    table["trait"] = table["trait"].astype(str).str.strip()
    table["attribute"] = table["attribute"].astype(str).str.strip()
    return table[list(PRIOR_COLUMNS)].reset_index(drop=True)


@cache
def _norm_summary() -> dict[tuple[str, str], tuple[float, float]]:
    table = pd.read_csv(SUMMARY_CSV)
    return {
        (str(instrument), str(trait)): (float(mean), float(sd))
        for instrument, trait, mean, sd in table[["instrument", "trait", "mean", "sd"]].to_numpy()
    }


def trait_z(scores: Scores) -> dict[str, float]:
    """Each trait as a z-score against the real respondents (norms_summary.csv mean and SD)."""
    summary = _norm_summary()
    out: dict[str, float] = {}
    for trait, mean in scores.means.items():
        mu, sd = summary[(scores.instrument, trait)]
        out[trait] = (mean - mu) / sd
    return out


def attribute_weights(z: Mapping[str, float], coefficients: pd.DataFrame) -> pd.Series:
    """How much the profile wants each attribute: sum over traits of coefficient x trait z."""
    table = validate_coefficients(coefficients)
    weights = pd.Series(0.0, index=list(ATTRIBUTES))
    for trait, attribute, coefficient in table[["trait", "attribute", "coefficient"]].to_numpy():
        weights[str(attribute)] += float(coefficient) * float(z.get(str(trait), 0.0))
    return weights


def prior_scores(attributes: ItemAttributes, weights: pd.Series) -> NDArray[np.float64]:
    """The personality prior of every item: attributes . weights (0 for unknown items)."""
    return np.asarray(attributes.values[list(ATTRIBUTES)].to_numpy() @ weights[list(ATTRIBUTES)])


@dataclass(frozen=True)
class Exploration:
    """A suggested exploration level (0-1) and the hybrid weights it implies."""

    level: float
    diversity: float
    novelty: float


def exploration_level(z: Mapping[str, float]) -> Exploration:
    """Openness (and, half as much, Agreeableness) go with broader taste, so higher scores
    suggest more diversity and novelty: level = Phi(0.8 z_O + 0.4 z_A), weights 0.05 + 0.2 x
    level. A heuristic on a small effect, shown as a suggestion."""
    from scipy.stats import norm

    level = float(norm.cdf(0.8 * z.get("openness", 0.0) + 0.4 * z.get("agreeableness", 0.0)))
    return Exploration(level, 0.05 + 0.2 * level, 0.05 + 0.2 * level)


@cache
def personas() -> pd.DataFrame:
    """Real anonymous IPIP-50 responses to fill the questionnaire in demos (personas.csv).

    ``persona`` is each response's full profile, its five IPIP-50 percentiles ("O 90 · C 87 ·
    E 42 · A 1 · N 9"): the file's names ("Openness around the 90th percentile") hid the other
    traits, which drive a persona's list as much; ``chosen_for`` keeps them.
    """
    return _personas().copy()


@cache
def _personas() -> pd.DataFrame:
    table = pd.read_csv(PERSONAS_CSV)
    table.insert(1, "chosen_for", table["persona"])
    ipip = get_instrument("ipip50")
    table["persona"] = [
        persona_label(percentiles(score(ipip, {c: int(row[c]) for c in ipip.codes()})))
        for _, row in table.iterrows()
    ]
    return table


#: Trait order and letters of a persona label (the usual OCEAN order).
LABEL_TRAITS = (
    ("openness", "O"),
    ("conscientiousness", "C"),
    ("extraversion", "E"),
    ("agreeableness", "A"),
    ("neuroticism", "N"),
)


def persona_label(percentile: Mapping[Any, float]) -> str:
    """A profile's five percentiles as a short label: ``O 90 · C 87 · E 42 · A 1 · N 9``.

    >>> persona_label({"openness": 90.2, "conscientiousness": 87, "extraversion": 42,
    ...                "agreeableness": 1, "neuroticism": 9})
    'O 90 · C 87 · E 42 · A 1 · N 9 (percentiles)'
    """
    parts = [f"{letter} {float(percentile[trait]):.0f}" for trait, letter in LABEL_TRAITS]
    return " · ".join(parts) + " (percentiles)"


def persona_answers(index: int, instrument: Instrument) -> dict[str, int]:
    """The answers of persona ``index`` to ``instrument``'s items."""
    row = _personas().iloc[int(index)]
    return {code: int(row[code]) for code in instrument.codes()}


def scores_from_profile(profile: Mapping[str, object]) -> Scores:
    """A stored profile's :class:`Scores` (its ``scores`` hold the trait means)."""
    raw = profile.get("scores")
    if not isinstance(raw, Mapping):
        raise DataError("the profile has no scores")
    means = {t: float(raw[t]) for t in TRAITS}
    return Scores(str(profile["instrument"]), means, {t: 0 for t in TRAITS})


def read_answers(path: Path) -> dict[str, int]:
    """Answers from a file: JSON ``{"E1": 4, ...}`` (or item number -> answer) or CSV with
    ``item,answer`` rows. Item numbers 1..50 map to the IPIP-50 order (E1, N1, A1, C1, O1, E2...).

    Raises ``DataError`` naming the file and the problem.
    """
    import json

    text = Path(path).read_text(encoding="utf-8-sig")
    pairs: dict[str, object] = {}
    if Path(path).suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise DataError(f"{Path(path).name}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise DataError(f"{Path(path).name}: expected an object of item -> answer")
        pairs = {str(k): v for k, v in loaded.items()}
    else:
        rows = list(csv.reader(text.splitlines()))
        if rows and [c.strip().lower() for c in rows[0][:2]] == ["item", "answer"]:
            rows = rows[1:]
        for number, row in enumerate(rows, start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                raise DataError(f"{Path(path).name}, line {number}: expected item,answer")
            pairs[row[0].strip()] = row[1].strip()
    order = [item.code for item in _ipip50_order()]
    answers: dict[str, int] = {}
    unknown = sorted(
        key for key in pairs if key not in order and not (key.isdigit() and 1 <= int(key) <= 50)
    )
    if unknown:
        raise DataError(f"{Path(path).name}: not IPIP-50 items: {', '.join(unknown[:10])}")
    for key, value in pairs.items():
        code = order[int(key) - 1] if key.isdigit() and 1 <= int(key) <= len(order) else key
        try:
            answers[code] = int(str(value).strip())
        except ValueError:
            answers[code] = -1  # scored as out of range, named in the error
    return answers


def _ipip50_order() -> list[Item]:
    """The IPIP-50 in its administration order: E1, A1, C1, N1, O1, E2, ... (by item number)."""
    pool = instruments()["ipip50"].items
    by_trait = {trait: [i for i in pool if i.trait == trait] for trait in TRAITS}
    cycle = ("extraversion", "agreeableness", "conscientiousness", "neuroticism", "openness")
    return [by_trait[t][k] for k in range(10) for t in cycle]  # type: ignore[index]


def profiles_frame(profiles: list[dict[str, object]]) -> pd.DataFrame:
    """Stored profiles as one flat table for export: id, user, instrument, time, the five
    scores and percentiles, and the answers as ``answer_<code>`` columns."""
    rows = []
    for profile in profiles:
        row: dict[str, object] = {
            "profile_id": profile["id"],
            "user_id": profile["user_key"],
            "instrument": profile["instrument"],
            "created_at": profile["created_at"],
        }
        scores = profile.get("scores") or {}
        pct = profile.get("percentiles") or {}
        for trait in TRAITS:
            row[f"{trait}_score"] = scores.get(trait) if isinstance(scores, dict) else None
            row[f"{trait}_percentile"] = pct.get(trait) if isinstance(pct, dict) else None
        answers = profile.get("answers") or {}
        if isinstance(answers, dict):
            for code, value in answers.items():
                row[f"answer_{code}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def latest_trait_z(profiles: list[dict[str, object]]) -> dict[str, dict[str, float]]:
    """Trait z-scores of each user's newest profile (``profiles`` newest first, as the store
    lists them)."""
    out: dict[str, dict[str, float]] = {}
    for profile in profiles:
        user = str(profile["user_key"])
        if user not in out:
            out[user] = trait_z(scores_from_profile(profile))
    return out
