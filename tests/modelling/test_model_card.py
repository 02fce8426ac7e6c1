"""The model card and the fairness reference: measured at training, logged to MLflow, written into the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from credit_score.contract.bundle import load_bundle
from credit_score.contract.fairness import BAND_NAMES
from credit_score.contract.fields import FIELD_NAMES
from credit_score.contract.reasons import REASONS
from credit_score.modelling import artifacts, model_card
from credit_score.modelling.downloader import Selection, download
from credit_score.modelling.training.train import TrainResult
from tests.modelling.training.test_train import client, rows, run_files, trained, trained_in  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def bundle(trained_in, tmp_path_factory) -> Path:  # noqa: F811
    target = tmp_path_factory.mktemp("card") / "model"
    download(Selection("train-test", alias="champion"), target, tracking_uri=trained_in[0].tracking_uri)
    return target


def test_given_a_training_run_when_read_then_fairness_by_age_is_logged_and_stored(
    trained: TrainResult,  # noqa: F811
    client: MlflowClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    table = json.loads((run_files(client, trained, tmp_path) / artifacts.FAIRNESS_FILE).read_text())
    logged = client.get_run(trained.run_id).data.metrics

    assert table["rows"] + table["age_missing"] == trained.metrics["eval_rows"]
    assert set(table["age_bands"]) == set(BAND_NAMES)
    assert all(table["age_bands"][band]["recall"] is not None for band in BAND_NAMES if table["age_bands"][band]["n"])
    assert logged["fairness_air_good_25_44"] == table["air"]["good"]["ratios"]["25-44"]
    assert logged["fairness_rate_not_poor_25_44"] == table["age_bands"]["25-44"]["favourable_rate"]["not_poor"]


def test_given_a_download_when_bundled_then_the_card_is_hash_checked_and_describes_this_version(
    bundle: Path,
    trained: TrainResult,  # noqa: F811
    client: MlflowClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    loaded = load_bundle(bundle)
    card = (bundle / model_card.MARKDOWN_FILE).read_text()
    page = (bundle / model_card.HTML_FILE).read_text()

    assert {model_card.MARKDOWN_FILE, model_card.HTML_FILE} <= set(loaded.metadata["files"])
    assert loaded.metadata["fairness"] == json.loads(
        (run_files(client, trained, tmp_path) / artifacts.FAIRNESS_FILE).read_text()
    )
    assert loaded.metadata["training"]["data"] == "rows.csv"
    assert f"train-test version {trained.version}" in card
    assert trained.run_id in card
    for name in (*FIELD_NAMES, *BAND_NAMES, *(r.code for r in REASONS)):
        assert name in card, name
    assert f"{trained.metrics['ece']:.4f}" in card
    assert f"{trained.metrics['macro_f1']:.4f}" in card
    assert "| Age | years | 14 to 100 |" in card
    assert "| tolerance | 1e-09 |" in card
    assert "| trees proven monotone | 60 |" in card  # both boosters' (30 + 30) trees
    for section in ("Intended use", "Training data", "Features", "Quality", "Fairness by age band", "Step test",
                    "Reason codes", "Limits", "Version"):  # fmt: skip
        assert f"## {section}" in card
        assert f"<h2>{section}" in page
    for outside in ("http:", "https:", "<script", "<link", "<img", "src="):
        assert outside not in page


def test_given_metadata_with_markup_when_rendered_then_html_escapes_it() -> None:
    page = model_card.to_html({"model": {"name": "<b>x</b>", "version": "1"}, "metrics": {}})

    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
