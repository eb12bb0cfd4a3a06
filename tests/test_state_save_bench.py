"""The state save's own benchmark runs on a small file against an embedded Redis and reports
every figure (no timing asserted: a benchmark is not a test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.tools.bench.save_step import main, measure
from tests.helpers import factories as f
from tests.helpers.factories import HOUR, T0

pytestmark = pytest.mark.integration  # an embedded redis-server


def _events_file(tmp_path: Path) -> Path:
    stores = ("s1", "s2", "s3")
    events = [f.store(s, T0) for s in stores]
    events += [f.order(s, T0 + i * HOUR / 4, price=99.5 + i) for i in range(40) for s in stores]
    path = tmp_path / "e.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return path


def test_the_save_is_measured_per_store_changed(tmp_path: Path) -> None:
    figures = measure(_events_file(tmp_path), stores=2, rounds=2)
    assert figures["stores"] == 2 and figures["blob_bytes_mean"] > 0
    for name in ("commit_wall_us", "commit_cpu_us", "to_blob_cpu_us"):
        assert figures[name] > 0, name
    assert "rest_cpu_us" in figures  # the commit's CPU less the serializing: may round to 0


def test_the_command_prints_its_figures_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(_events_file(tmp_path)), "--stores", "5", "--rounds", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["stores"] == 3  # all the file has
