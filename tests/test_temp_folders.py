"""`storewatch dev` and `storewatch demo` leave no folder behind in the temporary directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli_runner import run_cli

pytestmark = pytest.mark.integration


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREWATCH_")}
    env["TMPDIR"] = str(tmp)
    return env


def test_dev_removes_its_folders_when_stopped_with_ctrl_c(tmp_path: Path) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "dev", "--partitions", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert dev.stdout is not None
        lines: list[str] = []
        while not (lines and lines[-1].startswith("ready")):
            line = dev.stdout.readline()
            assert line, f"dev ended before ready: {''.join(lines)}"
            lines.append(line)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("storewatch-dev-")]
    finally:
        dev.send_signal(signal.SIGINT)
        out, err = dev.communicate(timeout=60)
    assert dev.returncode == 0, err
    assert "stopped" in out
    assert list(tmp_path.iterdir()) == []


def test_dev_keeps_the_logs_when_asked(tmp_path: Path) -> None:
    dev = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "dev", "--partitions", "1", "--keep-logs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path),
    )
    try:
        assert dev.stdout is not None
        while not dev.stdout.readline().startswith("ready"):
            pass
    finally:
        dev.send_signal(signal.SIGINT)
        out, _ = dev.communicate(timeout=60)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("storewatch-dev-")]
    assert len(kept) == 1 and f"logs kept in {kept[0]}" in out
    assert list(kept[0].glob("worker-*.log"))


def test_demo_removes_its_folders_when_done(tmp_path: Path) -> None:
    done = run_cli(
        "demo", "--stores", "20", "--days", "2", env={"TMPDIR": str(tmp_path)}, timeout_s=300
    )
    assert done.returncode == 0, done.stderr
    assert "events" in done.stdout
    assert list(tmp_path.iterdir()) == []
