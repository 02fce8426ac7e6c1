"""The drift report as one self-contained HTML page: inline CSS and SVG, no script, no external resource.

Drawn from the JSON summary (``report.summary``): a PSI bar chart with the warn and alert lines, the
prediction mix per day beside the reference mix, then per field the reference and current shares of
every bin. Every text is escaped; there is nothing in it but aggregates.
"""

from __future__ import annotations

from html import escape
from typing import Any

COLOURS = {"none": "#2e7d32", "warn": "#e08600", "alert": "#c62828", "insufficient_data": "#757575"}
CLASS_COLOURS = {"Poor": "#d84315", "Standard": "#1e88e5", "Good": "#43a047"}
REFERENCE_COLOUR = "#9e9e9e"
CURRENT_COLOUR = "#1565c0"
_STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#212121;margin:24px;background:#fafafa}
main{max-width:1140px;margin:auto}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:0 0 4px}
.verdict{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff;font-weight:600;font-size:13px}
table{border-collapse:collapse;background:#fff}td,th{padding:4px 10px;border-bottom:1px solid #e0e0e0;text-align:right}
td:first-child,th:first-child{text-align:left}
.facts td{text-align:left}
.panels{display:grid;grid-template-columns:1fr 1fr;gap:12px}
.panel{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:10px}
.muted{color:#616161;font-size:12px}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}
svg{display:block;background:#fff}
"""


def _verdict(verdict: str) -> str:
    return f'<span class="verdict" style="background:{COLOURS[verdict]}">{escape(verdict.replace("_", " "))}</span>'


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value > 0 else "< 1e-300"  # below the smallest double


def _psi_chart(rows: list[dict[str, Any]], warn: float, alert: float) -> str:
    """One horizontal bar per comparison, coloured by verdict, over dashed threshold lines."""
    label_width, width, row, top = 210, 760, 22, 24
    largest = max((r["psi"] or 0.0 for r in rows), default=0.0)
    scale = max(alert * 1.6, min(largest * 1.05, alert * 4))
    height = top + row * len(rows) + 10

    def x(value: float) -> float:
        return label_width + min(value, scale) / scale * width

    parts = [f'<svg width="{label_width + width + 90}" height="{height}" role="img" aria-label="PSI per feature">']
    for name, value in (("warn", warn), ("alert", alert)):
        parts.append(
            f'<line x1="{x(value):.1f}" y1="{top - 6}" x2="{x(value):.1f}" y2="{height - 6}" '
            f'stroke="{COLOURS[name]}" stroke-width="1.5" stroke-dasharray="5 4"/>'
            f'<text x="{x(value):.1f}" y="{top - 10}" font-size="11" text-anchor="middle" fill="{COLOURS[name]}">'
            f"{name} {value:g}</text>"
        )
    for index, entry in enumerate(rows):
        y = top + index * row
        value = entry["psi"]
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" font-size="12" text-anchor="end">{escape(entry["name"])}</text>'
        )
        if value is not None:
            parts.append(
                f'<rect x="{label_width}" y="{y + 4}" width="{max(x(value) - label_width, 1):.1f}" height="{row - 8}" '
                f'fill="{COLOURS[entry["verdict"]]}"><title>{escape(entry["name"])}: PSI {value:.4f}</title></rect>'
            )
        marker = "&rsaquo;" if value is not None and value > scale else ""
        parts.append(f'<text x="{x(value or 0.0) + 6:.1f}" y="{y + 15}" font-size="11">{_number(value)}{marker}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _mix_chart(reference: dict[str, float], by_day: dict[str, dict[str, int]]) -> str:
    """100 % stacked columns: the reference mix, then one column per day of the window."""
    labels = list(reference)
    columns = [("reference", reference)] + [
        (day, {label: counts[label] / max(sum(counts.values()), 1) for label in labels})
        for day, counts in by_day.items()
    ]
    left, top, height, width = 40, 10, 220, 1000
    step = width / len(columns)
    every = max(1, round(len(columns) / 20))
    parts = [f'<svg width="{left + width + 20}" height="{top + height + 50}" role="img" aria-label="prediction mix">']
    for tick in (0, 25, 50, 75, 100):
        y = top + height - tick / 100 * height
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eeeeee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{tick}%</text>'
        )
    for index, (name, shares) in enumerate(columns):
        x = left + index * step + step * 0.1
        bottom = top + height
        for label in labels:
            size = shares[label] * height
            bottom -= size
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom:.1f}" width="{step * 0.8:.1f}" height="{size:.1f}" '
                f'fill="{CLASS_COLOURS.get(label, "#607d8b")}"><title>{escape(name)} {escape(label)}: '
                f"{100 * shares[label]:.1f} %</title></rect>"
            )
        if index == 0 or index % every == 0:
            text = "ref" if index == 0 else name[5:]
            parts.append(
                f'<text x="{x + step * 0.4:.1f}" y="{top + height + 14}" font-size="10" text-anchor="middle">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    legend = "".join(
        f'<span style="background:{CLASS_COLOURS.get(label, "#607d8b")}"></span>{escape(label)}' for label in labels
    )
    return "".join(parts) + f'<div class="legend muted">{legend}</div>'


def _bins_chart(bins: list[dict[str, Any]]) -> str:
    """Grouped columns: reference (grey) and current (blue) share of each bin."""
    if not bins:
        return '<p class="muted">no reference values: the training rows had none</p>'
    left, top, width, height, bottom_margin = 36, 8, 500, 120, 92
    peak = max((max(b["reference"], b["current"]) for b in bins), default=0.0) or 1.0
    step = width / len(bins)
    bar = step * 0.38
    parts = [f'<svg width="{left + width + 10}" height="{top + height + bottom_margin}" role="img">']
    for tick in (0.0, 0.5, 1.0):
        y = top + height - tick * height
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eeeeee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="9" text-anchor="end">{100 * tick * peak:.0f}%</text>'
        )
    for index, entry in enumerate(bins):
        x = left + index * step + step * 0.12
        label = escape(entry["label"])
        for offset, key, colour in ((0.0, "reference", REFERENCE_COLOUR), (bar, "current", CURRENT_COLOUR)):
            size = entry[key] / peak * height
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{top + height - size:.1f}" width="{bar:.1f}" height="{size:.1f}" '
                f'fill="{colour}"><title>{label} {key}: {100 * entry[key]:.1f} %</title></rect>'
            )
        short = entry["label"] if len(entry["label"]) <= 24 else entry["label"][:23] + "…"
        anchor_x, anchor_y = x + bar, top + height + 10
        parts.append(
            f'<text x="{anchor_x:.1f}" y="{anchor_y}" font-size="9" text-anchor="end" '
            f'transform="rotate(-35 {anchor_x:.1f} {anchor_y})">{escape(short)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _panel(entry: dict[str, Any]) -> str:
    quality = [f"{entry['rows']:,} values compared"]
    if entry.get("missing_share") is not None:
        quality.append(
            f"missing {_share(entry['missing_share'])} (reference {_share(entry['reference_missing_share'])})"
        )
    if entry.get("unknown_share") is not None:
        quality.append(
            f"Unknown {_share(entry['unknown_share'])} (reference {_share(entry['reference_unknown_share'])})"
        )
    if entry.get("p_value") is not None:
        quality.append(f"χ² {entry['chi2']:.1f}, dof {entry['dof']}, p {_p_value(entry['p_value'])}")
    return (
        f'<div class="panel"><h3>{escape(entry["name"])} {_verdict(entry["verdict"])} '
        f'<span class="muted">PSI {_number(entry["psi"])}</span></h3>'
        f'<div class="muted">{escape("; ".join(quality))}</div>{_bins_chart(entry["bins"])}</div>'
    )


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>values</th><th>PSI</th><th>χ²</th><th>p-value</th>"
        "<th>verdict</th><th>missing</th><th>ref. missing</th><th>Unknown</th><th>ref. Unknown</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(r['name'])}</td><td>{escape(r['kind'])}</td><td>{r['rows']:,}</td>"
        f"<td>{_number(r['psi'])}</td><td>{_number(r.get('chi2'), 1)}</td><td>{_p_value(r.get('p_value'))}</td>"
        f"<td>{_verdict(r['verdict'])}</td><td>{_share(r.get('missing_share'))}</td>"
        f"<td>{_share(r.get('reference_missing_share'))}</td><td>{_share(r.get('unknown_share'))}</td>"
        f"<td>{_share(r.get('reference_unknown_share'))}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _reason_table(mix: dict[str, Any], top: int = 8) -> str:
    """The most cited reason codes: the reference's share of answers citing each, the window's, then each day's;
    below, the verdict of the mix against the reference."""
    if not mix.get("explained_records"):
        return '<p class="muted">no explained answers in the window</p>'
    reference = mix.get("codes") or {}
    ranked = sorted(reference, key=lambda code: -max(reference[code]["reference"], reference[code]["current"]))
    codes = ranked[:top] if reference else list(mix["shares"])[:top]
    days = list(mix["by_day"])
    head = (
        "<tr><th>reason code</th><th>reference</th><th>all days</th>"
        + "".join(f"<th>{escape(d)}</th>" for d in days)
        + "</tr>"
    )
    body = "".join(
        f"<tr><td>{escape(code)}</td><td>{_share(reference[code]['reference'] if reference else None)}</td>"
        f"<td>{_share(mix['shares'].get(code, 0.0))}</td>"
        + "".join(f"<td>{_share(mix['by_day'][d]['shares'].get(code, 0.0))}</td>" for d in days)
        + "</tr>"
        for code in codes
    )
    return f"<table>{head}{body}</table>{_reason_verdict(mix)}"


def _reason_verdict(mix: dict[str, Any]) -> str:
    verdict = (mix.get("verdict") or {}).get("verdict")
    if verdict in COLOURS:
        result = mix["verdict"]
        reference = mix["reference"]
        return (
            f'<p class="muted">mix against the reference ({reference["explained_records"]:,} answers at download): '
            f"PSI {_number(result['psi'])}, χ² {_number(result['chi2'], 1)}, dof {result['dof'] or '-'}, "
            f"p {_p_value(result['p_value'])} {_verdict(verdict)} (reported beside the verdict, not part of it)</p>"
        )
    return '<p class="muted">no reference mix in this bundle (downloaded before it was measured): not compared</p>'


def _interval(entry: dict[str, Any], name: str) -> str:
    bounds = (entry.get("ci95") or {}).get(name)
    return f" [{_number(bounds[0])}, {_number(bounds[1])}]" if bounds and None not in bounds else ""


def _performance(performance: dict[str, Any]) -> str:
    """Estimated (from probabilities) beside realised (from outcomes) quality, per version and month."""
    estimated, realized = performance.get("estimated") or {}, performance.get("realized") or {}
    if not estimated and not realized:
        return '<p class="muted">no decisions with probabilities in the window</p>'
    head = (
        "<tr><th>version</th><th>month</th><th>decisions</th><th>est. macro-F1</th><th>est. AUC</th>"
        "<th>est. accuracy</th><th>labelled</th><th>macro-F1 [95 %]</th><th>AUC [95 %]</th>"
        "<th>accuracy [95 %]</th><th>ECE</th></tr>"
    )
    rows = []
    for version in sorted(set(estimated) | set(realized)):
        guess, truth = estimated.get(version, {}), realized.get(version, {})
        months = sorted(set(guess.get("by_month", {})) | set(truth.get("by_month", {})))
        for month, e, r in [
            ("all", guess, truth),
            *((m, guess.get("by_month", {}).get(m, {}), truth.get("by_month", {}).get(m, {})) for m in months),
        ]:
            rows.append(
                f"<tr><td>{escape(version)}</td><td>{escape(month)}</td><td>{e.get('n', 0):,}</td>"
                + "".join(f"<td>{_number(e.get(name))}</td>" for name in ("macro_f1", "auc", "accuracy"))
                + f"<td>{r.get('n', 0):,}</td>"
                + "".join(
                    f"<td>{_number(r.get(name))}{_interval(r, name)}</td>" for name in ("macro_f1", "auc", "accuracy")
                )
                + f"<td>{_number(r.get('ece'))}</td></tr>"
            )
    outcomes = performance.get("outcomes")
    note = (
        "outcomes: " + ", ".join(f"{escape(k.replace('_', ' '))} {v:,}" for k, v in outcomes.items())
        if outcomes
        else "no outcomes given (--outcomes): estimates only"
    )
    return f'<table>{head}{"".join(rows)}</table><p class="muted">{note}</p>'


def _air_cell(table: dict[str, Any], kind: str, band: str) -> str:
    ratio = table.get("air", {}).get(kind, {}).get("ratios", {}).get(band)
    flagged = any(f["band"] == band and f["outcome"] == kind for f in table.get("flagged", ()))
    text = _number(ratio)
    return f'<td style="color:{COLOURS["alert"]};font-weight:600">{text} ⚑</td>' if flagged else f"<td>{text}</td>"


def _fairness(fairness: dict[str, Any]) -> str:
    """Per age band: decisions, mean P(Good), adverse-impact ratios (training's beside), recall; then per month."""
    bands = fairness.get("bands") or list(fairness.get("age_bands", {}))
    if not fairness.get("rows"):
        return '<p class="muted">no decisions with an age in the window</p>'
    reference = fairness.get("reference") or {}
    head = (
        "<tr><th>age band</th><th>decisions</th><th>Poor</th><th>Standard</th><th>Good</th><th>mean P(Good)</th>"
        "<th>AIR not Poor</th><th>(training)</th><th>AIR Good</th><th>(training)</th><th>labelled</th>"
        "<th>recall Poor</th><th>recall Standard</th><th>recall Good</th></tr>"
    )
    rows = []
    for band in bands:
        entry = fairness["age_bands"][band]
        shares, recall = entry["decision_shares"], entry.get("recall") or {}
        rows.append(
            f"<tr><td>{escape(band)}</td><td>{entry['n']:,}</td>"
            + "".join(f"<td>{_share(shares.get(label))}</td>" for label in ("Poor", "Standard", "Good"))
            + f"<td>{_number(entry['mean_p_good'])}</td>"
            + _air_cell(fairness, "not_poor", band)
            + f"<td>{_number(reference.get('air', {}).get('not_poor', {}).get('ratios', {}).get(band))}</td>"
            + _air_cell(fairness, "good", band)
            + f"<td>{_number(reference.get('air', {}).get('good', {}).get('ratios', {}).get(band))}</td>"
            + f"<td>{entry.get('labelled', 0):,}</td>"
            + "".join(f"<td>{_number(recall.get(label))}</td>" for label in ("Poor", "Standard", "Good"))
            + "</tr>"
        )
    months = fairness.get("by_month", {})
    trend_head = (
        "<tr><th>month</th>"
        + "".join(f"<th>{escape(b)} not Poor</th><th>{escape(b)} Good</th>" for b in bands)
        + "</tr>"
    )
    trend = "".join(
        f"<tr><td>{escape(month)}</td>"
        + "".join(_air_cell(table, kind, band) for band in bands for kind in ("not_poor", "good"))
        + "</tr>"
        for month, table in months.items()
    )
    note = (
        f"Adverse-impact ratio: a band's rate of favourable decisions over the most favoured band's; "
        f"⚑ below {fairness.get('screen', 0.8):g} is a screen for review, not a verdict. "
        f"{fairness.get('age_missing', 0):,} decisions without an age."
    )
    return (
        f'<table>{head}{"".join(rows)}</table><p class="muted">{escape(note)}</p>'
        f"<h3>Adverse-impact ratio per month</h3><table>{trend_head}{trend}</table>"
    )


def _trend_heatmap(trend: dict[str, Any], warn: float, alert: float) -> str:
    """One row per field (then P(Poor) and P(Good)), one column per day: each day's PSI against the reference."""
    series = {
        **(trend.get("psi_by_day") or {}),
        **{f"P({label})": values for label, values in (trend.get("probability_psi_by_day") or {}).items()},
    }
    days = sorted({day for values in series.values() for day in values})
    if not days:
        return '<p class="muted">no days in the window</p>'
    label_width, cell, top = 210, max(14, min(40, 900 // len(days))), 18
    parts = [f'<svg width="{label_width + cell * len(days) + 10}" height="{top + 18 * len(series) + 24}" '
             'role="img" aria-label="PSI per field per day">']  # fmt: skip
    every = max(1, round(len(days) / 12))
    for column, day in enumerate(days):
        if column % every == 0:
            parts.append(f'<text x="{label_width + column * cell + cell / 2:.1f}" y="12" font-size="10" '
                         f'text-anchor="middle">{escape(day[5:])}</text>')  # fmt: skip
    for row, (name, values) in enumerate(series.items()):
        y = top + row * 18
        parts.append(f'<text x="{label_width - 8}" y="{y + 13}" font-size="12" text-anchor="end">{escape(name)}</text>')
        for column, day in enumerate(days):
            value = values.get(day)
            level = (
                "insufficient_data"
                if value is None
                else "alert"
                if value >= alert
                else "warn"
                if value >= warn
                else "none"
            )
            parts.append(f'<rect x="{label_width + column * cell}" y="{y}" width="{cell - 2}" height="16" '
                         f'fill="{COLOURS[level]}" opacity="{0.35 if level == "none" else 0.9}">'
                         f"<title>{escape(name)} {escape(day)}: PSI {_number(value)}</title></rect>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _probability_table(trend: dict[str, Any], drift: dict[str, Any]) -> str:
    """Per day the mean probabilities and, with reference bins, the PSI of P(Poor) and P(Good) against them."""
    days = trend.get("probability_by_day") or {}
    if not days:
        return '<p class="muted">no probabilities captured</p>'
    series = trend.get("probability_psi_by_day") or {}
    head = (
        "<tr><th>day</th><th>decisions</th><th>mean P(Poor)</th><th>mean P(Standard)</th><th>mean P(Good)</th>"
        + "".join(f"<th>PSI P({escape(label)})</th>" for label in series)
        + "</tr>"
    )
    body = "".join(
        f"<tr><td>{escape(day)}</td><td>{entry['n']:,}</td>"
        + "".join(f"<td>{_number(entry['mean'].get(label))}</td>" for label in ("Poor", "Standard", "Good"))
        + "".join(f"<td>{_number(values.get(day))}</td>" for values in series.values())
        + "</tr>"
        for day, entry in days.items()
    )
    window = " ".join(
        f"{escape(entry['name'])} over the window: PSI {_number(entry['psi'])} {_verdict(entry['verdict'])}"
        for entry in drift["classes"]
    )
    note = window or "no probability bins in the reference profile (an older bundle): probabilities not compared"
    return f'<table>{head}{body}</table><p class="muted">{note}</p>'


def _data_quality(quality: dict[str, Any]) -> str:
    """Refused requests per day and problem kind, then problems per field per day (from the request log lines)."""
    refusals = quality.get("refusals")
    if refusals and refusals.get("by_day"):
        kinds = sorted({kind for day in refusals["by_day"].values() for kind in day["problems"]})
        head = (
            "<tr><th>day</th><th>requests</th><th>refused</th><th>share</th>"
            + "".join(f"<th>{escape(kind)}</th>" for kind in kinds)
            + "</tr>"
        )
        body = "".join(
            f"<tr><td>{escape(day)}</td><td>{entry['requests']:,}</td><td>{entry['refused']:,}</td>"
            f"<td>{_share(entry['refused_share'])}</td>"
            + "".join(f"<td>{entry['problems'].get(kind, 0):,}</td>" for kind in kinds)
            + "</tr>"
            for day, entry in refusals["by_day"].items()
        )
        table = f"<table>{head}{body}</table><h3>Problems per field</h3>{_field_table(refusals)}"
    else:
        table = '<p class="muted">no request logs given (--request-logs): refusals not counted</p>'
    return table


def _field_table(refusals: dict[str, Any]) -> str:
    """One row per contract field with problems (``_other``: a name outside the contract), one column per day."""
    fields = list(refusals.get("fields") or {})
    if not fields:
        return '<p class="muted">no field problems in the request lines</p>'
    days = refusals["by_day"]
    head = "<tr><th>field</th><th>all days</th>" + "".join(f"<th>{escape(day)}</th>" for day in days) + "</tr>"
    body = "".join(
        f"<tr><td>{escape(name)}</td><td>{refusals['fields'][name]:,}</td>"
        + "".join(f"<td>{entry.get('fields', {}).get(name, 0):,}</td>" for entry in days.values())
        + "</tr>"
        for name in fields
    )
    return f"<table>{head}{body}</table>"


def _challenger(section: dict[str, Any] | None) -> str:
    """Champion versus shadow challenger: flip table, flips per age band, probability shift, realised figures."""
    if not section:
        return '<p class="muted">no captured record carries a challenger (CHALLENGER_MODEL_DIR unset)</p>'
    flips = section["flips"]
    labels = list(flips["table"])
    head = "<tr><th>champion \u2193 challenger \u2192</th>" + "".join(f"<th>{escape(c)}</th>" for c in labels) + "</tr>"
    body = "".join(
        f"<tr><th>{escape(row)}</th>" + "".join(f"<td>{flips['table'][row][c]:,}</td>" for c in labels) + "</tr>"
        for row in labels
    )
    bands = "".join(
        f"<tr><td>{escape(band)}</td><td>{entry['n']:,}</td><td>{entry['flips']:,}</td>"
        f"<td>{_share(entry['rate'])}</td><td>{entry['to_better']:,}</td><td>{entry['to_worse']:,}</td></tr>"
        for band, entry in flips["by_age_band"].items()
    )
    shift = "".join(
        f"<tr><td>{escape(label)}</td><td>{_number(s['mean'], 4)}</td><td>{_number(s['mean_abs'], 4)}</td>"
        f"<td>{_number(s['max_abs'], 4)}</td></tr>"
        for label, s in section["probability_shift"].items()
    )
    realized = section.get("realized")
    if realized and realized.get("n"):
        rows = "".join(
            f"<tr><td>{name}</td><td>{_number((realized[name] or {}).get('macro_f1'))}</td>"
            f"<td>{_number((realized[name] or {}).get('auc'))}</td></tr>"
            for name in ("champion", "challenger")
        )
        outcome = (
            f"<p>on the same {realized['n']:,} labelled decisions</p>"
            f"<table><tr><th>model</th><th>macro-F1</th><th>AUC</th></tr>{rows}</table>"
        )
    else:
        outcome = '<p class="muted">no outcomes joined (--outcomes): realised figures not computed</p>'
    return (
        f"<p>{flips['flips']:,} of {flips['n']:,} decisions would flip ({_share(flips['rate'])}): "
        f"{flips['to_better']:,} to a better class, {flips['to_worse']:,} to a worse one</p>"
        f"<table>{head}{body}</table>"
        "<table><tr><th>age band</th><th>decisions</th><th>flips</th><th>share</th><th>better</th><th>worse</th></tr>"
        f"{bands}</table>"
        "<table><tr><th>class</th><th>mean shift</th><th>mean |shift|</th><th>max |shift|</th></tr>"
        f"{shift}</table>{outcome}"
    )


def render(document: dict[str, Any]) -> str:
    """The page for one report document (``report.summary``)."""
    features = document["features"]
    mix = document["prediction_mix"]
    probabilities = document.get("probability_drift") or {"reference": False, "classes": []}
    comparisons = [*features, mix, *probabilities["classes"]]
    thresholds = document["thresholds"]
    counts = document["counts"]
    window = document["window"]
    reference = document["reference"]
    facts = {
        "window": f"{window['since']} to {window['until']} (end excluded)",
        "capture": document["capture"],
        "reference": f"{reference.get('source', '')} — model {reference.get('model', '-')} "
        f"version {reference.get('version', '-')}, {reference.get('rows', '-')} training rows",
        "records compared": f"{counts['compared']:,} (files {counts['files']:,}, lines {counts['lines']:,}, "
        f"duplicates {counts['duplicates']:,}, malformed {counts['malformed']:,}, outside the window "
        f"{counts['outside_window']:,}, other model {counts['other_model']:,})",
        "model versions seen": ", ".join(f"{v}: {n:,}" for v, n in document["versions"].items()) or "-",
        "thresholds": f"warn PSI ≥ {thresholds['warn']:g}, alert PSI ≥ {thresholds['alert']:g}; below "
        f"{thresholds['min_rows']:,} values only shifts the χ² test confirms at p < {thresholds.get('alpha', 0):g}",
        "generated": document["generated_at"],
    }
    facts_html = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts.items())
    reference_mix = {b["label"]: b["reference"] for b in mix["bins"]}
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Drift report {escape(window['since'][:10])} to {escape(window['until'][:10])}</title>"
        f"<style>{_STYLE}</style></head><body><main>"
        f"<h1>Drift report {_verdict(document['verdict'])}</h1>"
        f'<table class="facts">{facts_html}</table>'
        f"<h2>Population stability index</h2>{_psi_chart(comparisons, thresholds['warn'], thresholds['alert'])}"
        f"<h2>PSI per field per day</h2>"
        f"{_trend_heatmap(document.get('trend') or {}, thresholds['warn'], thresholds['alert'])}"
        f"<h2>Probabilities per day</h2>{_probability_table(document.get('trend') or {}, probabilities)}"
        f"<h2>Prediction mix per day {_verdict(mix['verdict'])}</h2>{_mix_chart(reference_mix, mix['by_day'])}"
        f"<h2>Performance: estimated from probabilities, realised from outcomes</h2>"
        f"{_performance(document.get('performance') or {})}"
        f"<h2>Fairness by age band</h2>{_fairness(document.get('fairness') or {})}"
        f"<h2>Reason codes per day</h2>{_reason_table(document.get('reason_mix', {}))}"
        f"<h2>Champion versus challenger</h2>{_challenger(document.get('challenger'))}"
        f"<h2>Data quality: refused requests per day and problem</h2>"
        f"{_data_quality(document.get('data_quality') or {})}"
        f"<h2>Summary</h2>{_table(comparisons)}"
        f'<h2>Distributions</h2><div class="legend muted"><span style="background:{REFERENCE_COLOUR}"></span>'
        f'reference<span style="background:{CURRENT_COLOUR}"></span>current</div>'
        f'<div class="panels">{"".join(_panel(entry) for entry in comparisons)}</div>'
        "</main></body></html>\n"
    )
