"""The model card: the bundle's own documentation, generated from its metadata when it is downloaded.

Credit scoring is high-risk under the EU AI Act (Annex III 5(b)); its technical documentation
(Art. 11, Annex IV) asks for the intended purpose, the data, the performance and its limits. The card
says these for the exact version in the bundle, from the bundle's own ``metadata.json`` (so it cannot
drift from the model it describes): intended use, training data, every field with its unit, domain
and credit direction, the quality figures with calibration, fairness by age band, the step test, the
reason codes, the limits, and the version and run it came from.

One document model (a list of sections of paragraphs and tables) rendered twice: ``model_card.md``
and a self-contained ``model_card.html`` (inline CSS, no script, every text escaped).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from credit_score.contract import fields as contract_fields
from credit_score.contract.bundle import MODEL_CARD_HTML, MODEL_CARD_MARKDOWN
from credit_score.contract.fairness import AIR_SCREEN, BAND_NAMES, FAVOURABLE
from credit_score.contract.reasons import REASONS

__all__ = ["HTML_FILE", "MARKDOWN_FILE", "card_files", "run_documentation", "sections", "to_html", "to_markdown"]

MARKDOWN_FILE = MODEL_CARD_MARKDOWN
HTML_FILE = MODEL_CARD_HTML
INTENDED_USE = (
    "Classifies a consumer credit applicant's credit score as Poor, Standard or Good from 21 fields of "
    "their financial history, with the reasons that decided it, for a lender's credit decision process. "
    "It supports a decision made under the lender's credit policy and human review; it is not a "
    "decision on its own, and not for employment, insurance or housing screening."
)
QUALITY = (
    ("macro_f1", "macro-F1"),
    ("weighted_roc_auc", "ROC AUC (one-vs-rest, weighted)"),
    ("accuracy", "accuracy"),
    ("weighted_f1", "weighted F1"),
    ("recall_Poor", "recall, Poor"),
    ("recall_Standard", "recall, Standard"),
    ("recall_Good", "recall, Good"),
    ("log_loss", "log-loss"),
    ("brier", "Brier score"),
    ("ece", "expected calibration error (top label, 10 bins)"),
)


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = field(default=())


def _figure(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _tolerance(value: Any) -> str:
    """A tolerance such as 1e-9, which fixed decimals would print as 0."""
    return f"{value:g}" if isinstance(value, float) else _figure(value)


def _identity(metadata: Mapping[str, Any]) -> Section:
    model = metadata.get("model", {})
    rows = (
        ("registered model", _figure(model.get("name"))),
        ("version", _figure(model.get("version"))),
        ("alias when downloaded", _figure(model.get("alias"))),
        ("MLflow run id", _figure(model.get("run_id"))),
        ("registry", _figure(model.get("registry"))),
        ("registered at", _figure(metadata.get("created_at"))),
        ("downloaded at", _figure(metadata.get("downloaded_at"))),
    )
    return Section("Version", tables=(Table(("", ""), rows),))


def _training(metadata: Mapping[str, Any]) -> Section:
    metrics = metadata.get("metrics", {})
    training = metadata.get("training", {}) or {}
    profile = metadata.get("reference_profile", {}) or {}
    rows = [
        ("data", _figure(training.get("data"))),
        ("trained at", _figure(training.get("trained_at"))),
        ("training rows", _figure(metrics.get("train_rows", profile.get("rows")))),
        ("evaluation rows (customers held out)", _figure(metrics.get("eval_rows"))),
        ("rows dropped (no known Credit_Score)", _figure(training.get("dropped_rows"))),
        ("split seed, evaluation share", f"{_figure(training.get('seed'))}, {_figure(training.get('eval_fraction'))}"),
    ]
    mix = profile.get("prediction_mix")
    if mix:
        rows.append(("class mix predicted on training rows", ", ".join(f"{k} {v:.1%}" for k, v in mix.items())))
    source = (
        "Synthetic applicants (credit_score/modelling/training/synthetic.py): a demonstration model, never for "
        "decisions."
        if training.get("data") == "synthetic"
        else 'Rows of the public Kaggle data set "Credit score classification" (one row per customer, August), '
        "as the data label below names them."
    )
    return Section(
        "Training data",
        (
            source,
            "The evaluation rows are whole customers held out of training, so no customer is scored on rows "
            "the model has seen.",
        ),
        (Table(("", ""), tuple(rows)),),
    )


def _features(metadata: Mapping[str, Any]) -> Section:
    directions = metadata.get("monotone_features", {}) or {}
    used = set(metadata.get("input", {}).get("feature_names", ()))
    rows = []
    for spec in metadata.get("input", {}).get("fields", ()):
        name = spec["name"]
        if spec.get("type") == "category":
            domain = ", ".join(spec.get("categories", ()))
            unit = "category"
        else:
            domain = f"{_figure(spec.get('minimum'), 0)} to {_figure(spec.get('maximum'), 0)}"
            unit = spec.get("unit") or "-"
        in_model = name in used or any(column.startswith(f"{name}=") for column in used)
        direction = directions.get(name) if isinstance(directions, Mapping) else None
        rows.append((name, unit, domain, direction or ("not constrained" if in_model else "-"),
                     "yes" if in_model else "no (validated, captured, never scored)"))  # fmt: skip
    return Section(
        "Features",
        (
            'Every field the model uses is constrained in its credit direction: "increasing" means more '
            'is never worse for the applicant, "decreasing" that more is never better.',
        ),
        (Table(("field", "unit", "accepted values", "credit direction", "used by the model"), tuple(rows)),),
    )


def _quality(metadata: Mapping[str, Any]) -> Section:
    metrics = metadata.get("metrics", {})
    rows = tuple((label, _figure(metrics.get(key))) for key, label in QUALITY if key in metrics)
    return Section(
        "Quality on the held-out customers",
        (
            "Measured by the served label rule (the cascade's cut-offs, not the argmax). Calibration "
            "(log-loss, Brier, ECE) says how far the probabilities can be read as frequencies; the drift "
            "report's label-free performance estimate relies on it.",
        ),
        (Table(("metric", "value"), rows),) if rows else (),
    )


def _fairness(metadata: Mapping[str, Any]) -> Section:
    table = metadata.get("fairness")
    if not table:
        return Section(
            "Fairness by age band", ("Not measured for this version (trained before fairness was recorded).",)
        )
    rows = []
    for band in BAND_NAMES:
        entry = table["age_bands"].get(band, {})
        shares = entry.get("decision_shares", {})
        recall = entry.get("recall") or {}
        rows.append(
            (
                band,
                _figure(entry.get("n")),
                *(_figure(shares.get(label), 3) for label in ("Poor", "Standard", "Good")),
                _figure(entry.get("mean_p_good"), 3),
                *(_figure(table["air"][kind]["ratios"].get(band), 3) for kind in FAVOURABLE),
                *(_figure(recall.get(label), 3) for label in ("Poor", "Standard", "Good")),
            )
        )
    flagged = table.get("flagged") or []
    note = (
        "Bands below the screen: " + ", ".join(f"{f['band']} ({f['outcome']}, {f['air']:.3f})" for f in flagged)
        if flagged
        else f"No band is below the {AIR_SCREEN} screen."
    )
    return Section(
        "Fairness by age band",
        (
            "Evaluation rows by applicant age. Adverse-impact ratio (AIR): a band's rate of favourable "
            "decisions (not Poor; Good) over the most favoured band's; below "
            f"{AIR_SCREEN} is a prompt for review (four-fifths screen), not a finding. Age is never a "
            "model input.",
            note,
        ),
        (
            Table(
                (
                    "band",
                    "rows",
                    "Poor",
                    "Standard",
                    "Good",
                    "mean P(Good)",
                    "AIR not Poor",
                    "AIR Good",
                    "recall Poor",
                    "recall Standard",
                    "recall Good",
                ),
                tuple(rows),
            ),
        ),
    )


def _step_test(metadata: Mapping[str, Any]) -> Section:
    report = metadata.get("monotonicity") or {}
    if not report:
        return Section("Step test (monotonicity)", ("No step-test report in this bundle.",))
    facts = (
        ("rows stepped", _figure(report.get("rows"))),
        ("checks", _figure(report.get("checks"))),
        ("tolerance", _tolerance(report.get("tolerance"))),
        ("violations", _figure(sum((report.get("violations") or {}).values()))),
        ("trees proven monotone", _figure(report.get("trees_proven"))),
    )
    violations = report.get("violations") or {}
    rows = tuple(
        (name, ", ".join(_figure(step) for step in steps),
         _figure(sum(count for key, count in violations.items() if key == name or key.startswith(f"{name}"))))
        for name, steps in (report.get("steps") or {}).items()
    )  # fmt: skip
    return Section(
        "Step test (monotonicity)",
        (
            "At training every constrained feature of every row is made worse by each step; the model must "
            "never answer better. Every tree of both boosters is also proven monotone in every used field "
            "from its leaves, missing values included. A version with a violation is never registered.",
        ),
        (Table(("", ""), facts), Table(("feature", "steps (worse)", "violations"), rows)),
    )


def _reasons() -> Section:
    rows = tuple((r.code, r.field, r.direction, r.text.get("en", "")) for r in REASONS)
    return Section(
        "Reason codes",
        ("The codes an explained answer may carry, each an exact attribution in the feature's credit direction.",),
        (Table(("code", "field", "direction", "text"), rows),),
    )


def _limits(metadata: Mapping[str, Any]) -> Section:
    outside = getattr(contract_fields, "OUTSIDE_MODEL", {})
    paragraphs = [
        "Requests outside the accepted values above are refused (422) with the fields named, never scored. "
        "The model never saw applicants outside the training data's ranges or populations other than the "
        "training data's; the drift report compares live inputs with the training profile.",
        "The probabilities are calibrated on the evaluation rows; calibration after a population shift is "
        "not guaranteed (see the drift report's estimated against realised performance).",
    ]
    paragraphs.extend(f"{name} is not a model input: {why}." for name, why in outside.items())
    return Section("Limits", tuple(paragraphs))


def sections(metadata: Mapping[str, Any]) -> list[Section]:
    """The card's content for a bundle's metadata."""
    return [
        Section("Intended use", (INTENDED_USE,)),
        _identity(metadata),
        _training(metadata),
        _features(metadata),
        _quality(metadata),
        _fairness(metadata),
        _step_test(metadata),
        _reasons(),
        _limits(metadata),
    ]


def _title(metadata: Mapping[str, Any]) -> str:
    model = metadata.get("model", {})
    return f"Model card: {model.get('name', 'model')} version {model.get('version', '?')}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(metadata: Mapping[str, Any]) -> str:
    lines = [f"# {_title(metadata)}", ""]
    for section in sections(metadata):
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for table in section.tables:
            lines.append("| " + " | ".join(_cell(h) for h in table.header) + " |")
            lines.append("|" + "---|" * len(table.header))
            lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
            lines.append("")
    return "\n".join(lines)


_STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;color:#212121;margin:24px;background:#fafafa}"
    "main{max-width:1100px;margin:auto}table{border-collapse:collapse;background:#fff;margin:6px 0 14px}"
    "td,th{padding:4px 10px;border-bottom:1px solid #e0e0e0;text-align:left;vertical-align:top}"
    "h1{font-size:24px}h2{font-size:18px;margin-top:26px}"
)


def to_html(metadata: Mapping[str, Any]) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(_title(metadata))}</title><style>{_STYLE}</style></head><body><main>",
        f"<h1>{escape(_title(metadata))}</h1>",
    ]
    for section in sections(metadata):
        parts.append(f"<h2>{escape(section.title)}</h2>")
        parts.extend(f"<p>{escape(paragraph)}</p>" for paragraph in section.paragraphs)
        for table in section.tables:
            head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
            body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


def card_files(metadata: Mapping[str, Any]) -> dict[str, bytes]:
    """The two card files for :func:`contract.bundle.write_bundle`'s ``extra_files``."""
    return {MARKDOWN_FILE: to_markdown(metadata).encode(), HTML_FILE: to_html(metadata).encode()}


def run_documentation(client: Any, version: Any, fairness_path: Path) -> dict[str, Any]:
    """What the card needs beyond the run's bundle files: the fairness table (if the run has one) and the
    training facts of the run's parameters. Documentation never fails a download: absent facts stay out.
    """
    documentation: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):  # runs trained before fairness was recorded lack it
        documentation["fairness"] = json.loads(fairness_path.read_text(encoding="utf-8"))
    try:
        run = client.get_run(version.run_id)
        params = dict(run.data.params)
        started = datetime.fromtimestamp(int(run.info.start_time) / 1000, tz=UTC)
    except Exception:  # a registry without the run's details still yields a card
        return documentation
    documentation["training"] = {
        "data": params.get("data"),
        "rows": _integer(params.get("rows")),
        "dropped_rows": _integer(params.get("dropped_rows")),
        "seed": _integer(params.get("seed")),
        "eval_fraction": params.get("eval_fraction"),
        "trained_at": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return documentation


def _integer(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
