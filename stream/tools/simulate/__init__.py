"""Labelled marketplace simulator: honest stores with their habits, five fraud schemes with
evasive variants, as contract events.

Detectors can only be tuned and scored on streams whose truth is known, and labelled marketplace
data cannot be shipped. So the simulation has to be hard the way real data is hard: honest
stores whose habits look suspicious (``honest``), and fraud stores whose every tactic is drawn
from a wide range with one forced to its evasive end (``tactics``), so tuning on it cannot
succeed by learning its constants. One module per scheme; ``core`` holds the event log that
keeps the money and ordering guarantees, ``world`` the identities, calendar and catalogues the
generators share; ``market`` deals stores to schemes and writes files.
"""

from stream.tools.simulate.honest import HABITS, PLAIN
from stream.tools.simulate.market import (
    DEFAULT_FRAUD_SHARE,
    DEFAULT_START,
    FRAUD,
    LEGIT,
    SCHEMES,
    Simulation,
    label_kind,
    simulate,
    write_events,
    write_labels,
)

__all__ = [
    "DEFAULT_FRAUD_SHARE",
    "DEFAULT_START",
    "FRAUD",
    "HABITS",
    "LEGIT",
    "PLAIN",
    "SCHEMES",
    "Simulation",
    "label_kind",
    "simulate",
    "write_events",
    "write_labels",
]
