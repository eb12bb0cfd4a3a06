"""`storewatch completion bash|zsh`: a script that completes every command and flag of the
parser, run here in a real bash."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from stream.errors import ExitCode
from tests.helpers.cli_runner import assert_fails, run_cli


def complete(script: str, *words: str) -> list[str]:
    """What bash offers for the command line ``words`` (the last one is being typed)."""
    line = " ".join(f'"{w}"' for w in ("storewatch", *words))
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words)}; _storewatch; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=True, timeout=30
    )
    return [word for word in done.stdout.splitlines() if word]


@pytest.fixture(scope="module")
def bash_script() -> str:
    done = run_cli("completion", "bash")
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_commands_subcommands_flags_and_choices_complete(bash_script: str) -> None:
    assert complete(bash_script, "re") == ["replay"]
    assert "label" in complete(bash_script, "")
    assert sorted(complete(bash_script, "tune", "s")) == ["set", "show"]
    assert complete(bash_script, "tune", "set", "--y") == ["--yes"]
    assert complete(bash_script, "replay", "--via") == ["--via-kafka"]
    assert complete(bash_script, "replay", "--state", "") == ["redis", "memory"]
    assert complete(bash_script, "label", "a-1", "f") == ["fraud"]
    assert complete(bash_script, "completion", "") == ["bash", "zsh"]


def test_a_flag_that_takes_a_file_leaves_completion_to_the_shell(bash_script: str) -> None:
    assert complete(bash_script, "replay", "--input", "") == []
    assert "complete -o default -F _storewatch storewatch" in bash_script


def test_the_zsh_script_loads_bash_completion_first() -> None:
    done = run_cli("completion", "zsh")
    assert done.stdout.startswith("# storewatch completion for zsh")
    assert "bashcompinit" in done.stdout and "_storewatch()" in done.stdout
    if shutil.which("zsh"):
        subprocess.run(["zsh", "-fc", done.stdout], check=True, timeout=30)


def test_an_unknown_shell_is_a_usage_error() -> None:
    assert_fails(run_cli("completion", "fish"), ExitCode.USAGE, "invalid choice: 'fish'")
