"""The answer's options as every source carries them: query flags and Accept-Language lines.

The fixtures under ``tests/events/options/`` are the real shapes of each source with the query
``lang=pt&lang=en&contributions=true&explain=true&page=2`` and two ``Accept-Language`` lines, ``de``
and ``pt;q=0.9, en;q=0.8``: API Gateway REST (single and multi-value forms), HTTP API and Function
URLs (2.0: repeats comma-joined), ALB (single-value: the last value only; multi-value: every one),
VPC Lattice v1 (``query_string_parameters``) and v2 (lists).
"""

from __future__ import annotations

import copy
import json

import pytest

from credit_score.contract.reasons import MAX_LANGUAGE_ENTRIES, pick_language
from credit_score.runtime import events
from credit_score.runtime.events import MAX_FLAG_CHARS, MAX_HEADER_CHARS, detect
from tests.support.paths import EVENTS

LIMIT = 6 * 1024 * 1024
OPTIONS = EVENTS / "options"
FLAGS = {"lang": "pt", "contributions": "true", "explain": "true"}
BOTH_LINES = "de,pt;q=0.9, en;q=0.8"
# What each fixture's source hands over: ALB's single-value mode keeps only the last line of a header.
SOURCES = {
    "rest_api_post.json": BOTH_LINES,
    "http_api_post.json": BOTH_LINES,
    "function_url_post.json": BOTH_LINES,
    "alb_post.json": "pt;q=0.9, en;q=0.8",
    "alb_multi_value_post.json": BOTH_LINES,
    "vpc_lattice_v1_post.json": BOTH_LINES,
    "vpc_lattice_v2_post.json": BOTH_LINES,
}


def load(name: str) -> dict:
    return json.loads((OPTIONS / name).read_text())


def with_lines(name: str, lines: list[str]) -> dict:
    """The fixture of ``name`` with ``Accept-Language`` sent as ``lines``, in that source's own shape."""
    event = load(name)
    if name == "rest_api_post.json":
        event["headers"]["Accept-Language"] = lines[-1]
        event["multiValueHeaders"]["Accept-Language"] = lines
    elif name in ("http_api_post.json", "function_url_post.json"):
        event["headers"]["accept-language"] = ",".join(lines)
    elif name == "alb_post.json":
        event["headers"]["accept-language"] = lines[-1]
    elif name == "alb_multi_value_post.json":
        event["multiValueHeaders"]["accept-language"] = lines
    else:
        event["headers"]["accept-language"] = lines
    return event


def language(event: dict) -> str:
    return pick_language(detect(event).request(LIMIT).accept_language)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_given_each_source_shape_when_read_then_the_first_value_of_each_flag_and_every_language_line(name):
    request = detect(load(name)).request(LIMIT)
    assert dict(request.query or {}) == FLAGS
    assert request.accept_language == SOURCES[name]


# RFC 9110 section 12.5.4 and 12.4.2, RFC 4647 section 2.1: (lines, the language answered).
ACCEPT_LANGUAGE = [
    (["pt;Q=0.1,en;q=0.5"], "en"),  # the weight's name is case-insensitive
    (["pt;Q=0.5,en;q=0.1"], "pt"),
    (["pt;q=1.5,en;q=0.2"], "en"),  # q above 1: that entry ignored
    (["pt;q=1_0,en;q=0.2"], "en"),
    (["pt;q=inf,en;q=0.2"], "en"),
    (["pt;q=-0.5,en;q=0.2"], "en"),
    (["pt;q=0.1234,en;q=0.2"], "en"),  # more than three decimals
    (["pt;q=1.000,en;q=0.9"], "pt"),
    (["pt;q=1.001"], "en"),
    (["pt;q=0.8;level=1"], "en"),  # a parameter Accept-Language does not define
    (["pt ; q=0.8 , en;q=0.7"], "pt"),  # optional whitespace around ';' and ','
    (["PT-br"], "pt"),
    (["pt-BR;q=0, pt;q=0.8, en;q=0.5"], "pt"),  # a language counts at its best range
    (["pt;q=0, *"], "en"),
    (["en;q=0, *"], "pt"),  # '*' is any language not named
    (["de, fr"], "en"),
    (["", "pt"], "pt"),
    (["x" * 5000], "en"),
    (["de"] * MAX_LANGUAGE_ENTRIES + ["pt"], "en"),  # only the first entries are read
    (["de", "pt;q=0.9, en;q=0.8"], "pt"),  # every line counts, in order
    (["en", "pt"], "en"),  # equal weights: the earlier line wins
    (["pt;q=0.5", "en;q=0.4"], "pt"),
    (["en;q=0.4", "pt;q=0.5"], "pt"),
]


@pytest.mark.parametrize("name", sorted(SOURCES))
@pytest.mark.parametrize(("lines", "expected"), ACCEPT_LANGUAGE, ids=[repr(c[0])[:40] for c in ACCEPT_LANGUAGE])
def test_given_accept_language_lines_when_read_through_any_source_then_one_answer(name, lines, expected):
    if name == "alb_post.json" and len(lines) > 1:
        pytest.skip("ALB's single-value mode delivers only a header's last line; multi-value mode delivers all")
    assert language(with_lines(name, lines)) == expected


def test_given_lines_beyond_the_bound_when_combined_then_cut():
    request = detect(with_lines("rest_api_post.json", ["de;q=0.1"] * 10_000)).request(LIMIT)
    assert len(request.accept_language) == MAX_HEADER_CHARS


def test_given_header_name_in_another_case_when_read_then_every_spelling_counts():
    event = load("alb_multi_value_post.json")
    event["multiValueHeaders"]["Accept-Language"] = ["en;q=0.1"]
    assert detect(event).request(LIMIT).accept_language == BOTH_LINES + ",en;q=0.1"


def test_given_alb_percent_encoded_flags_when_read_then_only_the_flags_values_decoded(monkeypatch):
    calls: list[str] = []
    real = events.unquote_plus
    monkeypatch.setattr(events, "unquote_plus", lambda text: calls.append(text) or real(text))
    event = load("alb_post.json")
    noise = {f"k{i}%20x": f"v%2{i % 10}" for i in range(100_000)}
    event["queryStringParameters"] = {**noise, "lang": "p%74", "explain": "f%61lse"}
    request = detect(event).request(LIMIT)
    assert dict(request.query) == {"lang": "pt", "explain": "false"}
    assert sorted(calls) == ["f%61lse", "p%74"], "only the flags read are decoded"


def test_given_an_oversized_flag_value_when_read_then_passed_on_undecoded():
    event = load("alb_post.json")
    event["queryStringParameters"] = {"lang": "%70" * MAX_FLAG_CHARS}
    assert detect(event).request(LIMIT).query == {"lang": "%70" * MAX_FLAG_CHARS}


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("vpc_lattice_v1_post.json", "query_string_parameters", {"lang": "pt"}),
        ("vpc_lattice_v1_post.json", "query_string_parameters", {"lang": ["pt", "en"]}),
        ("vpc_lattice_v2_post.json", "queryStringParameters", {"lang": ["pt", "en"]}),
        ("vpc_lattice_v2_post.json", "queryStringParameters", {"lang": "pt"}),
        ("http_api_post.json", "queryStringParameters", {"lang": "pt,en"}),
        ("rest_api_post.json", "multiValueQueryStringParameters", {"lang": ["pt", "en"]}),
        ("alb_multi_value_post.json", "multiValueQueryStringParameters", {"lang": ["pt", "en"]}),
    ],
)
def test_given_lattice_and_multi_value_query_shapes_when_read_then_lang_found(name, key, value):
    event = load(name)
    event.pop("queryStringParameters", None)
    event[key] = copy.deepcopy(value)
    assert detect(event).request(LIMIT).query == {"lang": "pt"}


@pytest.mark.parametrize("value", [None, [], [None], 7, {"x": 1}])
def test_given_malformed_query_values_when_read_then_ignored(value):
    event = load("vpc_lattice_v2_post.json")
    event["queryStringParameters"] = {"lang": value}
    assert detect(event).request(LIMIT).query is None
