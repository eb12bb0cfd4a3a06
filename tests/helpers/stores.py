"""The state store backends every store test runs on (tests/test_state_protocol.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

STATE_BACKENDS = ("memory", "redis")
StateStoreFactory = Callable[..., Any]  # (**window settings) -> the backend's store
