"""Runtime tuning: which changes are accepted, which are refused and why, and the control topic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.config import Settings
from stream.core.tuning import (
    Change,
    InvalidChangeError,
    apply_changes,
    current_value,
    parse_assignment,
    tunable_keys,
)
from stream.runtime.control import publish_changes
from stream.tools.dev import DevStack
from stream.tools.replay_kafka import replay_via_kafka
from tests.helpers import factories as f
from tests.helpers.harness import price_protection_scheme
from tests.helpers.servers import metric


def test_a_duration_with_units_is_accepted() -> None:
    changed = apply_changes(Settings(), {"windows.allowed_lateness_s": "45m"})
    assert changed.windows.allowed_lateness_s == 2700


def test_window_lengths_are_given_as_a_comma_separated_list() -> None:
    changed = apply_changes(Settings(), {"windows.lengths_s": "2h,1d,7d"})
    assert changed.windows.lengths_s == [7200, 86400, 604800]


def test_a_value_out_of_bounds_is_refused_with_the_bound() -> None:
    with pytest.raises(InvalidChangeError, match="less than 0.5"):
        apply_changes(Settings(), {"detectors.model_alert_tail": "0.7"})


def test_a_change_breaking_a_cross_field_rule_is_refused() -> None:
    with pytest.raises(InvalidChangeError, match="shorter than the shortest window"):
        apply_changes(Settings(), {"windows.allowed_lateness_s": "2d"})


def test_a_model_parameter_is_refused_as_restart_only() -> None:
    with pytest.raises(InvalidChangeError, match="restart"):
        apply_changes(Settings(), {"detectors.model_trees": "20"})


def test_an_unknown_key_is_refused_with_the_list_of_tunable_keys() -> None:
    with pytest.raises(InvalidChangeError, match="detectors.young_store_s"):
        apply_changes(Settings(), {"detectors.nonsense": "1"})


def test_an_assignment_without_a_value_is_refused() -> None:
    with pytest.raises(InvalidChangeError, match="KEY=VALUE"):
        parse_assignment("detectors.young_store_s")


def test_a_malformed_control_record_is_refused() -> None:
    with pytest.raises(InvalidChangeError):
        Change.from_json(b'{"key": "detectors.young_store_s"}')


def test_every_tunable_key_shows_a_value() -> None:
    settings = Settings()
    assert all(current_value(settings, key) for key in tunable_keys(settings))


# --------------------------------------------------------------------------- on a running worker


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    with DevStack(Settings(kafka_partitions=2, app_id="storewatch-tuning")) as started:
        started.start(workers=1)
        yield started


def parameter(metrics_port: int, name: str) -> float | None:
    try:
        return metric(metrics_port, "storewatch_parameter", name=name)
    except OSError:  # a worker that is still starting has no endpoint yet
        return None


def replay(stack: DevStack, tmp_path: Path, store_id: str) -> list[dict[str, object]]:
    path = tmp_path / f"{store_id}.jsonl"
    path.write_bytes(b"\n".join(f.raw(e) for e in price_protection_scheme(store_id)) + b"\n")
    return asyncio.run(replay_via_kafka(path, stack.settings, timeout_s=60)).alerts


def wait_for_parameter(port: int, name: str, value: float, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while parameter(port, name) != value:
        assert time.monotonic() < deadline, f"{name} never became {value}"
        time.sleep(0.3)


@pytest.mark.integration
def test_tune_set_changes_detection_on_a_running_worker(stack: DevStack, tmp_path: Path) -> None:
    before = {a["detector"] for a in replay(stack, tmp_path, "tune-before")}
    assert before, "the scheme alerts with the default values"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "tune",
            "set",
            "detectors.min_stake_cny=1000000",
            "--bootstrap",
            stack.settings.kafka_bootstrap,
            "--who",
            "test",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test set detectors.min_stake_cny: 300.0 -> 1000000.0" in done.stdout
    wait_for_parameter(stack.workers[0].metrics_port, "detectors.min_stake_cny", 1_000_000)
    after = {a["detector"] for a in replay(stack, tmp_path, "tune-after")}
    assert not after, "no store of the scheme has a million CNY at stake"


@pytest.mark.integration
def test_tune_set_refuses_an_invalid_value_and_publishes_nothing(stack: DevStack) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "tune",
            "set",
            "windows.allowed_lateness_s=2d",
            "--bootstrap",
            stack.settings.kafka_bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "shorter than the shortest window" in done.stderr
    assert parameter(stack.workers[0].metrics_port, "windows.allowed_lateness_s") == 1800


@pytest.mark.integration
def test_tune_set_dropping_a_window_needs_yes_and_says_what_it_drops(stack: DevStack) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "tune",
            "set",
            "windows.lengths_s=1h,24h",
            "--bootstrap",
            stack.settings.kafka_bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "drops the window(s) of 604800s" in done.stderr and "--yes" in done.stderr
    assert "Traceback" not in done.stderr
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "tune",
            "show",
            "--bootstrap",
            stack.settings.kafka_bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    (lengths,) = [
        line for line in shown.stdout.splitlines() if line.startswith("windows.lengths_s ")
    ]
    assert "set by" not in lengths, "nothing was published"


@pytest.mark.integration
def test_a_malformed_control_record_is_refused_by_the_worker_and_nothing_applied(
    stack: DevStack,
) -> None:
    bad = Change("detectors.model_alert_tail", "7", "test", "2026-01-01T00:00:00.000Z")
    asyncio.run(publish_changes(stack.settings, [bad]))
    port = stack.workers[0].metrics_port
    deadline = time.monotonic() + 30
    while not metric(port, "storewatch_control_changes_total", outcome="refused"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert parameter(port, "detectors.model_alert_tail") == 0.002


@pytest.mark.integration
def test_a_worker_started_later_picks_up_the_latest_values(stack: DevStack) -> None:
    asyncio.run(
        publish_changes(
            stack.settings,
            [Change("detectors.alert_evidence", "1.2", "test", "2026-01-01T00:00:00.000Z")],
        )
    )
    wait_for_parameter(stack.workers[0].metrics_port, "detectors.alert_evidence", 1.2)
    late = stack.start_worker()
    wait_for_parameter(late.metrics_port, "detectors.alert_evidence", 1.2)


def test_tune_try_lists_the_stores_a_change_would_stop_flagging(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(f.raw(e) for e in price_protection_scheme("try-gang")) + b"\n")
    labels = tmp_path / "labels.json"
    labels.write_text('{"try-gang": "price_protection"}')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "tune",
            "try",
            "detectors.min_stake_cny=1000000",
            "--input",
            str(events),
            "--labels",
            str(labels),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "stores flagged: 1 now, 0 with the change" in done.stdout
    assert "- try-gang (price_protection)" in done.stdout
    assert "money held:       1.0000 -> 0.0000" in done.stdout
