"""Issue 19 item 4: the plausibility check of the personality prior (bundled personas as
profile-only listeners against the tags their traits predict), labelled as not accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from timbre import hybrid
from timbre import personality as pers
from timbre.config import Settings
from timbre.hybrid.plausibility import TITLE, plausibility_check, predicted_tags
from timbre.services.data import load_data
from timbre.services.engines import engine_for_run
from timbre.services.runs import usable_run
from timbre.sources.demo import DEMO_DATASET
from timbre.store import Store


@pytest.fixture(scope="module")
def engine(demo_als_home: Path) -> hybrid.HybridEngine:
    with Store.open(Settings(home=demo_als_home)) as store:
        data = load_data(store, DEMO_DATASET)
        run = usable_run(store, data)
        assert run is not None
        return engine_for_run(store, data, run)


def test_it_is_called_a_plausibility_check_not_accuracy() -> None:
    assert TITLE == "Plausibility check (not accuracy)"


def test_predicted_tags_follow_the_coefficient_table() -> None:
    z = {"openness": 2.0, "agreeableness": -2.0}
    shipped = predicted_tags(z, pers.default_coefficients())
    assert {"metal", "heavy metal"} <= set(shipped)  # open, disagreeable: intense music
    flipped = pers.default_coefficients().assign(
        coefficient=lambda t: -t["coefficient"].astype(float)
    )
    assert not {"metal", "heavy metal"} & set(predicted_tags(z, flipped))


def test_each_persona_is_ranked_as_a_cold_start_listener_and_compared_with_no_profile(
    engine: hybrid.HybridEngine,
) -> None:
    filters = hybrid.Filters(min_listeners=5, presenter_safe=True)
    table = plausibility_check(engine, hybrid.Weights(), 10, filters)
    assert table["persona"].tolist() == pers.personas()["persona"].tolist()
    assert set(table["rule"]) == {"no history: personality + popularity"}
    assert ((table["list share"] >= 0) & (table["list share"] <= 1)).all()
    assert table["lift"].round(2).tolist() == (
        (table["list share"] - table["no-profile share"]).round(2).tolist()
    )
    # on the demo, every persona's list carries its predicted tags more often than popularity's
    assert (table["lift"] > 0).all(), table


def test_the_cli_prints_the_check_with_its_label(
    demo_als_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.cli_helpers import run_cli

    home = str(demo_als_home)
    code, out, err = run_cli(capsys, "--home", home, "personality", "check", "--min-listeners", "5")
    assert code == 0, err
    assert out.startswith("Plausibility check (not accuracy): the bundled personas")
    assert "at least 5 listeners" in out and out.count("lift ") == 5
    code, out, err = run_cli(capsys, "--home", home, "personality", "check", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["title"] == TITLE and len(payload["rows"]) == 5
    code, out, err = run_cli(
        capsys, "--home", home, "personality", "check", "--min-listeners", "-1"
    )
    assert code != 0 and "--min-listeners must be 0 or more" in err
