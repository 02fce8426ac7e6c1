"""The bundle contract: atomic writes, hash verification, schema checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_score.contract.bundle import (
    METADATA_FILE,
    MODEL_FILE,
    Bundle,
    BundleError,
    classes_metadata,
    load_bundle,
    write_bundle,
)
from credit_score.contract.fields import FEATURE_NAMES, schema


def _metadata(version: str = "3") -> dict:
    return {
        "model": {"name": "credit-score-classifier", "version": version, "alias": "champion"},
        "classes": classes_metadata(),
        "input": {"name": "features", "feature_names": list(FEATURE_NAMES), "fields": schema()},
    }


def test_given_written_bundle_when_loading_then_metadata_and_hashes_round_trip(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "model", b"onnx-bytes", _metadata())

    loaded = load_bundle(tmp_path / "model")

    assert loaded.version == "3"
    assert loaded.alias == "champion"
    assert loaded.labels == ("Poor", "Standard", "Good")
    assert loaded.metadata["files"][MODEL_FILE]["bytes"] == len(b"onnx-bytes")
    assert bundle.model_path.read_bytes() == b"onnx-bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_given_one_byte_changed_in_model_when_loading_then_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path / "model", b"onnx-bytes", _metadata())
    (tmp_path / "model" / MODEL_FILE).write_bytes(b"onnx-bytez")

    with pytest.raises(BundleError, match="does not match its sha256"):
        load_bundle(tmp_path / "model")


def test_given_model_file_deleted_when_loading_then_refused(tmp_path: Path) -> None:
    write_bundle(tmp_path / "model", b"onnx-bytes", _metadata())
    (tmp_path / "model" / MODEL_FILE).unlink()

    with pytest.raises(BundleError, match="missing"):
        load_bundle(tmp_path / "model")


def test_given_no_bundle_when_loading_then_error_says_how_to_build_one(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"model_downloader\.py"):
        load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m["input"].update(feature_names=list(FEATURE_NAMES)[:-1]), "different feature encoding"),
        (lambda m: m.update(classes=list(reversed(classes_metadata()))), "classes must be coded"),
        (lambda m: m["model"].update(version=""), "model.version is required"),
        (lambda m: m.update(format_version=99), "format_version"),
    ],
)
def test_given_metadata_edited_when_loading_then_refused(tmp_path: Path, edit, message: str) -> None:
    write_bundle(tmp_path / "model", b"onnx-bytes", _metadata())
    path = tmp_path / "model" / METADATA_FILE
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))

    with pytest.raises(BundleError, match=message):
        load_bundle(tmp_path / "model")


def test_given_existing_bundle_when_new_one_fails_verification_then_old_one_kept(tmp_path: Path) -> None:
    write_bundle(tmp_path / "model", b"old", _metadata("1"))

    def refuse(staged: Bundle) -> None:
        assert staged.version == "2"
        raise RuntimeError("parity failed")

    with pytest.raises(RuntimeError, match="parity failed"):
        write_bundle(tmp_path / "model", b"new", _metadata("2"), verify=refuse)

    assert load_bundle(tmp_path / "model").version == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_given_existing_bundle_when_new_one_verifies_then_replaced_without_leftovers(tmp_path: Path) -> None:
    write_bundle(tmp_path / "model", b"old", _metadata("1"))

    write_bundle(tmp_path / "model", b"new", _metadata("2"), verify=lambda staged: None)

    assert load_bundle(tmp_path / "model").version == "2"
    assert (tmp_path / "model" / MODEL_FILE).read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
