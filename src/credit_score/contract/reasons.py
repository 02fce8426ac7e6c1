"""Reason codes: the stable names and sentences of what pushed an applicant toward a worse class.

One code per field and direction, written once here and nowhere else. Numbers have two directions,
``too_high`` (lowering the field would raise the explained margin) and ``too_low``; a category has
one, ``unfavourable`` (another category of the field would score better). Codes are API
identifiers that notices, dashboards and the capture refer to, so they never change meaning and are
never renumbered: a new field gets new codes at the end.

The sentences are part of the contract rather than of a model bundle: the same code must read the
same whichever model version decided, and the wording of an adverse-action notice is reviewed with
the code, not retrained. Sentences never contain the applicant's value.

The explained margin: the cascade's two boosters each score one question. A Poor answer is explained
by ``standard_or_better`` (what kept the applicant from Standard); Standard and Good answers by
``good_given_standard`` (what kept it from Good, or a Good applicant's weakest factors).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from credit_score.contract.fields import FIELDS

TOO_HIGH = "too_high"
TOO_LOW = "too_low"
UNFAVOURABLE = "unfavourable"
DIRECTIONS = (TOO_HIGH, TOO_LOW, UNFAVOURABLE)
LANGUAGES = ("en", "pt")
DEFAULT_LANGUAGE = "en"
REASON_COUNT = 4
MARGIN_NAMES = ("standard_or_better", "good_given_standard")
EXPLAINED_MARGIN_BY_CLASS = {0: 0, 1: 1, 2: 1}  # class code -> index into MARGIN_NAMES


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    direction: str
    text: dict[str, str]  # language -> sentence


def _r(number: int, field: str, direction: str, en: str, pt: str) -> Reason:
    suffix = "" if direction == UNFAVOURABLE else "_" + direction.upper()
    return Reason(f"R{number:02d}_{field.upper()}{suffix}", field, direction, {"en": en, "pt": pt})


REASONS: tuple[Reason, ...] = (
    _r(
        1,
        "Age",
        TOO_HIGH,
        "The applicant's age counted against the application.",
        "A idade do requerente pesou contra a solicitação.",
    ),
    _r(
        2,
        "Age",
        TOO_LOW,
        "The applicant's young age counted against the application.",
        "A pouca idade do requerente pesou contra a solicitação.",
    ),
    _r(
        3,
        "Annual_Income",
        TOO_HIGH,
        "The reported annual income counted against the application.",
        "A renda anual informada pesou contra a solicitação.",
    ),
    _r(4, "Annual_Income", TOO_LOW, "The annual income is too low.", "A renda anual é baixa demais."),
    _r(
        5,
        "Monthly_Inhand_Salary",
        TOO_HIGH,
        "The reported monthly take-home salary counted against the application.",
        "O salário líquido mensal informado pesou contra a solicitação.",
    ),
    _r(
        6,
        "Monthly_Inhand_Salary",
        TOO_LOW,
        "The monthly take-home salary is too low.",
        "O salário líquido mensal é baixo demais.",
    ),
    _r(7, "Num_Bank_Accounts", TOO_HIGH, "Too many bank accounts are held.", "Há contas bancárias demais."),
    _r(8, "Num_Bank_Accounts", TOO_LOW, "Too few bank accounts are held.", "Há poucas contas bancárias."),
    _r(9, "Num_Credit_Card", TOO_HIGH, "Too many credit cards are held.", "Há cartões de crédito demais."),
    _r(10, "Num_Credit_Card", TOO_LOW, "Too few credit cards are held.", "Há poucos cartões de crédito."),
    _r(
        11,
        "Interest_Rate",
        TOO_HIGH,
        "The interest rate on the credit card is too high.",
        "A taxa de juros do cartão de crédito é alta demais.",
    ),
    _r(
        12,
        "Interest_Rate",
        TOO_LOW,
        "The interest rate on the credit card counted against the application.",
        "A taxa de juros do cartão de crédito pesou contra a solicitação.",
    ),
    _r(13, "Num_of_Loan", TOO_HIGH, "Too many loans have been taken.", "Foram tomados empréstimos demais."),
    _r(14, "Num_of_Loan", TOO_LOW, "Too short a record of loans.", "Há poucos empréstimos no histórico."),
    _r(
        15,
        "Delay_from_due_date",
        TOO_HIGH,
        "Payments are made too long after their due date.",
        "Os pagamentos são feitos muito depois do vencimento.",
    ),
    _r(
        16,
        "Delay_from_due_date",
        TOO_LOW,
        "The timing of payments against their due date counted against the application.",
        "O prazo dos pagamentos em relação ao vencimento pesou contra a solicitação.",
    ),
    _r(17, "Num_of_Delayed_Payment", TOO_HIGH, "Too many payments were delayed.", "Houve pagamentos atrasados demais."),
    _r(
        18,
        "Num_of_Delayed_Payment",
        TOO_LOW,
        "The number of delayed payments counted against the application.",
        "O número de pagamentos atrasados pesou contra a solicitação.",
    ),
    _r(
        19,
        "Changed_Credit_Limit",
        TOO_HIGH,
        "The change of the credit card limit is too large.",
        "A alteração do limite do cartão de crédito é grande demais.",
    ),
    _r(
        20,
        "Changed_Credit_Limit",
        TOO_LOW,
        "The change of the credit card limit is too small.",
        "A alteração do limite do cartão de crédito é pequena demais.",
    ),
    _r(
        21,
        "Num_Credit_Inquiries",
        TOO_HIGH,
        "Too many credit inquiries were made.",
        "Houve consultas de crédito demais.",
    ),
    _r(
        22,
        "Num_Credit_Inquiries",
        TOO_LOW,
        "The number of credit inquiries counted against the application.",
        "O número de consultas de crédito pesou contra a solicitação.",
    ),
    _r(23, "Outstanding_Debt", TOO_HIGH, "The outstanding debt is too high.", "A dívida em aberto é alta demais."),
    _r(
        24,
        "Outstanding_Debt",
        TOO_LOW,
        "The outstanding debt counted against the application.",
        "A dívida em aberto pesou contra a solicitação.",
    ),
    _r(
        25,
        "Credit_Utilization_Ratio",
        TOO_HIGH,
        "Too much of the available credit is used.",
        "Usa-se uma parte grande demais do crédito disponível.",
    ),
    _r(
        26,
        "Credit_Utilization_Ratio",
        TOO_LOW,
        "Too little of the available credit is used.",
        "Usa-se uma parte pequena demais do crédito disponível.",
    ),
    _r(
        27,
        "Credit_History_Age",
        TOO_HIGH,
        "The age of the credit history counted against the application.",
        "A idade do histórico de crédito pesou contra a solicitação.",
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
        30,
        "Total_EMI_per_month",
        TOO_LOW,
        "The monthly instalments counted against the application.",
        "As parcelas mensais pesaram contra a solicitação.",
    ),
    _r(
        31,
        "Amount_invested_monthly",
        TOO_HIGH,
        "The amount invested each month counted against the application.",
        "O valor investido por mês pesou contra a solicitação.",
    ),
    _r(
        32, "Amount_invested_monthly", TOO_LOW, "Too little is invested each month.", "Investe-se pouco demais por mês."
    ),
    _r(
        33,
        "Monthly_Balance",
        TOO_HIGH,
        "The monthly balance counted against the application.",
        "O saldo mensal pesou contra a solicitação.",
    ),
    _r(34, "Monthly_Balance", TOO_LOW, "The monthly balance is too low.", "O saldo mensal é baixo demais."),
    _r(
        35,
        "Occupation",
        UNFAVOURABLE,
        "The occupation counted against the application.",
        "A profissão pesou contra a solicitação.",
    ),
    _r(
        36,
        "Credit_Mix",
        UNFAVOURABLE,
        "The mix of credit products counted against the application.",
        "A composição dos produtos de crédito pesou contra a solicitação.",
    ),
    _r(
        37,
        "Payment_of_Min_Amount",
        UNFAVOURABLE,
        "Paying only the minimum amount counted against the application.",
        "O pagamento apenas do valor mínimo pesou contra a solicitação.",
    ),
    _r(
        38,
        "Payment_Behaviour",
        UNFAVOURABLE,
        "The spending and payment behaviour counted against the application.",
        "O padrão de gastos e pagamentos pesou contra a solicitação.",
    ),
)

REASONS_BY_KEY: dict[tuple[str, str], Reason] = {(r.field, r.direction): r for r in REASONS}
REASONS_BY_CODE: dict[str, Reason] = {r.code: r for r in REASONS}


def reason_for(field: str, direction: str) -> Reason:
    return REASONS_BY_KEY[(field, direction)]


def directions_of(field_name: str) -> tuple[str, ...]:
    """The directions a field's reasons can take: two for numbers, one for categories."""
    numeric = next(f for f in FIELDS if f.name == field_name).is_numeric
    return (TOO_HIGH, TOO_LOW) if numeric else (UNFAVOURABLE,)


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
