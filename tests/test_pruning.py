import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_set import SETMLPClassifier
from sklearn_set._evolution import (
    importance_keep_mask,
    neuron_importance,
    prune_neurons,
)
from sklearn_set._network import SparseMLP
from sklearn_set._schedule import is_due


def _network(rng, sizes=(12, 20, 16, 3)):
    network = SparseMLP.erdos_renyi(sizes, 4.0, rng, dtype=np.float64)
    for layer in network.layers:
        layer.velocity = rng.standard_normal(layer.weights.shape)
        layer.bias = rng.standard_normal(layer.bias.shape)
    return network


def _connections(layer):
    """{(i, j): (weight, velocity)} of a layer."""
    t = layer.topology
    return dict(zip(zip(t.rows(), t.indices, strict=True),
                    zip(layer.weights, layer.velocity, strict=True), strict=True))


@pytest.mark.parametrize("percentile", [0, 20, 50, 90])
def test_keep_mask_removes_exactly_the_neurons_at_or_below_the_percentile(percentile, rng):
    importance = rng.random(101)
    importance[[3, 7]] = importance[5]  # ties at some value
    keep = importance_keep_mask(importance, percentile, min_width=1)
    threshold = np.percentile(importance, percentile)
    assert_array_equal(~keep, importance <= threshold)


def test_keep_mask_respects_the_floor():
    importance = np.array([5.0, 1.0, 3.0, 1.0, 4.0])
    keep = importance_keep_mask(importance, 99, min_width=2)
    assert_array_equal(keep, [True, False, False, False, True])


@pytest.mark.parametrize("criterion", ["incoming", "outgoing", "both"])
def test_importance_sums_absolute_weights(criterion, rng):
    network = _network(rng)
    dense_in = np.abs(network.layers[0].weights)
    t_in, t_out = network.layers[0].topology, network.layers[1].topology
    incoming = np.zeros(20)
    np.add.at(incoming, t_in.indices, dense_in)
    outgoing = np.zeros(20)
    np.add.at(outgoing, t_out.rows(), np.abs(network.layers[1].weights))
    expected = {"incoming": incoming, "outgoing": outgoing, "both": incoming + outgoing}
    assert_allclose(neuron_importance(network, 0, criterion), expected[criterion])


def test_pruning_removes_neurons_and_keeps_layers_consistent(rng):
    network = _network(rng)
    keep = [rng.random(20) < 0.6, rng.random(16) < 0.6]
    before = [_connections(layer) for layer in network.layers]
    biases = [layer.bias.copy() for layer in network.layers]
    n_removed = prune_neurons(network, keep)

    survivors = [np.ones(12, bool), keep[0], keep[1], np.ones(3, bool)]
    expected_removed = 0
    for k, layer in enumerate(network.layers):
        ins, outs = np.flatnonzero(survivors[k]), np.flatnonzero(survivors[k + 1])
        assert layer.topology.shape == (ins.size, outs.size)
        assert_array_equal(layer.bias, biases[k][outs])
        after = _connections(layer)
        # every survivor is an old connection between surviving neurons, with its
        # weight and momentum; every old connection between survivors is still there
        expected = {(a, b): v for (i, j), v in before[k].items()
                    for a, b in [(np.searchsorted(ins, i), np.searchsorted(outs, j))]
                    if survivors[k][i] and survivors[k + 1][j]}
        assert after == expected
        expected_removed += len(before[k]) - len(expected)
        assert layer.weights.shape == layer.velocity.shape == (layer.topology.nnz,)
    assert n_removed == expected_removed > 0
    assert network.hidden_layer_sizes == (keep[0].sum(), keep[1].sum())
    network.forward(rng.standard_normal((12, 5)))  # shapes chain up


def test_removing_neurons_that_carry_no_weight_leaves_the_output_unchanged(rng):
    network = _network(rng)
    dead = np.zeros(20, dtype=bool)
    dead[[1, 4, 9]] = True
    # the dead neurons' outgoing weights are zero, so they contribute nothing
    out_layer = network.layers[1]
    out_layer.weights[dead[out_layer.topology.rows()]] = 0.0
    x = rng.standard_normal((12, 7))
    before = network.forward(x).output
    prune_neurons(network, [~dead, np.ones(16, dtype=bool)])
    assert_allclose(network.forward(x).output, before, rtol=1e-12)


def test_budget_option_regrows_the_lost_connections(rng):
    network = _network(rng, sizes=(30, 40, 40, 3))
    budgets = [layer.topology.nnz for layer in network.layers]
    prune_neurons(network, [rng.random(40) < 0.7, rng.random(40) < 0.7], rng=rng)
    for layer, budget in zip(network.layers, budgets, strict=True):
        t = layer.topology
        assert t.nnz == min(budget, t.n_in * t.n_out)
        assert np.all(np.diff(t.keys()) > 0)


def test_schedule_is_a_function_of_the_epoch():
    due = [e for e in range(1, 101) if is_due(e, 40, 10)]
    assert due == [40, 50, 60, 70, 80, 90, 100]


def test_estimator_prunes_hidden_neurons_during_fit():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=30, n_informative=10,
                               n_classes=3, class_sep=2.0, random_state=0)
    clf = SETMLPClassifier(hidden_layer_sizes=(100, 80), max_iter=30, prune="importance",
                           prune_start=0.3, prune_every=5, n_iter_no_change=100,
                           random_state=0).fit(X, y)
    widths = [record["hidden_neurons"] for record in clf.history_]
    assert widths[0] == [100, 80]
    assert clf.hidden_layer_sizes_ == tuple(widths[-1])
    assert sum(clf.hidden_layer_sizes_) < 0.6 * 180  # prune_target: half, over 5 steps
    pruning_epochs = [r["epoch"] for r in clf.history_ if r["pruned_neurons"]]
    assert pruning_epochs == [9, 14, 19, 24, 29]
    assert clf.history_[-1]["nnz"] < clf.history_[0]["nnz"]
    assert [c.shape for c in clf.coefs_][1] == clf.hidden_layer_sizes_
    assert clf.score(X, y) > 0.8

    floor = SETMLPClassifier(hidden_layer_sizes=(50,), max_iter=30, prune="importance",
                             prune_percentile=90, prune_every=1, prune_min_width=0.1,
                             n_iter_no_change=100,
                             random_state=0).fit(X, y)
    assert floor.hidden_layer_sizes_ == (5,)


@pytest.mark.parametrize("max_iter", [20, 50, 200, 500])
def test_pruning_reaches_its_target_whatever_the_number_of_epochs(max_iter):
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=60, n_features=20, n_informative=6, n_classes=3,
                               class_sep=2.0, random_state=0)
    clf = SETMLPClassifier(hidden_layer_sizes=(40, 30), max_iter=max_iter, batch_size=60,
                           prune="importance", n_iter_no_change=10**6,
                           random_state=0).fit(X, y)
    removed = 1 - np.array(clf.hidden_layer_sizes_) / np.array([40, 30])
    assert np.all(np.abs(removed - 0.5) <= 0.05), removed
    steps = [r["epoch"] for r in clf.history_ if r["pruned_neurons"]]
    assert steps[0] == round(0.4 * max_iter) and steps[-1] < max_iter
    widths = [sum(r["hidden_neurons"]) for r in clf.history_]
    assert all(a >= b for a, b in zip(widths, widths[1:], strict=False))  # a little at each step


def test_prune_target_sets_how_much_and_the_percentile_overrides_it():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=60, n_features=20, n_informative=6, n_classes=3,
                               class_sep=2.0, random_state=0)
    common = dict(hidden_layer_sizes=(100,), max_iter=50, batch_size=60, prune="importance",
                  n_iter_no_change=10**6, random_state=0)
    assert SETMLPClassifier(**common, prune_target=0.8).fit(X, y).hidden_layer_sizes_ == (20,)
    # steps at epochs 20, 30 and 40, each above the 20th percentile: 100 -> 80 -> 64 -> 51
    by_percentile = SETMLPClassifier(**common, prune_percentile=20).fit(X, y)
    assert by_percentile.hidden_layer_sizes_ == (51,)
