"""`replay --via-kafka` reports what THIS run caused: its alerts, and its refusals as the
worker dead-lettered them, and fails (exit 5) when the worker refused most of its events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from stream.errors import ExitCode
from stream.tools.dev import DevStack
from stream.tools.replay_kafka import replay_via_kafka
from tests.helpers.cli_runner import assert_fails, run_cli
from tests.helpers.harness import price_protection_scheme
from tests.helpers.kafka_stack import one_worker_stack, write_jsonl

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    yield from one_worker_stack()


async def test_a_file_replayed_twice_reports_its_alerts_once_and_then_its_refusals(
    stack: DevStack, tmp_path: Path
) -> None:
    events = write_jsonl(tmp_path / "events.jsonl", price_protection_scheme("twice-1"))
    first = await replay_via_kafka(events, stack.settings, timeout_s=60)
    assert "price_cut" in {a["detector"] for a in first.alerts}
    assert first.rejected == {}
    second = await replay_via_kafka(events, stack.settings, timeout_s=60)
    assert second.alerts == []
    assert sum(second.rejected.values()) == second.events == 5
    assert set(second.rejected) <= {"duplicate", "late"}


async def test_the_refusals_of_a_run_are_its_own_dead_letters_with_their_reasons(
    stack: DevStack, tmp_path: Path
) -> None:
    noise = write_jsonl(tmp_path / "noise.jsonl", [b'{"type": "order", oops', b"[]"])
    await replay_via_kafka(noise, stack.settings, timeout_s=60)  # other runs' dead letters
    scheme = price_protection_scheme("own-letters-1")
    events = write_jsonl(
        tmp_path / "events.jsonl", [*scheme[:2], b'{"type": "order", oops', *scheme[2:]]
    )
    result = await replay_via_kafka(events, stack.settings, timeout_s=60)
    assert result.rejected == {"not_json": 1}
    assert "price_cut" in {a["detector"] for a in result.alerts}


def test_the_command_exits_5_with_its_summary_when_the_worker_refused_most_events(
    stack: DevStack, tmp_path: Path
) -> None:
    events = write_jsonl(tmp_path / "events.jsonl", price_protection_scheme("cli-twice-1"))
    command = (
        "replay",
        "--via-kafka",
        "--bootstrap",
        stack.settings.kafka_bootstrap,
        "--input",
        events,
        "--timeout",
        "60",
    )
    first = run_cli(*command)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["alerts"] >= 1
    second = run_cli(*command)
    assert_fails(second, ExitCode.REFUSED, "the worker refused 5 of 5 events", "duplicate")
    summary = json.loads(second.stdout)
    assert summary["alerts"] == 0 and sum(summary["rejected"].values()) == 5


def test_an_in_process_replay_of_mostly_malformed_lines_exits_5(tmp_path: Path) -> None:
    events = write_jsonl(
        tmp_path / "events.jsonl",
        [
            *price_protection_scheme("in-process-1")[:1],
            b'{"type": "order"}',
            b'{"type": "order", oops',
            b"42",
        ],
    )
    done = run_cli("replay", "--state", "memory", "--input", events)
    assert_fails(done, ExitCode.REFUSED, "the replay refused 3 of 4 events")
    assert json.loads(done.stdout)["events"] == 4
