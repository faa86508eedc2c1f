"""Config validation: every error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunewatch.proxy.config import ConfigError, load_config, parse_config

GOOD = """\
models:
  - name: med-assistant
    upstream: http://vllm:8000/v1
    upstream_model: med-lora
    base: {upstream: http://vllm:8000/v1, model: llama-base}
    mirror: {rate: 0.1}
probes: {paths: [probes/packs], interval: 15m, samples: 3}
store: {url: sqlite:///var/tunewatch.db, keep_text: none}
audit: {rate: 0.02, keep_days: 30}
drift: {alpha: 0.01, window: 1h}
auth: {api_keys_env: TUNEWATCH_API_KEYS, admin_token_env: TUNEWATCH_ADMIN_TOKEN}
"""


def test_the_design_contract_sketch_is_accepted() -> None:
    config = parse_config(GOOD)
    model = config.models[0]
    assert model.target_model == "med-lora"
    assert model.base is not None and model.base.model == "llama-base"
    assert model.mirror.rate == 0.1
    assert config.probes.interval == 900.0
    assert config.drift.window == 3600.0
    assert config.store.keep_text == "none"
    assert config.store.path == Path("var/tunewatch.db")
    assert (config.audit.rate, config.audit.keep_days, config.audit.judge) == (0.02, 30.0, None)


def test_audit_settings_are_checked_at_their_line() -> None:
    text = GOOD.replace("audit: {rate: 0.02, keep_days: 30}", "audit: {rate: 2, keep_days: 0}")
    assert _errors(text) == [
        "cfg.yaml:9: audit.rate: Input should be less than or equal to 1",
        "cfg.yaml:9: audit.keep_days: Input should be greater than 0",
    ]
    judge = GOOD.replace(
        "audit: {rate: 0.02, keep_days: 30}",
        "audit:\n  rate: 0.02\n  judge: {upstream: judge:8000, model: guard, style: strict}",
    )
    assert [e.split(": ", 2)[1] for e in _errors(judge)] == ["audit.judge.upstream",
                                                            "audit.judge.style"]  # fmt: skip


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "cfg.yaml")
    return info.value.errors


def test_error_names_file_line_and_field() -> None:
    text = GOOD.replace("mirror: {rate: 0.1}", "mirror: {rate: 1.5}")
    assert _errors(text) == [
        "cfg.yaml:6: models.0.mirror.rate: Input should be less than or equal to 1"
    ]


def test_unknown_field_is_an_error_at_its_line() -> None:
    text = GOOD.replace(
        "    upstream_model: med-lora\n", "    upstream_model: med-lora\n    colour: red\n"
    )
    (error,) = _errors(text)
    assert error.startswith("cfg.yaml:5: models.0.colour: Extra inputs are not permitted")


def test_every_error_is_reported() -> None:
    text = GOOD.replace("15m", "soon").replace("http://vllm:8000/v1\n", "vllm:8000\n", 1)
    errors = _errors(text)
    assert len(errors) == 2
    assert errors[0].startswith("cfg.yaml:3: models.0.upstream: Value error, must be an http")
    assert errors[1].startswith("cfg.yaml:7: probes.interval: Value error, invalid duration")


def test_missing_required_field_points_at_its_parent() -> None:
    (error,) = _errors("models:\n  - upstream: http://x/v1\n")
    assert error == "cfg.yaml:2: models.0.name: Field required"


def test_duplicate_model_names_rejected() -> None:
    text = "models:\n  - {name: a, upstream: http://x}\n  - {name: a, upstream: http://y}\n"
    (error,) = _errors(text)
    assert "duplicate model name 'a'" in error


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("models: [\n", "cfg.yaml:2: YAML syntax error"),
        ("- a\n- b\n", "cfg.yaml:1: the config must be a YAML mapping"),
        ("", "cfg.yaml:1: the config must be a YAML mapping"),
        ("models: []\n", "cfg.yaml:1: models: List should have at least 1 item"),
    ],
)
def test_malformed_files(text: str, needle: str) -> None:
    assert any(e.startswith(needle) for e in _errors(text))


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_bytes(b"\xff\xfe models")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(bad) in info.value.errors[0]


def test_a_removed_key_is_rejected_by_name() -> None:
    text = GOOD.replace("samples: 3}", "samples: 3, timeout: 2m}")
    (error,) = _errors(text)
    assert error.startswith("cfg.yaml:7: probes: ")
    assert "probes.timeout is not a setting" in error and "defaults.timeout" in error


def test_durations_need_a_unit() -> None:
    (error,) = _errors(GOOD.replace("window: 1h", "window: 3600"))
    assert error.startswith("cfg.yaml:10: drift.window: ")
    assert 'needs a unit, e.g. "3600s"' in error
