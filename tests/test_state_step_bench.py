"""The state step's own benchmark runs on a small file and reports every figure (no timing
asserted: a benchmark is not a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.tools.bench.state_step import main, measure
from tests.helpers import factories as f
from tests.helpers.factories import HOUR, T0


def _month_file(tmp_path: Path) -> Path:
    events = [f.store("s1", T0), f.store("s2", T0)]
    events += [
        f.order(s, T0 + i * HOUR / 4, price=99.5 + i) for i in range(40) for s in ("s1", "s2")
    ]
    events.append(f.withdrawal("s1", T0 + 11 * HOUR, 500.0))
    path = tmp_path / "e.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events) + "not json\n")
    return path


def test_the_state_step_is_measured_over_every_valid_event(tmp_path: Path) -> None:
    figures = measure(_month_file(tmp_path), rounds=1)
    assert figures["events"] == 83 and figures["stores"] == 2  # the bad line is skipped
    assert figures["blob_bytes_mean"] > 0
    for name in ("window_add_ns", "apply_us", "to_blob_us", "from_blob_us"):
        assert figures[name] > 0, name


def test_the_command_prints_its_figures_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(_month_file(tmp_path)), "--rounds", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 83
