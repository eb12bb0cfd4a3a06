"""The bench's cost split charges builtins and the standard library to the part of the engine
that called them, so a short profile is not mostly "other"."""

from __future__ import annotations

from typing import Any

from stream.tools.bench.profile import _caller_shares

DETECTOR = ("/src/stream/core/detectors/claims.py", 10, "decide")
MODEL = ("/src/stream/core/models.py", 20, "score")
RANDOM = ("/usr/lib/python3.11/random.py", 30, "uniform")
DICT_GET = ("~", 0, "<method 'get' of 'dict' objects>")
LOOP = ("/usr/lib/python3.11/asyncio/base_events.py", 40, "run_forever")


def _row(callers: dict[Any, float]) -> tuple[Any, ...]:
    """A pstats row: (calls, primitive calls, own s, cumulative s, callers -> edge)."""
    return (1, 1, 0.0, 0.0, {caller: (1, 1, 0.0, ct) for caller, ct in callers.items()})


def test_a_builtin_is_charged_to_its_callers_in_proportion_to_the_time_each_call_took() -> None:
    raw = {DICT_GET: _row({DETECTOR: 3.0, MODEL: 1.0}), DETECTOR: _row({}), MODEL: _row({})}
    shares = _caller_shares(raw, DICT_GET, {}, set())
    assert shares == {"features+detectors": 0.75, "models": 0.25}


def test_a_chain_through_the_standard_library_ends_at_the_project_part_that_started_it() -> None:
    raw = {DICT_GET: _row({RANDOM: 1.0}), RANDOM: _row({MODEL: 1.0}), MODEL: _row({})}
    assert _caller_shares(raw, DICT_GET, {}, set()) == {"models": 1.0}


def test_a_function_with_no_caller_or_in_a_cycle_of_unknowns_stays_other() -> None:
    orphan = ("~", 0, "<built-in method builtins.len>")
    raw = {orphan: _row({}), RANDOM: _row({DICT_GET: 1.0}), DICT_GET: _row({RANDOM: 1.0})}
    assert _caller_shares(raw, orphan, {}, set()) == {"other": 1.0}
    assert _caller_shares(raw, RANDOM, {}, set()) == {"other": 1.0}


def test_a_function_with_a_group_of_its_own_keeps_it_whoever_called_it() -> None:
    raw = {MODEL: _row({LOOP: 1.0}), LOOP: _row({})}
    assert _caller_shares(raw, MODEL, {}, set()) == {"models": 1.0}
