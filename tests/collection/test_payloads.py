"""One validator serves forms, API and imports: each rule, with the field it names."""

import pytest

from collection.payloads import (
    PayloadError,
    attention_check_passed,
    validate_attribute_schema,
    validate_attributes,
    validate_item,
    validate_response,
    validate_target_marginals,
)

PAIR = {"candidates": [{"id": "a", "text": "One"}, {"id": "b", "text": "Two"}]}
TRIO = {"candidates": [{"id": i, "text": i.upper()} for i in "xyz"]}


def field_of(call) -> str:
    with pytest.raises(PayloadError) as caught:
        call()
    return caught.value.field


def pref(payload, **rules):
    return validate_response(kind="preference", payload=payload, item_payload=TRIO, **rules)


def test_a_ranking_must_be_a_permutation_of_the_candidates():
    assert pref({"ranking": ["z", "x", "y"]}, preference_format="ranking")["ranking"] == [
        "z",
        "x",
        "y",
    ]
    assert field_of(lambda: pref({"ranking": ["x", "x", "y"]}, preference_format="ranking")) == (
        "ranking"
    )
    assert field_of(lambda: pref({"ranking": ["x", "y"]}, preference_format="ranking")) == (
        "ranking"
    )
    assert field_of(lambda: pref({"ranking": ["x", "y", "w"]}, preference_format="ranking")) == (
        "ranking"
    )


def test_a_choice_names_a_candidate_or_a_tie():
    item = PAIR
    ok = validate_response(kind="preference", payload={"choice": "tie"}, item_payload=item)
    assert ok == {"choice": "tie"}
    assert (
        field_of(
            lambda: validate_response(kind="preference", payload={"choice": "c"}, item_payload=item)
        )
        == "choice"
    )
    assert (
        field_of(lambda: validate_response(kind="preference", payload={}, item_payload=item))
        == "choice"
    )


def test_ratings_lie_on_the_campaign_scale_and_cover_every_candidate():
    rules = dict(preference_format="rating", rating_scale=(1, 5))
    assert pref({"ratings": {"x": 1, "y": 5, "z": "3"}}, **rules)["ratings"] == {
        "x": 1,
        "y": 5,
        "z": 3,
    }
    assert field_of(lambda: pref({"ratings": {"x": 0, "y": 5, "z": 3}}, **rules)) == "ratings.x"
    assert field_of(lambda: pref({"ratings": {"x": 1, "y": 5}}, **rules)) == "ratings.z"
    assert field_of(lambda: pref({"ratings": {"x": 1.5, "y": 5, "z": 3}}, **rules)) == ("ratings.x")
    assert (
        field_of(
            lambda: pref(
                {"ranking": ["x", "y", "z"], "ratings": {"x": 1, "y": 1, "z": 1}},
                preference_format="ranking",
            )
        )
        == "ratings"
    )


def test_rationale_and_confidence_when_the_campaign_asks():
    rules = dict(preference_format="ranking", ask_rationale=True, ask_confidence=True)
    order = {"ranking": ["x", "y", "z"]}
    assert field_of(lambda: pref(order, **rules)) == "rationale"
    assert field_of(lambda: pref({**order, "rationale": "because"}, **rules)) == "confidence"
    assert field_of(lambda: pref({**order, "rationale": "b", "confidence": 9}, **rules)) == (
        "confidence"
    )
    assert pref({**order, "rationale": "b", "confidence": 4}, **rules)["confidence"] == 4


def test_text_responses_are_required_and_bounded():
    assert (
        field_of(
            lambda: validate_response(
                kind="demonstration", payload={"text": "   "}, item_payload={}
            )
        )
        == "text"
    )
    assert (
        field_of(
            lambda: validate_response(kind="qa", payload={"answer": "x" * 20_001}, item_payload={})
        )
        == "answer"
    )
    answer = validate_response(
        kind="qa", payload={"answer": "Paris", "sources": "a.org"}, item_payload={}
    )
    assert answer == {"answer": "Paris", "sources": ["a.org"]}


def test_unknown_fields_are_named():
    assert (
        field_of(
            lambda: validate_response(
                kind="qa", payload={"answer": "x", "score": 3}, item_payload={}
            )
        )
        == "score"
    )


def test_items_by_kind():
    item = validate_item(
        kind="preference",
        prompt="Which?",
        context=None,
        payload={"candidates": ["one", {"text": "two", "source": "m"}]},
    )
    assert item["payload"]["candidates"] == [
        {"id": "a", "text": "one"},
        {"id": "b", "text": "two", "source": "m"},
    ]
    assert field_of(
        lambda: validate_item(
            kind="preference", prompt="p", context=None, payload={"candidates": ["only one"]}
        )
    ) == ("payload.candidates")
    assert (
        field_of(lambda: validate_item(kind="preference", prompt="p", context=None, payload=TRIO))
        == "payload.candidates"
    )
    assert field_of(
        lambda: validate_item(
            kind="preference",
            prompt="p",
            context=None,
            preference_format="ranking",
            payload={"candidates": [{"id": "a", "text": "1"}, {"id": "a", "text": "2"}]},
        )
    ) == ("payload.candidates.1.id")
    assert field_of(lambda: validate_item(kind="qa", prompt="", context=None, payload={})) == (
        "payload.question"
    )
    assert (
        validate_item(kind="qa", prompt="", context=None, payload={"question": "Why?"})["prompt"]
        == "Why?"
    )


def test_episodic_items_need_a_context_with_valid_turns():
    assert (
        field_of(
            lambda: validate_item(
                kind="demonstration", prompt="p", context=None, payload={}, episodic=True
            )
        )
        == "context"
    )
    assert (
        field_of(
            lambda: validate_item(
                kind="demonstration",
                prompt="p",
                payload={},
                episodic=True,
                context={"messages": [{"role": "robot", "content": "hi"}]},
            )
        )
        == "context.messages.0.role"
    )
    ok = validate_item(
        kind="demonstration",
        prompt="p",
        payload={},
        episodic=True,
        context={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert ok["context"] == {"messages": [{"role": "user", "content": "hi"}]}


def test_attention_checks():
    item = validate_item(
        kind="preference", prompt="p", context=None, payload=PAIR, expected={"choice": "b"}
    )
    assert attention_check_passed(item["expected"], {"choice": "b"})
    assert not attention_check_passed(item["expected"], {"choice": "tie"})
    assert field_of(
        lambda: validate_item(
            kind="preference", prompt="p", context=None, payload=PAIR, expected={"choice": "c"}
        )
    ) == ("expected.choice")
    assert attention_check_passed({"top": "y"}, {"ratings": {"x": 1, "y": 4, "z": 2}})
    assert attention_check_passed({"contains": "paris"}, {"answer": "It is Paris."})


def test_audience_schema_targets_and_attributes():
    schema = validate_attribute_schema([{"name": "age", "choices": ["young", "old"]}])
    assert schema[0]["label"] == "Age"
    assert field_of(lambda: validate_attribute_schema([{"name": "age", "choices": ["x"]}])) == (
        "attribute_schema.0.choices"
    )
    assert (
        field_of(
            lambda: validate_target_marginals(
                {"age": {"young": 0.7, "old": 0.7}}, schema, kind="public"
            )
        )
        == "target_marginals.age"
    )
    assert (
        field_of(lambda: validate_target_marginals({"age": {"young": 1.0}}, schema, kind="mass"))
        == "target_marginals"
    )
    assert field_of(lambda: validate_attributes({"age": "middle"}, schema)) == "attributes.age"
    assert field_of(lambda: validate_attributes({}, schema)) == "attributes.age"
    assert validate_attributes({"age": "old"}, schema) == {"age": "old"}
