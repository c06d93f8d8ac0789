"""Collector settings: the PostgreSQL pool and statement timeout, the log format, from flags and the environment."""

from __future__ import annotations

import pytest

from collector.errors import ConfigError
from collector.settings import Settings


def test_the_pool_and_statement_timeout_have_defaults_and_reach_the_store() -> None:
    settings = Settings()

    assert settings.store_options() == {
        "busy_timeout_s": 5.0,
        "pool_min_size": 1,
        "pool_max_size": 10,
        "statement_timeout_s": 10.0,
    }
    assert settings.pool_max_size >= settings.threads


def test_the_pool_and_statement_timeout_come_from_the_environment_and_flags() -> None:
    env = {"TESTRUN_POOL_MIN_SIZE": "0", "TESTRUN_POOL_MAX_SIZE": "4", "TESTRUN_STATEMENT_TIMEOUT_S": "2.5"}

    settings = Settings.resolve(flags={"pool_max_size": "6"}, env=env)

    assert (settings.pool_min_size, settings.pool_max_size, settings.statement_timeout_s) == (0, 6, 2.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TESTRUN_POOL_MAX_SIZE": "0"}, "environment variable TESTRUN_POOL_MAX_SIZE='0' must be at least 1"),
        ({"TESTRUN_POOL_MIN_SIZE": "-1"}, "environment variable TESTRUN_POOL_MIN_SIZE='-1' must be zero or more"),
        (
            {"TESTRUN_STATEMENT_TIMEOUT_S": "soon"},
            "environment variable TESTRUN_STATEMENT_TIMEOUT_S='soon' is not a valid value",
        ),
        (
            {"TESTRUN_POOL_MIN_SIZE": "5", "TESTRUN_POOL_MAX_SIZE": "2"},
            "pool_min_size=5 is more than pool_max_size=2 (TESTRUN_POOL_MIN_SIZE, TESTRUN_POOL_MAX_SIZE)",
        ),
    ],
)
def test_a_bad_pool_setting_names_itself(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.resolve(env=env)

    assert raised.value.message == message


def test_the_log_format_is_auto_unless_json_or_text_is_asked_for() -> None:
    assert Settings().log_format == "auto"
    assert Settings.resolve(env={"TESTRUN_LOG_FORMAT": "text"}, flags={"log_format": "json"}).log_format == "json"
    with pytest.raises(ConfigError) as raised:
        Settings.resolve(env={"TESTRUN_LOG_FORMAT": "pretty"})

    assert raised.value.message == (
        "environment variable TESTRUN_LOG_FORMAT='pretty' must be 'auto' (text on a terminal, else json), "
        "'json' or 'text'"
    )
