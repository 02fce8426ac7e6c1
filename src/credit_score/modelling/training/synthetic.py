"""Synthetic raw-schema demo rows, drawn from committed figures of the real data (never its rows).

``synthetic_profile.json`` beside this module holds, per class: the class share, the quantiles of
each numeric field's clean values, the frequencies of each categorical field's raw tokens, and the
rank correlations between all 21 fields. :func:`generate` samples each class from a Gaussian copula
with those correlations and marginals, so the rows keep the class-conditional signal and the main
joint effects (a model trained on them still ranks real customers). The raw data's dirty patterns
are then applied at the measured rates: trailing ``_``, placeholder tokens (``_``, ``_______``,
``!@9#%8``, ``__10000__``), out-of-range corrupt numbers, ``N Years and M Months`` ages.

:func:`build_profile` recomputes the figures from a real Kaggle-schema frame
(``python -m credit_score.modelling.training synthetic-profile --data PATH``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from credit_score.contract.fields import (
    CATEGORICAL_FIELDS,
    FIELDS,
    FIELDS_BY_NAME,
    NUMERIC_FIELDS,
    UNKNOWN,
    Field,
    clean_value,
)
from credit_score.modelling.training.data import CUSTOMER, LABEL_CODES, LABELS, RAW_COLUMNS, TARGET

PROFILE_PATH = Path(__file__).with_name("synthetic_profile.json")
FORMAT_VERSION = 1
QUANTILE_LEVELS = np.concatenate([[0.005], np.arange(1, 100) / 100, [0.995]])
CORRUPT_POINTS = 21
_DIGITS = 6
_SUFFIXED = re.compile(r"^-?\d+(\.\d+)?_$")
_LOAN_TYPES = (
    "Auto Loan",
    "Credit-Builder Loan",
    "Debt Consolidation Loan",
    "Home Equity Loan",
    "Mortgage Loan",
    "Not Specified",
    "Payday Loan",
    "Personal Loan",
    "Student Loan",
)


def _round(values: Any) -> list[float]:
    return [float(f"{value:.{_DIGITS}g}") for value in np.asarray(values, dtype=np.float64)]


def _text_format(f: Field, raw: pd.Series, clean: list[Any]) -> str:
    """How the real file writes this field, so synthetic text looks the same."""
    if f.name == "Credit_History_Age":
        return "years_months"
    values = pd.Series(clean, dtype="float64").dropna()
    if (values == values.round()).all():
        return "int_dot0" if raw.str.endswith(".0").mean() > 0.5 else "int"
    decimals = raw.str.extract(r"\.(\d+)", expand=False).str.len()
    return "float2" if (decimals.fillna(0) <= 2).mean() > 0.9 else "float"


def _dirt(f: Field, raw: pd.Series, clean: list[Any]) -> dict[str, Any]:
    """How often this column is dirty in the real data, and how."""
    rows = len(raw)
    junk = [value is None or (value == UNKNOWN and text != UNKNOWN) for value, text in zip(clean, raw, strict=True)]
    unusable = raw[junk]
    dirt: dict[str, Any] = {"suffix_rate": round(float(raw.str.match(_SUFFIXED).mean()), _DIGITS)}
    if f.is_numeric:
        numbers = pd.to_numeric(unusable.str.rstrip("_"), errors="coerce")
        placeholders = unusable[numbers.isna()]
        corrupt = numbers.dropna().to_numpy()
        dirt["corrupt_rate"] = round(len(corrupt) / rows, _DIGITS)
        if len(corrupt):
            points = np.quantile(corrupt, np.linspace(0, 1, CORRUPT_POINTS), method="nearest")
            dirt["corrupt_values"] = _round(points)
    else:
        placeholders = unusable
    dirt["placeholders"] = {token: round(count / rows, _DIGITS) for token, count in placeholders.value_counts().items()}
    return dirt


def _normal_scores(values: pd.Series) -> np.ndarray:
    """Rank-based normal scores; missing values sit at the median (score 0)."""
    ranks = values.rank(method="average")
    scores = ndtri((ranks - 0.5) / values.notna().sum()).to_numpy(dtype=np.float64)
    return np.nan_to_num(scores, nan=0.0)


def _positive_definite(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    fixed = vectors @ np.diag(np.clip(eigenvalues, 1e-3, None)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


def build_profile(frame: pd.DataFrame) -> dict[str, Any]:
    """Figures of a real raw frame: per-class marginals and correlations, overall dirt rates."""
    frame = frame[frame[TARGET].isin(LABELS)].reset_index(drop=True)
    scarce = [label for label in LABELS if (frame[TARGET] == label).sum() < 10]
    if scarce:
        raise ValueError(f"too few rows to describe the classes {', '.join(scarce)} (at least 10 each)")
    cleaned = {f.name: [clean_value(f, value) for value in frame[f.name]] for f in FIELDS}
    numbers = {f.name: pd.Series(cleaned[f.name], dtype="float64") for f in NUMERIC_FIELDS}
    # Categorical fields enter the copula as ordered tokens: ordered by their mean class code, so
    # the latent correlations carry the direction of each token's association with the label.
    codes = frame[TARGET].map(LABEL_CODES)
    orders = {f.name: list(codes.groupby(frame[f.name]).mean().sort_values().index) for f in CATEGORICAL_FIELDS}
    classes: dict[str, Any] = {}
    for label in LABELS:
        members = (frame[TARGET] == label).to_numpy()
        scores = []
        numeric = {}
        for f in NUMERIC_FIELDS:
            values = numbers[f.name][members]
            numeric[f.name] = _round(np.quantile(values.dropna(), QUANTILE_LEVELS))
            scores.append(_normal_scores(values))
        categorical = {}
        for f in CATEGORICAL_FIELDS:
            tokens = frame.loc[members, f.name]
            counts = tokens.value_counts()
            categorical[f.name] = {
                token: round(float(counts.get(token, 0)) / members.sum(), _DIGITS) for token in orders[f.name]
            }
            positions = tokens.map({token: index for index, token in enumerate(orders[f.name])})
            scores.append(_normal_scores(positions.astype("float64")))
        correlation = _positive_definite(np.corrcoef(np.vstack(scores)))
        classes[label] = {
            "share": round(float(members.mean()), _DIGITS),
            "numeric_quantiles": numeric,
            "categorical_frequencies": categorical,
            "correlation": [_round(row) for row in correlation],
        }
    fields = {
        f.name: {
            "format": _text_format(f, frame[f.name], cleaned[f.name]) if f.is_numeric else "category",
            **_dirt(f, frame[f.name], cleaned[f.name]),
        }
        for f in FIELDS
    }
    return {
        "format_version": FORMAT_VERSION,
        "source_rows": len(frame),
        "copula_order": [f.name for f in (*NUMERIC_FIELDS, *CATEGORICAL_FIELDS)],
        "quantile_levels": _round(QUANTILE_LEVELS),
        "classes": classes,
        "fields": fields,
    }


def write_profile(profile: dict[str, Any], path: str | os.PathLike[str] = PROFILE_PATH) -> Path:
    target = Path(path)
    target.write_text(json.dumps(profile, indent=1) + "\n", encoding="utf-8")
    return target


def load_profile(path: str | os.PathLike[str] = PROFILE_PATH) -> dict[str, Any]:
    profile = json.loads(Path(path).read_text(encoding="utf-8"))
    if profile.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: expected synthetic profile format_version {FORMAT_VERSION}")
    return profile


def _format_number(value: float, style: str) -> str:
    if style == "years_months":
        months = round(value)
        return f"{months // 12} Years and {months % 12} Months"
    if style == "int":
        return str(round(value))
    if style == "int_dot0":
        return f"{round(value):.1f}"
    if style == "float2":
        return f"{value:.2f}"
    return f"{value:.10g}"


def _sample_class(profile: dict[str, Any], label: str, rows: int, rng: np.random.Generator) -> dict[str, list[str]]:
    spec = profile["classes"][label]
    latent = rng.multivariate_normal(
        np.zeros(len(profile["copula_order"])), np.asarray(spec["correlation"]), rows, method="cholesky"
    )
    uniforms = ndtr(latent)
    levels = np.asarray(profile["quantile_levels"])
    columns: dict[str, list[str]] = {}
    for index, name in enumerate(profile["copula_order"]):
        if FIELDS_BY_NAME[name].is_numeric:
            values = np.interp(uniforms[:, index], levels, spec["numeric_quantiles"][name])
            style = profile["fields"][name]["format"]
            columns[name] = [_format_number(value, style) for value in values]
        else:
            frequencies = spec["categorical_frequencies"][name]
            tokens = list(frequencies)
            cumulative = np.cumsum(list(frequencies.values()))
            picks = np.searchsorted(cumulative / cumulative[-1], uniforms[:, index], side="right")
            columns[name] = [tokens[min(pick, len(tokens) - 1)] for pick in picks]
    return columns


def _soil(profile: dict[str, Any], frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """Apply the real data's numeric dirt (categorical placeholders come with the token frequencies)."""
    rows = len(frame)
    for f in NUMERIC_FIELDS:
        dirt = profile["fields"][f.name]
        column = frame[f.name].to_numpy(dtype=object)
        draw = rng.random(rows)
        corrupt = draw < dirt["corrupt_rate"]
        if corrupt.any():
            values = rng.choice(dirt["corrupt_values"], corrupt.sum())
            column[corrupt] = [_format_number(value, dirt["format"]) for value in values]
        threshold = dirt["corrupt_rate"]
        for token, rate in dirt["placeholders"].items():
            hit = (draw >= threshold) & (draw < threshold + rate)
            column[hit] = token
            threshold += rate
        suffixed = (rng.random(rows) < dirt["suffix_rate"]) & (draw >= threshold)
        column[suffixed] = [f"{text}_" for text in column[suffixed]]
        frame[f.name] = column


def generate(rows: int, seed: int = 42, profile: dict[str, Any] | None = None) -> pd.DataFrame:
    """``rows`` synthetic customers as raw Kaggle-schema text rows (all 28 columns, one row each)."""
    if rows < 1:
        raise ValueError("the number of synthetic rows must be positive")
    profile = profile or load_profile()
    rng = np.random.default_rng(seed)
    shares = np.asarray([profile["classes"][label]["share"] for label in LABELS])
    counts = rng.multinomial(rows, shares / shares.sum())
    parts = []
    for label, count in zip(LABELS, counts, strict=True):
        if count:
            part = pd.DataFrame(_sample_class(profile, label, int(count), rng))
            part[TARGET] = label
            parts.append(part)
    frame = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    _soil(profile, frame, rng)
    numbers = np.arange(rows)
    frame["ID"] = [f"0x{0x1600 + 16 * number:x}" for number in numbers]
    frame[CUSTOMER] = [f"CUS_0x{0x8000 + number:x}" for number in numbers]
    frame["Month"] = "August"
    frame["Name"] = [f"Synthetic Customer {number}" for number in numbers]
    frame["SSN"] = [f"000-00-{number % 10000:04d}" for number in numbers]  # area 000 is never issued
    frame["Type_of_Loan"] = [_loan_types(text, rng) for text in frame["Num_of_Loan"]]
    return frame[list(RAW_COLUMNS)].astype(str)


def _loan_types(count_text: str, rng: np.random.Generator) -> str:
    count = clean_value(FIELDS_BY_NAME["Num_of_Loan"], count_text)
    if not count:
        return ""
    names = list(rng.choice(_LOAN_TYPES, min(int(count), 9)))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + ", and " + names[-1]
