"""Each parsing rule reaches the served answer: alter it in :data:`fields.RULES` and the answer changes.

The service is the real one (``Service.handle`` on an HTTP API event, the tiny bundle's ONNX model),
so a copy of a rule kept anywhere else (a fast path with its own bounds, whole-number checks,
category tables or number grammar) makes one of these tests fail. Every rule is altered both ways
where both exist: loosened (what it refused is now scored) and tightened (what it accepted is now
refused); the probe goes alone (``data``) and in a batch past the bulk path's numpy threshold.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from credit_score.contract import fields
from credit_score.contract.fields import CATEGORICAL_FIELDS, NUMERIC_FIELDS, RULES
from credit_score.runtime.config import Settings
from credit_score.runtime.service import Service
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401 - the session fixture
from tests.support.events import load_event
from tests.support.lambda_context import LambdaContext
from tests.support.paths import seed_payload

SEED = seed_payload()["data"]
BATCH = 12  # past the bulk path's small-batch threshold: the vectorised checks


@pytest.fixture(scope="module")
def service(tiny_bundle: Path) -> Service:  # noqa: F811 - the imported fixture
    environ = {"MODEL_DIR": str(tiny_bundle), "METRICS_ENABLED": "false", "LOG_LEVEL": "ERROR"}
    return Service(Settings.from_env(environ, max_batch_size=BATCH))


def served(service: Service, payload: dict[str, Any]) -> tuple[int, Any]:
    event = load_event("http_api_post.json")
    event["body"] = json.dumps(payload)
    response = service.handle(event, LambdaContext("mutation"))
    body = json.loads(response["body"])
    if response["statusCode"] != 200:
        return response["statusCode"], [(d["index"], d["field"], d["problem"]) for d in body.get("details", [])]
    answers = body.get("predictions", [body])
    return 200, [(answer["label"], answer["probabilities"]) for answer in answers]


def answers(service: Service, field: str, value: Any) -> dict[str, tuple[int, Any]]:
    """The served answer for SEED with ``field`` set to ``value``, alone and inside a batch."""
    probe = {**SEED, field: value}
    batch = synthetic_records(BATCH, seed=3)
    batch[BATCH // 2] = probe
    return {"single": served(service, {"data": probe}), "batch": served(service, {"dataframe_records": batch})}


def assert_mutation_changes(service, monkeypatch, mutated: fields.Rules, field: str, value: Any, before: int) -> None:
    original = answers(service, field, value)
    assert {status for status, _ in original.values()} == {before}
    monkeypatch.setattr(fields, "RULES", mutated)
    after = answers(service, field, value)
    for shape in original:
        assert after[shape] != original[shape], shape
        assert after[shape][0] == (422 if before == 200 else 200), (shape, after[shape])


def with_position(values: tuple[Any, ...], position: int, value: Any) -> tuple[Any, ...]:
    return (*values[:position], value, *values[position + 1 :])


def as_text(number: float) -> str:
    return f"{number:.0f}" if number.is_integer() else str(number)


NUMBERS = list(enumerate(NUMERIC_FIELDS))


@pytest.mark.parametrize(("position", "f"), NUMBERS, ids=[f.name for f in NUMERIC_FIELDS])
def test_given_a_lower_bound_loosened_when_served_then_a_value_below_it_is_scored(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, minimum=with_position(RULES.minimum, position, f.minimum - 10))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, as_text(f.minimum - 1), before=422)


@pytest.mark.parametrize(("position", "f"), NUMBERS, ids=[f.name for f in NUMERIC_FIELDS])
def test_given_a_lower_bound_tightened_when_served_then_the_bound_is_refused(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, minimum=with_position(RULES.minimum, position, f.minimum + 1))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, as_text(f.minimum), before=200)


@pytest.mark.parametrize(("position", "f"), NUMBERS, ids=[f.name for f in NUMERIC_FIELDS])
def test_given_an_upper_bound_loosened_when_served_then_a_value_above_it_is_scored(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, maximum=with_position(RULES.maximum, position, f.maximum + 10))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, f.maximum + 1, before=422)


@pytest.mark.parametrize(("position", "f"), NUMBERS, ids=[f.name for f in NUMERIC_FIELDS])
def test_given_an_upper_bound_tightened_when_served_then_the_bound_is_refused(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, maximum=with_position(RULES.maximum, position, f.maximum - 1))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, f.maximum, before=200)


@pytest.mark.parametrize(
    ("position", "f"), [(p, f) for p, f in NUMBERS if f.integer], ids=lambda x: getattr(x, "name", x)
)
def test_given_the_whole_number_rule_dropped_when_served_then_a_fraction_is_scored(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, whole=tuple(p for p in RULES.whole if p != position))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, f"{f.minimum + 1}5", before=422)


@pytest.mark.parametrize(
    ("position", "f"), [(p, f) for p, f in NUMBERS if not f.integer], ids=lambda x: getattr(x, "name", x)
)
def test_given_the_whole_number_rule_extended_when_served_then_a_fraction_is_refused(service, monkeypatch, position, f):
    mutated = dataclasses.replace(RULES, whole=(*RULES.whole, position))
    assert_mutation_changes(service, monkeypatch, mutated, f.name, f"{f.minimum + 1}5", before=200)


CATEGORIES = list(enumerate(CATEGORICAL_FIELDS))


@pytest.mark.parametrize(("position", "f"), CATEGORIES, ids=[f.name for f in CATEGORICAL_FIELDS])
def test_given_a_level_removed_from_a_category_table_when_served_then_it_is_refused(service, monkeypatch, position, f):
    level = f.categories[0]
    column = RULES.spellings[position][level]
    table = {spelling: to for spelling, to in RULES.spellings[position].items() if to != column}  # every spelling
    spellings = with_position(RULES.spellings, position, table)
    assert_mutation_changes(service, monkeypatch, dataclasses.replace(RULES, spellings=spellings), f.name, level, 200)


@pytest.mark.parametrize(("position", "f"), CATEGORIES, ids=[f.name for f in CATEGORICAL_FIELDS])
def test_given_a_spelling_added_to_a_category_table_when_served_then_it_is_scored(service, monkeypatch, position, f):
    table = {**RULES.spellings[position], "Zq-other": RULES.spellings[position][f.categories[0]]}
    spellings = with_position(RULES.spellings, position, table)
    mutated = dataclasses.replace(RULES, spellings=spellings)
    assert_mutation_changes(service, monkeypatch, mutated, f.name, "Zq-other", before=422)


def test_given_the_raw_data_suffix_dropped_when_served_then_a_suffixed_number_is_refused(service, monkeypatch):
    mutated = dataclasses.replace(RULES, suffix="")
    assert_mutation_changes(service, monkeypatch, mutated, "Annual_Income", "52312.68_", before=200)


def test_given_the_duration_form_dropped_when_served_then_a_duration_is_refused(service, monkeypatch):
    mutated = dataclasses.replace(RULES, duration="")
    assert_mutation_changes(service, monkeypatch, mutated, "Credit_History_Age", "22 Years and 1 Months", before=200)


def test_given_the_grammar_without_fractions_when_served_then_a_decimal_string_is_refused(service, monkeypatch):
    mutated = dataclasses.replace(RULES, decimal="-?[0-9]+")
    assert_mutation_changes(service, monkeypatch, mutated, "Annual_Income", "52312.68", before=200)


def test_given_the_grammar_with_a_plus_sign_when_served_then_a_signed_string_is_scored(service, monkeypatch):
    mutated = dataclasses.replace(RULES, decimal=r"[-+]?[0-9]+(?:\.[0-9]+)?")
    assert_mutation_changes(service, monkeypatch, mutated, "Age", "+40", before=422)


def test_given_the_published_pattern_when_the_grammar_is_altered_then_it_follows(monkeypatch):
    age = fields.FIELDS_BY_NAME["Age"]
    before = fields.number_pattern(age)
    monkeypatch.setattr(fields, "RULES", dataclasses.replace(RULES, decimal="[0-9]+"))
    assert fields.number_pattern(age) != before
    assert "[0-9]+" in fields.number_pattern(age)
