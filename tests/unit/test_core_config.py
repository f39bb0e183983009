"""core.config and core.clock: configuration read once per cold start, failing by name; one injectable clock."""
import pytest

from core import clock, config


def test_a_missing_variable_fails_with_its_name(monkeypatch):
    monkeypatch.delenv("TOPICS_TABLE", raising=False)
    with pytest.raises(config.MissingConfiguration, match="TOPICS_TABLE is not set"):
        config.text("TOPICS_TABLE")


def test_a_value_is_read_once_until_the_next_cold_start(monkeypatch):
    monkeypatch.setenv("TRANSACTION_LEASE_SECONDS", "30")
    assert config.integer("TRANSACTION_LEASE_SECONDS") == 30
    monkeypatch.setenv("TRANSACTION_LEASE_SECONDS", "5")
    assert config.integer("TRANSACTION_LEASE_SECONDS") == 30
    config.forget()
    assert config.integer("TRANSACTION_LEASE_SECONDS") == 5


def test_models_name_no_table_of_their_own(monkeypatch):
    """A model imported without its table's variable fails the cold start instead of using a default name."""
    import importlib
    import sys

    monkeypatch.delenv("CONNECTIONS_TABLE", raising=False)
    monkeypatch.delitem(sys.modules, "gateway.models", raising=False)
    with pytest.raises(config.MissingConfiguration, match="CONNECTIONS_TABLE"):
        importlib.import_module("gateway.models")


def test_every_function_reads_the_time_from_the_injected_clock(clock):
    clock.at = 1_764_000_000.0
    from core import clock as functions_clock

    assert functions_clock.now() == 1_764_000_000.0
    assert functions_clock.timestamp() == "2025-11-24T16:00:00.000Z"
    assert functions_clock.timestamp("seconds") == "2025-11-24T16:00:00Z"


def test_the_clock_is_the_system_clock_by_default():
    import time

    assert abs(clock.now() - time.time()) < 1


def test_an_optional_setting_is_none_where_the_template_gives_none(monkeypatch):
    monkeypatch.delenv("PUBLISH_STATE_MACHINE_ARN", raising=False)
    assert config.optional("PUBLISH_STATE_MACHINE_ARN") is None
    monkeypatch.setenv("PUBLISH_STATE_MACHINE_ARN", "arn:machine")
    assert config.optional("PUBLISH_STATE_MACHINE_ARN") is None  # read once per cold start
    config.forget()
    assert config.optional("PUBLISH_STATE_MACHINE_ARN") == "arn:machine"
