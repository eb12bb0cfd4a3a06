"""The README is a first page: short, every link resolves, every command it teaches exists, and
the detail it left out is in docs/."""

from __future__ import annotations

import re
from pathlib import Path

from stream.cli.parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MAX_LINES = 250


def _links(path: Path) -> list[str]:
    return [
        target
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text())
        if not target.startswith(("http://", "https://"))
    ]


def test_the_readme_is_a_first_page_not_a_manual() -> None:
    assert len(README.read_text().splitlines()) <= MAX_LINES


def test_every_link_of_the_readme_and_docs_resolves() -> None:
    broken = [
        f"{page.name}: {target}"
        for page in [README, *(ROOT / "docs").glob("*.md")]
        for target in _links(page)
        if not (page.parent / target).exists()
    ]
    assert broken == []


def test_the_readme_names_every_command_and_tells_to_activate_the_virtualenv() -> None:
    text = README.read_text()
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert [
        name
        for name in commands  # type: ignore[union-attr]
        if f"`storewatch {name}" not in text
        and f"storewatch {name} " not in text
        and f", `{name}" not in text
    ] == []
    assert "source .venv/bin/activate" in text


def test_the_sections_others_own_live_in_docs_with_a_link_left_behind() -> None:
    text = README.read_text()
    for heading, page in (
        ("## Detection results", "docs/detection.md"),
        ("## Performance", "docs/performance.md"),
    ):
        assert (ROOT / page).read_text().startswith(heading)
        assert f"]({page})" in text


def test_help_shows_the_defaults() -> None:
    from tests.helpers.cli_runner import run_cli

    simulate = run_cli("simulate", "--help").stdout
    assert "(default: 500)" in simulate and "(default: 30)" in simulate
    assert "(default: 600.0)" in run_cli("replay", "--help").stdout
    assert "(default: None)" not in run_cli("dev", "--help").stdout
