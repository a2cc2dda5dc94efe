"""Plotly figure builders: pure functions from frames to figures, testable without a browser."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

#: One calm palette for every figure.
COLORS = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#EECA3B", "#B279A2")


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis_title=x,
        yaxis_title=y,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        height=height,
        showlegend=False,
    )
    return fig


def plays_per_user_histogram(plays: pd.Series, title: str = "Plays per user") -> go.Figure:
    """Histogram of total plays (summed weights) per user on log-spaced bins.

    Parameters
    ----------
    plays
        One value per user (index: user key), e.g. ``store.plays_per_user(dataset)``.
    """
    values = plays.to_numpy(dtype=float)
    values = values[values > 0]
    if len(values) == 0:
        return _layout(go.Figure(), title, "plays (log scale)", "users")
    edges = np.unique(np.logspace(0, np.log10(values.max()) + 1e-9, 30).round())
    counts, edges = np.histogram(values, bins=np.concatenate([[0.5], edges[1:]]))
    centers = np.sqrt(np.maximum(edges[:-1], 0.5) * edges[1:])
    fig = go.Figure(
        go.Bar(
            x=centers,
            y=counts,
            width=np.diff(edges),
            marker_color=COLORS[0],
            customdata=np.stack([edges[:-1], edges[1:]], axis=1),
            hovertemplate=(
                "%{customdata[0]:,.0f}-%{customdata[1]:,.0f} plays: %{y} users<extra></extra>"
            ),
        )
    )
    fig.update_xaxes(type="log")
    return _layout(fig, title, "plays (log scale)", "users")


def top_items_bar(top: pd.DataFrame, title: str = "Top artists") -> go.Figure:
    """Horizontal bar of the most played items; ``top`` has ``name`` and ``plays`` (and
    optionally ``listeners``), most played first."""
    frame = top.iloc[::-1]
    hover = "%{y}: %{x:,.0f} plays"
    custom = None
    if "listeners" in frame.columns:
        custom = frame["listeners"].to_numpy()
        hover += " by %{customdata:,} listeners"
    fig = go.Figure(
        go.Bar(
            x=frame["plays"],
            y=frame["name"],
            orientation="h",
            marker_color=COLORS[1],
            customdata=custom,
            hovertemplate=hover + "<extra></extra>",
        )
    )
    fig.update_yaxes(dtick=1, automargin=True)  # one label per bar, never thinned out
    return _layout(fig, title, "plays", "", height=max(320, 22 * len(frame) + 80))


def genre_mix_bar(mix: pd.DataFrame, title: str = "Genre mix (catalogue genres)") -> go.Figure:
    """Bar chart of the share of plays per genre; ``mix`` has ``genre`` and ``plays``."""
    total = float(mix["plays"].sum()) or 1.0
    share = mix["plays"] / total
    fig = go.Figure(
        go.Bar(
            x=mix["genre"],
            y=share,
            marker_color=COLORS[2],
            hovertemplate="%{x}: %{y:.1%} of matched plays<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title, "genre", "share of matched plays")


def match_rate_bar(
    datasets: dict[str, dict[str, object]], title: str = "Catalogue match rate"
) -> go.Figure:
    """Per data set: share of items and of interactions linked to the catalogue."""
    names = list(datasets)

    def rates(key: str) -> list[float]:
        out = []
        for name in names:
            value = datasets[name].get(key)
            out.append(float(value) if isinstance(value, int | float) else 0.0)
        return out

    fig = go.Figure(
        [
            go.Bar(
                name="items",
                x=names,
                y=rates("catalog_match_rate"),
                marker_color=COLORS[0],
                hovertemplate="%{x}: %{y:.1%} of items<extra></extra>",
            ),
            go.Bar(
                name="interactions",
                x=names,
                y=rates("interactions_match_rate"),
                marker_color=COLORS[3],
                hovertemplate="%{x}: %{y:.1%} of interactions<extra></extra>",
            ),
        ]
    )
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig = _layout(fig, title, "data set", "linked to the catalogue")
    fig.update_layout(showlegend=True, barmode="group")
    return fig


def metric_bars(table: pd.DataFrame, metric: str, title: str | None = None) -> go.Figure:
    """One bar per model for ``metric``, with the 95% interval of the mean as error bars.

    ``table`` is ``Experiment.table()``: a ``model`` column, ``metric`` and, for per-user
    metrics, ``<metric>_ci95``.
    """
    error = table.get(f"{metric}_ci95")
    fig = go.Figure(
        go.Bar(
            x=table["model"],
            y=table[metric],
            marker_color=[COLORS[i % len(COLORS)] for i in range(len(table))],
            error_y=None if error is None else {"type": "data", "array": error, "visible": True},
            hovertemplate="%{x}: %{y:.4f}<extra></extra>",
        )
    )
    return _layout(fig, title or metric, "model", metric, height=280)


def per_user_scatter(
    a: pd.Series, b: pd.Series, name_a: str, name_b: str, metric: str = "ndcg"
) -> go.Figure:
    """Each test user's ``metric`` under two models (same users), with the diagonal y = x."""
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner")
    fig = go.Figure(
        go.Scattergl(
            x=joined["a"],
            y=joined["b"],
            mode="markers",
            marker={"size": 5, "opacity": 0.45, "color": COLORS[0]},
            text=[str(u) for u in joined.index],
            hovertemplate=f"user %{{text}}<br>{name_a}: %{{x:.3f}}<br>{name_b}: %{{y:.3f}}"
            "<extra></extra>",
        )
    )
    top = float(max(joined["a"].max(), joined["b"].max(), 1e-9)) if len(joined) else 1.0
    fig.add_shape(type="line", x0=0, y0=0, x1=top, y1=top, line={"dash": "dot", "color": "grey"})
    above = int((joined["b"] > joined["a"]).sum())
    below = int((joined["b"] < joined["a"]).sum())
    title = f"{metric} per user: {name_b} better for {above}, {name_a} better for {below}"
    return _layout(fig, title, f"{name_a} {metric}", f"{name_b} {metric}", height=380)


def sweep_plot(
    results: pd.DataFrame, parameter: str, swept: Sequence[str], metric: str = "ndcg"
) -> go.Figure:
    """``metric`` against one swept ``parameter``; the other ``swept`` parameters become the
    series (one line per combination of their values)."""
    others = [name for name in swept if name != parameter]
    fig = go.Figure()
    groups = results.groupby(others, sort=True) if others else [((), results)]
    for position, (key, group) in enumerate(groups):
        label = ", ".join(
            f"{name}={value}"
            for name, value in zip(others, key if isinstance(key, tuple) else (key,), strict=True)
        )
        ordered = group.sort_values(parameter)
        fig.add_trace(
            go.Scatter(
                x=ordered[parameter],
                y=ordered[metric],
                mode="lines+markers",
                name=label or metric,
                line={"color": COLORS[position % len(COLORS)]},
                hovertemplate=f"{parameter}=%{{x}}: {metric} %{{y:.4f}}<extra>{label}</extra>",
            )
        )
    _layout(fig, f"{metric} by {parameter}", parameter, metric, height=320)
    fig.update_layout(showlegend=bool(others))
    return fig


def trait_radar(
    percentiles: dict[str, float], title: str = "Big Five (percentile)", name: str = "you"
) -> go.Figure:
    """Radar chart of the five trait percentiles (0-100), in a fixed trait order."""
    traits = list(percentiles)
    values = [float(percentiles[t]) for t in traits]
    fig = go.Figure(
        go.Scatterpolar(
            r=[*values, values[0]],
            theta=[*traits, traits[0]],
            fill="toself",
            name=name,
            line={"color": COLORS[0]},
            hovertemplate="%{theta}: %{r:.0f}th percentile<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        polar={"radialaxis": {"range": [0, 100], "tickvals": [25, 50, 75]}},
        margin={"l": 30, "r": 30, "t": 40, "b": 20},
        height=360,
        showlegend=False,
    )
    return fig
