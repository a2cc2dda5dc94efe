"""The recommendation endpoints on the real server: lists, similar items, cold start, next
track, feedback (and the cache it invalidates), and bad input answered with a 422 naming it."""

from __future__ import annotations

import pytest

from tests.api.conftest import Live
from timbre.hybrid.tables import EXPORT_COLUMNS, PARTS

USER = "/v1/recommend/user/2"


def test_a_users_list_has_contributions_that_add_up_and_reasons(live: Live) -> None:
    with live.client() as client:
        answer = client.get(USER, params={"n": 7})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["user_id"] == "hetrec:user:2" and body["model"] == "als"
    assert body["run_id"] == live.server.served().run_id
    rows = body["recommendations"]
    assert [r["rank"] for r in rows] == list(range(1, 8))
    assert set(rows[0]) == set(EXPORT_COLUMNS)
    for row in rows:
        assert row["score"] == pytest.approx(sum(row[p] for p in PARTS), abs=1e-5)
    assert all(row["because"] for row in rows)  # a training user: "because you listened to"
    scores = [r["score"] for r in rows]
    assert len({r["item_id"] for r in rows}) == 7 and max(scores) == scores[0]


def test_weights_and_presets_change_the_list_and_are_echoed(live: Live) -> None:
    with live.client() as client:
        only_cf = client.get(USER, params={"weights": "cf=1"}).json()
        novelty = client.get(USER, params={"weights": "novelty=1"}).json()
        preset = client.get(USER, params={"preset": "cold-start"}).json()
    assert only_cf["weights"] == {
        "cf": 1.0, "content": 0.0, "personality": 0.0, "novelty": 0.0, "diversity": 0.0
    }  # fmt: skip
    assert all(r["content"] == 0 and r["novelty"] == 0 for r in only_cf["recommendations"])
    ids = [r["item_id"] for r in only_cf["recommendations"]]
    assert ids != [r["item_id"] for r in novelty["recommendations"]]
    assert preset["weights"]["cf"] == 0.0 or preset["weights"] != only_cf["weights"]


def test_filters_are_applied(live: Live) -> None:
    listeners = live.server.served().engine.data.listeners
    data = live.server.served().engine.data
    with live.client() as client:
        body = client.get(USER, params={"filters": "min_listeners=60", "n": 10}).json()
    found = [int(data.items.index(r["item_id"])) for r in body["recommendations"]]
    assert found and all(listeners[i] >= 60 for i in found)
    with live.client() as client:
        plain = client.get(USER, params={"n": 10}).json()["recommendations"]
    assert any(listeners[data.items.index(r["item_id"])] < 60 for r in plain)


def test_similar_items_by_cf_content_or_both(live: Live) -> None:
    with live.client() as client:
        both = client.get("/v1/recommend/similar/Metallica", params={"n": 5})
        cf = client.get("/v1/recommend/similar/Metallica", params={"content": "false"}).json()
        neither = client.get(
            "/v1/recommend/similar/Metallica", params={"cf": "false", "content": "false"}
        )
    assert both.status_code == 200, both.text
    names = [r["item_name"] for r in both.json()["similar"]]
    assert len(names) == 5 and "Metallica" not in names
    assert both.json()["item_id"] == cf["item_id"]
    assert neither.status_code == 422
    assert neither.json()["error"]["code"] == "invalid_parameter"


def test_cold_start_from_traits_and_seeds_and_by_user_id(live: Live) -> None:
    with live.client() as client:
        by_id = client.post("/v1/recommendations", json={"user_id": "2", "n": 5}).json()
        direct = client.get(USER, params={"n": 5}).json()
        seeded = client.post(
            "/v1/recommendations", json={"seed_items": ["Metallica", "Slayer"], "n": 5}
        )
        traits = client.post(
            "/v1/recommendations",
            json={"traits": {"openness": 1.5, "extraversion": -1.0}, "n": 5},
        )
        nothing = client.post("/v1/recommendations", json={"n": 5})
        both = client.post("/v1/recommendations", json={"user_id": "2", "seed_items": ["x"]})
        bad_trait = client.post("/v1/recommendations", json={"traits": {"charm": 1.0}})
    assert by_id == direct
    assert seeded.status_code == 200, seeded.text
    body = seeded.json()
    assert body["seeds"] == ["hetrec:artist:707", "hetrec:artist:72"] or len(body["seeds"]) == 2
    names = [r["item_name"] for r in body["recommendations"]]
    assert "Metallica" not in names and "Slayer" not in names and len(names) == 5
    assert traits.status_code == 200, traits.text
    assert any(r["personality"] > 0 for r in traits.json()["recommendations"])
    assert nothing.status_code == 422 and "user_id" in nothing.json()["error"]["message"]
    assert both.status_code == 422 and both.json()["error"]["field"] == "user_id"
    assert bad_trait.status_code == 422 and "charm" in bad_trait.json()["error"]["message"]


def test_next_track_from_names_and_ids(live: Live) -> None:
    data = live.server.served().engine.data
    metallica = data.items.id(data.find_item("Metallica"))
    with live.client() as client:
        answer = client.post(
            "/v1/next-track", json={"track_sequence": [metallica, "Megadeth"], "n": 4}
        )
        unknown = client.post("/v1/next-track", json={"track_sequence": ["No Such Band 123"]})
        empty = client.post("/v1/next-track", json={"track_sequence": []})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["seeds"][0] == metallica and len(body["recommendations"]) == 4
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert "No Such Band 123" in unknown.json()["error"]["message"]
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "track_sequence"


def test_an_unknown_user_is_a_404_with_the_reason(live: Live) -> None:
    with live.client() as client:
        answer = client.get("/v1/recommend/user/nobody-at-all-42")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "not_found" and "nobody-at-all-42" in error["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"n": 0}, "n"),
        ({"n": "ten"}, "n"),
        ({"n": 100_000}, "n"),
        ({"weights": "cf=lots"}, "weights"),
        ({"weights": "loudness=1"}, "weights"),
        ({"weights": "cf=0,content=0"}, "weights"),
        ({"preset": "no-such-preset"}, "preset"),
        ({"preset": "original", "weights": "cf=1"}, "weights"),
        ({"filters": "min_listeners=-1"}, "filters"),
        ({"filters": "colour=red"}, "filters"),
        ({"filters": "min_listeners"}, "filters"),
    ],
)
def test_bad_query_parameters_are_a_422_naming_the_field(
    live: Live, params: dict[str, object], field: str
) -> None:
    with live.client() as client:
        answer = client.get(USER, params=params)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == field and error["message"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/recommendations", {"n": "x", "user_id": "2"}, "n"),
        ("/v1/recommendations", {"user_id": "2", "colour": "red"}, "colour"),
        ("/v1/recommendations", {"user_id": "2", "filters": {"min_listeners": -3}}, "filters"),
        ("/v1/next-track", {}, "track_sequence"),
        ("/v1/feedback", {"user_id": "2", "items": ["Metallica"], "kind": "love"}, "kind"),
        ("/v1/feedback", {"user_id": "2", "kind": "like"}, "items"),
    ],
)
def test_bad_bodies_are_a_422_naming_the_field(
    live: Live, path: str, body: dict[str, object], field: str
) -> None:
    with live.client("admin") as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"].startswith(field)


def test_a_body_that_is_not_json_is_a_422(live: Live) -> None:
    with live.client() as client:
        answer = client.post(
            "/v1/next-track", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid_request"


def test_feedback_changes_the_next_list_at_once_despite_the_cache(live: Live) -> None:
    path = "/v1/recommend/user/5"
    with live.client() as reader, live.client("admin") as admin:
        first = reader.get(path)
        again = reader.get(path)
        assert first.headers["x-timbre-cache"] == "miss"
        assert again.headers["x-timbre-cache"] == "hit" and again.content == first.content
        top = first.json()["recommendations"][0]
        done = admin.post(
            "/v1/feedback", json={"user_id": "5", "items": [top["item_id"]], "kind": "block"}
        )
        assert done.status_code == 200, done.text
        assert done.json() == {
            "user_id": "hetrec:user:5", "kind": "block", "items": [top["item_id"]],
            "rows": 1, "undo": False,
        }  # fmt: skip
        after = reader.get(path)
        assert after.headers["x-timbre-cache"] == "miss"
        assert top["item_id"] not in [r["item_id"] for r in after.json()["recommendations"]]
        undone = admin.post(
            "/v1/feedback",
            json={"user_id": "5", "items": [top["item_id"]], "kind": "block", "undo": True},
        )
        assert undone.json()["rows"] == 1
        back = reader.get(path)
        # the person's rows are as at first again: the list is the first one
        assert back.content == first.content
        # a new reaction whose row may take the undone row's id still changes the marks
        second = first.json()["recommendations"][1]["item_id"]
        admin.post("/v1/feedback", json={"user_id": "5", "items": [second], "kind": "skip"})
        skipped = reader.get(path)
    assert skipped.headers["x-timbre-cache"] == "miss"
    assert second not in [r["item_id"] for r in skipped.json()["recommendations"]]


def test_feedback_on_an_unknown_item_is_a_404_and_writes_nothing(live: Live) -> None:
    before = live.server.store.table_counts()
    with live.client("admin") as admin:
        answer = admin.post(
            "/v1/feedback", json={"user_id": "5", "items": ["Not A Band 987"], "kind": "like"}
        )
    assert answer.status_code == 404 and "Not A Band 987" in answer.json()["error"]["message"]
    assert live.server.store.table_counts() == before
