"""Reason codes, and the one rule that picks an answer's reasons from its exact contributions.

Every field the model uses has one credit direction (:data:`credit_score.contract.fields.CREDIT_DIRECTION`),
and both boosters are constrained to it, so a field that lowered the explained margin did so the way
the table says: a more-is-worse number was ``too_high``, a more-is-better number ``too_low``, an
ordered category ``unfavourable`` (the levels above the applicant's would score better). A value the
applicant did not give (a missing number, an Unknown credit mix, a minimum payment "not mentioned")
that counted against the application is ``missing``: "insufficient information about …". So a
reason's direction is the table's by construction, never a search of the model's response, and a
field outside the model (Age, Occupation, Payment_Behaviour) can never be a reason.

Codes are API identifiers that notices, dashboards and the capture refer to: they never change
meaning and are never renumbered. A code that can no longer occur is retired (:data:`RETIRED_CODES`),
its number never reused; a new code takes the next number. Sentences live here rather than in a model
bundle: the same code reads the same whichever model version decided, and the wording of an
adverse-action notice is reviewed with the code, not retrained. Sentences never contain the
applicant's value.

The explained margin: the cascade's two boosters each score one question. A Poor answer is explained
by ``standard_or_better`` (what kept the applicant from Standard); Standard and Good answers by
``good_given_standard`` (what kept it from Good, or a Good applicant's weakest factors).

numpy only: the Lambda and the registered pyfunc both call :func:`select_reasons`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.contract.fields import (
    CREDIT_DIRECTION,
    DECREASING,
    FEATURE_NAMES,
    FIELD_NAMES,
    INCREASING,
    ORDERED,
    ORDERED_LEVELS,
)

TOO_HIGH = "too_high"
TOO_LOW = "too_low"
UNFAVOURABLE = "unfavourable"
MISSING_VALUE = "missing"
DIRECTIONS = (TOO_HIGH, TOO_LOW, UNFAVOURABLE, MISSING_VALUE)
LANGUAGES = ("en", "pt")
DEFAULT_LANGUAGE = "en"
REASON_COUNT = 4
MARGIN_NAMES = ("standard_or_better", "good_given_standard")
EXPLAINED_MARGIN_BY_CLASS = {0: 0, 1: 1, 2: 1}  # class code -> index into MARGIN_NAMES
# The reason a present value gives, from its field's credit direction.
DIRECTION_OF_REASON = {DECREASING: TOO_HIGH, INCREASING: TOO_LOW, ORDERED: UNFAVOURABLE}
# A contribution closer to zero than this is float summation noise (leaf values are O(0.1)), not a reason.
NEGLIGIBLE = 1e-9


@dataclass(frozen=True)
class ReasonCode:
    """One code of the table: the field, the direction and the sentence in each language."""

    code: str
    field: str
    direction: str
    text: dict[str, str]  # language -> sentence


def _r(number: int, field: str, direction: str, en: str, pt: str) -> ReasonCode:
    suffix = "" if direction == UNFAVOURABLE else "_" + direction.upper()
    return ReasonCode(f"R{number:02d}_{field.upper()}{suffix}", field, direction, {"en": en, "pt": pt})


def _insufficient(number: int, field: str, en: str, pt: str) -> ReasonCode:
    return _r(
        number, field, MISSING_VALUE, f"Insufficient information about {en}.", f"Informações insuficientes sobre {pt}."
    )


REASONS: tuple[ReasonCode, ...] = (
    _r(4, "Annual_Income", TOO_LOW, "The annual income is too low.", "A renda anual é baixa demais."),
    _r(
        6,
        "Monthly_Inhand_Salary",
        TOO_LOW,
        "The monthly take-home salary is too low.",
        "O salário líquido mensal é baixo demais.",
    ),
    _r(7, "Num_Bank_Accounts", TOO_HIGH, "Too many bank accounts are held.", "Há contas bancárias demais."),
    _r(9, "Num_Credit_Card", TOO_HIGH, "Too many credit cards are held.", "Há cartões de crédito demais."),
    _r(
        11,
        "Interest_Rate",
        TOO_HIGH,
        "The interest rate on the credit card is too high.",
        "A taxa de juros do cartão de crédito é alta demais.",
    ),
    _r(13, "Num_of_Loan", TOO_HIGH, "Too many loans have been taken.", "Foram tomados empréstimos demais."),
    _r(
        15,
        "Delay_from_due_date",
        TOO_HIGH,
        "Payments are made too long after their due date.",
        "Os pagamentos são feitos muito depois do vencimento.",
    ),
    _r(17, "Num_of_Delayed_Payment", TOO_HIGH, "Too many payments were delayed.", "Houve pagamentos atrasados demais."),
    _r(
        20,
        "Changed_Credit_Limit",
        TOO_LOW,
        "The credit limit was raised too little.",
        "O limite de crédito foi aumentado pouco demais.",
    ),
    _r(
        21,
        "Num_Credit_Inquiries",
        TOO_HIGH,
        "Too many credit inquiries were made.",
        "Houve consultas de crédito demais.",
    ),
    _r(23, "Outstanding_Debt", TOO_HIGH, "The outstanding debt is too high.", "A dívida em aberto é alta demais."),
    _r(
        25,
        "Credit_Utilization_Ratio",
        TOO_HIGH,
        "Too much of the available credit is used.",
        "Usa-se uma parte grande demais do crédito disponível.",
    ),
    _r(28, "Credit_History_Age", TOO_LOW, "The credit history is too short.", "O histórico de crédito é curto demais."),
    _r(
        29,
        "Total_EMI_per_month",
        TOO_HIGH,
        "The monthly instalments are too high.",
        "As parcelas mensais são altas demais.",
    ),
    _r(
        32, "Amount_invested_monthly", TOO_LOW, "Too little is invested each month.", "Investe-se pouco demais por mês."
    ),
    _r(34, "Monthly_Balance", TOO_LOW, "The monthly balance is too low.", "O saldo mensal é baixo demais."),
    _r(
        36,
        "Credit_Mix",
        UNFAVOURABLE,
        "The mix of credit products is not good enough.",
        "A composição dos produtos de crédito não é boa o suficiente.",
    ),
    _r(
        37,
        "Payment_of_Min_Amount",
        UNFAVOURABLE,
        "Only the minimum amount is paid.",
        "Paga-se apenas o valor mínimo.",
    ),
    _insufficient(39, "Annual_Income", "the annual income", "a renda anual"),
    _insufficient(40, "Monthly_Inhand_Salary", "the monthly take-home salary", "o salário líquido mensal"),
    _insufficient(41, "Num_Bank_Accounts", "the bank accounts held", "as contas bancárias"),
    _insufficient(42, "Num_Credit_Card", "the credit cards held", "os cartões de crédito"),
    _insufficient(43, "Interest_Rate", "the interest rate on the credit card", "a taxa de juros do cartão de crédito"),
    _insufficient(44, "Num_of_Loan", "the loans taken", "os empréstimos tomados"),
    _insufficient(
        45, "Delay_from_due_date", "how late payments are made", "o atraso dos pagamentos em relação ao vencimento"
    ),
    _insufficient(46, "Num_of_Delayed_Payment", "delayed payments", "os pagamentos atrasados"),
    _insufficient(
        47, "Changed_Credit_Limit", "changes of the credit limit", "as alterações do limite do cartão de crédito"
    ),
    _insufficient(48, "Num_Credit_Inquiries", "credit inquiries", "as consultas de crédito"),
    _insufficient(49, "Outstanding_Debt", "the outstanding debt", "a dívida em aberto"),
    _insufficient(50, "Credit_Utilization_Ratio", "the use of the available credit", "o uso do crédito disponível"),
    _insufficient(51, "Credit_History_Age", "the length of the credit history", "a duração do histórico de crédito"),
    _insufficient(52, "Total_EMI_per_month", "the monthly instalments", "as parcelas mensais"),
    _insufficient(53, "Amount_invested_monthly", "the amount invested each month", "o valor investido por mês"),
    _insufficient(54, "Monthly_Balance", "the monthly balance", "o saldo mensal"),
    _insufficient(55, "Credit_Mix", "the mix of credit products", "a composição dos produtos de crédito"),
    _insufficient(
        56, "Payment_of_Min_Amount", "whether only the minimum amount is paid", "o pagamento apenas do valor mínimo"
    ),
)

# Codes that can no longer occur, and why; their numbers are never reused (the next new code is R57).
_AGAINST_TABLE = "against the field's credit direction, which the model is now constrained to"
_OUTSIDE = "the field is no longer in the model"
RETIRED_CODES: dict[str, str] = {
    "R01_AGE_TOO_HIGH": _OUTSIDE,
    "R02_AGE_TOO_LOW": _OUTSIDE,
    "R03_ANNUAL_INCOME_TOO_HIGH": _AGAINST_TABLE,
    "R05_MONTHLY_INHAND_SALARY_TOO_HIGH": _AGAINST_TABLE,
    "R08_NUM_BANK_ACCOUNTS_TOO_LOW": _AGAINST_TABLE,
    "R10_NUM_CREDIT_CARD_TOO_LOW": _AGAINST_TABLE,
    "R12_INTEREST_RATE_TOO_LOW": _AGAINST_TABLE,
    "R14_NUM_OF_LOAN_TOO_LOW": _AGAINST_TABLE,
    "R16_DELAY_FROM_DUE_DATE_TOO_LOW": _AGAINST_TABLE,
    "R18_NUM_OF_DELAYED_PAYMENT_TOO_LOW": _AGAINST_TABLE,
    "R19_CHANGED_CREDIT_LIMIT_TOO_HIGH": _AGAINST_TABLE,
    "R22_NUM_CREDIT_INQUIRIES_TOO_LOW": _AGAINST_TABLE,
    "R24_OUTSTANDING_DEBT_TOO_LOW": _AGAINST_TABLE,
    "R26_CREDIT_UTILIZATION_RATIO_TOO_LOW": _AGAINST_TABLE,
    "R27_CREDIT_HISTORY_AGE_TOO_HIGH": _AGAINST_TABLE,
    "R30_TOTAL_EMI_PER_MONTH_TOO_LOW": _AGAINST_TABLE,
    "R31_AMOUNT_INVESTED_MONTHLY_TOO_HIGH": _AGAINST_TABLE,
    "R33_MONTHLY_BALANCE_TOO_HIGH": _AGAINST_TABLE,
    "R35_OCCUPATION": _OUTSIDE,
    "R38_PAYMENT_BEHAVIOUR": _OUTSIDE,
}

REASONS_BY_KEY: dict[tuple[str, str], ReasonCode] = {(r.field, r.direction): r for r in REASONS}
REASONS_BY_CODE: dict[str, ReasonCode] = {r.code: r for r in REASONS}


def reason_for(field: str, direction: str) -> ReasonCode:
    return REASONS_BY_KEY[(field, direction)]


def direction_of(field_name: str) -> str:
    """The direction of a reason from a field the applicant gave: its credit direction's side."""
    return DIRECTION_OF_REASON[CREDIT_DIRECTION[field_name]]


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason of one answer: which field, which way, and for a category the levels that score better."""

    field_index: int  # in FIELD_NAMES
    direction: str
    better: tuple[str, ...] = ()

    def to_dict(self, language: str) -> dict[str, Any]:
        name = FIELD_NAMES[self.field_index]
        entry = REASONS_BY_KEY[(name, self.direction)]
        answer: dict[str, Any] = {"code": entry.code, "field": name, "direction": self.direction}
        if self.direction == UNFAVOURABLE:
            answer["better"] = list(self.better)
        answer["text"] = entry.text[language]
        return answer


_MODEL_FIELD_INDEX = np.array([FIELD_NAMES.index(name) for name in FEATURE_NAMES], dtype=np.intp)
# Per field (FIELD_NAMES order): the reason of a present value, None outside the model.
_PRESENT: tuple[str | None, ...] = tuple(
    DIRECTION_OF_REASON[CREDIT_DIRECTION[name]] if name in CREDIT_DIRECTION else None for name in FIELD_NAMES
)
# Per field: an ordered category's levels, worst first (empty for numbers).
_LEVELS: tuple[tuple[str, ...], ...] = tuple(ORDERED_LEVELS.get(name, ()) for name in FIELD_NAMES)


def field_state(encoded: np.ndarray) -> np.ndarray:
    """Each field's state from the model's encoded row(s) (FEATURE_NAMES columns), in FIELD_NAMES order.

    NaN when the value is missing, an ordered category's rank (0 = worst), a number's value; 0 for
    a field outside the model. Works on one row (18,) or a matrix (n, 18).
    """
    rows = np.asarray(encoded, dtype=np.float64)
    state = np.zeros((*rows.shape[:-1], len(FIELD_NAMES)))
    state[..., _MODEL_FIELD_INDEX] = rows
    return state


def select_reasons(field_contributions: np.ndarray, state: np.ndarray) -> list[Reason]:
    """The (at most :data:`REASON_COUNT`) fields that lowered the explained margin most, most first.

    ``field_contributions`` (21,) are the exact contributions to the explained margin in FIELD_NAMES
    order, ``state`` the :func:`field_state` of the same row. A missing value that counted against
    the applicant is ``missing``; a present one takes its field's credit direction; an ordered
    category names the levels above the applicant's as ``better`` and, already at the best level
    (a negative share there comes from interactions in the attribution), gives no reason.
    """
    reasons: list[Reason] = []
    contributions = np.asarray(field_contributions, dtype=np.float64)
    for index in np.argsort(contributions, kind="stable").tolist():
        if contributions[index] > -NEGLIGIBLE or len(reasons) == REASON_COUNT:
            break
        direction = _PRESENT[index]
        if direction is None:
            continue
        value = state[index]
        if value != value:  # NaN: the applicant did not give it
            reasons.append(Reason(index, MISSING_VALUE))
        elif direction == UNFAVOURABLE:
            better = _LEVELS[index][int(value) + 1 :]
            if better:
                reasons.append(Reason(index, UNFAVOURABLE, better))
        else:
            reasons.append(Reason(index, direction))
    return reasons


MAX_LANGUAGE_ENTRIES = 16  # an Accept-Language header is read up to its 16th entry, the rest ignored
MAX_LANGUAGE_CHARS = 1024  # and up to this many characters: a bounded parse whatever the source sends
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); "q" is a parameter
# name, so case-insensitive; RFC 4647 section 2.1: language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*".
_WEIGHT = re.compile(r"[ \t]*;[ \t]*[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)[ \t]*")
_RANGE = re.compile(r"[ \t]*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*[ \t]*|[ \t]*(\*)[ \t]*")


def pick_language(accept_language: str | None) -> str:
    """The supported language an ``Accept-Language`` value prefers (RFC 9110 section 12.5.4), else English.

    ``accept_language`` is every line of the header joined by commas (the sources combine them the
    same way, ``runtime/events.py``). Each entry is a language range (RFC 4647) with an optional
    weight; an entry that does not parse (a ``q`` outside [0, 1], more than three decimals, any other
    parameter) is ignored, not the whole header. A range matches a language by its primary subtag,
    case-insensitively, at the weight of its best range; ``*`` matches any language not named
    elsewhere; ``q=0`` means "not this one".
    The highest weight wins, ties go to the earlier entry. Only the first :data:`MAX_LANGUAGE_ENTRIES`
    entries and :data:`MAX_LANGUAGE_CHARS` characters are read.
    """
    if not accept_language:
        return DEFAULT_LANGUAGE
    weights: dict[str, tuple[float, int]] = {}
    wildcard: tuple[float, int] | None = None
    entries = accept_language[:MAX_LANGUAGE_CHARS].split(",", MAX_LANGUAGE_ENTRIES)[:MAX_LANGUAGE_ENTRIES]
    for position, entry in enumerate(entries):
        tag, semicolon, parameters = entry.partition(";")
        language = _RANGE.fullmatch(tag)
        weight = _WEIGHT.fullmatch(semicolon + parameters) if semicolon else None
        if language is None or (semicolon and weight is None):
            continue
        quality = float(weight.group(1)) if weight else 1.0
        if language.group(2):
            wildcard = wildcard or (quality, position)
            continue
        primary = language.group(1).lower()
        if primary not in weights or quality > weights[primary][0]:  # its best-weighted range counts
            weights[primary] = (quality, position)
    ranked = [(-q, position, name) for name, (q, position) in weights.items() if name in LANGUAGES and q > 0]
    if wildcard is not None and wildcard[0] > 0:
        ranked += [(-wildcard[0], wildcard[1], name) for name in LANGUAGES if name not in weights]
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
