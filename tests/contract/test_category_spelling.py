"""Categories match on exact ASCII spellings after one documented normalisation, nothing more.

``spelling`` drops surrounding ASCII spaces and folds ASCII case; anything else outside printable
ASCII makes the value an ``unknown_category`` (or, before, would have been folded into a real level
by ``str.lower``/``str.strip``: the Kelvin sign lower-cases to ``k``, U+3000 and ``\\x1f`` strip).
"""

from __future__ import annotations

import pytest

from credit_score.contract.fields import (
    CATEGORICAL_FIELDS,
    UNKNOWN,
    UNKNOWN_CATEGORY,
    FieldError,
    parse_batch,
    parse_category,
    spelling,
)
from tests.support.paths import seed_payload

FIELDS = {f.name: f for f in CATEGORICAL_FIELDS}


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("Credit_Mix", "Good", "Good"),
        ("Credit_Mix", "  good  ", "Good"),
        ("Credit_Mix", "GOOD", "Good"),
        ("Credit_Mix", "unknown", UNKNOWN),
        ("Credit_Mix", "_", UNKNOWN),
        ("Credit_Mix", " Desconhecido ", UNKNOWN),
        ("Occupation", "doctor", "Doctor"),
    ],
)
def test_given_documented_spellings_when_parsed_then_the_level(name, raw, expected):
    assert parse_category(FIELDS[name], raw) == expected


HOSTILE = [
    "un\u212anown",  # KELVIN SIGN, lower-cases to ASCII k
    "\u212aNOWN",
    "Goo\u0501",  # Cyrillic komi de
    "G\u043eod",  # Cyrillic o
    "\u00a0Good",  # no-break space
    "Good\u3000",  # ideographic space
    "\x1fGood",  # unit separator, which str.strip removes
    "Good\t",
    "Good\n",
    "\u200bGood",  # zero-width space
    "\uff27ood",  # fullwidth G
    "\u00a0_\u00a0",  # a placeholder wrapped in non-ASCII space
]


@pytest.mark.parametrize("name", sorted(FIELDS))
@pytest.mark.parametrize("raw", HOSTILE, ids=[ascii(h) for h in HOSTILE])
def test_given_homoglyphs_controls_or_unicode_spaces_when_parsed_then_unknown_category(name, raw):
    with pytest.raises(FieldError) as caught:
        parse_category(FIELDS[name], raw)
    assert caught.value.problem == UNKNOWN_CATEGORY


@pytest.mark.parametrize("raw", HOSTILE[:3], ids=ascii)
def test_given_homoglyph_in_a_batch_when_parsed_then_the_fast_path_refuses_it_too(raw):
    record = dict(seed_payload()["data"])
    record["Credit_Mix"] = raw
    _, _, problems = parse_batch([record])
    assert [(p.field, p.problem) for p in problems] == [("Credit_Mix", UNKNOWN_CATEGORY)]


def test_given_texts_when_normalised_then_only_ascii_spaces_and_case():
    assert spelling("  Good ") == "good"
    assert spelling("\tGood") is None
    assert spelling("G\u00f3od") is None
