"""Traffic splits (add up to exactly 100, proportional) and Vertex's label rule, as properties."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters._errors import SpecError
from adapters.vertex import VertexAutoMLTabularConfig
from adapters.vertex._labels import MAX_LABEL_CHARS, label_key_problem, label_value_problem
from adapters.vertex._traffic import apportion, split_for_deploy, split_for_undeploy
from adapters.vertex.emulator._labels import validate_labels
from adapters.vertex.emulator._wire import ApiError

IDS = st.text("0123456789", min_size=1, max_size=10)
SPLITS = st.dictionaries(IDS.filter(lambda k: k != "0"), st.integers(0, 100), min_size=1, max_size=8)


@given(SPLITS, st.integers(0, 100))
def test_a_deploy_split_adds_up_to_100_and_keeps_the_others_in_proportion(
    current: dict[str, int], percentage: int
) -> None:
    if percentage != 100 and sum(current.values()) == 0:
        with pytest.raises(SpecError, match="must take 100%"):
            split_for_deploy(current, current, percentage, "e")
        return
    split = split_for_deploy(current, current, percentage, "e")
    assert sum(split.values()) == 100 and split["0"] == percentage
    assert set(split) == {"0", *current} and all(isinstance(v, int) and v >= 0 for v in split.values())
    rest, whole = 100 - percentage, sum(current.values())
    for key, share in current.items():
        exact = rest * share / whole if whole else rest / len(current)
        assert abs(split[key] - exact) < 1, (key, split, current)  # largest remainder: within one point


@given(SPLITS)
def test_an_undeploy_split_hands_the_share_to_the_rest(current: dict[str, int]) -> None:
    leaving, *remaining = list(current)
    split = split_for_undeploy(current, remaining)
    if not remaining:
        assert split == {}
        return
    assert sum(split.values()) == 100 and set(split) == set(remaining) and leaving not in split
    kept = sum(current[k] for k in remaining)
    for key in remaining:
        exact = 100 * current[key] / kept if kept else 100 / len(remaining)
        assert abs(split[key] - exact) < 1


def test_apportion_examples() -> None:
    assert apportion({"a": 100}, 70) == {"a": 70}
    assert apportion({"a": 70, "b": 30}, 50) == {"a": 35, "b": 15}
    assert apportion({"a": 1, "b": 1, "c": 1}, 100) == {"a": 34, "b": 33, "c": 33}  # ties by ID
    assert apportion({"a": 0, "b": 0}, 100) == {"a": 50, "b": 50}
    assert apportion({}, 100) == {}


# -- labels ----------------------------------------------------------------------------------------------

LOWER = st.characters(categories=["Ll", "Lo"])
ALLOWED = st.one_of(LOWER, st.characters(categories=["Nd", "Nl", "No"]), st.sampled_from("_-"))
KEYS = st.builds(lambda first, rest: first + rest, LOWER, st.text(ALLOWED, max_size=MAX_LABEL_CHARS - 1))
VALUES = st.text(ALLOWED, max_size=MAX_LABEL_CHARS)


def _config(labels: dict[str, str]) -> Any:
    return VertexAutoMLTabularConfig(project="p", target_column="y", labels=labels)


@given(st.dictionaries(KEYS, VALUES, max_size=5))
def test_labels_of_any_script_in_lowercase_are_accepted_by_jobferry_and_the_emulator(
    labels: dict[str, str],
) -> None:
    assert _config(labels).labels == labels
    assert validate_labels(labels) == labels


BAD_CHARS = st.characters(categories=["Lu", "Lt", "Zs", "P", "S"]).filter(lambda c: c not in "_-")


@given(KEYS, VALUES, BAD_CHARS, st.integers(0, 10), st.booleans())
def test_a_label_with_any_other_character_is_refused_by_both(
    key: str, value: str, bad: str, at: int, in_key: bool
) -> None:
    if in_key:
        spot = min(at, len(key))
        key = key[:spot] + bad + key[spot:]
    else:
        spot = min(at, len(value))
        value = value[:spot] + bad + value[spot:]
    labels = {key: value}
    with pytest.raises(ValidationError, match="label"):
        _config(labels)
    with pytest.raises(ApiError, match="Invalid labels"):
        validate_labels(labels)


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ({"équipe": "données"}, None),
        ({"Équipe": "données"}, "must start with a lowercase letter"),
        ({"équipe": "Données"}, "holds 'D'"),
        ({"1x": "v"}, "must start with a lowercase letter"),
        ({"": "v"}, "non-empty"),
        ({"a" * 64: "b" * 64}, None),
        ({"a" * 65: "b"}, "65 characters"),
        ({"a": "b" * 65}, "65 characters"),
    ],
)
def test_label_examples(labels: dict[str, str], why: str | None) -> None:
    ((key, value),) = labels.items()
    problem = label_key_problem(key) or label_value_problem(value)
    if why is None:
        assert problem is None and _config(labels).labels == labels
    else:
        assert problem is not None and why in problem
        with pytest.raises(ValidationError, match=why.replace("'", ".")):
            _config(labels)


def test_label_counts_leave_room_for_jobferrys_two() -> None:
    _config({f"k{i}": "v" for i in range(62)})
    with pytest.raises(ValidationError, match="63 labels given; Vertex allows 64 and jobferry adds 2"):
        _config({f"k{i}": "v" for i in range(63)})
    with pytest.raises(ValidationError, match="jobferry's own"):
        _config({"jobferry-key": "x"})


def test_titlecase_and_modifier_letters_are_not_lowercase() -> None:
    for c in ("ǅ", "ʰ"):
        assert unicodedata.category(c) in ("Lt", "Lm")
        assert label_key_problem("a" + c) is not None
