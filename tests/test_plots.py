"""Figure builders: the figures carry the data they are given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from timbre import plots


def test_plays_histogram_counts_every_user_once() -> None:
    plays = pd.Series([1, 3, 10, 250, 251, 5000], index=list("abcdef"))
    fig = plots.plays_per_user_histogram(plays)
    counts = np.asarray(fig.data[0].y)
    assert counts.sum() == 6
    assert fig.layout.xaxis.type == "log"


def test_plays_histogram_of_nothing_is_an_empty_figure() -> None:
    assert len(plots.plays_per_user_histogram(pd.Series([], dtype=float)).data) == 0


def test_top_items_bar_puts_the_most_played_on_top() -> None:
    top = pd.DataFrame(
        {
            "name": ["Britney Spears", "Depeche Mode"],
            "plays": [2_393_140, 1_301_308],
            "listeners": [522, 282],
        }
    )
    fig = plots.top_items_bar(top)
    # horizontal bars draw bottom-up, so the first row must be last
    assert list(fig.data[0].y) == ["Depeche Mode", "Britney Spears"]
    assert list(fig.data[0].x) == [1_301_308, 2_393_140]


def test_genre_mix_is_a_share() -> None:
    mix = pd.DataFrame({"genre": ["rock", "pop"], "plays": [30.0, 10.0]})
    fig = plots.genre_mix_bar(mix)
    assert np.allclose(fig.data[0].y, [0.75, 0.25])


def test_match_rate_bar_shows_items_and_interactions_per_dataset() -> None:
    fig = plots.match_rate_bar(
        {
            "hetrec": {"catalog_match_rate": 0.2, "interactions_match_rate": 0.5},
            "export": {"catalog_match_rate": None, "interactions_match_rate": 0.9},
        }
    )
    assert [trace.name for trace in fig.data] == ["items", "interactions"]
    assert list(fig.data[0].y) == [0.2, 0.0]
    assert list(fig.data[1].y) == [0.5, 0.9]


def test_metric_bars_carry_the_interval_as_error_bars() -> None:
    table = pd.DataFrame({"model": ["a", "b"], "ndcg": [0.1, 0.2], "ndcg_ci95": [0.01, 0.02]})
    fig = plots.metric_bars(table, "ndcg")
    assert list(fig.data[0].x) == ["a", "b"]
    assert list(fig.data[0].error_y.array) == [0.01, 0.02]


def test_per_user_scatter_counts_who_wins_on_shared_users() -> None:
    a = pd.Series([0.1, 0.5, 0.3], index=[1, 2, 3])
    b = pd.Series([0.2, 0.4, 0.9], index=[1, 2, 4])  # user 4 is not shared
    fig = plots.per_user_scatter(a, b, "pop", "als")
    assert list(fig.data[0].x) == [0.1, 0.5]
    assert fig.layout.title.text == "ndcg per user: als better for 1, pop better for 1"


def test_sweep_plot_draws_one_line_per_other_parameter_value() -> None:
    results = pd.DataFrame(
        {"factors": [16, 32, 16, 32], "reg": [1.0, 1.0, 10.0, 10.0], "ndcg": [0.1, 0.2, 0.15, 0.3]}
    )
    fig = plots.sweep_plot(results, "factors", ["factors", "reg"])
    assert [trace.name for trace in fig.data] == ["reg=1.0", "reg=10.0"]
    assert list(fig.data[1].y) == [0.15, 0.3]


def test_contribution_bars_keep_every_part_visible_whatever_the_scale() -> None:
    # an item-kNN-like raw cf score (tens) beside a content score under 1, and a tiny one
    frame = pd.DataFrame(
        {
            "rank": [1, 2],
            "item_name": ["Big", "Tiny"],
            "cf": [40.0, 0.0004],
            "content": [0.4, 0.3],
            "personality": [0.0, 0.0],
            "novelty": [0.0, -0.1],
            "diversity_bonus": [0.0, 0.0],
        }
    )
    fig = plots.contribution_bars(frame)
    shares = {trace.name: np.asarray(trace.x) for trace in fig.data}
    assert list(shares) == ["cf", "content", "personality", "novelty", "diversity bonus"]
    # drawn best last (top): row 0 is "Tiny", row 1 is "Big"
    assert np.allclose(sum(shares.values()), 100.0)
    assert shares["content"][1] > 0.9 and shares["cf"][0] > 0.09  # small parts still drawn
    assert np.asarray(fig.data[3].customdata)[0] == -0.1  # the hover keeps the value
    legend, axis = fig.layout.legend, fig.layout.xaxis
    assert legend.yanchor == "bottom" and legend.y >= 1.0  # above the plot, not on the axis
    assert axis.title.text.startswith("share of")
