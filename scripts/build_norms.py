"""Build the norms (timbre/resources/personality/) from the real OSPP BIG5 responses.

Reads ``../shared/data/ipip50-bffm-openpsychometrics/data.csv.gz`` (19,719 responses to the
IPIP-50), drops incomplete rows (an answer 0 = "missed", empty, or outside 1-5) and counts them,
scores every respondent on the IPIP-50 and on its Mini-IPIP subset with ``timbre.personality``,
and writes mid-rank percentiles for every attainable scale mean. Only derived tables are shipped,
never the raw responses. Run: ``python scripts/build_norms.py [DATA_CSV_GZ [OUT_DIR]]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from timbre.personality import PERSONALITY_DIR, TRAITS, instruments

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ipip50-bffm-openpsychometrics" / "data.csv.gz"


def clean(path: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Complete responses only, with how many rows each reason dropped."""
    raw = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    codes = instruments()["ipip50"].codes()
    answers = raw[codes].apply(pd.to_numeric, errors="coerce")
    empty = answers.isna().any(axis=1)
    missed = ~empty & (answers == 0).any(axis=1)
    outside = ~empty & ~missed & ((answers < 1) | (answers > 5)).any(axis=1)
    kept = answers[~(empty | missed | outside)].astype(int)
    dropped = {
        "rows read": len(raw),
        "an empty answer": int(empty.sum()),
        "an item marked missed (0)": int(missed.sum()),
        "an answer outside 1-5": int(outside.sum()),
        "kept": len(kept),
    }
    return kept, dropped


def trait_scores(answers: pd.DataFrame, name: str) -> dict[str, np.ndarray]:
    """Per-respondent scale means (1-5) for every trait of an instrument."""
    instrument = instruments()[name]
    out = {}
    for trait in TRAITS:
        items = instrument.trait_items(trait)
        keyed = np.column_stack(
            [answers[i.code] if i.keyed > 0 else 6 - answers[i.code] for i in items]
        )
        out[trait] = keyed.mean(axis=1)
    return out


def cronbach_alpha(answers: pd.DataFrame, name: str, trait: str) -> float:
    items = instruments()[name].trait_items(trait)  # type: ignore[arg-type]
    keyed = np.column_stack(
        [answers[i.code] if i.keyed > 0 else 6 - answers[i.code] for i in items]
    ).astype(float)
    k = keyed.shape[1]
    return float(
        k / (k - 1) * (1 - keyed.var(axis=0, ddof=1).sum() / keyed.sum(axis=1).var(ddof=1))
    )


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else PERSONALITY_DIR
    answers, dropped = clean(path)
    rows, summary = [], []
    for name, instrument in instruments().items():
        scores = trait_scores(answers, name)
        for trait in TRAITS:
            values = scores[trait]
            k = len(instrument.trait_items(trait))
            n = len(values)
            for total in range(k, 5 * k + 1):
                mean = total / k
                below = np.sum(values < mean - 1e-9)
                equal = np.sum(np.abs(values - mean) < 1e-9)
                rows.append(
                    {
                        "instrument": name,
                        "trait": trait,
                        "score": round(mean, 4),
                        "percentile": round(100 * (below + 0.5 * equal) / n, 2),
                    }
                )
            summary.append(
                {
                    "instrument": name,
                    "trait": trait,
                    "items": k,
                    "n": n,
                    "mean": round(float(values.mean()), 4),
                    "sd": round(float(values.std(ddof=1)), 4),
                    "alpha": round(cronbach_alpha(answers, name, trait), 4),
                }
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out_dir / "norms.csv", index=False)
    pd.DataFrame(summary).to_csv(out_dir / "norms_summary.csv", index=False)
    print(dropped)
    print(pd.DataFrame(summary).to_string(index=False))


if __name__ == "__main__":
    main()
