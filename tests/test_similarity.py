"""Similarity spaces, subsets, cluster order, 2-D maps, friends vs taste, figures and the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import cosine_similarity

from tests.test_store import listening_batch
from timbre import plots
from timbre.cli import main
from timbre.config import Settings
from timbre.errors import DataError, TimbreError
from timbre.export import csv_text
from timbre.interactions import InteractionData, Vocabulary, build_matrix
from timbre.models import create_model
from timbre.similarity import (
    SPACES,
    FriendsVsTaste,
    Selection,
    cluster_order,
    colour_labels,
    friend_index_pairs,
    friends_vs_taste,
    permutation_test,
    project,
    random_pairs,
    select,
    similarity_matrix,
)
from timbre.sources.demo import DEMO_DATASET
from timbre.spaces import build_space
from timbre.store import Store

GROUPS = 4
USERS_PER_GROUP = 12
ITEMS_PER_GROUP = 10
GENRES = ("metal", "pop", "jazz", "folk")


def planted(seed: int = 0) -> InteractionData:
    """Four taste groups: each user plays 6 of their group's 10 items and 1 random other item.

    Items carry their group's genre and tag, except the last item of each group, which has no
    tags, genres or audio (no content vector). Play counts 1..20.
    """
    rng = np.random.default_rng(seed)
    n_users, n_items = GROUPS * USERS_PER_GROUP, GROUPS * ITEMS_PER_GROUP
    rows, cols, weights = [], [], []
    for u in range(n_users):
        group = u // USERS_PER_GROUP
        own = group * ITEMS_PER_GROUP + rng.choice(ITEMS_PER_GROUP, 6, replace=False)
        other = rng.choice([i for i in range(n_items) if i // ITEMS_PER_GROUP != group], 1)
        for item in [*own, *other]:
            rows.append(u)
            cols.append(int(item))
            weights.append(int(rng.integers(1, 21)))
    matrix = build_matrix(rows, cols, weights, (n_users, n_items))
    bare = [i % ITEMS_PER_GROUP == ITEMS_PER_GROUP - 1 for i in range(n_items)]
    meta = pd.DataFrame(
        {
            "key": [f"toy:artist:{i:02d}" for i in range(n_items)],
            "name": [f"Artist {i}" for i in range(n_items)],
            "kind": "artist",
            "artist": None,
            "tags": [
                [] if bare[i] else [GENRES[i // ITEMS_PER_GROUP], f"scene {i // 5}"]
                for i in range(n_items)
            ],
            "genres": [[] if bare[i] else [GENRES[i // ITEMS_PER_GROUP]] for i in range(n_items)],
        }
    )
    return InteractionData(
        dataset="toy",
        users=Vocabulary([f"toy:user:{u:02d}" for u in range(n_users)], "user"),
        items=Vocabulary(meta["key"], "item"),
        user_items=matrix,
        item_meta=meta,
    )


def user_group(u: int) -> int:
    return u // USERS_PER_GROUP


@pytest.fixture(scope="module")
def toy() -> InteractionData:
    return planted()


@pytest.fixture(scope="module")
def toy_models(toy: InteractionData) -> dict[str, object]:
    return {
        "als": create_model("als", {"factors": 8, "iterations": 5, "random_state": 0}).fit(toy),
        "bpr": create_model("bpr", {"factors": 8, "iterations": 30, "random_state": 0}).fit(toy),
    }


def space_of(data: InteractionData, kind: str, space: str, models: dict[str, object]):
    model = models.get(space)
    return build_space(data, kind, space, model)  # type: ignore[arg-type]


# ----- spaces and matrices -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["users", "items"])
@pytest.mark.parametrize("space", SPACES)
def test_every_space_gives_symmetric_matrices_with_a_unit_diagonal(
    toy: InteractionData, toy_models: dict[str, object], kind: str, space: str
) -> None:
    vectors = space_of(toy, kind, space, toy_models)
    rows = np.flatnonzero(vectors.known)
    values = vectors.similarity(rows)
    assert values.shape == (len(rows), len(rows))
    assert np.array_equal(values, values.T)
    assert np.array_equal(np.diag(values), np.ones(len(rows)))
    low = 0.0 if vectors.measure == "jaccard" or space in ("interactions",) else -1.0
    assert values.min() >= low and values.max() <= 1.0
    # off-diagonal values are not all 1 (the space says something)
    assert values[np.triu_indices(len(rows), 1)].mean() < 0.9


def test_interaction_cosine_is_cosine_of_log_weighted_rows(toy: InteractionData) -> None:
    weighted = toy.user_items.toarray().astype(np.float64)
    weighted[weighted > 0] = np.log1p(weighted[weighted > 0])
    users = build_space(toy, "users", "interactions").similarity(np.arange(toy.n_users))
    items = build_space(toy, "items", "interactions").similarity(np.arange(toy.n_items))
    expected_users = cosine_similarity(weighted)
    np.fill_diagonal(expected_users, 1.0)
    expected_items = cosine_similarity(weighted.T)
    np.fill_diagonal(expected_items, 1.0)
    assert np.allclose(users, expected_users, atol=1e-6)
    assert np.allclose(items, expected_items, atol=1e-6)


def test_jaccard_is_shared_over_union_of_sets() -> None:
    # user a: {0, 1, 2}, b: {1, 2, 3}, c: {4}; items' listener sets follow
    matrix = build_matrix(
        [0, 0, 0, 1, 1, 1, 2], [0, 1, 2, 1, 2, 3, 4], [5, 1, 1, 9, 2, 1, 3], (3, 5)
    )
    data = InteractionData(
        dataset="sets",
        users=Vocabulary(["a", "b", "c"], "user"),
        items=Vocabulary([f"i{k}" for k in range(5)], "item"),
        user_items=matrix,
        item_meta=pd.DataFrame({"key": [f"i{k}" for k in range(5)], "name": list("vwxyz")}),
    )
    users = build_space(data, "users", "jaccard").similarity([0, 1, 2])
    assert np.allclose(users, [[1, 2 / 4, 0], [2 / 4, 1, 0], [0, 0, 1]])
    items = build_space(data, "items", "jaccard")
    assert items.similarity([0], [1, 3, 4]).tolist() == [[0.5, 0.0, 0.0]]
    assert np.allclose(items.pair_similarity([1, 0], [2, 4]), [1.0, 0.0])


def test_building_spaces_leaves_the_data_untouched(toy: InteractionData) -> None:
    # regression: the Jaccard space once set the shared matrix's values to 1 in place, which
    # silently turned every later interaction cosine into a binary one
    before = toy.user_items.copy()
    for space in ("jaccard", "interactions", "content"):
        for kind in ("users", "items"):
            build_space(toy, kind, space)
    assert np.array_equal(toy.user_items.data, before.data)
    assert toy.user_items.data.max() > 1


def test_pair_similarity_agrees_with_the_matrix(
    toy: InteractionData, toy_models: dict[str, object]
) -> None:
    a, b = np.array([0, 3, 15, 40]), np.array([1, 30, 16, 47])
    for space in SPACES:
        vectors = space_of(toy, "users", space, toy_models)
        full = vectors.similarity(np.arange(toy.n_users))
        assert np.allclose(vectors.pair_similarity(a, b), full[a, b], atol=1e-6), space


def test_factor_spaces_need_a_trained_model_of_their_family(
    toy: InteractionData, toy_models: dict[str, object]
) -> None:
    with pytest.raises(TimbreError, match="train an ALS model first"):
        build_space(toy, "items", "als")
    with pytest.raises(TimbreError, match="train a BPR model first"):
        build_space(toy, "users", "bpr")
    with pytest.raises(ValueError, match="needs an ALS model, not bpr"):
        build_space(toy, "items", "als", toy_models["bpr"])  # type: ignore[arg-type]
    other = planted(seed=1)
    with pytest.raises(TimbreError, match="not trained on the current data"):
        build_space(other, "items", "als", toy_models["als"])  # type: ignore[arg-type]


def test_bpr_space_leaves_out_the_bias_column(
    toy: InteractionData, toy_models: dict[str, object]
) -> None:
    model = toy_models["bpr"]
    users = build_space(toy, "users", "bpr", model)  # type: ignore[arg-type]
    assert model.user_factors_.shape[1] == 9  # type: ignore[attr-defined]
    assert users.vectors.shape[1] == 8
    # with the constant column every pair of users would share a positive component
    assert users.similarity(np.arange(toy.n_users)).min() < 0


def test_unknown_space_or_kind_is_a_value_error_naming_it(toy: InteractionData) -> None:
    with pytest.raises(ValueError, match="space must be one of interactions, binary, jaccard"):
        build_space(toy, "items", "word2vec")
    with pytest.raises(ValueError, match="kind must be users or items"):
        build_space(toy, "artists", "interactions")


def test_content_space_drops_items_without_content_and_counts_them(toy: InteractionData) -> None:
    space = build_space(toy, "items", "content")
    bare = np.flatnonzero(~space.known)
    assert bare.tolist() == [g * ITEMS_PER_GROUP + ITEMS_PER_GROUP - 1 for g in range(GROUPS)]
    chosen = select(toy, space, "top", size=40)
    assert len(chosen.indices) == 36 and chosen.dropped == 4
    assert not set(chosen.indices) & set(bare)
    # a hand-picked list keeps what it can and counts the rest
    picked = select(toy, space, "list", picks=["Artist 9", "Artist 0", "Artist 1"])
    assert picked.indices.tolist() == [0, 1] and picked.dropped == 1


def test_empty_content_is_a_data_error(toy: InteractionData) -> None:
    bare = dataclasses.replace(
        toy, item_meta=toy.item_meta.assign(tags=[[]] * toy.n_items, genres=[[]] * toy.n_items)
    )
    with pytest.raises(DataError, match="content space is empty"):
        build_space(bare, "items", "content")


# ----- subsets --------------------------------------------------------------------------------
def test_top_subsets_are_the_most_active_users_and_most_popular_items(
    toy: InteractionData,
) -> None:
    users = select(toy, build_space(toy, "users", "interactions"), "top", size=5)
    plays = np.asarray(toy.user_items.sum(axis=1)).ravel()
    assert users.indices.tolist() == np.argsort(-plays, kind="stable")[:5].tolist()
    assert users.description == "the 5 most active users (total plays)"
    items = select(toy, build_space(toy, "items", "interactions"), "top", size=5)
    listeners = np.diff(toy.user_items.tocsc().indptr)
    assert listeners[items.indices].min() >= np.sort(listeners)[-5]
    assert list(listeners[items.indices]) == sorted(listeners[items.indices], reverse=True)


def test_neighbours_subset_starts_from_the_query_and_takes_the_nearest(
    toy: InteractionData,
) -> None:
    space = build_space(toy, "users", "interactions")
    chosen = select(toy, space, "neighbours", size=8, query="toy:user:05")
    assert chosen.indices[0] == 5 and len(chosen.indices) == 8
    sims = space.similarity([5], np.arange(toy.n_users))[0]
    sims[5] = -np.inf
    assert set(chosen.indices[1:]) == set(np.argsort(-sims)[:7])
    # taste groups are real: the nearest users are the query's group mates
    assert all(user_group(int(u)) == user_group(5) for u in chosen.indices[1:])
    assert chosen.description == "toy:user:05 and its 7 nearest users"


def test_genre_and_tag_subsets_hold_items_of_that_label(toy: InteractionData) -> None:
    space = build_space(toy, "items", "interactions")
    jazz = select(toy, space, "genre", size=50, query="Jazz")
    assert len(jazz.indices) == ITEMS_PER_GROUP - 1
    assert all("jazz" in toy.item_meta["genres"][int(i)] for i in jazz.indices)
    scene = select(toy, space, "tag", size=50, query="scene 3")
    assert sorted(scene.indices.tolist()) == [15, 16, 17, 18]
    with pytest.raises(TimbreError, match="no item has the genre 'jaz'; did you mean 'jazz'"):
        select(toy, space, "genre", query="jaz")
    # users: those who give the largest share of their plays to the genre (its group)
    fans = select(toy, build_space(toy, "users", "interactions"), "genre", 10, query="jazz")
    assert all(user_group(int(u)) == GENRES.index("jazz") for u in fans.indices)


def test_list_subset_keeps_the_given_order_and_names_unknown_entries(
    toy: InteractionData,
) -> None:
    space = build_space(toy, "items", "interactions")
    chosen = select(toy, space, "list", picks=["Artist 7", "toy:artist:03", "Artist 7", "12"])
    assert chosen.indices.tolist() == [7, 3, 12]
    with pytest.raises(TimbreError, match="unknown item: 'Artist 99'"):
        select(toy, space, "list", picks=["Artist 1", "Artist 99"])
    with pytest.raises(TimbreError, match="fewer than two items"):
        select(toy, space, "list", picks=["Artist 1"])


def test_bad_subset_arguments_are_value_errors(toy: InteractionData) -> None:
    space = build_space(toy, "items", "interactions")
    with pytest.raises(ValueError, match="subset must be one of"):
        select(toy, space, "random")
    with pytest.raises(ValueError, match=r"size must be within 2\.\.1000"):
        select(toy, space, "top", size=1)
    with pytest.raises(ValueError, match="needs a query"):
        select(toy, space, "neighbours")
    with pytest.raises(ValueError, match="needs picks"):
        select(toy, space, "list")


# ----- clustering -----------------------------------------------------------------------------
def test_cluster_order_is_a_permutation_that_recovers_planted_blocks() -> None:
    rng = np.random.default_rng(3)
    truth = np.repeat(np.arange(4), 15)
    values = np.where(truth[:, None] == truth[None, :], 0.8, 0.1) + rng.normal(0, 0.05, (60, 60))
    values = (values + values.T) / 2
    np.fill_diagonal(values, 1.0)
    shuffle = rng.permutation(60)
    order, clusters = cluster_order(values[np.ix_(shuffle, shuffle)], n_clusters=4)
    assert sorted(order.tolist()) == list(range(60))
    assert adjusted_rand_score(truth[shuffle][order], clusters) == 1.0
    # contiguous in display order and numbered top-down
    assert clusters.tolist() == sorted(clusters.tolist())
    assert clusters[0] == 1 and clusters.max() == 4


def test_cluster_order_handles_tiny_and_rejects_bad_input() -> None:
    order, clusters = cluster_order(np.ones((2, 2)))
    assert order.tolist() == [0, 1] and clusters.tolist() == [1, 1]
    with pytest.raises(ValueError, match="square"):
        cluster_order(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_clusters"):
        cluster_order(np.eye(3), n_clusters=0)
    with pytest.raises(ValueError, match="method"):
        cluster_order(np.eye(3), method="ward")


def test_similarity_matrix_orders_rows_and_labels_together(toy: InteractionData) -> None:
    space = build_space(toy, "users", "interactions")
    chosen = select(toy, space, "top", size=48)
    matrix = similarity_matrix(toy, space, chosen, n_clusters=4)
    assert sorted(matrix.indices.tolist()) == sorted(chosen.indices.tolist())
    assert matrix.ids == tuple(toy.users.id(int(i)) for i in matrix.indices)
    assert np.allclose(matrix.values, space.similarity(matrix.indices))
    assert np.array_equal(matrix.values, matrix.values.T)
    groups = np.asarray([user_group(int(u)) for u in matrix.indices])
    assert adjusted_rand_score(groups, matrix.clusters) == 1.0
    assert matrix.boundaries() == [p for p in range(1, 48) if groups[p] != groups[p - 1]]
    assert len(matrix.off_diagonal()) == 48 * 47 // 2
    plain = similarity_matrix(toy, space, chosen.indices, cluster=False)
    assert plain.indices.tolist() == chosen.indices.tolist() and plain.n_clusters == 1


def test_matrix_frame_is_the_csv_export_with_headers_made_safe(toy: InteractionData) -> None:
    meta = toy.item_meta.copy()
    meta.loc[0, "name"] = "=HYPERLINK(1)"
    data = dataclasses.replace(toy, item_meta=meta)
    space = build_space(data, "items", "interactions")
    matrix = similarity_matrix(data, space, Selection(np.array([0, 1, 2]), "three"), n_clusters=2)
    frame = matrix.frame()
    assert frame.columns[:3].tolist() == ["id", "name", "cluster"]
    assert "=HYPERLINK(1)" in frame.columns  # the table holds the name; the CSV makes it safe
    assert np.allclose(frame.iloc[:, 3:].to_numpy(dtype=float), matrix.values, atol=1e-6)
    back = pd.read_csv(io.StringIO(csv_text(frame)))
    assert back.columns[:3].tolist() == ["id", "name", "cluster"]
    cells = [*back.columns, *back["name"]]
    assert "'=HYPERLINK(1)" in cells and not any(str(c).startswith("=") for c in cells)
    assert np.allclose(back.iloc[:, 3:].to_numpy(dtype=float), matrix.values, atol=1e-6)


def test_duplicate_names_get_their_id_so_labels_stay_unique(toy: InteractionData) -> None:
    meta = toy.item_meta.copy()
    meta.loc[[0, 1], "name"] = "Same Name"
    data = dataclasses.replace(toy, item_meta=meta)
    matrix = similarity_matrix(data, build_space(data, "items", "interactions"), [0, 1, 2])
    assert len(set(matrix.labels)) == 3
    assert "Same Name (toy:artist:00)" in matrix.labels


# ----- 2-D maps -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_is_deterministic_and_separates_taste_groups(
    toy: InteractionData, method: str
) -> None:
    space = build_space(toy, "users", "interactions")
    rows = np.arange(toy.n_users)
    coords = project(space, rows, method, random_state=0)
    assert coords.shape == (toy.n_users, 2) and np.isfinite(coords).all()
    assert np.array_equal(coords, project(space, rows, method, random_state=0))
    groups = np.asarray([user_group(u) for u in rows])
    centres = np.stack([coords[groups == g].mean(axis=0) for g in range(GROUPS)])
    within = np.mean(
        [np.linalg.norm(coords[groups == g] - centres[g], axis=1).mean() for g in range(GROUPS)]
    )
    between = np.mean([np.linalg.norm(a - b) for a in centres for b in centres if a is not b])
    assert between > 1.5 * within


def test_tsne_needs_a_few_rows_and_unknown_methods_are_rejected(toy: InteractionData) -> None:
    space = build_space(toy, "users", "interactions")
    with pytest.raises(ValueError, match="at least 5"):
        project(space, [0, 1, 2], "tsne")
    with pytest.raises(ValueError, match="pca or tsne"):
        project(space, [0, 1, 2], "umap")
    assert project(space, [0, 1, 2], "pca").shape == (3, 2)


def test_colour_labels_by_genre_tag_and_cluster(toy: InteractionData) -> None:
    assert colour_labels(toy, "items", [0, 9, 25], "genre") == ["metal", "unknown", "jazz"]
    assert colour_labels(toy, "items", [0, 16], "tag") == ["metal", "pop"]
    # a user's colour is the genre they play most: their group's
    users = colour_labels(toy, "users", [0, 13, 47], "genre")
    assert users == ["metal", "pop", "folk"]
    assert colour_labels(toy, "users", [0, 1], "cluster", np.array([1, 2])) == [
        "cluster 1",
        "cluster 2",
    ]
    few = colour_labels(toy, "items", [0, 10, 20, 30], "genre", max_colours=2)
    assert few.count("other") == 2


# ----- friends vs taste -------------------------------------------------------------------------
def group_pairs(rng: np.random.Generator, count: int) -> np.ndarray:
    pairs = set()
    while len(pairs) < count:
        group = rng.integers(GROUPS)
        a, b = group * USERS_PER_GROUP + rng.choice(USERS_PER_GROUP, 2, replace=False)
        pairs.add((min(a, b), max(a, b)))
    return np.asarray(sorted(pairs), dtype=np.int64)


def test_friends_vs_taste_detects_friends_planted_among_similar_users(
    toy: InteractionData,
) -> None:
    space = build_space(toy, "users", "interactions")
    friends = group_pairs(np.random.default_rng(0), 60)
    result = friends_vs_taste(space, friends, permutations=2000, seed=0)
    assert isinstance(result, FriendsVsTaste) and result.pairs == 60
    assert len(result.random_similarity) == 60
    assert result.difference > 0.2
    assert result.p_value == pytest.approx(1 / 2001)
    assert result.z > 5
    assert "60 friend pairs" in result.summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 1.0  # type: ignore[misc]


def test_friends_vs_taste_reports_no_effect_on_a_shuffled_graph(toy: InteractionData) -> None:
    space = build_space(toy, "users", "interactions")
    rng = np.random.default_rng(1)
    friends = group_pairs(rng, 60)
    shuffled = rng.permutation(toy.n_users)[friends]  # same graph shape, users relabelled
    shuffled = np.sort(shuffled, axis=1)
    result = friends_vs_taste(space, shuffled, permutations=2000, seed=0)
    assert result.p_value > 0.05
    assert abs(result.difference) < 0.05
    assert abs(result.z) < 2


def test_friends_vs_taste_is_seeded_and_checks_its_input(toy: InteractionData) -> None:
    space = build_space(toy, "users", "jaccard")
    friends = group_pairs(np.random.default_rng(2), 30)
    first = friends_vs_taste(space, friends, permutations=200, seed=5)
    again = friends_vs_taste(space, friends, permutations=200, seed=5)
    assert first.as_dict() == again.as_dict()
    assert np.array_equal(first.random_similarity, again.random_similarity)
    with pytest.raises(ValueError, match="compares users"):
        friends_vs_taste(build_space(toy, "items", "jaccard"), friends)
    with pytest.raises(DataError, match="no friend pairs"):
        friends_vs_taste(space, np.zeros((0, 2), dtype=np.int64))


def test_friend_pairs_become_unique_undirected_index_pairs(toy: InteractionData) -> None:
    frame = pd.DataFrame(
        {
            "user_key": ["toy:user:00", "toy:user:01", "toy:user:02", "toy:user:03", "nobody"],
            "friend_key": ["toy:user:01", "toy:user:00", "toy:user:02", "toy:user:40", "x"],
        }
    )
    pairs, skipped = friend_index_pairs(toy, frame)
    assert pairs.tolist() == [[0, 1], [3, 40]]
    assert skipped == 2  # the self pair and the unknown users
    empty, none = friend_index_pairs(toy, frame.iloc[:0])
    assert empty.shape == (0, 2) and none == 0


def test_random_pairs_are_distinct_ordered_and_avoid_the_excluded() -> None:
    rng = np.random.default_rng(0)
    exclude = np.array([[0, 1], [2, 3]])
    pairs = random_pairs(np.arange(6), 13, exclude, rng)  # 15 possible - 2 excluded
    assert len({tuple(p) for p in pairs.tolist()}) == 13
    assert (pairs[:, 0] < pairs[:, 1]).all()
    assert not {(0, 1), (2, 3)} & {tuple(p) for p in pairs.tolist()}
    with pytest.raises(DataError, match="cannot draw"):
        random_pairs(np.arange(6), 14, exclude, rng)


def test_permutation_test_on_equal_and_shifted_samples() -> None:
    rng = np.random.default_rng(0)
    same_p, _ = permutation_test(rng.normal(0, 1, 300), rng.normal(0, 1, 300), 1000, seed=1)
    shifted_p, sd = permutation_test(rng.normal(0.5, 1, 300), rng.normal(0, 1, 300), 1000, seed=1)
    assert same_p > 0.05
    assert shifted_p == pytest.approx(1 / 1001)
    assert 0.05 < sd < 0.12  # sqrt(2/300) = 0.082
    # ties count as extreme: identical groups give p = 1
    assert permutation_test(np.ones(5), np.ones(5), 100, seed=0)[0] == 1.0


# ----- the demo ---------------------------------------------------------------------------------
def test_store_reads_friend_pairs_of_a_data_sets_users(store: Store) -> None:
    batch = listening_batch()
    batch.users = pd.DataFrame({"key": ["u:1", "u:2", "u:3"], "name": ["One", "Two", "Three"]})
    batch.friends = pd.DataFrame(
        {"user_key": ["u:2", "u:1", "u:1"], "friend_key": ["u:1", "u:2", "u:3"]}
    )
    store.write_batch(batch)
    # u:3 has no interactions in the data set, so the pair with u:3 is not part of it
    assert store.friend_pairs("toy").values.tolist() == [["u:1", "u:2"], ["u:2", "u:1"]]
    with pytest.raises(DataError, match="no data set named 'nope'"):
        store.friend_pairs("nope")


def test_demo_friend_graph_is_read_within_the_data_set(
    demo_home: Path, demo_data: InteractionData
) -> None:
    with Store.open(Settings(home=demo_home)) as store:
        frame = store.friend_pairs(DEMO_DATASET)
    assert frame.columns.tolist() == ["user_key", "friend_key"]
    assert len(frame) == 25_434  # HetRec's user_friends.dat lists each friendship both ways
    pairs, skipped = friend_index_pairs(demo_data, frame)
    assert len(pairs) == 12_717 and skipped == 0


def test_demo_friends_have_more_similar_taste_than_random_pairs(
    demo_home: Path, demo_data: InteractionData
) -> None:
    with Store.open(Settings(home=demo_home)) as store:
        pairs, _ = friend_index_pairs(demo_data, store.friend_pairs(DEMO_DATASET))
    result = friends_vs_taste(build_space(demo_data, "users", "interactions"), pairs, 500)
    assert result.friend_mean > 3 * result.random_mean
    assert result.p_value == pytest.approx(1 / 501)


def test_demo_als_items_heatmap_of_200_is_symmetric_and_clustered(
    demo_data: InteractionData,
) -> None:
    model = create_model("als", {"factors": 16, "iterations": 5, "random_state": 0})
    space = build_space(demo_data, "items", "als", model.fit(demo_data), run_id=7)
    matrix = similarity_matrix(demo_data, space, select(demo_data, space, "top", 200), 8)
    assert len(matrix) == 200 and matrix.run_id == 7
    assert np.array_equal(matrix.values, matrix.values.T)
    assert np.array_equal(np.diag(matrix.values), np.ones(200))
    assert matrix.n_clusters == 8
    assert "Britney Spears" in matrix.labels
    near, _ = space.nearest(demo_data.find_item("Metallica"), 10, shrinkage=10.0)
    names = {demo_data.item_name(int(i)) for i in near}
    assert len(names & {"Iron Maiden", "Megadeth", "Slayer", "Black Sabbath", "Judas Priest"}) >= 2


# ----- figures ----------------------------------------------------------------------------------
def test_heatmap_carries_names_values_and_cluster_lines(toy: InteractionData) -> None:
    space = build_space(toy, "users", "interactions")
    matrix = similarity_matrix(toy, space, select(toy, space, "top", 48), n_clusters=4)
    fig = plots.similarity_heatmap(matrix.values, matrix.labels, matrix.clusters, measure="cosine")
    trace = fig.data[0]
    assert list(trace.x) == list(matrix.labels) == list(trace.y)
    assert np.allclose(np.asarray(trace.z), matrix.values)
    assert "%{y}" in trace.hovertemplate and "%{x}" in trace.hovertemplate
    assert len(fig.layout.shapes) == 2 * (matrix.n_clusters - 1)
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.xaxis.type == "category"
    big = plots.similarity_heatmap(np.eye(100), [str(k) for k in range(100)])
    assert big.layout.xaxis.showticklabels is False  # 100 names would overlap: hover only
    with pytest.raises(ValueError, match="match labels"):
        plots.similarity_heatmap(np.eye(3), ["a", "b"])


def test_clickable_heatmap_lays_a_hover_marker_on_every_cell() -> None:
    values = np.array([[1.0, 0.2, 0.4], [0.2, 1.0, 0.3], [0.4, 0.3, 1.0]])
    fig = plots.similarity_heatmap(values, ["a", "b", "c"], clickable=True)
    cells = fig.data[1]
    assert fig.data[0].hoverinfo == "skip" and cells.type == "scatter"
    # row-major: the marker at (x, y) carries that cell's value, so a click names its row y
    assert list(cells.y[:3]) == ["a", "a", "a"] and list(cells.x[:3]) == ["a", "b", "c"]
    assert np.allclose(cells.customdata, values.ravel())
    big = plots.similarity_heatmap(np.eye(61), [str(k) for k in range(61)], clickable=True)
    assert len(big.data) == 1  # 3,721 markers would cost more than they help: choose below


def test_embedding_map_has_one_trace_per_colour_with_names() -> None:
    coords = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], dtype=float)
    fig = plots.embedding_map(coords, ["a", "b", "c", "d"], ["rock", "pop", "rock", "rock"])
    assert [t.name for t in fig.data] == ["rock", "pop"]
    assert list(fig.data[0].text) == ["a", "c", "d"]
    assert list(fig.data[1].x) == [1.0]
    with pytest.raises(ValueError, match="one label and one colour"):
        plots.embedding_map(coords, ["a"], ["rock"] * 4)


def test_similarity_histogram_overlays_shares_on_common_bins() -> None:
    fig = plots.similarity_histogram(
        {"friends": np.array([0.5, 0.6, 0.7, 0.9]), "random pairs": np.array([0.0, 0.1, 0.1])}
    )
    assert len(fig.data) == 2
    assert np.allclose([np.sum(t.y) for t in fig.data], [1.0, 1.0])
    assert list(fig.data[0].x) == list(fig.data[1].x)
    assert fig.data[0].name == "friends (n = 4)" and fig.layout.barmode == "overlay"
    assert len(fig.layout.shapes) == 2  # a line at each mean
    assert len(plots.similarity_histogram({"none": np.array([])}).data) == 0


# ----- CLI --------------------------------------------------------------------------------------
@pytest.fixture
def cli_home(demo_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_cli_similarity_matrix_json_csv_and_friends(
    cli_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(cli_home)
    code, out, err = run_cli(
        capsys, "--home", home, "similarity", "--kind", "items", "--space", "als", "--top", "20"
    )
    assert code == 1 and "train an ALS model first (`timbre train --model als`" in err
    code, out, err = run_cli(
        capsys, "--home", home, "train", "--model", "als", "--param", "factors=16"
    )
    assert code == 0, err
    code, out, err = run_cli(
        capsys,
        "--home",
        home,
        "similarity",
        "--kind",
        "items",
        "--space",
        "als",
        "--top",
        "20",
        "--json",
    )
    assert code == 0, err
    payload = json.loads(out)
    values = np.asarray(payload["values"])
    assert values.shape == (20, 20) and np.allclose(values, values.T)
    assert payload["run_id"] == 1 and len(set(payload["names"])) == 20
    assert payload["clusters"] == sorted(payload["clusters"])
    target = tmp_path / "matrix.csv"
    code, out, err = run_cli(
        capsys,
        "--home",
        home,
        "similarity",
        "--kind",
        "users",
        "--space",
        "jaccard",
        "--top",
        "15",
        "--out",
        str(target),
    )
    assert code == 0, err
    assert "15 x 15 matrix written" in out
    frame = pd.read_csv(target)
    assert frame.shape == (15, 18) and frame["id"].str.startswith("hetrec:user:").all()
    code, out, err = run_cli(
        capsys,
        "--home",
        home,
        "similarity",
        "--kind",
        "users",
        "--friends",
        "--permutations",
        "200",
        "--json",
    )
    assert code == 0, err
    friends = json.loads(out)
    assert friends["friend_pairs"] == 12_717 and friends["difference"] > 0.1
    assert friends["p_value"] == pytest.approx(1 / 201)


def test_cli_similarity_subsets_and_errors(
    demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(demo_home)  # read only
    code, out, err = run_cli(
        capsys,
        "--home",
        home,
        "similarity",
        "--kind",
        "items",
        "--neighbours",
        "Metallica",
        "--top",
        "8",
        "--clusters",
        "2",
    )
    assert code == 0, err
    assert out.startswith("Metallica and its 7 nearest items in the interactions space")
    assert len(out.strip().splitlines()) == 9
    code, out, err = run_cli(
        capsys,
        "--home",
        home,
        "similarity",
        "--kind",
        "items",
        "--pick",
        "Metallica",
        "--pick",
        "Metalica",
    )
    assert code == 1 and "did you mean 'Metallica'" in err
    code, out, err = run_cli(capsys, "--home", home, "similarity", "--kind", "items", "--friends")
    assert code == 1 and "--kind users" in err
