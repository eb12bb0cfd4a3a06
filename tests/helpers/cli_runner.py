"""Running `storewatch` as a person would, in a child process, and reading its verdict."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from stream.tools.embedded import free_port
from stream.tools.simulate import simulate, write_events, write_labels

CLI_TIMEOUT_S = 120.0


def run_cli(
    *args: str | Path,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``storewatch ARGS`` with this interpreter; output captured as text. ``env`` adds to
    (never replaces) the environment, minus any STOREWATCH_* of the caller's shell."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("STOREWATCH_")}
    child_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "stream.cli", *map(str, args)],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout_s,
        env=child_env,
        check=False,
    )
    # bytes in (stdin may be gzip), text out
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def run_evaluate(
    events: str | Path,
    labels: str | Path,
    alerts: str | Path,
    report: str | Path,
    *more: str | Path,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """``storewatch evaluate`` on these inputs (``-`` reads stdin), its report to ``report``;
    ``more`` adds options."""
    return run_cli(
        "evaluate",
        *("--events", events, "--labels", labels, "--alerts", alerts, "--report", report),
        *more,
        stdin=stdin,
    )


def assert_fails(done: subprocess.CompletedProcess[str], exit_code: int, *phrases: str) -> None:
    """The error policy: the documented exit code, one `storewatch: error:` line on stderr
    holding every phrase, and no traceback."""
    assert done.returncode == exit_code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("storewatch: error: ")]
    assert len(errors) == 1, done.stderr
    for phrase in phrases:
        assert phrase in errors[0], (phrase, errors[0])


def closed_port() -> int:
    """A local port nobody listens on: connecting to it is refused at once."""
    return free_port()


def write_marketplace(
    folder: Path, stores: int = 20, days: int = 2, seed: int = 1
) -> tuple[Path, Path]:
    """A small simulated events file and its labels in ``folder``."""
    sim = simulate(stores=stores, days=days, seed=seed)
    events, labels = folder / "events.jsonl", folder / "labels.json"
    write_events(events, sim.events)
    write_labels(labels, sim.labels)
    return events, labels
