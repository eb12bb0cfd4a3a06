"""The demo's closing summary: fraud by scheme and variant, the honest stores in one row."""

from __future__ import annotations

from stream.tools.demo import summary_table
from stream.tools.replay import ReplayResult

LABELS = {
    "a": "ghost_supplier/fake_tracking",
    "b": "ghost_supplier/fake_tracking",
    "c": "bulk_identity/own_account",
    "d": "legit/merged_parcels",
    "e": "legit/plain",
    "f": "legit",
}


def rows_of(result: ReplayResult) -> dict[str, tuple[str, str]]:
    table = summary_table(result, LABELS)
    names, counts, flagged = (list(column.cells) for column in table.columns)
    return {
        str(name): (str(count), str(mark))
        for name, count, mark in zip(names, counts, flagged, strict=False)
    }


def test_fraud_rows_are_scheme_and_variant_and_every_honest_habit_shares_one_row() -> None:
    result = ReplayResult(events=10, alerts=[{"store_id": "a"}, {"store_id": "d"}])
    assert rows_of(result) == {
        "bulk_identity/own_account": ("1", "0"),
        "ghost_supplier/fake_tracking": ("2", "1"),
        "legit": ("3", "1"),
    }


def test_the_honest_row_comes_last() -> None:
    assert list(summary_table(ReplayResult(), LABELS).columns[0].cells)[-1] == "legit"
