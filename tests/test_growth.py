"""Gradient growth (RigL) without a dense gradient, and the evolution schedules."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set._evolution import evolve_set
from sklearn_set._growth import _top, sampled_gradient_growth, top_gradient_positions
from sklearn_set._network import SparseMLP
from sklearn_set._schedule import zeta_at
from sklearn_set._topology import erdos_renyi

from .conftest import peak_memory_of


def _dense_top(x, delta, topology, count):
    """Reference: score every position densely, hide existing ones, sort."""
    scores = np.abs(x @ delta.T).astype(np.float32).ravel()
    scores[topology.keys()] = -1
    order = np.lexsort((np.arange(scores.size), -scores))[:count]
    return np.sort(order[scores[order] > 0])


@pytest.mark.parametrize("n_in, n_out, epsilon", [(40, 60, 3), (300, 200, 10), (7, 500, 2)])
@pytest.mark.parametrize("block_elements", [1, 97, 5000, 1 << 22])
def test_streamed_top_k_equals_the_dense_top_k(n_in, n_out, epsilon, block_elements):
    rng = np.random.default_rng(n_in + block_elements)
    topology = erdos_renyi(n_in, n_out, epsilon, rng)
    x = rng.standard_normal((n_in, 6)).astype(np.float32)
    delta = rng.standard_normal((n_out, 6)).astype(np.float32)
    for count in (1, 17, topology.nnz // 3):
        got = top_gradient_positions(x, delta, topology, count, block_elements=block_elements)
        np.testing.assert_array_equal(got, _dense_top(x, delta, topology, count))


def test_streamed_top_k_breaks_ties_by_position():
    rng = np.random.default_rng(0)
    topology = erdos_renyi(30, 30, 2, rng)
    x = np.ones((30, 2), dtype=np.float32)
    delta = np.ones((30, 2), dtype=np.float32)  # every gradient equal
    got = top_gradient_positions(x, delta, topology, 25, block_elements=64)
    np.testing.assert_array_equal(got, _dense_top(x, delta, topology, 25))


@pytest.mark.parametrize("count", [1, 40, 399, 400, 500])
def test_top_scores_are_the_full_sorts_ties_by_smaller_key(count):
    # the linear-time selection picks what sorting every candidate picked
    rng = np.random.default_rng(count)
    scores = rng.choice(np.float32([0.5, 1.0, 2.0, 3.0]), 400) * rng.choice([1, 1, 1.5], 400)
    keys = rng.permutation(10_000)[:400].astype(np.int64)
    order = np.lexsort((keys, -scores))[:count]
    got_scores, got_keys = _top(scores.astype(np.float32), keys, count)
    np.testing.assert_array_equal(np.sort(got_keys), np.sort(keys[order]))
    np.testing.assert_array_equal(np.sort(got_scores), np.sort(scores[order]))


def test_growing_nothing_returns_no_positions():
    rng = np.random.default_rng(0)
    topology = erdos_renyi(30, 20, 2, rng)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    delta = rng.standard_normal((20, 4)).astype(np.float32)
    assert top_gradient_positions(x, delta, topology, 0).shape == (0,)
    scores, keys = _top(np.ones(3, np.float32), np.arange(3), 0)
    assert scores.shape == keys.shape == (0,)


def test_rigl_step_keeps_the_count_and_grows_where_the_gradient_is_largest():
    rng = np.random.default_rng(1)
    network = SparseMLP.erdos_renyi([50, 40, 3], 4.0, rng)
    x = rng.standard_normal((50, 16)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    signals = network.backward_signals(x, y)
    from sklearn_set._growth import gradient_growth

    layer = network.layers[0]
    original = layer.topology  # immutable: evolution builds a new one
    before = original.keys()
    rewired = evolve_set(layer, 0.3, rng, grow=gradient_growth, signal=signals[0])
    after = layer.topology.keys()
    assert after.shape == before.shape and np.all(np.diff(after) > 0)
    grown = np.setdiff1d(after, before)
    assert grown.shape[0] == rewired > 0
    np.testing.assert_array_equal(grown, top_gradient_positions(*signals[0], original, rewired))


def test_sampled_gradient_growth_keeps_the_count_and_prefers_large_gradients():
    rng = np.random.default_rng(2)
    network = SparseMLP.erdos_renyi([80, 60, 3], 4.0, rng)
    x = rng.standard_normal((80, 16)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    signal = network.backward_signals(x, y)[0]
    layer = network.layers[0]
    kept = layer.topology.keys()
    grown = sampled_gradient_growth(layer, np.ones(kept.shape[0], dtype=bool), 100, rng, signal)
    assert grown.shape == (100,) and not np.isin(grown, kept).any()
    scores = np.abs(signal[0] @ signal[1].T).ravel()
    free = np.setdiff1d(np.arange(80 * 60), kept)
    # the chosen positions score well above a random free position on average
    assert scores[grown].mean() > 1.5 * scores[free].mean()


GROWTH_WORK = """
from sklearn_set._growth import top_gradient_positions
from sklearn_set._topology import erdos_renyi

def work(n, batch):
    rng = np.random.default_rng(0)
    topology = erdos_renyi(n, n, 20.0, rng)
    x = rng.standard_normal((n, batch)).astype(np.float32)
    delta = rng.standard_normal((n, batch)).astype(np.float32)
    keys = top_gradient_positions(x, delta, topology, int(0.3 * topology.nnz))
    return f"{topology.nnz} {keys.shape[0]}"
"""


def test_gradient_growth_on_a_100k_by_100k_layer_stays_under_1gb():
    result, peak_mb = peak_memory_of(GROWTH_WORK, small=dict(n=100, batch=4),
                                     large=dict(n=100_000, batch=4))
    nnz, grown = map(int, result.split())
    assert nnz == 4_000_000 and grown == 1_200_000
    dense_gb = 100_000 * 100_000 * 4 / 1e9  # what a dense gradient would take: 40 GB
    assert peak_mb < 1024, f"peak {peak_mb:.0f} MiB above the baseline (dense gradient: {dense_gb:.0f} GB)"


# -- schedules and the estimator ------------------------------------------------------
def test_zeta_schedules_are_plain_functions_of_the_step():
    assert zeta_at(0, 100, 0.3) == 0.3 and zeta_at(99, 100, 0.3) == 0.3
    assert zeta_at(100, 100, 0.3) == 0.0
    assert zeta_at(0, 100, 0.3, "cosine") == pytest.approx(0.3)
    assert zeta_at(50, 100, 0.3, "cosine") == pytest.approx(0.15)
    assert zeta_at(99, 100, 0.3, "cosine") < 0.001


def _data():
    X, y = make_classification(n_samples=160, n_features=30, n_informative=8,
                               n_classes=3, class_sep=2.0, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("growth", ["gradient", "sampled_gradient"])
def test_rigl_schedule_in_the_estimator(growth):
    X, y = _data()
    params = dict(hidden_layer_sizes=(40, 40), max_iter=12, epsilon=4, growth=growth,
                  evolve_unit="batch", evolve_every=3, zeta_schedule="cosine",
                  evolve_stop=0.75, track_exploration=True, random_state=0)
    clf = SETMLPClassifier(**params).fit(X, y)
    rewired = [r["rewired"] for r in clf.history_]
    assert all(r > 0 for r in rewired[:8]) and all(r == 0 for r in rewired[9:])
    assert all(r["nnz"] == clf.history_[0]["nnz_start"] for r in clf.history_)
    explored = np.array([r["explored_fraction"] for r in clf.history_])
    assert np.all(np.diff(explored, axis=0) >= 0) and np.all(explored <= 1)
    assert explored[-1, 0] > explored[0, 0]
    assert clf.score(X, y) > 0.7
    again = SETMLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_epoch_level_gradient_growth_with_pruning_runs():
    X, y = _data()
    clf = SETMLPClassifier((40, 40), max_iter=10, epsilon=4, growth="gradient",
                           prune="importance", prune_start=0.3, prune_every=3,
                           track_exploration=True, random_state=0).fit(X, y)
    assert sum(clf.hidden_layer_sizes_) < 80
    assert all(r["rewired"] > 0 for r in clf.history_[:-1])


def test_growth_signals_weigh_samples_as_training_does():
    # a sample of weight 0 adds nothing to the gradient growth ranks by, so the signals
    # equal those of the batch without it
    rng = np.random.default_rng(3)
    network = SparseMLP.erdos_renyi([20, 15, 3], 4.0, rng)
    x = rng.standard_normal((20, 16)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    weights = np.r_[np.ones(12), np.zeros(4)]
    weighted = network.backward_signals(x, y, sample_weight=weights)
    kept = network.backward_signals(x[:, :12], y[:12])
    for (inputs, delta), (kept_inputs, kept_delta) in zip(weighted, kept, strict=True):
        np.testing.assert_allclose(inputs[:, :12], kept_inputs)
        np.testing.assert_allclose(delta[:, :12], kept_delta, rtol=1e-6)
        assert not delta[:, 12:].any()
