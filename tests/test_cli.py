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

from tests import factories as f
from tests.test_engine import price_protection_scheme

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
    dev = subprocess.Popen([sys.executable, "-m", "stream.cli", "dev", "--partitions", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


def test_replay_writes_every_alert_as_jsonl(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(f.raw(e) for e in price_protection_scheme("cli-gang")) + b"\n")
    alerts = tmp_path / "alerts.jsonl"
    done = subprocess.run([sys.executable, "-m", "stream.cli", "replay", "--input", str(events),
                           "--alerts-out", str(alerts)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    written = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert summary["alerts"] == len(written) > 0
    assert {a["store_id"] for a in written} == {"cli-gang"}


def test_simulate_writes_events_and_labels(tmp_path: Path) -> None:
    out, labels = tmp_path / "events.jsonl", tmp_path / "labels.json"
    done = subprocess.run([sys.executable, "-m", "stream.cli", "simulate", "--stores", "30",
                           "--days", "2", "--seed", "1", "--out", str(out), "--labels", str(labels)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(labels.read_text())) == 30
    assert out.read_text().count("\n") == json.loads(done.stdout)["events"]
