"""The population model: cold start, calibrated rarity, learning only what it is told to,
event-time memory, snapshots, metrics."""

from __future__ import annotations

import pickle
import random

import pytest
from prometheus_client import CollectorRegistry

from stream.config import DetectorSettings
from stream.core.models import PopulationModel, SnapshotVersionError, TailEstimator
from stream.runtime.metrics import Metrics, ModelScoreRecorder

SETTINGS = DetectorSettings(model_window_size=100, model_min_population=200)
FAR = {"youth": 1.0, "share": 1.0, "flag": 1.0}


def typical(rng: random.Random) -> dict[str, float]:
    return {"youth": rng.random() * 0.2, "share": 0.3 + rng.random() * 0.2, "flag": 0.0}


def trained(
    n: int = 1000, settings: DetectorSettings = SETTINGS, hour_s: float = 3600.0
) -> tuple[PopulationModel, random.Random]:
    rng = random.Random(7)
    model = PopulationModel("test", settings)
    for i in range(n):
        features = typical(rng)
        model.learn(features, model.score(features), ts_s=i * hour_s / 10)
    return model, rng


def test_a_model_is_cold_until_it_has_learnt_two_windows_and_its_minimum_population() -> None:
    model, _ = trained(199)
    assert not model.score(FAR).warm
    model, _ = trained(200)
    assert model.score(FAR).warm


def test_a_warm_model_finds_a_far_observation_rarer_than_one_in_a_hundred() -> None:
    model, _ = trained()
    verdict = model.score(FAR)
    assert verdict.rarer_than(0.01) and verdict.one_in() >= 100


def test_the_tail_is_calibrated_about_one_typical_decision_in_fifty_is_rarer_than_two_percent() -> (
    None
):
    model, rng = trained()
    verdicts = [model.score(typical(rng)) for _ in range(2000)]
    rare = sum(v.rarer_than(0.02) for v in verdicts) / len(verdicts)
    assert rare < 0.06  # by construction about 0.02; a quantile of 0.9 would give 0.10


def test_scoring_alone_teaches_the_model_nothing() -> None:
    model, _ = trained()
    before = model.score(FAR)
    for _ in range(500):
        model.score(FAR)
    after = model.score(FAR)
    assert after.tail_p == before.tail_p and model.learnt == 1000


def test_what_it_learns_becomes_common_so_alerted_stores_must_not_be_learnt() -> None:
    model, _ = trained()
    rare = model.score(FAR).tail_p
    for i in range(300):
        model.learn(FAR, model.score(FAR), ts_s=100_000.0 + i)
    assert model.score(FAR).tail_p > 10 * rare


def test_the_tail_forgets_with_event_time_not_with_the_count_of_decisions() -> None:
    tail = TailEstimator(bins=10, half_life_s=86400.0)
    for _ in range(100):
        tail.add(0.95, ts_s=0.0)  # a month ago everything was high
    for _ in range(100):
        tail.add(0.05, ts_s=30 * 86400.0)
    assert tail.tail_p(0.95) < 0.02
    assert 99 < tail.effective_n < 102


def test_the_feature_tail_places_one_value_in_the_population() -> None:
    model, _ = trained()
    high, low = model.feature_tail("share", 0.99), model.feature_tail("share", 0.3)
    assert high is not None and high < 0.01
    assert low is not None and low > 0.9
    assert PopulationModel("cold", SETTINGS).feature_tail("share", 0.99) is None


def test_the_model_metrics_count_every_score_and_show_when_the_model_turns_warm() -> None:
    registry = CollectorRegistry()
    record = ModelScoreRecorder(Metrics.create(registry))
    model = PopulationModel("test", SETTINGS, lambda verdict: record("test", verdict))
    rng = random.Random(7)
    warm = []
    for i in range(201):
        features = typical(rng)
        model.learn(features, model.score(features), ts_s=float(i))
        warm.append(registry.get_sample_value("storewatch_model_warm", {"detector": "test"}))
    assert warm[0] == 0.0
    assert warm[199:] == [0.0, 1.0]
    assert registry.get_sample_value("storewatch_model_score_count", {"detector": "test"}) == 201


def test_a_snapshot_restores_the_same_scores_and_tails() -> None:
    model, _ = trained()
    copy = PopulationModel("test", SETTINGS)
    copy.restore(model.snapshot())
    probe = {"youth": 0.5, "share": 0.9, "flag": 1.0}
    assert copy.score(probe) == model.score(probe)
    assert copy.feature_tail("share", 0.9) == model.feature_tail("share", 0.9)


def test_a_snapshot_from_another_river_version_is_refused() -> None:
    model, _ = trained(10)
    state = pickle.loads(model.snapshot())
    state["river"] = "0.1.0"
    with pytest.raises(SnapshotVersionError, match="River 0.1.0"):
        model.restore(pickle.dumps(state))


def test_a_snapshot_of_another_model_shape_is_refused() -> None:
    model, _ = trained(10)
    other = PopulationModel("test", DetectorSettings(model_window_size=100, model_trees=12))
    with pytest.raises(SnapshotVersionError, match="shape"):
        other.restore(model.snapshot())
