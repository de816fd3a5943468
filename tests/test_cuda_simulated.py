"""The CUDA kernels against the CPU kernels, run where numba.cuda can run them: under
numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which ``tests/test_cuda.py`` sets
in a process of its own) or on a GPU. Skipped otherwise.

Small topologies, including empty rows, empty columns and a single connection; every
kernel is compared with its CPU counterpart, so that both backends train one model.
"""

import pickle
import warnings

import numpy as np
import pytest
from numba import config, cuda
from numpy.testing import assert_allclose

from sklearn_set import SETMLPClassifier, SETMLPRegressor, _kernels
from sklearn_set._evolution import set_keep_mask
from sklearn_set._topology import Topology

from .conftest import edge_case_topologies, random_topology

if not (config.ENABLE_CUDASIM or cuda.is_available()):
    pytest.skip("needs numba's CUDA simulator or a GPU (see tests/test_cuda.py)",
                allow_module_level=True)

from sklearn_set import _cuda_evolution as E  # noqa: E402
from sklearn_set import _cuda_kernels as K  # noqa: E402
from sklearn_set._device import DeviceLayer  # noqa: E402
from sklearn_set._network import SparseLayer  # noqa: E402

# the simulator evaluates the 64-bit hashes in numpy scalars, which warn on wrap-around
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

TOL = dict(rtol=1e-5, atol=1e-6)


TOPOLOGIES = edge_case_topologies(random_shape=(13, 11, 40), dense_shape=(5, 4, 20))


@pytest.fixture(params=list(TOPOLOGIES))
def topology(request, rng):
    return TOPOLOGIES[request.param](rng)


def _layer(topology, rng):
    return SparseLayer(topology, rng.standard_normal(topology.nnz).astype(np.float32),
                       rng.standard_normal(topology.n_out).astype(np.float32),
                       rng.standard_normal(topology.nnz).astype(np.float32),
                       rng.standard_normal(topology.n_out).astype(np.float32))


def _device(array):
    return cuda.to_device(np.ascontiguousarray(array))


@pytest.mark.parametrize("kind, slope, keep", [
    (_kernels.IDENTITY, 0.0, 1.0), (_kernels.RELU, 0.0, 0.5), (_kernels.RELU, -0.6, 1.0),
    (_kernels.TANH, 0.0, 0.7), (_kernels.LOGISTIC, 0.0, 1.0),
])
def test_forward_matches_the_cpu_dropout_masks_included(topology, rng, kind, slope, keep):
    layer, batch, seed = _layer(topology, rng), 5, np.uint64(12345)
    x = rng.standard_normal((topology.n_in, batch)).astype(np.float32)
    expected = np.empty((topology.n_out, batch), np.float32)
    expected_gradient = np.empty_like(expected)
    _kernels.spmm_activate(topology.t_indptr, topology.t_indices, topology.t_order,
                           layer.weights, layer.bias, x, kind, np.float32(slope), keep, seed,
                           expected, expected_gradient, np.empty_like(layer.weights))
    device = DeviceLayer.from_host(layer)
    out = cuda.device_array_like(expected)
    gradient = cuda.device_array_like(expected)
    K.spmm_activate[K.blocks(out.size), K.THREADS](
        device.t_indptr, device.t_indices, device.t_order, device.weights, device.bias,
        _device(x), kind, np.float32(slope), keep, seed, out, gradient)
    assert_allclose(out.copy_to_host(), expected, **TOL)
    assert_allclose(gradient.copy_to_host(), expected_gradient, **TOL)


@pytest.mark.parametrize("with_local_gradient", [False, True])
def test_input_gradient_matches_the_cpu(topology, rng, with_local_gradient):
    layer, batch = _layer(topology, rng), 4
    delta = rng.standard_normal((topology.n_out, batch)).astype(np.float32)
    local = (rng.random((topology.n_in, batch)) < 0.5).astype(np.float32) \
        if with_local_gradient else np.empty((0, 0), np.float32)
    expected = np.empty((topology.n_in, batch), np.float32)
    _kernels.spmm_transposed(topology.indptr, topology.indices, layer.weights, delta, expected)
    if with_local_gradient:
        expected *= local
    device = DeviceLayer.from_host(layer)
    out = cuda.device_array_like(expected)
    K.spmm_transposed[K.blocks(out.size), K.THREADS](device.indptr, device.indices,
                                                     device.weights, _device(delta),
                                                     _device(local), out)
    assert_allclose(out.copy_to_host(), expected, **TOL)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("batch", [1, 9])
def test_weight_and_bias_steps_match_the_cpu(topology, rng, nesterov, batch):
    layer = _layer(topology, rng)
    x = rng.standard_normal((topology.n_in, batch)).astype(np.float32)
    delta = rng.standard_normal((topology.n_out, batch)).astype(np.float32)
    lr, momentum, decay = np.float32(0.1), np.float32(0.9), np.float32(0.01)
    shrink = np.float32(0.002)  # decoupled weight decay
    device = DeviceLayer.from_host(layer)
    epoch = _device(np.zeros(4))
    nothing = cuda.device_array((0, 0), np.float32)
    K.backward_momentum_update[topology.n_in, K.LANES](
        device.indptr, device.indices, _device(x), _device(delta), device.weights,
        device.velocity, lr, momentum, decay, nesterov, shrink, epoch, nothing, nothing)
    K.bias_momentum_update[K.blocks(topology.n_out), K.THREADS](
        device.bias, device.bias_velocity, _device(delta), lr, momentum, nesterov, epoch)
    _kernels.sddmm_momentum_update(topology.indptr, topology.indices, x, delta, layer.weights,
                                   layer.velocity, lr, momentum, decay, nesterov, shrink)
    _kernels.bias_momentum_update(layer.bias, layer.bias_velocity, delta, lr, momentum,
                                  nesterov)
    for name in ("weights", "velocity", "bias", "bias_velocity"):
        assert_allclose(getattr(device, name).copy_to_host(), getattr(layer, name), **TOL)


@pytest.mark.parametrize("with_local_gradient", [False, True])
def test_fused_backward_matches_the_cpu(topology, rng, with_local_gradient):
    layer, batch = _layer(topology, rng), 7
    x = rng.standard_normal((topology.n_in, batch)).astype(np.float32)
    delta = rng.standard_normal((topology.n_out, batch)).astype(np.float32)
    local = (rng.random((topology.n_in, batch)) < 0.6).astype(np.float32) \
        if with_local_gradient else np.empty((0, 0), np.float32)
    lr, momentum, decay, shrink = (np.float32(0.05), np.float32(0.9), np.float32(1e-3),
                                   np.float32(1e-3))
    device = DeviceLayer.from_host(layer)
    below = cuda.device_array((topology.n_in, batch), np.float32)
    K.backward_momentum_update[topology.n_in, K.LANES](
        device.indptr, device.indices, _device(x), _device(delta), device.weights,
        device.velocity, lr, momentum, decay, True, shrink, _device(np.zeros(4)), below,
        _device(local))
    expected_below = np.empty((topology.n_in, batch), np.float32)
    _kernels.backward_momentum_update(topology.indptr, topology.indices, x, delta,
                                      layer.weights, layer.velocity, lr, momentum, decay,
                                      True, expected_below, local, shrink)
    assert_allclose(below.copy_to_host(), expected_below, **TOL)
    assert_allclose(device.weights.copy_to_host(), layer.weights, **TOL)
    assert_allclose(device.velocity.copy_to_host(), layer.velocity, **TOL)


def test_a_failed_batch_freezes_every_weight(rng):
    topology = random_topology(rng, 6, 5, 12)
    layer = _layer(topology, rng)
    device = DeviceLayer.from_host(layer)
    x, delta = np.ones((6, 3), np.float32), np.ones((5, 3), np.float32)
    stats, norm, epoch = _device(np.array([np.inf, 2.0, 0.0])), _device(np.zeros(1)), \
        _device(np.zeros(4))
    K.finish_batch[1, 1](stats, norm, 0.0, 3.0, epoch)
    assert epoch.copy_to_host()[K.EPOCH_FAILED] == 1
    below = cuda.device_array((6, 3), np.float32)
    K.backward_momentum_update[6, K.LANES](
        device.indptr, device.indices, _device(x), _device(delta), device.weights,
        device.velocity, np.float32(0.1), np.float32(0.9), np.float32(0.0), False,
        np.float32(0.0), epoch, below, cuda.device_array((0, 0), np.float32))
    K.bias_momentum_update[1, K.THREADS](device.bias, device.bias_velocity, _device(delta),
                                         np.float32(0.1), np.float32(0.9), False, epoch)
    assert np.array_equal(device.weights.copy_to_host(), layer.weights)
    assert np.array_equal(device.bias.copy_to_host(), layer.bias)
    # a finite batch accumulates, and the statistics are reset for the next one
    stats, epoch = _device(np.array([0.5, 2.0, 7.0])), _device(np.zeros(4))
    K.finish_batch[1, 1](stats, _device(np.array([4.0])), 0.25, 3.0, epoch)
    assert_allclose(epoch.copy_to_host(), [(0.5 + 1.0) * 3.0, 3.0, 2.0, 0.0])
    assert_allclose(stats.copy_to_host(), [0.0, 0.0, 0.0])


def test_losses_match_the_cpu(rng):
    n_classes, batch, n_samples = 4, 6, 10
    rows = rng.permutation(n_samples)[:batch]
    y = rng.integers(0, n_classes, n_samples)
    weights = rng.random(n_samples) + 0.5
    inverse_total = 1.0 / weights[rows].sum()
    logits = rng.standard_normal((n_classes, batch)).astype(np.float32)
    share = (weights[rows] * inverse_total).astype(np.float32)
    proba = logits.copy()
    _kernels.softmax(proba)
    expected_delta = np.empty_like(proba)
    loss, correct = _kernels.cross_entropy(proba, y[rows], share, 1e-30, expected_delta)
    out, delta, stats = _device(logits), cuda.device_array_like(logits), _device(np.zeros(3))
    K.softmax_cross_entropy[1, K.THREADS](out, _device(rows), _device(y), _device(weights),
                                          inverse_total, 1e-30, delta, stats)
    assert_allclose(out.copy_to_host(), proba, **TOL)
    assert_allclose(delta.copy_to_host(), expected_delta, **TOL)
    assert_allclose(stats.copy_to_host(), [loss, correct, 0.0], rtol=1e-5)

    target = rng.standard_normal((n_samples, 3)).astype(np.float32)
    outputs = rng.standard_normal((3, batch)).astype(np.float32)
    expected_delta = np.empty_like(outputs)
    loss = _kernels.squared_error(outputs, target[rows], share, expected_delta)
    delta, stats = cuda.device_array_like(outputs), _device(np.zeros(3))
    K.squared_error[1, K.THREADS](_device(outputs), _device(rows), _device(target),
                                  _device(weights), inverse_total, delta, stats)
    assert_allclose(delta.copy_to_host(), expected_delta, **TOL)
    assert_allclose(stats.copy_to_host()[0], loss, rtol=1e-5)

    proba = 1 / (1 + np.exp(-logits))
    for derivative_at_output in (False, True):
        expected_delta = np.empty_like(proba)
        loss, correct = _kernels.sigmoid_squared_error(proba, y[rows], share,
                                                       derivative_at_output, expected_delta)
        delta, stats = cuda.device_array_like(proba), _device(np.zeros(3))
        K.sigmoid_squared_error[1, K.THREADS](_device(proba), _device(rows), _device(y),
                                              _device(weights), inverse_total,
                                              derivative_at_output, delta, stats)
        assert_allclose(delta.copy_to_host(), expected_delta, **TOL)
        assert_allclose(stats.copy_to_host()[:2], [loss, correct], rtol=1e-5)


def test_gradient_norm_and_clipping_match_the_cpu(topology, rng):
    layer = _layer(topology, rng)
    x = rng.standard_normal((topology.n_in, 5)).astype(np.float32)
    delta = rng.standard_normal((topology.n_out, 5)).astype(np.float32)
    expected = layer.squared_gradient_norm(x, delta)
    device = DeviceLayer.from_host(layer)
    stats = _device(np.zeros(3))
    K.squared_gradient_norm[K.blocks(topology.n_in + topology.n_out), K.THREADS](
        device.indptr, device.indices, _device(x), _device(delta), stats)
    assert_allclose(stats.copy_to_host()[K.STAT_GRADIENT], expected, rtol=1e-5)

    for max_norm, factor in ((np.sqrt(expected) / 2, 0.5), (2 * np.sqrt(expected) + 1, 1.0)):
        clipped = _device(delta)
        K.clip_delta[K.blocks(delta.size), K.THREADS](clipped, stats, np.float32(max_norm))
        assert_allclose(clipped.copy_to_host(), delta * factor, rtol=1e-5, atol=1e-7)


def test_gather_and_norm(rng):
    X = rng.standard_normal((9, 7)).astype(np.float32)
    rows = np.array([3, 0, 8, 3])
    out = cuda.device_array((7, 4), np.float32)
    K.gather_columns[K.blocks(out.size), K.THREADS](_device(X), _device(rows), out)
    assert np.array_equal(out.copy_to_host(), X[rows].T)
    total = _device(np.zeros(1))
    K.squared_norm[2, K.THREADS](_device(X.ravel()), total)
    assert_allclose(total.copy_to_host()[0], np.sum(X.astype(float) ** 2), rtol=1e-6)


# -- SET's step ----------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 7, 100, 1000])
def test_exclusive_scan(rng, n):
    values = rng.integers(0, 5, n)
    out = E.exclusive_scan(_device(values)).copy_to_host()
    assert np.array_equal(out, np.concatenate([[0], np.cumsum(values)]))


@pytest.mark.parametrize("case", ["random", "ties", "zeros", "one_sign", "tiny"])
@pytest.mark.parametrize("zeta", [0.0, 0.3, 0.75])
def test_removal_mask_is_the_cpus(rng, case, zeta):
    weights = {
        "random": rng.standard_normal(300),
        "ties": rng.choice([-0.5, -0.25, 0.25, 0.5, 1.0], 300),
        "zeros": np.concatenate([np.zeros(50), -np.zeros(20), rng.standard_normal(80)]),
        "one_sign": np.abs(rng.standard_normal(200)),
        "tiny": np.array([0.3]),
    }[case].astype(np.float32)
    removed, count = E.removal_mask(_device(weights), zeta)
    expected = ~set_keep_mask(weights, zeta)
    assert np.array_equal(removed.copy_to_host().astype(bool), expected)
    assert count == expected.sum()


@pytest.mark.parametrize("passes", [((15, 16), (0, 15)), ((23, 8), (15, 8), (7, 8), (0, 7))],
                         ids=["gpu_16_bit", "simulator_8_bit"])
def test_selection_of_the_smallest_keys_is_exact_for_either_radix(rng, monkeypatch, passes):
    # the simulator runs narrower radix passes than a GPU (E._PASSES): both select
    # what a stable sort of each group's keys selects, ties by position
    monkeypatch.setattr(E, "_PASSES", passes)
    monkeypatch.setattr(E, "_BINS", 1 << max(width for _, width in passes))
    keys = np.concatenate([rng.integers(0, 2**31 - 1, 300), rng.integers(0, 4, 200),
                           [2**31 - 1] * 5]).astype(np.int32)
    group = rng.choice(np.array([-1, 0, 1], np.int8), keys.shape[0])
    wanted = (60, 150)
    selected = E.select_smallest(_device(keys), _device(group),
                                 _device(np.array(wanted, np.int64))).copy_to_host()
    expected = np.zeros(keys.shape[0], bool)
    for g, count in enumerate(wanted):
        members = np.flatnonzero(group == g)
        expected[members[np.argsort(keys[members], kind="stable")[:count]]] = True
    assert np.array_equal(selected.astype(bool), expected)


def test_transposed_view_is_the_cpus(topology):
    device = DeviceLayer.from_host(SparseLayer(topology, np.zeros(topology.nnz, np.float32),
                                               np.zeros(topology.n_out, np.float32)))
    got = E.transposed(device.indptr, device.indices, topology.n_out)
    for mine, theirs in zip(got, topology.transposed(), strict=True):
        assert np.array_equal(mine.copy_to_host(), theirs)


@pytest.mark.parametrize("shape, nnz, zeta, regrow_init", [
    ((40, 30), 120, 0.3, "zero"),  # sparse: candidates drawn
    ((40, 30), 120, 0.3, "he_uniform"),
    ((40, 30), 120, 0.3, "normal"),
    ((12, 5), 55, 0.3, "zero"),  # nearly full: every position enumerated
    ((8, 3), 24, 0.5, "he_uniform"),  # full, like a small output layer
    ((6, 9), 1, 0.9, "zero"),  # a single connection: nothing to remove
])
def test_set_step_keeps_the_budget_and_regrows_free_positions(rng, shape, nnz, zeta,
                                                              regrow_init):
    topology = random_topology(rng, *shape, nnz)
    layer = _layer(topology, rng)
    device = DeviceLayer.from_host(layer)
    rewired = E.evolve_layer(device, zeta, np.uint64(7), regrow_init)
    after = device.to_host()
    keep = set_keep_mask(layer.weights, zeta)
    assert rewired == (~keep).sum()
    assert after.topology.nnz == topology.nnz  # the budget
    keys_before, keys_after = topology.keys(), after.topology.keys()
    assert np.all(np.diff(keys_after) > 0)  # valid CSR: sorted, distinct, in range
    assert keys_after[-1] < shape[0] * shape[1]
    kept_keys = keys_before[keep]
    assert np.all(np.isin(kept_keys, keys_after))  # survivors keep weight and momentum
    at = np.searchsorted(keys_after, kept_keys)
    assert np.array_equal(after.weights[at], layer.weights[keep])
    assert np.array_equal(after.velocity[at], layer.velocity[keep])
    grown = np.setdiff1d(np.arange(keys_after.size), at)
    assert grown.size == rewired
    assert np.all(after.velocity[grown] == 0)
    if regrow_init == "zero":
        assert np.all(after.weights[grown] == 0)
    elif regrow_init == "he_uniform":
        assert np.all(np.abs(after.weights[grown]) <= np.sqrt(6 / (nnz / shape[1])))
    for mine, theirs in zip(after.topology.transposed(),
                            Topology(*shape, after.topology.indptr,
                                     after.topology.indices).transposed(), strict=True):
        assert np.array_equal(mine, theirs)


def test_set_regrowth_is_uniform_over_free_positions():
    # a 10 x 10 layer of 20 connections, 10 of them removed: over many seeds, every
    # free position (just-removed ones included) is grown about equally often, and
    # no kept one ever (chi-squared against its mean, the degrees of freedom)
    rng = np.random.default_rng(3)
    topology = random_topology(rng, 10, 10, 20)
    device = DeviceLayer.from_host(SparseLayer(topology, np.zeros(20, np.float32),
                                               np.zeros(10, np.float32)))
    removed = np.zeros(20, np.uint8)
    removed[rng.choice(20, 10, replace=False)] = 1
    free = np.setdiff1d(np.arange(100), topology.keys()[removed == 0])
    counts = np.zeros(100)
    trials = 20
    for trial in range(trials):
        columns, row_start, grown = E._grown_positions(
            device.indptr, device.indices, _device(removed), 10, 10, 10,
            np.uint64(trial * 7919 + 1))
        columns, row_start = columns.copy_to_host(), row_start.copy_to_host()
        rows = np.repeat(np.arange(10), np.diff(row_start))
        chosen = grown.copy_to_host().astype(bool)
        assert chosen.sum() == 10
        keys = rows[chosen] * 10 + columns[chosen]
        assert np.unique(keys).size == 10
        counts[keys] += 1
    assert counts[np.setdiff1d(np.arange(100), free)].sum() == 0
    expected = trials * 10 / free.size
    chi2 = np.sum((counts[free] - expected) ** 2 / expected)
    assert chi2 < 2 * free.size


# -- the estimator on the CUDA backend -------------------------------------------------
def _small_data(rng, n=40, d=6, classes=3):
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y % classes


@pytest.mark.parametrize("estimator", [
    SETMLPClassifier((6, 5), epsilon=2, max_iter=2, batch_size=20, random_state=0,
                     device="cuda", prune="importance", prune_start=0.5, prune_every=1),
    SETMLPClassifier((6,), epsilon=2, max_iter=2, batch_size=20, random_state=0,
                     device="cuda", early_stopping=True, validation_fraction=0.25),
    SETMLPRegressor((6,), epsilon=2, max_iter=2, batch_size=20, random_state=0,
                    device="cuda", regrow_init="init"),
])
def test_cuda_fit_evolves_prunes_and_pickles(rng, estimator):
    X, y = _small_data(rng)
    if isinstance(estimator, SETMLPRegressor):
        y = X[:, :2].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    assert estimator.n_iter_ >= 1
    assert all(r["rewired"] > 0 for r in estimator.history_[:-1] if "rewired" in r)
    assert estimator.network_.nnz == estimator.history_[-1]["nnz"]
    for layer in estimator.network_.layers:  # a valid host topology came back
        keys = layer.topology.keys()
        assert np.all(np.diff(keys) > 0)
    predictions = estimator.predict(X)
    again = pickle.loads(pickle.dumps(estimator))
    assert np.array_equal(again.predict(X), predictions)


@pytest.mark.parametrize("params", [
    dict(hidden_layer_sizes=(6,)),
    dict(loss="squared_error"), dict(loss="original"), dict(max_grad_norm=0.5),
    dict(weight_decay=0.01),
])
def test_cuda_fit_follows_the_cpu_fit_step_by_step(rng, params):
    # same weights, biases, dropout masks and batches: the same training, with the
    # default head and with the sigmoid heads, gradient clipping (which binds at this
    # norm) and decoupled weight decay
    X, y = _small_data(rng)
    common = dict(hidden_layer_sizes=(6, 5), epsilon=2, max_iter=2, batch_size=20,
                  random_state=0, zeta=0.0)
    common.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu = SETMLPClassifier(**common).fit(X, y)
        gpu = SETMLPClassifier(**common, device="cuda").fit(X, y)
    assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-5)
    for a, b in zip(gpu.network_.layers, cpu.network_.layers, strict=True):
        assert_allclose(a.weights, b.weights, rtol=1e-4, atol=1e-6)
    assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=1e-4, atol=1e-6)
