"""Plotly figure builders: pure functions from frames to figures, testable without a browser."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from timbre.errors import ParameterError

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

    bars = (
        ("items", "catalog_match_rate", COLORS[0]),
        ("interactions", "interactions_match_rate", COLORS[3]),
    )
    fig = go.Figure(
        [
            go.Bar(
                name=what,
                x=names,
                y=rates(key),
                marker_color=colour,
                hovertemplate=f"%{{x}}: %{{y:.1%}} of {what}<extra></extra>",
            )
            for what, key, colour in bars
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
            hovertemplate="%{theta}: percentile %{r:.0f}<extra></extra>",
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


#: Heatmaps with more rows than this show names on hover only (tick labels would overlap).
HEATMAP_MAX_TICK_LABELS = 60


def similarity_heatmap(
    values: np.ndarray,
    labels: Sequence[str],
    clusters: Sequence[int] | np.ndarray | None = None,
    title: str = "Similarity",
    measure: str = "cosine",
    clickable: bool = False,
) -> go.Figure:
    """Square heatmap of a similarity matrix, names on hover, lines between clusters.

    Parameters
    ----------
    values
        ``n x n`` similarities, rows and columns in the order of ``labels`` (first row on top).
    labels
        Unique names of the rows (a shared name would merge two rows of a category axis).
    clusters
        Each row's cluster in display order (contiguous); a line is drawn where it changes.
    measure
        Shown in the hover text and the colour bar (``cosine``, ``jaccard``).
    clickable
        With at most :data:`HEATMAP_MAX_TICK_LABELS` rows, lay an invisible marker on every
        cell (which then carries the hover text): plotly cannot select heatmap cells, but a
        click on a marker is a point selection (Streamlit's ``on_select``) naming its row.
    """
    matrix = np.asarray(values, dtype=float)
    names = [str(label) for label in labels]
    n = len(names)
    if matrix.shape != (n, n):
        raise ParameterError(f"values must be {n} x {n} to match labels, got {matrix.shape}")
    low = float(min(0.0, np.nanmin(matrix))) if n else 0.0
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            zmin=low,
            zmax=1.0,
            colorscale="Viridis",
            colorbar={"title": {"text": measure}},
            hovertemplate=f"%{{y}}<br>%{{x}}<br>{measure} %{{z:.3f}}<extra></extra>",
        )
    )
    if clickable and 0 < n <= HEATMAP_MAX_TICK_LABELS:
        fig.data[0].hoverinfo = "skip"
        hidden = {"marker": {"opacity": 0}}
        fig.add_trace(
            go.Scatter(
                x=np.tile(names, n),
                y=np.repeat(names, n),
                customdata=matrix.ravel(),
                mode="markers",
                marker={"size": 10, "opacity": 0},
                selected=hidden,
                unselected=hidden,
                showlegend=False,
                hovertemplate=f"%{{y}}<br>%{{x}}<br>{measure} %{{customdata:.3f}}<extra></extra>",
            )
        )
    if clusters is not None and n:
        groups = np.asarray(clusters)
        for position in np.flatnonzero(np.diff(groups) != 0) + 1:
            edge = float(position) - 0.5
            line = {"color": "white", "width": 1.5}
            fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=n - 0.5, line=line)
            fig.add_shape(type="line", x0=-0.5, x1=n - 0.5, y0=edge, y1=edge, line=line)
    ticks = n <= HEATMAP_MAX_TICK_LABELS
    fig.update_xaxes(type="category", showticklabels=ticks, tickangle=-60, automargin=True)
    fig.update_yaxes(
        type="category", autorange="reversed", showticklabels=ticks, automargin=True, dtick=1
    )
    fig.update_xaxes(dtick=1)
    size = int(min(900, max(420, 14 * n + 200)))
    fig.update_layout(
        title=title,
        height=size,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis={"scaleanchor": "y", "constrain": "domain"},
    )
    return fig


def embedding_map(
    coords: np.ndarray,
    labels: Sequence[str],
    colours: Sequence[str],
    title: str = "Embedding map",
    axis_names: tuple[str, str] = ("dimension 1", "dimension 2"),
) -> go.Figure:
    """2-D scatter of users or items (PCA or t-SNE coordinates), one colour per category.

    Parameters
    ----------
    coords
        ``n x 2`` coordinates.
    labels
        Names shown on hover.
    colours
        A category per point (genre, tag or cluster); one legend entry each, most frequent first.
    """
    points = np.asarray(coords, dtype=float)
    n = len(points)
    if points.ndim != 2 or points.shape[1] != 2 or not len(labels) == len(colours) == n:
        raise ParameterError("coords must be n x 2 with one label and one colour per point")
    categories = pd.Series(list(colours), dtype=object)
    fig = go.Figure()
    for position, category in enumerate(categories.value_counts().index):
        mask = (categories == category).to_numpy()
        fig.add_trace(
            go.Scatter(
                x=points[mask, 0],
                y=points[mask, 1],
                mode="markers",
                name=str(category),
                text=[str(labels[int(i)]) for i in np.flatnonzero(mask)],
                marker={"size": 8, "opacity": 0.8, "color": COLORS[position % len(COLORS)]},
                hovertemplate=f"%{{text}}<extra>{category}</extra>",
            )
        )
    _layout(fig, title, axis_names[0], axis_names[1], height=480)
    fig.update_layout(showlegend=True)
    return fig


def similarity_histogram(
    groups: dict[str, np.ndarray],
    title: str = "Similarity distribution",
    measure: str = "similarity",
    bins: int = 40,
) -> go.Figure:
    """Overlaid histograms (share of pairs per bin) of one or more groups of similarities,
    on common bins, with a dotted line at each group's mean.

    Parameters
    ----------
    groups
        Name -> similarity values (e.g. ``{"friends": ..., "random pairs": ...}``).
    """
    cleaned = {name: np.asarray(v, dtype=float) for name, v in groups.items()}
    cleaned = {name: v[np.isfinite(v)] for name, v in cleaned.items()}
    everything = np.concatenate([v for v in cleaned.values()] or [np.zeros(0)])
    fig = go.Figure()
    if len(everything) == 0:
        return _layout(fig, title, measure, "share of pairs")
    low, high = float(everything.min()), float(everything.max())
    if high <= low:
        high = low + 1e-9
    edges = np.linspace(low, high, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    for position, (name, data) in enumerate(cleaned.items()):
        if len(data) == 0:
            continue
        counts, _ = np.histogram(data, bins=edges)
        color = COLORS[position % len(COLORS)]
        fig.add_trace(
            go.Bar(
                x=centers,
                y=counts / len(data),
                width=np.diff(edges),
                name=f"{name} (n = {len(data):,})",
                marker_color=color,
                opacity=0.6,
                customdata=counts,
                hovertemplate=(
                    f"{name}: %{{y:.1%}} of pairs (%{{customdata:,}}) "
                    "near %{x:.3f}<extra></extra>"
                ),
            )
        )
        mean = float(data.mean())
        fig.add_vline(x=mean, line={"color": color, "dash": "dot"})
    fig.update_yaxes(tickformat=".0%")
    _layout(fig, title, measure, "share of pairs", height=340)
    fig.update_layout(barmode="overlay", showlegend=len(cleaned) > 1)
    return fig


def contribution_bars(frame: pd.DataFrame, title: str = "Why these items") -> go.Figure:
    """Stacked horizontal bars: each recommended item's score split into its components, as
    each component's share of the item's score (so every part stays visible whatever the
    model's score scale or the normalisation); the hover gives the contribution itself.

    ``frame`` has ``item_name`` and the columns ``cf, content, personality, novelty,
    diversity_bonus`` and, when present, ``feedback`` (``timbre.hybrid.ranking_frame``), best
    first; ``feedback`` is left out when it is zero for every item. A negative
    contribution (z-score normalisation) counts by its size and says so in the hover.
    """
    parts = [
        p
        for p in ("cf", "content", "personality", "novelty", "diversity_bonus", "feedback")
        if p in frame.columns and (p != "feedback" or bool(frame[p].abs().sum()))
    ]
    ordered = frame.iloc[::-1]
    labels = [f"{r}. {n}" for r, n in zip(ordered["rank"], ordered["item_name"], strict=True)]
    values = ordered[parts].astype(float)
    total = values.abs().sum(axis=1).replace(0.0, 1.0)
    fig = go.Figure()
    for position, part in enumerate(parts):
        fig.add_trace(
            go.Bar(
                y=labels,
                x=(values[part].abs() / total * 100.0).to_numpy(),
                customdata=values[part].to_numpy(),
                name=part.replace("_", " "),
                orientation="h",
                marker_color=COLORS[position % len(COLORS)],
                hovertemplate=f"%{{y}}<br>{part}: %{{customdata:.3f}} "
                "(%{x:.0f}% of the score)<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack")
    _layout(fig, title, "share of the item's score (%)", "", height=max(280, 28 * len(frame) + 110))
    # the legend above the plot: below it, it would cover the axis title
    fig.update_layout(
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        xaxis={"range": [0, 100]},
    )
    return fig


def tradeoff_plot(
    curve: pd.DataFrame,
    current: dict[str, float],
    accuracy: str = "ndcg",
    diversity_label: str = "intra-list diversity",
) -> go.Figure:
    """Accuracy against diversity (sweeping the diversity weight) and against novelty (sweeping
    the novelty weight), with the current weights marked.

    ``curve`` has ``knob`` (diversity / novelty), ``value`` and the metrics
    (``timbre.hybrid.MetricsPanel.tradeoff``); ``current`` holds the current metrics.
    """
    from plotly.subplots import make_subplots

    labels = {"diversity": diversity_label, "novelty": "novelty"}
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"vs {diversity_label}", "vs novelty"))
    for column, knob in enumerate(("diversity", "novelty"), start=1):
        part = curve[curve["knob"] == knob].sort_values("value")
        fig.add_trace(
            go.Scatter(
                x=part[knob],
                y=part[accuracy],
                mode="lines+markers",
                name=f"{knob} weight",
                line={"color": COLORS[column - 1]},
                text=[f"{knob} weight {v:g}" for v in part["value"]],
                hovertemplate=f"%{{text}}<br>{knob} %{{x:.3f}}, {accuracy} %{{y:.4f}}"
                "<extra></extra>",
            ),
            row=1,
            col=column,
        )
        fig.add_trace(
            go.Scatter(
                x=[current[knob]],
                y=[current[accuracy]],
                mode="markers",
                name="current",
                marker={"size": 14, "symbol": "star", "color": COLORS[3]},
                hovertemplate=f"current: {knob} %{{x:.3f}}, {accuracy} %{{y:.4f}}<extra></extra>",
            ),
            row=1,
            col=column,
        )
        fig.update_xaxes(title_text=labels[knob], row=1, col=column)
    fig.update_yaxes(title_text=f"{accuracy}@10", row=1, col=1)
    fig.update_layout(
        title="Trade-off", height=320, showlegend=False, margin={"l": 10, "r": 10, "t": 60, "b": 10}
    )
    return fig
