"""The online population model: cold start, what it finds unusual, snapshots, metrics."""

from __future__ import annotations

import pickle
import random

import pytest
from prometheus_client import CollectorRegistry

from stream.config import DetectorSettings
from stream.metrics import Metrics, ModelScoreRecorder
from stream.models import OnlineAnomalyModel, SnapshotVersionError


def typical(rng: random.Random) -> dict[str, float]:
    return {"youth": rng.random() * 0.2, "share": 0.3 + rng.random() * 0.2, "flag": 0.0}


def trained(n: int = 400) -> tuple[OnlineAnomalyModel, random.Random]:
    rng = random.Random(7)
    model = OnlineAnomalyModel("test", DetectorSettings(model_window_size=100))
    for _ in range(n):
        model.score_and_learn(typical(rng))
    return model, rng


def test_a_model_is_cold_until_it_has_seen_two_windows() -> None:
    model, _ = trained(199)
    assert not model.score_and_learn({"youth": 1.0, "share": 1.0, "flag": 1.0}).warm
    assert model.score_and_learn({"youth": 1.0, "share": 1.0, "flag": 1.0}).warm


def test_a_warm_model_finds_a_far_observation_anomalous() -> None:
    model, _ = trained()
    assert model.score_and_learn({"youth": 1.0, "share": 1.0, "flag": 1.0}).anomalous


def test_a_warm_model_finds_most_typical_observations_normal() -> None:
    model, rng = trained()
    verdicts = [model.score_and_learn(typical(rng)) for _ in range(200)]
    assert sum(v.anomalous for v in verdicts) / len(verdicts) < 0.2


def test_the_model_metrics_count_every_score_and_show_when_the_model_turns_warm() -> None:
    registry = CollectorRegistry()
    record = ModelScoreRecorder(Metrics.create(registry))
    model = OnlineAnomalyModel("test", DetectorSettings(model_window_size=100),
                               lambda verdict: record("test", verdict))
    rng = random.Random(7)
    warm = []
    for _ in range(201):
        model.score_and_learn(typical(rng))
        warm.append(registry.get_sample_value("storewatch_model_warm", {"detector": "test"}))
    assert warm[0] == 0.0
    assert warm[199:] == [0.0, 1.0]
    assert registry.get_sample_value("storewatch_model_score_count", {"detector": "test"}) == 201


def test_a_snapshot_restores_the_same_scores() -> None:
    model, _ = trained()
    copy = OnlineAnomalyModel("test", DetectorSettings(model_window_size=100))
    copy.restore(model.snapshot())
    probe = {"youth": 0.5, "share": 0.9, "flag": 1.0}
    assert copy.score_and_learn(probe).score == model.score_and_learn(probe).score


def test_a_snapshot_from_another_river_version_is_refused() -> None:
    model, _ = trained(10)
    state = pickle.loads(model.snapshot())
    state["river"] = "0.1.0"
    with pytest.raises(SnapshotVersionError, match="River 0.1.0"):
        model.restore(pickle.dumps(state))


def test_a_snapshot_of_another_model_shape_is_refused() -> None:
    model, _ = trained(10)
    other = OnlineAnomalyModel("test", DetectorSettings(model_window_size=100, model_trees=12))
    with pytest.raises(SnapshotVersionError, match="shape"):
        other.restore(model.snapshot())
