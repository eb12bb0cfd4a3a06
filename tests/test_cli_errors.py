"""The command line's error policy, command by command.

Every mistake a user can make, and every server that is not there, ends in one line on stderr,
`storewatch: error: <what> (<hint>)`, with the exit code the README documents: 2 usage or
configuration, 3 an input or output file, 4 Kafka or Redis unreachable, 130 Ctrl-C. No
traceback unless --debug asks for it. Each test runs the real command in a child process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream import __version__
from tests.helpers.cli_runner import (
    assert_fails,
    closed_port,
    run_cli,
    run_evaluate,
    write_marketplace,
)

USAGE, INPUT, UNREACHABLE, INTERRUPTED = 2, 3, 4, 130
# A one-shot command facing a closed port must say so well before a person gives up on it.
FAIL_FAST_S = 10.0


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_marketplace(tmp_path_factory.mktemp("market"))


def test_version_is_printed_and_exits_zero() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"storewatch {__version__}"


def test_a_usage_mistake_is_one_line_not_the_usage_text() -> None:
    done = run_cli("replay")
    assert_fails(
        done,
        USAGE,
        "replay: the following arguments are required: --input",
        "storewatch replay --help",
    )
    assert "usage:" not in done.stderr


def test_help_lists_the_exit_codes() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    assert "130  interrupted (Ctrl-C)" in done.stdout and "4    Kafka or Redis" in done.stdout


# ----------------------------------------------------------------------------- input files


@pytest.mark.parametrize("command", [["replay"], ["tune", "try", "detectors.young_store_s=14d"]])
def test_a_missing_input_file_is_named(command: list[str], tmp_path: Path) -> None:
    missing = tmp_path / "no-such-events.jsonl"
    assert_fails(run_cli(*command, "--input", missing), INPUT, str(missing), "does not exist")


@pytest.mark.parametrize("command", [["replay"], ["tune", "try", "detectors.young_store_s=14d"]])
def test_a_directory_as_input_is_refused(command: list[str], tmp_path: Path) -> None:
    assert_fails(run_cli(*command, "--input", tmp_path), INPUT, str(tmp_path), "is a directory")


def test_evaluate_names_the_missing_file(marketplace: tuple[Path, Path], tmp_path: Path) -> None:
    events, labels = marketplace
    done = run_evaluate(events, labels, tmp_path / "alerts.jsonl", tmp_path / "r.json")
    assert_fails(done, INPUT, "alerts", "alerts.jsonl does not exist")


def test_an_empty_input_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "events.jsonl"
    empty.write_text("\n\n")
    assert_fails(run_cli("replay", "--state", "memory", "--input", empty), INPUT, "is empty")


def test_a_json_array_file_is_not_taken_for_json_lines(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    array = tmp_path / "events.json"
    array.write_text(json.dumps([json.loads(line) for line in events.read_text().splitlines()]))
    assert_fails(
        run_cli("replay", "--state", "memory", "--input", array),
        INPUT,
        "is a JSON array, not JSON Lines",
        "jq -c",
    )


def test_replay_will_not_write_alerts_into_a_missing_folder(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    out = tmp_path / "missing" / "alerts.jsonl"
    done = run_cli("replay", "--state", "memory", "--input", events, "--alerts-out", out)
    assert_fails(done, INPUT, f"folder {out.parent} does not exist", "mkdir -p")


def test_simulate_will_not_write_into_a_missing_folder(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "events.jsonl"
    assert_fails(
        run_cli("simulate", "--stores", "5", "--days", "1", "--out", out),
        INPUT,
        f"folder {out.parent} does not exist",
    )
    assert not out.parent.exists()


def test_simulate_of_no_stores_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli("simulate", "--stores", "0", "--out", tmp_path / "e.jsonl")
    assert_fails(done, USAGE, "--stores is 0", "at least 1")
    assert not (tmp_path / "e.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "phrases"),
    [
        (["--probe", "2000"], ["--probe goes with --latency-at"]),
        (["--latency-at", "0"], ["a latency rate is 0.0", "above 0"]),
        (["--latency-at", "500", "--probe", "-1"], ["a latency rate is -1.0"]),
        (["--probe-s", "0"], ["--probe-s is 0.0"]),
    ],
)
def test_a_bench_latency_option_out_of_place_is_a_usage_error(
    args: list[str], phrases: list[str]
) -> None:
    assert_fails(run_cli("bench", *args), USAGE, *phrases)


def test_evaluate_with_labels_of_another_file_refuses_to_score(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    other = tmp_path / "other-labels.json"
    other.write_text(json.dumps({"z-1": "legit/steady", "z-2": "ghost_supplier/plain"}))
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("")
    report = tmp_path / "report.json"
    done = run_evaluate(events, other, alerts, report)
    assert_fails(done, INPUT, "none of the 2 labelled stores", "labels written with this events")
    assert not report.exists()


def test_evaluate_warns_of_labelled_stores_missing_from_the_events(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, labels = marketplace
    more = {**json.loads(labels.read_text()), "z-1": "legit/steady", "z-2": "legit/steady"}
    (tmp_path / "labels.json").write_text(json.dumps(more))
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("")
    done = run_evaluate(events, tmp_path / "labels.json", alerts, tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    assert f"storewatch: warning: 2 of {len(more)} labelled stores do not appear" in done.stderr


def test_evaluate_refuses_a_plot_it_cannot_draw(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, labels = marketplace
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("")
    done = run_evaluate(events, labels, alerts, tmp_path / "r.json", "--plot", tmp_path / "r.txt")
    assert_fails(done, USAGE, "cannot draw a .txt file", ".png")


def test_a_missing_configuration_file_is_a_usage_error(
    marketplace: tuple[Path, Path], tmp_path: Path
) -> None:
    events, _ = marketplace
    done = run_cli(
        "--config", tmp_path / "nope.toml", "replay", "--state", "memory", "--input", events
    )
    assert_fails(done, USAGE, "configuration file", "nope.toml does not exist")


# --------------------------------------------------------------------- unreachable servers


@pytest.mark.parametrize(
    "command",
    [
        ["tune", "show"],
        ["tune", "set", "detectors.young_store_s=14d"],
        ["replay", "--via-kafka"],
    ],
)
def test_kafka_not_running_fails_fast(command: list[str], marketplace: tuple[Path, Path]) -> None:
    events, _ = marketplace
    address = f"127.0.0.1:{closed_port()}"
    extra = ["--input", str(events)] if command[0] == "replay" else []
    started = time.monotonic()
    done = run_cli(*command, "--bootstrap", address, *extra)
    assert time.monotonic() - started < FAIL_FAST_S
    assert_fails(done, UNREACHABLE, f"cannot reach Kafka at {address}", "--bootstrap")
    assert "Unclosed" not in done.stderr


@pytest.mark.parametrize("server", ["--bootstrap", "--redis-url"])
def test_dev_checks_a_given_server_before_it_says_ready(server: str) -> None:
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    done = run_cli("dev", server, address if server == "--bootstrap" else f"redis://{address}/0")
    assert time.monotonic() - started < FAIL_FAST_S
    what = "Kafka" if server == "--bootstrap" else "Redis"
    assert_fails(done, UNREACHABLE, f"cannot reach {what} at")
    assert "ready" not in done.stdout


def test_redis_not_running_fails_fast_instead_of_retrying(marketplace: tuple[Path, Path]) -> None:
    events, _ = marketplace
    url = f"redis://127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    done = run_cli("replay", "--input", events, "--redis-url", url, timeout_s=60)
    assert time.monotonic() - started < FAIL_FAST_S
    assert_fails(done, UNREACHABLE, f"cannot reach Redis at {url}", "connection refused")
    assert "retrying" not in done.stderr


def test_a_redis_password_is_not_printed_in_the_error(marketplace: tuple[Path, Path]) -> None:
    events, _ = marketplace
    url = f"redis://app:s3cret@127.0.0.1:{closed_port()}/0"
    done = run_cli("replay", "--input", events, "--redis-url", url)
    assert_fails(done, UNREACHABLE, "cannot reach Redis at redis://app:***@127.0.0.1")
    assert "s3cret" not in done.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_adds_the_traceback_before_or_after_the_command(where: str) -> None:
    command = ["tune", "show", "--bootstrap", f"127.0.0.1:{closed_port()}"]
    done = run_cli(*(["--debug", *command] if where == "before" else [*command, "--debug"]))
    assert done.returncode == UNREACHABLE
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("storewatch: error: cannot reach")


# ---------------------------------------------------------------------------------- Ctrl-C


def test_first_ctrl_c_stops_a_replay_cleanly_with_130(tmp_path: Path) -> None:
    events, _ = write_marketplace(tmp_path, stores=300, days=20)  # ~100,000 events: >10 s
    alerts = tmp_path / "alerts.jsonl"
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "replay",
            "--input",
            str(events),
            "--alerts-out",
            str(alerts),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not alerts.exists():  # the alert file opens as the first event goes in
            assert replay.poll() is None and time.monotonic() < deadline, replay.stderr
            time.sleep(0.05)
        time.sleep(0.5)
        replay.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        stdout, stderr = replay.communicate(timeout=30)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert time.monotonic() - signalled < 10, "the first Ctrl-C did not stop the replay"
    assert_fails(
        subprocess.CompletedProcess(replay.args, replay.returncode, stdout, stderr),
        INTERRUPTED,
        "interrupted",
    )
    assert stdout == ""  # no summary of a replay that did not finish
