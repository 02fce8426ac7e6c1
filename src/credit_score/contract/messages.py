"""Error messages in the answer's language: every 4xx message the service writes, in English and Portuguese.

The service writes its messages in English where they arise (a field rule, a payload shape, a route); an
answer in Portuguese translates each one here, by its English pattern, so the codes (``error``,
``problem``, field names, flag names) stay the same in both languages and only the sentence changes. The
language is chosen as the reasons' is (``lang``, else ``Accept-Language`` by
:func:`credit_score.contract.reasons.pick_language`). A message with no pattern stays English; the tests
produce every message the code can write and fail on any that does not translate.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["translate"]

_UNITS = {"years": "anos", "days": "dias", "months": "meses", "percent": "por cento"}
_KINDS = {"a whole number": "um número inteiro", "a number": "um número"}


def _domain(match: re.Match[str]) -> str:
    unit = f" {_UNITS.get(match['unit'], match['unit'])}" if match["unit"] else ""
    return f"deve ser {_KINDS[match['kind']]} entre {match['low']} e {match['high']}{unit}"


def _plural(count: str, one: str, many: str) -> str:
    return one if count == "1" else many


_DOMAIN = r"must be (?P<kind>a whole number|a number) between (?P<low>\S+) and (?P<high>\S+?)(?: (?P<unit>[a-z]+))?"
_SHAPE_HINT = r"the payload must be a JSON object with one of: (?P<shapes>.+)"
_SHAPE_HINT_PT = "o payload deve ser um objeto JSON com um de: {shapes}"

# English pattern (matched whole) -> Portuguese: a template of the named groups, or a function of the match.
_CATALOGUE: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
    # field problems (contract/fields.py), each prefixed with the field's name
    (rf"(?P<field>\w+) {_DOMAIN}", lambda m: f"{m['field']} {_domain(m)}"),
    (
        rf"(?P<field>\w+) is required; {_DOMAIN}, or null when not known",
        lambda m: f"{m['field']} é obrigatório; {_domain(m)}, ou null quando não se sabe",
    ),
    (rf"(?P<field>\w+) is required; {_DOMAIN}", lambda m: f"{m['field']} é obrigatório; {_domain(m)}"),
    (r"(?P<field>\w+) is required; must be one of: (?P<levels>.+)", "{field} é obrigatório; deve ser um de: {levels}"),
    (r"(?P<field>\w+) must be one of: (?P<levels>.+)", "{field} deve ser um de: {levels}"),
    (
        r"(?P<field>\w+) is given more than once; send each field once",
        "{field} foi enviado mais de uma vez; envie cada campo uma vez",
    ),
    # the 422 summary (runtime/errors.py)
    (
        r"(?P<count>\d+) invalid field value\(s\) in (?P<records>\d+) records?; see details",
        lambda m: (
            f"{m['count']} valor(es) de campo inválido(s) em {m['records']} "
            f"{_plural(m['records'], 'registro', 'registros')}; veja details"
        ),
    ),
    (
        r"(?P<count>\d+) invalid field value\(s\) in (?P<records>\d+) records?; "
        r"the first (?P<listed>\d+) are in details",
        lambda m: (
            f"{m['count']} valor(es) de campo inválido(s) em {m['records']} "
            f"{_plural(m['records'], 'registro', 'registros')}; os primeiros {m['listed']} estão em details"
        ),
    ),
    # payload shapes (runtime/payload.py)
    (r"the request body is empty; " + _SHAPE_HINT, "o corpo da requisição está vazio; " + _SHAPE_HINT_PT),
    (r"the request body is not valid JSON", "o corpo da requisição não é um JSON válido"),
    (_SHAPE_HINT, _SHAPE_HINT_PT),
    (r"send only one of: (?P<shapes>.+)", "envie apenas um de: {shapes}"),
    (r"'(?P<key>\w+)' is given more than once; send it once", "'{key}' foi enviado mais de uma vez; envie-o uma vez"),
    (r"'(?P<key>\w+)' must be a list of objects or one object", "'{key}' deve ser uma lista de objetos ou um objeto"),
    (r"'(?P<key>\w+)' must be a list of objects", "'{key}' deve ser uma lista de objetos"),
    (r"'(?P<key>\w+)' holds no records", "'{key}' não contém registros"),
    (r"a request may carry at most (?P<n>\d+) records", "uma requisição pode levar no máximo {n} registros"),
    (
        r"record (?P<i>\d+) of '(?P<key>\w+)' must be a JSON object of field names to values",
        "o registro {i} de '{key}' deve ser um objeto JSON de nomes de campo para valores",
    ),
    (
        r"'dataframe_split' must be an object with 'columns' and 'data'",
        "'dataframe_split' deve ser um objeto com 'columns' e 'data'",
    ),
    (
        r"'dataframe_split' has '(?P<key>\w+)' more than once; send it once",
        "'dataframe_split' tem '{key}' mais de uma vez; envie-o uma vez",
    ),
    (
        r"'dataframe_split' needs 'columns' \(a list of field names\) and 'data' \(a list of rows\)",
        "'dataframe_split' precisa de 'columns' (uma lista de nomes de campo) e 'data' (uma lista de linhas)",
    ),
    (
        r"row (?P<i>\d+) of 'dataframe_split' must be a list as long as 'columns'",
        "a linha {i} de 'dataframe_split' deve ser uma lista do tamanho de 'columns'",
    ),
    # flags (runtime/predict.py)
    (
        r"query parameter '(?P<name>\w+)' must be true or false",
        "o parâmetro de consulta '{name}' deve ser true ou false",
    ),
    (r"'(?P<name>\w+)' must be true or false", "'{name}' deve ser true ou false"),
    (r"'(?P<name>\w+)' must be one of: (?P<values>.+)", "'{name}' deve ser um de: {values}"),
    # routes (runtime/service.py) and event sources (runtime/events.py)
    (
        r"use POST to predict or GET /health; this method is not supported",
        "use POST para prever ou GET /health; este método não é aceito",
    ),
    (r"use POST to predict or GET /health", "use POST para prever ou GET /health"),
    (
        r"unknown path: POST a payload to predict, or GET /health",
        "caminho desconhecido: envie um payload por POST para prever, ou GET /health",
    ),
    (
        r"the answer to (?P<n>\d+) records could exceed the (?P<source>.+?)'s response limit of (?P<limit>\d+) bytes: "
        r"send at most (?P<fits>\d+) records per request with these options",
        "a resposta a {n} registros poderia passar do limite de resposta de {limit} bytes de {source}: "
        "envie no máximo {fits} registros por requisição com estas opções",
    ),
    (r"the event body must be a string", "o corpo do evento deve ser uma string"),
    (r"the request body exceeds (?P<n>\d+) bytes", "o corpo da requisição passa de {n} bytes"),
    (r"the body is flagged base64 but is not valid base64", "o corpo está marcado como base64 mas não é base64 válido"),
    (
        r"unrecognised event: send an API Gateway, HTTP API, Function URL, ALB or VPC Lattice event, "
        r"or invoke directly with \{'data': \{\.\.\.\}\}",
        "evento não reconhecido: envie um evento de API Gateway, HTTP API, Function URL, ALB ou VPC Lattice, "
        "ou invoque diretamente com {{'data': {{...}}}}",
    ),
    # the local server's own (devtools/serve.py)
    (r"malformed chunked body", "corpo chunked malformado"),
    (r"no verified model bundle: (?P<reason>.+)", "nenhum pacote de modelo verificado: {reason}"),
    (
        r"this bundle has no model card; download it again with model_downloader.py",
        "este pacote não tem model card; baixe-o de novo com model_downloader.py",
    ),
    (r"the Content-Length header must be a whole number", "o cabeçalho Content-Length deve ser um número inteiro"),
    # a fault of ours (runtime/errors.py)
    (
        r"internal error; quote the request id when reporting it",
        "erro interno; informe o request id ao relatar o problema",
    ),
]
_COMPILED = [(re.compile(pattern), target) for pattern, target in _CATALOGUE]


def translate(message: str, language: str) -> str:
    """``message`` in ``language`` (``en`` or ``pt``); English when it is ``en`` or no pattern matches."""
    if language != "pt":
        return message
    for pattern, target in _COMPILED:
        match = pattern.fullmatch(message)
        if match:
            return target(match) if callable(target) else target.format(**match.groupdict())
    return message
