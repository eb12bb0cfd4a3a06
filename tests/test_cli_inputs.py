"""Inputs as people have them: JSON Lines plain, gzip-compressed, or piped in on stdin.

The same events give the same alerts whichever way they arrive; a damaged archive or an empty
pipe is an error that says so (exit 3), never a replay of nothing that exits 0.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.helpers.cli_runner import assert_fails, run_cli, run_evaluate, write_marketplace

USAGE, INPUT = 2, 3


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # 100 stores over 10 days: enough for the detectors to raise a dozen alerts
    return write_marketplace(tmp_path_factory.mktemp("market"), stores=100, days=10)


def replay_alerts(
    tmp_path: Path, name: str, source: str | Path, stdin: bytes | None = None
) -> list[dict[str, object]]:
    out = tmp_path / f"{name}.jsonl"
    done = run_cli(
        "replay", "--state", "memory", "--input", source, "--alerts-out", out, stdin=stdin
    )
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    for alert in alerts:
        del alert["detected_at"]  # wall-clock time of the decision: differs run to run
    return alerts


def test_gzip_and_stdin_give_the_alerts_of_the_plain_file(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    compressed = tmp_path / "events.jsonl.gz"
    compressed.write_bytes(gzip.compress(events.read_bytes()))
    plain = replay_alerts(tmp_path, "plain", events)
    assert plain, "the marketplace should raise alerts"
    assert replay_alerts(tmp_path, "gz", compressed) == plain
    assert replay_alerts(tmp_path, "stdin", "-", stdin=events.read_bytes()) == plain
    assert replay_alerts(tmp_path, "gz-stdin", "-", stdin=compressed.read_bytes()) == plain


def test_gzip_is_told_by_its_bytes_not_its_name(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    misnamed = tmp_path / "events.jsonl"
    misnamed.write_bytes(gzip.compress(events.read_bytes()))
    done = run_cli("replay", "--state", "memory", "--input", misnamed)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["events"] == len(events.read_text().splitlines())
    assert summary["rejected"] == {}


def test_a_truncated_gzip_file_is_named_as_damaged(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    truncated = tmp_path / "events.jsonl.gz"
    truncated.write_bytes(gzip.compress(events.read_bytes())[:5000])
    assert_fails(
        run_cli("replay", "--state", "memory", "--input", truncated),
        INPUT,
        str(truncated),
        "damaged or truncated gzip",
    )


def test_an_empty_pipe_is_an_empty_input() -> None:
    assert_fails(
        run_cli("replay", "--state", "memory", "--input", "-", stdin=b""),
        INPUT,
        "input stdin is empty",
    )


def test_evaluate_reads_gzip_events_from_stdin(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, labels = marketplace
    alerts = tmp_path / "alerts.jsonl"
    assert (
        run_cli("replay", "--state", "memory", "--input", events, "--alerts-out", alerts).returncode
        == 0
    )
    from_file, from_pipe = tmp_path / "file.json", tmp_path / "pipe.json"
    done = run_evaluate(events, labels, alerts, from_file)
    assert done.returncode == 0, done.stderr
    done = run_evaluate("-", labels, alerts, from_pipe, stdin=gzip.compress(events.read_bytes()))
    assert done.returncode == 0, done.stderr
    assert json.loads(from_pipe.read_text()) == json.loads(from_file.read_text())


def test_only_one_input_can_come_from_stdin(marketplace: tuple[Path, Path], tmp_path: Path) -> None:
    _, labels = marketplace
    done = run_evaluate("-", labels, "-", tmp_path / "r.json", stdin=b"")
    assert_fails(done, USAGE, "--events and --alerts both read stdin")


def test_a_line_that_is_not_json_names_its_line(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, labels = marketplace
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text('{"store_id": "s00001", "ts": "2024-03-01T00:00:00Z"}\nnot json\n')
    done = run_evaluate(events, labels, alerts, tmp_path / "r.json")
    assert_fails(done, INPUT, f"{alerts} line 2 is not JSON")


def test_output_into_a_closed_pipe_is_quiet(marketplace: tuple[Path, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    events, labels = marketplace
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("")
    evaluate = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "evaluate",
            "--events",
            str(events),
            "--labels",
            str(labels),
            "--alerts",
            str(alerts),
            "--report",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert evaluate.stdout is not None and evaluate.stderr is not None
    evaluate.stdout.close()  # as `| head -0` would
    stderr = evaluate.stderr.read().decode()
    assert evaluate.wait(60) == 141, stderr
    assert stderr == ""
