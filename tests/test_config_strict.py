"""Configuration that refuses what it does not know, and one list syntax everywhere.

A misspelt key used to be ignored and its default stayed in force without a word. Now an
unknown key in the file (any section) or an unknown STOREWATCH_* variable stops every command
with exit 2 and names the nearest valid key.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from stream.config import OTHER_ENV_NAMES, Settings, env_name, load_settings, setting_keys
from stream.core.tuning import apply_changes
from tests.helpers.cli_runner import assert_fails, run_cli, write_marketplace

USAGE = 2
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_marketplace(tmp_path_factory.mktemp("market"), stores=5, days=1)[0]


def replay(
    events: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*options, "replay", "--state", "memory", "--input", events, env=env)


@pytest.mark.parametrize(
    ("toml", "unknown", "nearest"),
    [
        ('[windows]\nlenghts_s = ["1h", "24h"]\n', "windows.lenghts_s", "windows.lengths_s"),
        (
            '[detectors]\nyoung_stores_s = "14d"\n',
            "detectors.young_stores_s",
            "detectors.young_store_s",
        ),
        ('kafka_bootstrp = "kafka:9092"\n', "kafka_bootstrp", "kafka_bootstrap"),
        ('[topics]\nalert = "fraud-alerts"\n', "topics.alert", "topics.alerts"),
    ],
)
def test_an_unknown_key_in_the_file_names_the_nearest(
    toml: str, unknown: str, nearest: str, events: Path, tmp_path: Path
) -> None:
    config = tmp_path / "storewatch.toml"
    config.write_text(toml)
    assert_fails(
        replay(events, "--config", str(config)),
        USAGE,
        f"unknown setting {unknown} in {config}",
        f"did you mean {nearest}?",
    )


def test_an_unknown_key_in_the_file_named_by_the_environment_is_refused(
    events: Path, tmp_path: Path
) -> None:
    config = tmp_path / "storewatch.toml"
    config.write_text('[windows]\nallowed_latenes_s = "10m"\n')
    done = replay(events, env={"STOREWATCH_CONFIG": str(config)})
    assert_fails(
        done,
        USAGE,
        "unknown setting windows.allowed_latenes_s",
        "did you mean windows.allowed_lateness_s?",
    )


@pytest.mark.parametrize(
    ("name", "nearest"),
    [
        ("STOREWATCH_DETECTORS__YOUNG_STORES_S", "STOREWATCH_DETECTORS__YOUNG_STORE_S"),
        ("STOREWATCH_DETECTORS_YOUNG_STORE_S", "STOREWATCH_DETECTORS__YOUNG_STORE_S"),
        ("STOREWATCH_REDIS_UR", "STOREWATCH_REDIS_URL"),
    ],
)
def test_an_unknown_environment_variable_names_the_nearest(
    name: str, nearest: str, events: Path
) -> None:
    assert_fails(
        replay(events, env={name: "14d"}),
        USAGE,
        f"unknown environment variable {name}",
        f"did you mean {nearest}?",
    )


def test_an_unknown_key_inside_a_json_section_variable_is_refused(events: Path) -> None:
    done = replay(events, env={"STOREWATCH_WINDOWS": '{"lenghts_s": ["1h"]}'})
    assert_fails(done, USAGE, "unknown setting windows.lenghts_s", "windows.lengths_s")


@pytest.mark.parametrize(
    "value", ["1h,24h,7d", " 1h, 24h ,7d ", '["1h","24h","7d"]', "[3600, 86400, 604800]"]
)
def test_a_list_variable_takes_commas_or_json(
    value: str, events: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOREWATCH_WINDOWS__LENGTHS_S", value)
    assert load_settings().windows.lengths_s == [3600.0, 86400.0, 604800.0]
    assert replay(events, env={"STOREWATCH_WINDOWS__LENGTHS_S": value}).returncode == 0


def test_a_broken_json_list_variable_is_a_one_line_error(events: Path) -> None:
    done = replay(events, env={"STOREWATCH_WINDOWS__LENGTHS_S": '["1h", "24h"'})
    assert_fails(
        done, USAGE, "windows.lengths_s", "starts as a JSON list but is not one", "1h,24h,7d"
    )


@pytest.mark.parametrize("value", ["1h,2d", '["1h", "2d"]'])
def test_tune_set_takes_the_same_list_spellings(value: str) -> None:
    changed = apply_changes(Settings(), {"windows.lengths_s": value})
    assert changed.windows.lengths_s == [3600.0, 172800.0]


def test_every_variable_the_docs_and_deployments_name_is_a_setting() -> None:
    """The README and docs/, the k8s manifests and the compose file must not teach a name that
    would now be refused."""
    known = {env_name(key) for key in setting_keys()} | OTHER_ENV_NAMES
    texts = [
        ROOT / "README.md",
        ROOT / "docker-compose.yml",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "deploy").rglob("*.y*ml")),
    ]
    named = {
        name
        for path in texts
        for name in re.findall(r"STOREWATCH_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert named, "found no STOREWATCH_ names: the pattern or the paths are wrong"
    assert sorted(named - known) == []
