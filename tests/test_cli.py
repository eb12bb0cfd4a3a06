"""The command line: `storewatch dev` starts a whole stack and Ctrl-C leaves no process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import factories as f
from tests.helpers.harness import price_protection_scheme

pytestmark = pytest.mark.integration


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of the dev process counts as gone once it is reaped; check its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_dev_starts_broker_redis_and_worker_and_ctrl_c_stops_them_all() -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "dev", "--partitions", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 90
    try:
        assert dev.stdout is not None
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("ready"):
                break
        output = "".join(lines)
        assert "ready" in output, output
        pids = [int(p) for p in re.findall(r"pid (\d+)", output)]
        assert len(pids) == 3, output  # broker, redis, worker
        assert all(alive(pid) for pid in pids)
        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
    time.sleep(0.5)
    assert [pid for pid in pids if alive(pid)] == []


def read_until(dev: subprocess.Popen[str], prefix: str, timeout_s: float, lines: list[str]) -> str:
    """Lines of dev's output up to the first one containing ``prefix`` (which is returned)."""
    assert dev.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = dev.stdout.readline()
        if not line:
            break
        lines.append(line)
        if prefix in line:
            return line
    raise AssertionError(f"no {prefix!r} in:\n{''.join(lines)}")


def test_dev_restarts_a_killed_worker_and_keeps_broker_and_redis_up() -> None:
    from stream.tools.dev import assigned_partitions

    dev = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "dev", "--partitions", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        read_until(dev, "ready", 90, lines)
        output = "".join(lines)
        kafka_pid, redis_pid, worker_pid = (int(p) for p in re.findall(r"pid (\d+)", output))
        served = re.search(r"metrics http://127.0.0.1:(\d+)/", output)
        assert served is not None, output
        worker_port = int(served.group(1))
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        line = read_until(dev, "restarted as pid", 30, lines)
        assert time.monotonic() - killed_at < 5, line  # the first delay is 1 s
        assert f"worker pid {worker_pid} exited with code -9" in line and "after 1s" in line
        restarted = re.search(r"restarted as pid (\d+)", line)
        assert restarted is not None, line
        new_pid = int(restarted.group(1))
        assert alive(new_pid) and alive(kafka_pid) and alive(redis_pid)
        deadline = time.monotonic() + 60  # the dead member leaves after its session timeout
        while assigned_partitions(worker_port) < 5:  # five input topics, one partition each
            assert time.monotonic() < deadline, "the restarted worker never held the partitions"
            time.sleep(0.5)
        assert alive(kafka_pid) and alive(redis_pid) and dev.poll() is None
        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0
    finally:
        if dev.poll() is None:
            dev.kill()
    time.sleep(0.5)
    assert [pid for pid in (kafka_pid, redis_pid, worker_pid, new_pid) if alive(pid)] == []


def test_replay_writes_every_alert_as_jsonl(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(f.raw(e) for e in price_protection_scheme("cli-gang")) + b"\n")
    alerts = tmp_path / "alerts.jsonl"
    done = subprocess.run(
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
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    written = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert summary["alerts"] == len(written) > 0
    assert {a["store_id"] for a in written} == {"cli-gang"}


def test_simulate_writes_events_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "events.jsonl", tmp_path / "labels.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "simulate",
            "--stores",
            "30",
            "--days",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
            "--labels",
            str(labels),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(json.loads(labels.read_text())) == 30
    assert out.read_text().count("\n") == json.loads(done.stdout)["events"]
