"""Every 4xx message the service can write has its Portuguese sentence; codes stay as they are.

The messages are produced, not listed: each field problem by the parser itself on values made to fail each
rule of each field, and every other client-error message read from the code (``raise BadRequest(...)`` and
its kin in runtime/ and the local server), its f-string holes filled with a sample. A new message without a
Portuguese pattern fails here.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator

import pytest

from credit_score.contract.fields import FIELDS, parse_batch
from credit_score.contract.messages import translate
from credit_score.runtime import errors
from tests.support.paths import ROOT

# ValidationFailed writes its own summary from the problems (checked below); the others take a message.
CLIENT_ERRORS = {kind.__name__ for kind in errors.ClientError.__subclasses__()} - {"ValidationFailed"}
RUNTIME = ROOT / "src" / "credit_score" / "runtime"
SOURCES = [*sorted(RUNTIME.glob("*.py")), ROOT / "src" / "credit_score" / "devtools" / "serve.py"]
# The local server answers requests it cannot parse with HTTP's own reason phrase (HTTPStatus(code).phrase).
UNTRANSLATED_ON_PURPOSE = {("serve.py", "HTTPStatus(code).phrase.lower()")}


def _bad_values(f) -> Iterator[object]:
    """Values that break each rule of ``f``: absent, wrong type, outside the domain, not whole, unknown."""
    yield None
    if f.is_numeric:
        yield from ("abc", f.maximum + 1, -1e9)
        if f.integer:
            yield 1.5
    else:
        yield from ("not-a-level", 5)


def field_messages() -> list[str]:
    messages = []
    for f in FIELDS:
        for value in _bad_values(f):
            record = {g.name: "1" for g in FIELDS}
            record.pop(f.name)
            if value is not None:
                record[f.name] = value
            messages.extend(problem.message for problem in parse_batch([record])[2] if problem.field == f.name)
    return messages


def _samples(node: ast.expr, module, top: bool = True) -> list[str] | None:
    """The strings an expression can make, holes (and calls inside text) filled with '1'; None when the
    whole message is made by a call or is no plain text."""
    if isinstance(node, ast.Call) and not top:
        return ["1"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        text = "".join(part.value if isinstance(part, ast.Constant) else "1" for part in node.values)
        return [text]
    if isinstance(node, ast.Name) and isinstance(getattr(module, node.id, None), str):
        return [getattr(module, node.id)]
    if isinstance(node, ast.IfExp):
        body, orelse = _samples(node.body, module), _samples(node.orelse, module)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _samples(node.left, module, top=False), _samples(node.right, module, top=False)
        return None if left is None or right is None else [a + b for a in left for b in right]
    return None


def code_messages() -> tuple[list[str], set[tuple[str, str]]]:
    messages, opaque = [], set()
    for path in SOURCES:
        name = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        module = importlib.import_module(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in CLIENT_ERRORS and node.args:
                found = _samples(node.args[0], module)
                if found is None:
                    opaque.add((path.name, ast.unparse(node.args[0])))
                else:
                    messages.extend(found)
    return messages, opaque


def test_given_every_field_problem_when_put_in_portuguese_then_each_translates_and_keeps_the_field():
    messages = field_messages()
    assert len(messages) > 3 * len(FIELDS)
    untranslated = [message for message in messages if translate(message, "pt") == message]
    assert untranslated == []
    for message in messages:
        assert translate(message, "pt").split(" ")[0] == message.split(" ")[0]  # the field's name leads both


def test_given_every_client_error_in_the_code_when_put_in_portuguese_then_each_translates():
    messages, opaque = code_messages()
    assert len(messages) > 20
    assert opaque == UNTRANSLATED_ON_PURPOSE
    assert [message for message in messages if translate(message, "pt") == message] == []


def test_given_the_422_summary_and_the_generic_500_when_put_in_portuguese_then_they_translate():
    one = errors.ValidationFailed(parse_batch([{}])[2][:1])
    many = errors.ValidationFailed(parse_batch([{}] * 10)[2])
    for error in (one, many, errors.ServiceError()):
        assert translate(error.message, "pt") != error.message


@pytest.mark.parametrize("language", ["en", "fr"])
def test_given_english_or_an_unsupported_language_when_translated_then_the_message_is_unchanged(language):
    assert translate("the request body is not valid JSON", language) == "the request body is not valid JSON"


def test_given_a_unit_when_translated_then_it_is_portuguese_and_numbers_are_kept():
    assert translate("Age must be a whole number between 14 and 100 years", "pt") == (
        "Age deve ser um número inteiro entre 14 e 100 anos"
    )
    assert translate("Credit_Mix must be one of: Bad, Standard, Good, Unknown", "pt") == (
        "Credit_Mix deve ser um de: Bad, Standard, Good, Unknown"
    )


def _answer(body: bytes, target: str = "/predict", headers: tuple[tuple[str, str], ...] = ()) -> tuple[int, dict]:
    import json

    from credit_score.devtools.serve import build_event
    from credit_score.runtime.config import Settings
    from credit_score.runtime.service import Service
    from tests.support.lambda_context import LambdaContext

    service = Service(Settings.from_env({"MODEL_DIR": "/nonexistent", "METRICS_ENABLED": "false"}))
    result = service.handle(build_event("POST", target, [("content-type", "application/json"), *headers], body),
                            LambdaContext())  # fmt: skip
    return result["statusCode"], json.loads(result["body"])


INVALID = b'{"data": {"Age": "-5"}}'


@pytest.mark.parametrize(
    ("body", "target", "headers"),
    [
        (INVALID, "/predict", (("accept-language", "pt-BR,pt;q=0.9"),)),
        (INVALID, "/predict?lang=pt", ()),
        (b'{"data": {"Age": "-5"}, "lang": "pt"}', "/predict", (("accept-language", "en"),)),
    ],
    ids=["accept-language", "query", "body-flag-wins"],
)
def test_given_portuguese_asked_when_a_422_is_answered_then_messages_are_portuguese_and_codes_unchanged(
    body, target, headers
):
    status, english = _answer(INVALID)
    status_pt, portuguese = _answer(body, target, headers)

    assert status == status_pt == 422
    assert english["message"].startswith("21 invalid field value(s)")
    assert portuguese["message"].startswith("21 valor(es) de campo inválido(s) em 1 registro")
    strip = [{key: value for key, value in detail.items() if key != "message"} for detail in english["details"]]
    assert strip == [{key: value for key, value in d.items() if key != "message"} for d in portuguese["details"]]
    assert all(d["message"] != e["message"] for d, e in zip(portuguese["details"], english["details"], strict=True))
    assert portuguese["counts"] == english["counts"]


def test_given_portuguese_asked_when_the_body_is_no_json_then_the_400_is_portuguese():
    status, answer = _answer(b"{", headers=(("accept-language", "pt"),))

    assert (status, answer["error"]) == (400, "bad_request")
    assert answer["message"] == "o corpo da requisição não é um JSON válido"
