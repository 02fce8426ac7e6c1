"""Settings read once from the environment, with explicit arguments winning and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from credit_score.runtime import config
from credit_score.runtime.config import Settings
from credit_score.runtime.errors import ConfigError
from tests.support.paths import ROOT


def test_given_empty_environment_when_read_then_documented_defaults():
    settings = Settings.from_env({})
    assert settings.model_dir == Path(config.__file__).resolve().parents[2] / "model"
    assert settings.max_batch_size == 1000
    assert settings.max_body_bytes == 6 * 1024 * 1024
    assert settings.capture_uri is None
    assert settings.capture_kms_key_id is None
    assert settings.capture_sampling_percent == 100.0
    assert settings.model_threads == 0
    assert settings.metrics_enabled is True
    assert (settings.metrics_namespace, settings.service_name, settings.log_level) == (
        "CreditScore",
        "credit-score",
        "INFO",
    )


def test_given_lambda_task_root_when_read_then_model_beside_the_handler():
    assert Settings.from_env({"LAMBDA_TASK_ROOT": "/var/task"}).model_dir == Path("/var/task/model")


def test_given_every_variable_when_read_then_each_is_used():
    settings = Settings.from_env(
        {
            "MODEL_DIR": "/opt/model",
            "MAX_BATCH_SIZE": "50",
            "MAX_BODY_BYTES": "1024",
            "CAPTURE_URI": "s3://bucket/prefix",
            "CAPTURE_SAMPLING_PERCENT": "12.5",
            "CAPTURE_KMS_KEY_ID": "alias/capture",
            "MODEL_THREADS": "2",
            "METRICS_ENABLED": "false",
            "METRICS_NAMESPACE": "Scoring",
            "POWERTOOLS_SERVICE_NAME": "scorer",
            "LOG_LEVEL": "debug",
        }
    )
    assert settings == Settings(
        model_dir=Path("/opt/model"),
        max_batch_size=50,
        max_body_bytes=1024,
        capture_uri="s3://bucket/prefix",
        capture_sampling_percent=12.5,
        capture_kms_key_id="alias/capture",
        model_threads=2,
        metrics_enabled=False,
        metrics_namespace="Scoring",
        service_name="scorer",
        log_level="DEBUG",
    )


def test_given_explicit_arguments_when_read_then_they_win_over_the_environment():
    settings = Settings.from_env({"MAX_BATCH_SIZE": "50"}, max_batch_size=5, model_dir=Path("/m"))
    assert settings.max_batch_size == 5
    assert settings.model_dir == Path("/m")


def test_given_unknown_argument_when_read_then_type_error():
    with pytest.raises(TypeError):
        Settings.from_env({}, batch=3)


def test_given_settings_when_changed_then_refused_because_frozen():
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.max_batch_size = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("MAX_BATCH_SIZE", "many", "MAX_BATCH_SIZE must be a whole number"),
        ("MAX_BATCH_SIZE", "0", "MAX_BATCH_SIZE must be a whole number >= 1"),
        ("MAX_BATCH_SIZE", "1890", "MAX_BATCH_SIZE must be <= 1889"),
        ("MAX_BODY_BYTES", "1.5", "MAX_BODY_BYTES must be a whole number"),
        ("MODEL_THREADS", "-1", "MODEL_THREADS must be a whole number >= 0"),
        ("CAPTURE_SAMPLING_PERCENT", "half", "CAPTURE_SAMPLING_PERCENT must be a number between 0 and 100"),
        ("CAPTURE_SAMPLING_PERCENT", "101", "CAPTURE_SAMPLING_PERCENT must be a number between 0 and 100"),
        ("METRICS_ENABLED", "maybe", "METRICS_ENABLED must be a boolean"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_given_bad_value_when_read_then_error_names_key_and_type(key, value, expected):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({key: value})
    assert caught.value.reason.startswith(expected)
    assert value not in caught.value.message


@pytest.mark.parametrize(("text", "expected"), [("TRUE", True), ("1", True), ("off", False), ("No", False)])
def test_given_boolean_spellings_when_read_then_understood(text, expected):
    assert Settings.from_env({"METRICS_ENABLED": text}).metrics_enabled is expected


def test_given_module_when_imported_then_environment_not_read():
    code = "import credit_score.runtime.config, app; print('imported')"
    checkout = os.pathsep.join([str(ROOT / "src"), str(ROOT)])  # not sys.path: other tests may have grown it
    env = {**os.environ, "MAX_BATCH_SIZE": "not a number", "PYTHONPATH": checkout}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_given_the_largest_batch_that_fits_when_configured_then_accepted_one_more_refused():
    assert Settings.from_env({"MAX_BATCH_SIZE": str(config.MAX_BATCH_LIMIT)}).max_batch_size == config.MAX_BATCH_LIMIT
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({}, max_batch_size=config.MAX_BATCH_LIMIT + 1)
    assert "response limit" in caught.value.reason


def test_given_the_per_record_answer_size_when_raised_then_the_batch_limit_follows():
    fits = (config.LAMBDA_RESPONSE_BYTES - config.ANSWER_ENVELOPE_BYTES) // config.ANSWER_BYTES_PER_RECORD
    assert fits == config.MAX_BATCH_LIMIT
    assert Settings.max_batch_size <= config.MAX_BATCH_LIMIT, "the default must fit"
