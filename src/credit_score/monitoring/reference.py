"""Where a drift run's reference profile comes from: a verified bundle, or a profile / metadata file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from credit_score.contract.bundle import load_bundle
from credit_score.monitoring.stats import Reference


def load_reference(bundle: str | None, reference: str | None) -> tuple[Reference, dict[str, Any]]:
    """The profile from a reference file (profile or metadata.json) or a verified bundle, and its origin."""
    if reference:
        document = json.loads(Path(reference).read_text(encoding="utf-8"))
        model = document.get("model", {}) if isinstance(document, dict) else {}
        profile = document.get("reference_profile", document) if isinstance(document, dict) else document
        origin = {"source": f"file {reference}", "model": model.get("name"), "version": model.get("version")}
    else:
        loaded = load_bundle(bundle or "model")
        profile = loaded.metadata.get("reference_profile")
        origin = {"source": f"bundle {bundle}", "model": loaded.name, "version": loaded.version}
    parsed = Reference.from_profile(profile)
    return parsed, {**origin, "rows": parsed.rows}


def _metadata_entry(key: str, bundle: str | None, reference: str | None) -> dict[str, Any] | None:
    """``metadata[key]`` of the reference document or the bundle, when it is a mapping."""
    if reference:
        document = json.loads(Path(reference).read_text(encoding="utf-8"))
        entry = document.get(key) if isinstance(document, dict) else None
    else:
        entry = load_bundle(bundle or "model").metadata.get(key)
    return entry if isinstance(entry, dict) else None


def reference_fairness(bundle: str | None, reference: str | None) -> dict[str, Any] | None:
    """The fairness-by-age table measured at training (``metadata.fairness``), when the source has one."""
    return _metadata_entry("fairness", bundle, reference)


def reference_reasons(bundle: str | None, reference: str | None) -> dict[str, Any] | None:
    """The reason-code mix measured at download (``metadata.reference_reasons``); None for an older bundle."""
    return _metadata_entry("reference_reasons", bundle, reference)
