"""The OpenAPI 3.1 description of the HTTP API, built from the definitions the handler validates with.

Field types, domains and categories come from :data:`credit_score.contract.fields.FIELDS`, the payload
shapes from :data:`credit_score.runtime.payload.SHAPES`, error codes and statuses from the exception tree of
:mod:`credit_score.runtime.errors` and class labels from :data:`credit_score.contract.bundle.CLASSES`, so the document
cannot drift from what is served.

A numeric field takes a JSON number inside its domain or a string. The string's ``pattern`` is the
number grammar the parser itself reads (:func:`credit_score.contract.fields.number_pattern`: ASCII
digits, optional ``-`` and fraction, the raw data's trailing ``_``, the duration form for
``Credit_History_Age``); an ``allOf`` pattern narrows it to the canonical decimal spellings of the
numbers inside the field's domain. Categories are the canonical levels; the handler also takes them
in any case, and ``_`` placeholders as Unknown. Standard library only: it runs in the Lambda image.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from credit_score.contract.bundle import CLASSES
from credit_score.contract.decision import DECIMALS, QUESTIONS
from credit_score.contract.fields import DURATION_FIELD, FIELD_NAMES, FIELDS, PROBLEM_KINDS, Field, number_pattern
from credit_score.contract.reasons import DIRECTIONS, LANGUAGES, MARGIN_NAMES, REASON_COUNT, REASONS
from credit_score.runtime import errors
from credit_score.runtime.payload import SHAPES
from credit_score.runtime.predict import CONTRIBUTIONS, EXPLAIN, LANG

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
EXAMPLE_RECORD: dict[str, str] = {
    "Age": "40",
    "Annual_Income": "100000",
    "Monthly_Inhand_Salary": "8000",
    "Num_Bank_Accounts": "2",
    "Num_Credit_Card": "4",
    "Interest_Rate": "10",
    "Num_of_Loan": "2",
    "Delay_from_due_date": "4",
    "Num_of_Delayed_Payment": "11",
    "Changed_Credit_Limit": "6",
    "Num_Credit_Inquiries": "3",
    "Outstanding_Debt": "2000",
    "Credit_Utilization_Ratio": "30",
    "Credit_History_Age": "200",
    "Total_EMI_per_month": "50",
    "Amount_invested_monthly": "250",
    "Monthly_Balance": "400",
    "Occupation": "Doctor",
    "Credit_Mix": "Good",
    "Payment_of_Min_Amount": "No",
    "Payment_Behaviour": "High_spent_Large_value_payments",
}
# A second applicant for the batch examples: thinner file, late payments, more debt.
SECOND_RECORD: dict[str, str] = {
    **EXAMPLE_RECORD,
    "Annual_Income": "19114.12",
    "Monthly_Inhand_Salary": "1824.84",
    "Num_Credit_Card": "7",
    "Interest_Rate": "26",
    "Num_of_Loan": "5",
    "Delay_from_due_date": "35",
    "Num_of_Delayed_Payment": "19",
    "Outstanding_Debt": "3800",
    "Credit_History_Age": "86",
    "Credit_Mix": "Bad",
    "Payment_of_Min_Amount": "Yes",
}
PREDICT_PATH = "/predict"
HEALTH_PATH = "/health"
_REF = "#/components/schemas/"
_LABELS = [label for _, label in CLASSES]


@dataclass(frozen=True)
class ExampleRequest:
    """One request the documents show, with the status it gets; its answer is the served handler's
    (``credit_score.devtools.examples`` sends it and writes the answer into the docs and this document)."""

    summary: str
    status: int
    body: Any = None  # JSON, or bytes sent as they are
    method: str = "POST"
    path: str = PREDICT_PATH
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()  # settings of the service that answers it, beside the bundle


def _split(records: list[dict[str, str]]) -> dict[str, Any]:
    columns = list(records[0])
    return {"columns": columns, "data": [[record[name] for name in columns] for record in records]}


_INVALID = {**{k: v for k, v in EXAMPLE_RECORD.items() if k != "Credit_Mix"}, "Age": "-5", "Num_of_Loan": "2.5"}
EXAMPLE_REQUESTS: dict[str, ExampleRequest] = {
    "single": ExampleRequest("one record (data.json): one answer, explained", 200, {"data": EXAMPLE_RECORD}),
    "batch": ExampleRequest("a batch under data: answers in order", 200, {"data": [EXAMPLE_RECORD, SECOND_RECORD]}),
    "dataframe_records": ExampleRequest(
        "MLflow dataframe_records", 200, {"dataframe_records": [EXAMPLE_RECORD, SECOND_RECORD]}
    ),
    "instances": ExampleRequest("MLflow instances", 200, {"instances": [EXAMPLE_RECORD, SECOND_RECORD]}),
    "dataframe_split": ExampleRequest(
        "MLflow dataframe_split", 200, {"dataframe_split": _split([EXAMPLE_RECORD, SECOND_RECORD])}
    ),
    "unexplained": ExampleRequest(
        "explain=false: label, probabilities and decision only", 200, {"data": SECOND_RECORD, EXPLAIN: False}
    ),
    "contributions_pt": ExampleRequest(
        "contributions=true, lang=pt: every field's contribution, reasons in Portuguese",
        200,
        {"data": SECOND_RECORD, CONTRIBUTIONS: True, LANG: "pt"},
    ),
    "health": ExampleRequest("the served model", 200, method="GET", path=HEALTH_PATH),
    "bad_json": ExampleRequest("400: the body is not JSON", 400, b'{"data": {"Age": '),
    "not_found": ExampleRequest("404: a GET on an unknown path", 404, method="GET", path="/nowhere"),
    "method_not_allowed": ExampleRequest("405: a method other than GET and POST", 405, method="DELETE"),
    "too_large": ExampleRequest(
        "413: more records than MAX_BATCH_SIZE (here 1)",
        413,
        {"data": [EXAMPLE_RECORD, SECOND_RECORD]},
        environment=(("MAX_BATCH_SIZE", "1"),),
    ),
    "invalid": ExampleRequest("422: every problem of every record at once", 422, {"data": _INVALID}),
    "invalid_pt": ExampleRequest(
        "422 in Portuguese (Accept-Language: pt-BR)",
        422,
        {"data": _INVALID},
        headers=(("Accept-Language", "pt-BR,pt;q=0.9"),),
    ),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


# ---------------------------------------------------------------- numeric strings as patterns


def _digit_pieces(low: int, high: int) -> list[str]:
    """Regex alternatives for the integers ``low..high`` (same digit count, ``low >= 0``), no leading zeros."""
    pieces = []
    while low <= high:
        width, digits = 0, len(str(low))  # width: trailing digits left free
        while width + 1 < digits and low % 10 ** (width + 1) == 0 and low + 10 ** (width + 1) - 1 <= high:
            width += 1
        step = 10**width
        digit = low // step % 10
        span = 1
        while digit + span <= 9 and low + (span + 1) * step - 1 <= high:
            span += 1
        head = str(low // (step * 10)) if low >= step * 10 else ""
        middle = str(digit) if span == 1 else f"[{digit}-{digit + span - 1}]"
        tail = "[0-9]" if width == 1 else f"[0-9]{{{width}}}" if width else ""
        pieces.append(head + middle + tail)
        low += span * step
    return pieces


def integer_range_pattern(low: int, high: int) -> str:
    """An unanchored regex group matching the decimal spellings of the integers ``low..high`` (``low >= 0``)."""
    if low < 0 or low > high:
        raise ValueError("integer_range_pattern needs 0 <= low <= high")
    pieces: list[str] = []
    digits = 1
    while low <= high:
        top = min(high, 10**digits - 1)
        if low <= top:
            pieces.extend(_digit_pieces(low, top))
            low = top + 1
        digits += 1
    return "(?:" + "|".join(pieces) + ")"


def _magnitude_pattern(limit: int, integer: bool) -> str:
    """Spellings of magnitudes ``0..limit``: whole numbers (``7``, ``7.0``), else also decimals below ``limit``."""
    if integer:
        return integer_range_pattern(0, limit) + r"(?:\.0+)?"
    if limit == 0:
        return r"0(?:\.0+)?"
    return rf"(?:{integer_range_pattern(0, limit - 1)}(?:\.[0-9]+)?|{limit}(?:\.0+)?)"


def numeric_string_pattern(f: Field) -> str:
    """An anchored regex for the plain decimal strings inside ``f``'s domain (whole-numbered bounds)."""
    low, high = f.minimum, f.maximum
    if low is None or high is None or not (low.is_integer() and high.is_integer()):
        raise ValueError(f"{f.name} needs whole-numbered bounds to be described as a pattern")
    low_int, high_int = int(low), int(high)
    alternatives = []
    if high_int >= 0:
        if low_int <= 0:
            alternatives.append(_magnitude_pattern(high_int, f.integer))
        elif f.integer:
            alternatives.append(integer_range_pattern(low_int, high_int) + r"(?:\.0+)?")
        else:
            alternatives.append(
                rf"(?:{integer_range_pattern(low_int, high_int - 1)}(?:\.[0-9]+)?|{high_int}(?:\.0+)?)"
                if high_int > low_int
                else rf"{high_int}(?:\.0+)?"
            )
    if low_int < 0:
        alternatives.append("-" + _magnitude_pattern(-low_int, f.integer))
    return "^(?:" + "|".join(alternatives) + ")$"


# ---------------------------------------------------------------- schemas

_NOT_KNOWN = {
    "type": "null",
    "description": "not known: scored as a missing value (the model was trained with them) and listed in "
    "missing_fields; the key itself stays required",
}


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of one input field."""
    if f.is_numeric:
        unit = f" ({f.unit})" if f.unit else ""
        number = {"type": "integer" if f.integer else "number", "minimum": f.minimum, "maximum": f.maximum}
        string = {
            "type": "string",
            "pattern": number_pattern(f),
            "allOf": [{"pattern": numeric_string_pattern(f)}],
            "description": (
                "the number as a string: ASCII digits, an optional leading '-' and fraction, no whitespace"
                + (", or 'N Years and M Months'" if f.name == DURATION_FIELD else "")
                + "; the parser reads `pattern` (a trailing '_' of the raw data included), "
                "the `allOf` pattern is its canonical spelling inside the domain"
            ),
        }
        return {"description": f.description + unit, "oneOf": [number, string, _NOT_KNOWN], "x-unit": f.unit}
    unknown = " Unknown (or an empty/placeholder value) when not known." if f.allows_unknown else ""
    return {"description": f.description + "." + unknown, "type": "string", "enum": list(f.levels)}


def _record_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One credit application: the 21 fields, each required. Other keys are ignored.",
        "properties": {f.name: _ref(f"field.{f.name}") for f in FIELDS},
        "required": [f.name for f in FIELDS],
        "example": EXAMPLE_RECORD,
    }


def _batch_of(description: str, max_batch_size: int) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": _ref("Record"),
        "minItems": 1,
        "maxItems": max_batch_size,
    }


def _split_schema(max_batch_size: int) -> dict[str, Any]:
    """MLflow's ``dataframe_split``; described in FIELDS order, though any column order is accepted."""
    return {
        "type": "object",
        "description": "Columns (field names, any order) and rows of values in that order.",
        "properties": {
            "columns": {
                "type": "array",
                "prefixItems": [{"const": f.name} for f in FIELDS],
                "minItems": len(FIELDS),
                "maxItems": len(FIELDS),
            },
            "data": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_batch_size,
                "items": {
                    "type": "array",
                    "prefixItems": [_ref(f"field.{f.name}") for f in FIELDS],
                    "minItems": len(FIELDS),
                    "maxItems": len(FIELDS),
                },
            },
        },
        "required": ["columns", "data"],
        "additionalProperties": False,
    }


_FLAG_TEXT = {
    EXPLAIN: "false skips the reasons (bulk scoring); default true",
    CONTRIBUTIONS: "true adds every field's contribution, the base value and the explained margin; default false",
    LANG: (
        "language of the reason texts and error messages; default: the first of en, pt in Accept-Language "
        "(q-values honoured), else en"
    ),
}
_FLAG_DEFAULTS: dict[str, bool] = {EXPLAIN: True, CONTRIBUTIONS: False}
ACCEPT_LANGUAGE_TEXT = (
    "used when no `lang` flag is given: the first of en, pt it names (q-values honoured, `pt-BR` counts as pt) "
    "picks the language of reasons and error messages; absent or neither: en"
)


def _flag_schemas() -> dict[str, Any]:
    return {
        EXPLAIN: {"type": "boolean", "default": _FLAG_DEFAULTS[EXPLAIN], "description": _FLAG_TEXT[EXPLAIN]},
        CONTRIBUTIONS: {
            "type": "boolean",
            "default": _FLAG_DEFAULTS[CONTRIBUTIONS],
            "description": _FLAG_TEXT[CONTRIBUTIONS],
        },
        LANG: {"type": "string", "enum": list(LANGUAGES), "description": _FLAG_TEXT[LANG]},
    }


def _shape(key: str, value: dict[str, Any], title: str) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": {key: value, **_flag_schemas()},
        "required": [key],
        "additionalProperties": False,
    }


def _payload_schemas(max_batch_size: int) -> dict[str, Any]:
    shapes = {
        "data": _batch_of("A batch of records, answered in order.", max_batch_size),
        "dataframe_records": _batch_of("MLflow's dataframe_records: a batch of records.", max_batch_size),
        "instances": _batch_of("MLflow's instances: a batch of records.", max_batch_size),
        "dataframe_split": _split_schema(max_batch_size),
    }
    if set(shapes) != set(SHAPES):
        raise RuntimeError("the payload shapes changed: describe them here")
    return {
        "SingleRequest": _shape("data", _ref("Record"), "One record"),
        "BatchRequest": _shape("data", shapes["data"], "A batch under data"),
        "DataframeRecordsRequest": _shape("dataframe_records", shapes["dataframe_records"], "MLflow dataframe_records"),
        "InstancesRequest": _shape("instances", shapes["instances"], "MLflow instances"),
        "DataframeSplitRequest": _shape("dataframe_split", shapes["dataframe_split"], "MLflow dataframe_split"),
    }


def _answer_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "prediction": {"type": "integer", "enum": [code for code, _ in CLASSES], "description": "class code"},
            "label": {"type": "string", "enum": _LABELS},
            "probabilities": {
                "type": "object",
                "description": "probability of each class, rounded to 6 decimals",
                "properties": {label: {"type": "number", "minimum": 0, "maximum": 1} for label in _LABELS},
                "required": _LABELS,
                "additionalProperties": False,
            },
        },
        "required": ["prediction", "label", "probabilities"],
    }


_QUESTION_TEXT = {
    QUESTIONS[0]: "P(Standard or Good) = 1 - P(Poor); below its cut-off the label is Poor",
    QUESTIONS[1]: "P(Good | Standard or Good); at or above its cut-off (and not Poor) the label is Good, else Standard",
}


def _decision_schema() -> dict[str, Any]:
    """The ``decision`` block (contract/decision.py): the label follows from these printed numbers."""
    question = {
        "type": "object",
        "properties": {
            "p": {"type": "number", "minimum": 0, "maximum": 1, "description": f"rounded to {DECIMALS} decimals"},
            "cutoff": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        },
        "required": ["p", "cutoff"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": (
            "What decided the label: the cascade's two cumulative probabilities and their cut-offs, as printed. "
            "Poor when standard_or_better.p < standard_or_better.cutoff, else Good when good_given_standard.p >= "
            "good_given_standard.cutoff, else Standard. The label need not be the most probable class."
        ),
        "properties": {name: {**question, "description": _QUESTION_TEXT[name]} for name in QUESTIONS},
        "required": list(QUESTIONS),
        "additionalProperties": False,
    }


def _explanation_schemas() -> dict[str, Any]:
    categories = sorted({level for f in FIELDS if not f.is_numeric for level in f.levels})
    return {
        "Reason": {
            "type": "object",
            "description": (
                "A field that pushed this applicant toward a worse class: for Poor what kept it from Standard, "
                "for Standard from Good, for Good its weakest factors. Moving the field the stated way (or to "
                "one of the better categories) raises the explained margin."
            ),
            "properties": {
                "code": {"type": "string", "enum": [r.code for r in REASONS]},
                "field": {"type": "string", "enum": list(FIELD_NAMES)},
                "direction": {"type": "string", "enum": list(DIRECTIONS)},
                "better": {
                    "type": "array",
                    "items": {"type": "string", "enum": categories},
                    "description": "categories of the field that would score better (categories only)",
                },
                "text": {"type": "string", "description": "the reason in the answer's language"},
            },
            "required": ["code", "field", "direction", "text"],
        },
        "Contributions": {
            "type": "object",
            "description": (
                "Exact path-dependent TreeSHAP attributions: the fields plus base_value add up to margin.value "
                "(within 1e-5)."
            ),
            "properties": {
                "margin": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "enum": list(MARGIN_NAMES)},
                        "value": {"type": "number", "description": "the explained booster's raw score (log-odds)"},
                    },
                    "required": ["name", "value"],
                },
                "base_value": {"type": "number"},
                "fields": {
                    "type": "object",
                    "properties": {name: {"type": "number"} for name in FIELD_NAMES},
                    "required": list(FIELD_NAMES),
                    "additionalProperties": False,
                },
            },
            "required": ["margin", "base_value", "fields"],
        },
    }


_EXPLAINED = {
    "reasons": {"type": "array", "maxItems": REASON_COUNT, "items": _ref("Reason")},
    "contributions": _ref("Contributions"),
}


_SERVED_BY = {
    "version": {"type": "string", "description": "registered model version"},
    "model": {"type": "string", "description": "registered model name"},
    "request_id": {"type": "string"},
}


def _response_schemas() -> dict[str, Any]:
    answer = _answer_schema()
    answer["properties"].update(_EXPLAINED)
    answer["properties"]["decision"] = _ref("Decision")
    answer["properties"]["missing_fields"] = {
        "type": "array",
        "items": {"type": "string", "enum": [f.name for f in FIELDS if f.is_numeric]},
        "uniqueItems": True,
        "description": "the numeric fields sent as null, scored as missing values, in field order; [] when none",
    }
    answer["required"] += ["decision", "missing_fields"]
    return {
        "Decision": _decision_schema(),
        **_explanation_schemas(),
        "Prediction": {
            "type": "object",
            "properties": {**answer["properties"], **_SERVED_BY},
            "required": [*answer["required"], *_SERVED_BY],
        },
        "Answer": answer,
        "Predictions": {
            "type": "object",
            "properties": {"predictions": {"type": "array", "items": _ref("Answer")}, **_SERVED_BY},
            "required": ["predictions", *_SERVED_BY],
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"const": "ok"},
                "model": {"type": "string"},
                "version": {"type": "string"},
                "alias": {"type": ["string", "null"]},
            },
            "required": ["status", "model", "version", "alias"],
        },
        "Problem": {
            "type": "object",
            "description": "One field problem; never quotes the submitted value.",
            "properties": {
                "field": {"type": "string", "enum": [f.name for f in FIELDS]},
                "index": {"type": "integer", "minimum": 0, "description": "record index in the request"},
                "problem": {"type": "string", "enum": list(PROBLEM_KINDS)},
                "message": {"type": "string"},
            },
            "required": ["field", "index", "problem", "message"],
        },
    }


def error_codes() -> dict[int, list[str]]:
    """Status → error codes, read from the exception tree of :mod:`credit_score.runtime.errors`."""
    by_status: dict[int, list[str]] = {}
    pending: list[type[errors.ServiceError]] = [errors.ServiceError]
    while pending:
        kind = pending.pop(0)
        codes = by_status.setdefault(kind.status, [])
        if kind.code not in codes:
            codes.append(kind.code)
        pending.extend(kind.__subclasses__())
    return by_status


def _error_schema(codes: list[str], *, details: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "error": {"type": "string", "enum": codes},
        "message": {"type": "string"},
        "request_id": {"type": "string"},
    }
    required = ["error", "message", "request_id"]
    if details:
        properties["details"] = {"type": "array", "items": _ref("Problem"), "minItems": 1}
        properties["problem_count"] = {"type": "integer", "minimum": 1}
        properties["counts"] = {
            "type": "object",
            "properties": {
                "by_field": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
                "by_problem": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
            },
            "required": ["by_field", "by_problem"],
        }
        properties["truncated"] = {"type": "boolean"}
        required.append("details")
    return {"type": "object", "properties": properties, "required": required}


_STATUS_TEXT = {
    400: "Malformed JSON, base64 or payload shape",
    404: "Unknown path",
    405: "Method not allowed (see the Allow header)",
    413: "Body over MAX_BODY_BYTES or more records than MAX_BATCH_SIZE",
    422: "Field values out of their domain, of the wrong type, missing or unknown; every problem at once",
    500: "Internal error or model unavailable; generic message, quote the request id",
}


_RESPONSE_NAMES = {
    400: "BadRequest",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    422: "ValidationFailed",
    500: "InternalError",
}


def _error_response(status: int) -> dict[str, Any]:
    name = "ValidationError" if status == 422 else f"Error{status}"
    response: dict[str, Any] = {
        "description": _STATUS_TEXT[status],
        "headers": {"X-Request-Id": _ref_header("X-Request-Id")},
        "content": {"application/json": {"schema": _ref(name)}},
    }
    if status == 405:
        response["headers"]["Allow"] = {"schema": {"type": "string"}, "description": "the allowed methods"}
    return response


def _response_ref(status: int) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{_RESPONSE_NAMES[status]}"}


def _ref_header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _predict_operation(max_batch_size: int, operation_id: str) -> dict[str, Any]:
    shapes = ["SingleRequest", "BatchRequest", "DataframeRecordsRequest", "InstancesRequest", "DataframeSplitRequest"]
    return {
        "operationId": operation_id,
        "summary": "Predict the credit score of one application or a batch",
        "description": (
            "One record under `data` gets one prediction; a list (`data`, MLflow's `dataframe_records`, "
            f"`instances` or `dataframe_split`) of at most {max_batch_size} records gets `predictions` in order. "
            "Numbers may be sent as JSON numbers or numeric strings of ASCII digits with an optional "
            "leading `-` and fraction (no `+`, exponent, inner `_`, whitespace or non-ASCII digit); the raw "
            "data's spellings (`52312.68_`, `22 Years and 1 Months`, `_` placeholders) are accepted too. "
            "A key given twice in a record is a `duplicate_field` problem; a payload key given twice is a 400. "
            "Every answer carries `reasons` unless `explain` is false; `contributions` on request. Flags go "
            "beside the records or in the query string (the payload wins)."
        ),
        "parameters": [
            *(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "string",
                        "enum": ["true", "false"],
                        "default": str(_FLAG_DEFAULTS[name]).lower(),
                    },
                    "description": _FLAG_TEXT[name] + " (a flag in the body wins)",
                }
                for name in (EXPLAIN, CONTRIBUTIONS)
            ),
            {
                "name": LANG,
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": list(LANGUAGES)},
                "description": _FLAG_TEXT[LANG] + " (a flag in the body wins)",
            },
            {
                "name": "Accept-Language",
                "in": "header",
                "required": False,
                "schema": {"type": "string"},
                "example": "pt-BR,pt;q=0.9,en;q=0.5",
                "description": ACCEPT_LANGUAGE_TEXT,
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [_ref(name) for name in shapes]},
                    "examples": {
                        name: {"summary": example.summary, "value": example.body}
                        for name, example in EXAMPLE_REQUESTS.items()
                        if example.path == PREDICT_PATH and example.status == 200
                    },
                }
            },
        },
        "responses": {
            "200": {
                "description": "The prediction (single record) or the predictions (batch)",
                "headers": {
                    "X-Request-Id": _ref_header("X-Request-Id"),
                    "X-Model-Version": _ref_header("X-Model-Version"),
                },
                "content": {"application/json": {"schema": {"oneOf": [_ref("Prediction"), _ref("Predictions")]}}},
            },
            **{str(status): _response_ref(status) for status in (400, 405, 413, 422, 500)},
        },
    }


def _with_answers(document: dict[str, Any], answers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The document with the served model's answers to :data:`EXAMPLE_REQUESTS` as response examples."""
    paths, responses = document["paths"], document["components"]["responses"]
    successes = {PREDICT_PATH: paths[PREDICT_PATH]["post"], HEALTH_PATH: paths[HEALTH_PATH]["get"]}
    for name, answer in answers.items():
        example, status = EXAMPLE_REQUESTS[name], answer["status"]
        target = successes[example.path]["responses"]["200"] if status == 200 else responses[_RESPONSE_NAMES[status]]
        content = target["content"]["application/json"]
        content.setdefault("examples", {})[name] = {"summary": example.summary, "value": answer["answer"]}
    return document


def document(
    *,
    max_batch_size: int = 1000,
    max_body_bytes: int = 6 * 1024 * 1024,
    answers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API served by ``app.handler`` (and ``credit_score.devtools.serve``).

    ``answers`` (:func:`credit_score.devtools.examples.answer_all` on a bundle) become the response examples:
    the local server passes its model's, so the page shows what this model answers.
    """
    codes = error_codes()
    schemas: dict[str, Any] = {f"field.{f.name}": field_schema(f) for f in FIELDS}
    schemas["Record"] = _record_schema()
    schemas.update(_payload_schemas(max_batch_size))
    schemas.update(_response_schemas())
    for status in (400, 404, 405, 413, 500):
        schemas[f"Error{status}"] = _error_schema(codes[status])
    schemas["ValidationError"] = _error_schema(codes[422], details=True)
    built = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Credit score prediction",
            "version": API_VERSION,
            "description": (
                "Predicts Poor (0), Standard (1) or Good (2) for credit applications, with the cut-offs that "
                "decided the label and the reasons behind it. The deployed API routes POST /predict and GET "
                "/health only (and requires SigV4 or a JWT); the handler itself, as the local server and a direct "
                "invocation reach it, predicts on a POST to any path, answers a GET on any other path 404 "
                f"(not_found) and any other method 405 (method_not_allowed). Bodies up to {max_body_bytes} bytes. "
                "Validation problems are reported all at once, per field and record, without echoing the values; "
                "error messages follow the language of the reasons, error codes never change."
            ),
        },
        "paths": {
            PREDICT_PATH: {"post": _predict_operation(max_batch_size, "predict")},
            HEALTH_PATH: {
                "get": {
                    "operationId": "health",
                    "summary": "The served model",
                    "responses": {
                        "200": {
                            "description": "The model is loaded and serving",
                            "headers": {"X-Request-Id": _ref_header("X-Request-Id")},
                            "content": {"application/json": {"schema": _ref("Health")}},
                        },
                        "500": _response_ref(500),
                    },
                }
            },
        },
        "components": {
            "schemas": schemas,
            "responses": {name: _error_response(status) for status, name in _RESPONSE_NAMES.items()},
            "headers": {
                "X-Request-Id": {"schema": {"type": "string"}, "description": "quote it when reporting a problem"},
                "X-Model-Version": {"schema": {"type": "string"}, "description": "the model version that answered"},
            },
        },
    }
    _describe(schemas)
    internal = built["components"]["responses"][_RESPONSE_NAMES[500]]["content"]["application/json"]
    internal["examples"] = {
        "internal_error": {
            "summary": "500: a fault of ours or no loadable model; the reason is in the log, under this request id",
            "value": {**errors.ServiceError().body(), "request_id": _SAMPLE_REQUEST_ID},
        }
    }
    return _with_answers(built, answers or {})


_SAMPLE_REQUEST_ID = "0f5a1c9e-3b7d-4e2a-9c61-8d2f4b7a5e10"
# Every property of every answer and error, described (test_openapi checks that none is left out).
_PROPERTY_TEXT: dict[str, str] = {
    "prediction": "class code: 0 Poor, 1 Standard, 2 Good (the old service's field, kept)",
    "label": "the class name of `prediction`",
    "probabilities": "probability of each class, rounded to 6 decimals; they add up to 1",
    "decision": "the two cumulative probabilities and the cut-offs that decided `label`",
    "reasons": (
        f"at most {REASON_COUNT} reasons, strongest first, in the answer's language; absent when explain=false"
    ),
    "contributions": "every field's exact contribution to the explained margin; only with contributions=true",
    "version": "registered model version that answered",
    "model": "registered model name",
    "request_id": "the server's id of this request (the Lambda request id); quote it when reporting a problem",
    "predictions": "one answer per record, in the order sent",
    "status": "`ok` when the model is loaded and serving",
    "alias": "the registry alias the bundle was chosen by (e.g. champion), null when chosen by version",
    "error": "the error code: stable, in English, whatever the language",
    "message": "what went wrong, in the answer's language (en or pt); never quotes the request",
    "details": "the problems one by one (the first 100), each naming its field and record",
    "problem_count": "how many problems were found in all",
    "counts": "all problems counted by field and by problem kind",
    "truncated": "true when details lists fewer problems than problem_count",
    "field": "the field's name",
    "index": "the record's position in the request (0 for a single record)",
    "problem": "the kind of problem, a stable code",
    "code": "stable reason code (R01_...), for notices and dashboards",
    "direction": "which way the field counted against the applicant: too_high, too_low or unfavourable (a category)",
    "better": "categories of the field that would score better (categories only)",
    "text": "the reason in the answer's language",
    "margin": "the explained booster and its raw score",
    "base_value": "the explained booster's average margin; plus every field's contribution gives margin.value",
    "fields": "each field's contribution (log-odds); negative counts against the applicant",
    "name": "which booster: standard_or_better (Poor answers) or good_given_standard (Standard and Good)",
    "value": "the explained booster's raw score (log-odds)",
    "p": "the cumulative probability, rounded as printed",
    "cutoff": "the cut-off it is compared with",
    "missing_fields": "the fields sent as null (or a missing-value placeholder), scored as missing; [] when none",
    "by_field": "problems per field name",
    "by_problem": "problems per problem kind",
    **{label: f"probability of {label} (class {code})" for code, label in CLASSES},
    **{name: f"contribution of {name} (log-odds)" for name in FIELD_NAMES},
}
_ANSWERS = ("Answer", "Prediction", "Predictions", "Health", "Problem", "Reason", "Contributions", "Decision")


def _describe(schemas: dict[str, Any]) -> None:
    """Give every property of the answer and error schemas a description where it has none."""
    error_schemas = [name for name in schemas if name.startswith("Error") or name == "ValidationError"]
    pending = [schemas[name] for name in (*_ANSWERS, *error_schemas) if name in schemas]
    while pending:
        schema = pending.pop()
        for name, prop in schema.get("properties", {}).items():
            if "description" not in prop and name in _PROPERTY_TEXT:
                prop["description"] = _PROPERTY_TEXT[name]
            pending.append(prop)
