"""Pick five real, anonymous IPIP-50 responses as demo personas (package data, personas.csv).

From the cleaned OSPP BIG5 responses (same cleaning as ``build_norms.py``), the first respondent
(in file order) whose Openness scale mean sits at each of the 10th, 30th, 50th, 70th and 90th
percentiles. Only the 50 answers and the source row are kept: no demographics.
Run: ``python scripts/build_personas.py [DATA_CSV_GZ [OUT_CSV]]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from scripts.build_norms import DEFAULT_DATA, clean
from timbre.personality import PERSONALITY_DIR, get_instrument, score

QUANTILES = (10, 30, 50, 70, 90)


def main(argv: list[str]) -> int:
    data = Path(argv[0]) if argv else DEFAULT_DATA
    out = Path(argv[1]) if len(argv) > 1 else PERSONALITY_DIR / "personas.csv"
    answers, _ = clean(data)
    instrument = get_instrument("ipip50")
    openness = answers.apply(lambda row: score(instrument, row.to_dict()).means["openness"], axis=1)
    rows = []
    for q in QUANTILES:
        target = float(np.percentile(openness, q))
        position = int(np.argmin(np.abs(openness.to_numpy() - target)))
        row = answers.iloc[position]
        rows.append(
            {
                "persona": f"Openness around the {q}th percentile",
                "source_row": int(answers.index[position]) + 2,  # 1-based, after the header
                **{code: int(row[code]) for code in instrument.codes()},
            }
        )
    import pandas as pd

    pd.DataFrame(rows).to_csv(out, index=False)
    print(f"wrote {len(rows)} personas to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
