"""The model bundle: the contract between build time (downloader) and run time (handler).

A bundle is a folder holding ``model.onnx``, optionally ``explainer.npz`` (the reason-code tables),
and ``metadata.json``. The metadata names the
registered model, the class codes, the feature schema it was trained on and the sha256 of
every other file. Writing is atomic (temporary sibling folder, verify, rename), so a crashed
build never leaves a half-written bundle behind; reading refuses any bundle whose files do
not match their recorded hashes or whose features differ from this code's.

Standard library plus ``features`` only: this module runs in the Lambda image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_score.contract.fields import FEATURE_NAMES

FORMAT_VERSION = 1
MODEL_FILE = "model.onnx"
EXPLAINER_FILE = "explainer.npz"  # the reason-code tables (runtime.explainer); optional, verified like the model
METADATA_FILE = "metadata.json"
MODEL_CARD_MARKDOWN = "model_card.md"  # the model card, generated from the metadata at download (optional)
MODEL_CARD_HTML = "model_card.html"
INPUT_NAME = "features"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"
MARGINS_OUTPUT = "margins"  # the cascade's two raw scores, from which the answer's decision block is computed
CLASSES: tuple[tuple[int, str], ...] = ((0, "Poor"), (1, "Standard"), (2, "Good"))


class BundleError(Exception):
    """The bundle is missing, incomplete, tampered with, or built for other features."""


@dataclass(frozen=True)
class Bundle:
    path: Path
    metadata: dict[str, Any]

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    def has_file(self, name: str) -> bool:
        """Whether the bundle ships ``name`` (every listed file was hash-checked at load)."""
        return name in self.metadata["files"]

    @property
    def name(self) -> str:
        return str(self.metadata["model"]["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["model"]["version"])

    @property
    def alias(self) -> str | None:
        return self.metadata["model"].get("alias")

    @property
    def thresholds(self) -> tuple[float, float]:
        """The label rule's cut-offs (t1, t2) on the cascade's cumulative probabilities; BundleError if absent."""
        try:
            found = self.metadata["thresholds"]
            t1, t2 = float(found["t1"]), float(found["t2"])
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"{METADATA_FILE}: 'thresholds' must hold the numbers t1 and t2") from None
        if not (0 < t1 < 1 and 0 < t2 < 1):
            raise BundleError(f"{METADATA_FILE}: thresholds t1 and t2 must lie between 0 and 1")
        return t1, t2

    @property
    def labels(self) -> tuple[str, ...]:
        """Class labels indexed by their integer code."""
        by_code = {entry["code"]: entry["label"] for entry in self.metadata["classes"]}
        return tuple(by_code[code] for code in range(len(by_code)))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def classes_metadata() -> list[dict[str, Any]]:
    return [{"code": code, "label": label} for code, label in CLASSES]


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and verify a bundle; raise :class:`BundleError` with the reason otherwise."""
    folder = Path(path)
    metadata_path = folder / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"no {METADATA_FILE} in model bundle {folder}; run model_downloader.py") from None
    except (OSError, ValueError) as error:
        raise BundleError(f"unreadable {metadata_path}: {error}") from None
    if not isinstance(metadata, dict) or metadata.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{metadata_path}: expected format_version {FORMAT_VERSION}")
    files = metadata.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise BundleError(f"{metadata_path}: 'files' must list {MODEL_FILE} with its sha256")
    for name, entry in files.items():
        file_path = folder / name
        if not file_path.is_file():
            raise BundleError(f"bundle file {name} is missing from {folder}")
        if sha256_file(file_path) != entry.get("sha256"):
            raise BundleError(f"bundle file {name} does not match its sha256 in {METADATA_FILE}; refusing to load")
    feature_names = tuple(metadata.get("input", {}).get("feature_names", ()))
    if feature_names != FEATURE_NAMES:
        raise BundleError("bundle was built for a different feature encoding than this code; rebuild it")
    codes = [entry.get("code") for entry in metadata.get("classes", ())]
    if codes != [code for code, _ in CLASSES]:
        raise BundleError(f"bundle classes must be coded {[code for code, _ in CLASSES]}")
    for key in ("name", "version"):
        if not metadata.get("model", {}).get(key):
            raise BundleError(f"{metadata_path}: model.{key} is required")
    return Bundle(folder, metadata)


def write_bundle(
    target: str | os.PathLike[str],
    model_bytes: bytes,
    metadata: Mapping[str, Any],
    verify: Callable[[Bundle], None] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Bundle:
    """Write ``model_bytes``, ``extra_files`` (name -> bytes, e.g. :data:`EXPLAINER_FILE`) and ``metadata``
    (without ``files``) as a verified bundle at ``target``; every file's sha256 goes into ``files``.

    ``verify`` runs on the staged bundle as it lies on disk; if it raises, nothing is swapped in.
    An existing bundle at ``target`` is replaced only after the new one has passed.
    """
    target_path = Path(target).resolve()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target_path.name}-", dir=target_path.parent))
    try:
        contents = {MODEL_FILE: model_bytes, **(extra_files or {})}
        document = dict(metadata)
        document["format_version"] = FORMAT_VERSION
        document["files"] = {}
        for name, data in contents.items():
            if Path(name).name != name or name == METADATA_FILE:
                raise BundleError(f"bundle file names must be plain and not {METADATA_FILE}: {name}")
            (staging / name).write_bytes(data)
            document["files"][name] = {"sha256": sha256_file(staging / name), "bytes": len(data)}
        (staging / METADATA_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        staged = load_bundle(staging)
        if verify is not None:
            verify(staged)
        staging.chmod(0o755)
        _replace_folder(staging, target_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return load_bundle(target_path)


def _replace_folder(source: Path, target: Path) -> None:
    """Swap ``source`` into ``target``; the old bundle stays in place until the swap succeeds."""
    if not target.exists():
        os.replace(source, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
    retired.rmdir()
    os.replace(target, retired)
    try:
        os.replace(source, target)
    except BaseException:
        os.replace(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)
