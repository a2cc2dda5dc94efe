"""Fusion weights, named presets and the cold-start schedule (data, shown and editable)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import pandas as pd

from timbre.errors import DataError, ParameterError

#: The scored components, in the order they are shown and exported.
COMPONENTS: tuple[str, ...] = ("cf", "content", "personality", "novelty")
#: Every weight: the components and the MMR diversity bonus.
KNOBS: tuple[str, ...] = (*COMPONENTS, "diversity")


@dataclass(frozen=True)
class Weights:
    """Weights of the four components and of the MMR diversity bonus.

    Raises ``ParameterError`` (naming the weight) when one is negative or not finite, or when
    every component weight is zero (diversity alone cannot rank).
    """

    cf: float = 0.7
    content: float = 0.15
    personality: float = 0.05
    novelty: float = 0.05
    diversity: float = 0.05

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterError(f"weight {item.name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ParameterError(
                    f"weight {item.name!r} must be a non-negative number, got {value}"
                )
        if all(getattr(self, c) == 0 for c in COMPONENTS):
            raise ParameterError(
                "at least one of the weights cf, content, personality, novelty must be above 0"
            )

    def as_dict(self) -> dict[str, float]:
        """Every weight by name, as plain floats."""
        return {item.name: float(getattr(self, item.name)) for item in fields(self)}

    def text(self) -> str:
        """``cf=0.7, content=0.15, ...`` (provenance lines, captions)."""
        return ", ".join(f"{k}={v:g}" for k, v in self.as_dict().items())

    @classmethod
    def parse(cls, text: str, base: Weights | None = None) -> Weights:
        """``"cf=0.4,personality=0.4,diversity=0.1"``; names not given are 0 (or ``base``'s)."""
        values = base.as_dict() if base else {item.name: 0.0 for item in fields(cls)}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in values:
                raise ParameterError(
                    f"weights are name=value with names {', '.join(values)}; got {part!r}"
                )
            try:
                values[key] = float(value)
            except ValueError:
                raise ParameterError(f"weight {key!r} must be a number, got {value!r}") from None
        return cls(**values)


#: Named weight sets. "original" is the first design's formula: 0.4 history (CF), 0.4
#: personality, 0.1 diversity, 0.1 novelty. "cold-start": personality and popularity (the CF
#: component of a user without history is item popularity).
PRESETS: dict[str, Weights] = {
    "default": Weights(),
    "original": Weights(cf=0.4, content=0.0, personality=0.4, novelty=0.1, diversity=0.1),
    "cf-only": Weights(cf=1.0, content=0.0, personality=0.0, novelty=0.0, diversity=0.0),
    "content-only": Weights(cf=0.0, content=1.0, personality=0.0, novelty=0.0, diversity=0.0),
    "cold-start": Weights(cf=0.4, content=0.0, personality=0.6, novelty=0.0, diversity=0.0),
}


def preset(name: str) -> Weights:
    """A named weight set; ``ParameterError`` listing the names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ParameterError(
            f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None


@dataclass(frozen=True)
class ScheduleRule:
    """Users with fewer than ``below`` interactions get ``weights``."""

    below: int
    weights: Weights
    label: str


#: The cold-start schedule: data, shown and editable in the app. Users at or above the last
#: threshold get the weights chosen by the user of Timbre.
DEFAULT_SCHEDULE: tuple[ScheduleRule, ...] = (
    ScheduleRule(
        1,
        Weights(cf=0.3, content=0.0, personality=0.7, novelty=0.0, diversity=0.0),
        "no history: personality + popularity",
    ),
    ScheduleRule(
        5,
        Weights(cf=0.4, content=0.2, personality=0.4, novelty=0.0, diversity=0.0),
        "fewer than 5 interactions: personality + popularity + content",
    ),
)
#: What the chosen weights are called when no rule of the schedule applies.
CHOSEN = "chosen weights"


def schedule_weights(
    history: int, chosen: Weights, schedule: Sequence[ScheduleRule] | None = DEFAULT_SCHEDULE
) -> tuple[Weights, str]:
    """The weights for a user with ``history`` interactions, and which rule gave them.

    ``schedule=None`` (or empty) switches the schedule off: everyone gets ``chosen``.
    """
    for rule in sorted(schedule or (), key=lambda r: r.below):
        if history < rule.below:
            return rule.weights, rule.label
    return chosen, CHOSEN


def schedule_frame(schedule: Sequence[ScheduleRule] = DEFAULT_SCHEDULE) -> pd.DataFrame:
    """The schedule as an editable table (one row per rule)."""
    return pd.DataFrame(
        [{"below": r.below, **r.weights.as_dict(), "label": r.label} for r in schedule]
    )


def schedule_from_frame(frame: pd.DataFrame) -> tuple[ScheduleRule, ...]:
    """Rules from an edited table; ``DataError`` naming the bad row."""
    rules = []
    for position, row in enumerate(frame.to_dict("records"), start=1):
        try:
            below = int(row["below"])
            if below < 1:
                raise ValueError("'below' must be at least 1")
            weights = Weights(**{f.name: float(row[f.name]) for f in fields(Weights)})
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"cold-start schedule row {position}: {exc}") from None
        rules.append(ScheduleRule(below, weights, str(row.get("label") or f"below {below}")))
    return tuple(rules)
