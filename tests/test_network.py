import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_set import _network as network_module
from sklearn_set._kernels import (
    RELU,
    backward_momentum_update,
    sddmm_squared_norm,
    sigmoid_squared_error,
)
from sklearn_set._network import ACTIVATIONS, ALLRELU_SLOPE, SparseMLP


def _network(rng, activation, sizes=(6, 5, 4, 3), epsilon=2.0):
    return SparseMLP.erdos_renyi(
        sizes, epsilon, rng, activation=activation, dtype=np.float64, weight_init="normal"
    )


def _numeric_gradient(loss, params, h=1e-6):
    """Central differences of ``loss()`` over each entry of ``params``, in place."""
    numeric = np.empty_like(params)
    for p in range(params.shape[0]):
        saved = params[p]
        params[p] = saved + h
        up = loss()
        params[p] = saved - h
        down = loss()
        params[p] = saved
        numeric[p] = (up - down) / (2 * h)
    return numeric


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backward_matches_finite_differences(activation, rng):
    network = _network(rng, activation)
    for layer in network.layers:  # larger weights and biases exercise every branch
        layer.weights *= 10
        layer.bias[:] = rng.standard_normal(layer.bias.shape)
    x = rng.standard_normal((6, 7))
    y = rng.integers(0, 3, 7)
    _, grads = network.loss_and_gradients(x, y)

    for layer, (weight_grad, bias_grad) in zip(network.layers, grads, strict=True):
        for params, analytic in ((layer.weights, weight_grad), (layer.bias, bias_grad)):
            numeric = _numeric_gradient(lambda: network.loss_and_gradients(x, y)[0], params)
            assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_identity_head_gradient_is_scikit_learns(n_outputs, rng):
    # squared error: the gradient is d(0.5 * mean_b sum_c r^2); the reported loss
    # averages over outputs as well, so they differ by n_outputs, as in MLPRegressor
    network = SparseMLP.erdos_renyi((6, 5, n_outputs), 2.0, rng, output="identity",
                                    dtype=np.float64, weight_init="normal")
    x = rng.standard_normal((6, 7))
    y = rng.standard_normal((7, n_outputs))
    loss, grads = network.loss_and_gradients(x, y)
    output = network.forward(x).output
    assert loss == pytest.approx(0.5 * np.mean((output.T - y) ** 2))
    layer, (weight_grad, _) = network.layers[0], grads[0]
    numeric = _numeric_gradient(lambda: network.loss_and_gradients(x, y)[0], layer.weights)
    assert_allclose(weight_grad, n_outputs * numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logistic_head_gradient_is_that_of_its_squared_error(n_classes, rng):
    # sigmoid outputs against one-hot classes: the reported loss is
    # 0.5 * mean_b mean_c r^2, and the gradient leaves out the 1 / n_classes, as the
    # identity head does
    network = SparseMLP.erdos_renyi((6, 5, n_classes), 2.0, rng, output="logistic",
                                    dtype=np.float64, weight_init="normal")
    for layer in network.layers:
        layer.weights *= 10  # saturated outputs too
    x = rng.standard_normal((6, 7))
    y = rng.integers(0, n_classes, 7)
    loss, grads = network.loss_and_gradients(x, y)
    output = network.forward(x).output
    assert np.all((output > 0) & (output < 1))
    assert loss == pytest.approx(0.5 * np.mean((output.T - np.eye(n_classes)[y]) ** 2))
    for layer, (weight_grad, bias_grad) in zip(network.layers, grads, strict=True):
        for params, analytic in ((layer.weights, weight_grad), (layer.bias, bias_grad)):
            numeric = _numeric_gradient(lambda: network.loss_and_gradients(x, y)[0], params)
            assert_allclose(analytic, n_classes * numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("derivative_at_output", [False, True])
def test_sigmoid_heads_differ_only_in_where_the_derivative_is_taken(derivative_at_output,
                                                                    rng):
    # the original SET-MLP code multiplies the residual by the sigmoid's derivative at
    # the output p, s(p) * (1 - s(p)), not at the pre-activation, p * (1 - p)
    proba = rng.random((4, 6))
    y, share = rng.integers(0, 4, 6), np.full(6, 1 / 6)
    delta = np.empty_like(proba)
    loss, _ = sigmoid_squared_error(proba, y, share, derivative_at_output, delta)
    residual = proba - np.eye(4)[y].T
    s = 1 / (1 + np.exp(-proba)) if derivative_at_output else proba
    assert_allclose(delta, residual * s * (1 - s) / 6, rtol=1e-12)
    assert loss == pytest.approx(0.5 * np.mean(residual ** 2))
    if derivative_at_output:  # a factor that never vanishes
        assert np.all((s * (1 - s) > 0.19) & (s * (1 - s) <= 0.25))


def test_original_head_trains_with_the_original_rule(rng):
    # same forward and loss as the logistic head; its weight gradients are those of
    # the original rule's output delta, backpropagated
    network = SparseMLP.erdos_renyi((6, 5, 3), 2.0, rng, output="logistic_original",
                                    dtype=np.float64, weight_init="normal")
    x, y = rng.standard_normal((6, 7)), rng.integers(0, 3, 7)
    loss, grads = network.loss_and_gradients(x, y)
    output = network.forward(x).output
    assert loss == pytest.approx(0.5 * np.mean((output.T - np.eye(3)[y]) ** 2))
    s = 1 / (1 + np.exp(-output))
    delta = (output - np.eye(3)[y].T) * s * (1 - s) / 7
    hidden = network.forward(x, keep_gradient=True).inputs[-1]
    last = network.layers[-1].topology
    assert_allclose(grads[-1][0], np.einsum("pb,pb->p", hidden[last.rows()],
                                            delta[last.indices]), rtol=1e-10)
    assert_allclose(grads[-1][1], delta.sum(axis=1), rtol=1e-10)


def test_allrelu_slope_alternates_by_layer(rng):
    network = _network(rng, "allrelu", sizes=(2, 3, 3, 3, 2))
    z = np.array([[-1.0, 2.0]])
    assert_allclose(network._activate(z.copy(), 0, False)[0], [[-ALLRELU_SLOPE, 2.0]])
    assert_allclose(network._activate(z.copy(), 1, False)[0], [[ALLRELU_SLOPE, 2.0]])
    assert_allclose(network._activate(z.copy(), 2, False)[0], [[-ALLRELU_SLOPE, 2.0]])


def test_dropout_is_inverted_and_only_in_training(rng):
    network = _network(rng, "relu", sizes=(50, 400, 3), epsilon=50.0)
    network.dropout = 0.5
    x = np.abs(rng.standard_normal((50, 64)))
    clean = network.forward(x).output
    assert_allclose(network.forward(x).output, clean)  # no rng: no dropout
    dropped = network.forward(x, keep_gradient=True, rng=np.random.default_rng(1))
    hidden = dropped.inputs[1]
    plain = network.layers[0].forward(x)
    np.maximum(plain, 0, out=plain)
    zeroed = hidden == 0
    assert 0.4 < np.mean(zeroed[plain > 0]) < 0.6
    assert_allclose(hidden[~zeroed], 2.0 * plain[~zeroed])


def test_proba_rows_sum_to_one_and_predict_is_batch_independent(rng):
    network = SparseMLP.erdos_renyi((20, 30, 4), 5.0, rng)
    X = rng.standard_normal((101, 20)).astype(np.float32)
    proba = network.predict(X)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    for i in (0, 50, 100):
        assert np.array_equal(network.predict(X[i:i + 1])[0], proba[i])


def test_wide_layers_predict_in_smaller_chunks_with_the_same_result(rng, monkeypatch):
    from sklearn_set import _network

    network = SparseMLP.erdos_renyi((20, 30, 4), 5.0, rng)
    X = rng.standard_normal((101, 20)).astype(np.float32)
    proba = network.predict(X)
    calls = []
    forward = network.forward
    monkeypatch.setattr(network, "forward", lambda x: calls.append(x.shape[1]) or forward(x))
    monkeypatch.setattr(_network, "PREDICT_ACTIVATIONS", 7 * 30)  # 7 samples of the widest
    monkeypatch.setattr(_network, "PREDICT_MIN_CHUNK", 1)
    assert np.array_equal(network.predict(X), proba)
    assert calls == [7] * 14 + [3]
    calls.clear()
    monkeypatch.setattr(_network, "PREDICT_MIN_CHUNK", 48)
    assert np.array_equal(network.predict(X), proba)
    assert calls == [48, 48, 5]


def test_train_batch_decreases_loss(rng):
    network = SparseMLP.erdos_renyi((20, 30, 3), 5.0, rng)
    x = rng.standard_normal((20, 32)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    losses = [
        network.train_batch(x, y, learning_rate=0.05, momentum=0.9, alpha=0.0, rng=None)[0]
        for _ in range(50)
    ]
    assert losses[-1] < 0.5 * losses[0]


def test_logistic_saturates_without_overflow_warnings(rng):
    import warnings

    network = _network(rng, "logistic")
    for dtype in (np.float32, np.float64):
        z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            a, derivative = network._activate(z, 0, keep_gradient=True)
        assert_allclose(a, [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-30)
        assert_allclose(derivative, [[0.0, 0.0, 0.25, 0.0, 0.0]], atol=1e-30)


def test_a_copied_layer_keeps_its_topology_when_the_original_rewires(rng):
    network = _network(rng, "relu", sizes=(30, 40, 3), epsilon=5.0)
    layer = network.layers[0]
    view = layer.topology.transposed()
    snapshot = layer.copy()
    indptr, indices = snapshot.topology.indptr.copy(), snapshot.topology.indices.copy()
    assert snapshot.topology is not layer.topology
    assert snapshot.topology.indices is layer.topology.indices  # shared, not copied
    keep = np.ones(layer.topology.nnz, dtype=bool)
    keep[::3] = False
    free = np.setdiff1d(np.arange(30 * 40), layer.topology.keys())[: np.count_nonzero(~keep)]
    layer.rewire(keep, free, np.zeros(free.shape[0], dtype=layer.weights.dtype))
    assert snapshot.topology.transposed() is view  # not released by the rewire
    np.testing.assert_array_equal(snapshot.topology.indptr, indptr)
    np.testing.assert_array_equal(snapshot.topology.indices, indices)
    assert not np.array_equal(layer.topology.keys(), snapshot.topology.keys())


def test_the_forward_scratch_is_shared_kept_and_never_persisted(rng):
    import pickle

    network = _network(rng, "relu", sizes=(30, 40, 20, 3), epsilon=5.0)
    x = rng.standard_normal((30, 8))
    before = network.forward(x).output
    scratch = network._t_weights
    assert scratch.shape[0] == max(layer.topology.nnz for layer in network.layers)
    network.forward(x)
    assert network._t_weights is scratch  # no allocation per pass
    loaded = pickle.loads(pickle.dumps(network))
    assert loaded._t_weights is None and network.copy()._t_weights is None
    np.testing.assert_array_equal(loaded.forward(x).output, before)
    from sklearn_set._evolution import evolve_network

    evolve_network(network, 0.3, rng)
    assert network._t_weights is None  # let go of before the rewiring allocates


# -- issue 14: decoupled weight decay and gradient-norm clipping ---------------------
def _parameters(network):
    return np.concatenate([np.concatenate([layer.weights, layer.bias])
                           for layer in network.layers]).astype(np.float64)


def _one_step(network, x, y, **options):
    network.train_batch(x, y, learning_rate=0.1, momentum=0.0, alpha=0.0, rng=None,
                        **options)


def test_weight_decay_is_decoupled_and_spares_the_biases(rng):
    network = SparseMLP.erdos_renyi([6, 5, 3], 3.0, rng)
    for layer in network.layers:
        layer.bias[:] = 1.0
    x = np.zeros((6, 4), np.float32)  # inputs of zero: the weights get no data gradient
    y = np.array([0, 1, 2, 0])
    first = network.copy()
    _one_step(first, x, y, weight_decay=0.0)
    second = network.copy()
    _one_step(second, x, y, weight_decay=0.01)
    for plain, decayed in zip(first.layers[:1], second.layers[:1], strict=True):
        assert_allclose(decayed.weights, plain.weights * (1 - 0.01), rtol=1e-6)
    for plain, decayed in zip(first.layers, second.layers, strict=True):
        assert_allclose(decayed.bias, plain.bias, rtol=1e-6)
    # with momentum, the decay bypasses it: a step later, no velocity carries it
    third = network.copy()
    third.train_batch(x, y, learning_rate=0.1, momentum=0.9, alpha=0.0, rng=None,
                      weight_decay=0.01)
    assert np.all(third.layers[0].velocity == 0)


def test_gradient_clipping_caps_the_step_at_the_norm(rng):
    network = SparseMLP.erdos_renyi([6, 8, 3], 3.0, rng)
    x = rng.standard_normal((6, 5)).astype(np.float32) * 10
    y = np.array([0, 1, 2, 0, 1])
    _, gradients = network.loss_and_gradients(x, y)
    norm = np.sqrt(sum(np.sum(w.astype(float) ** 2) + np.sum(b.astype(float) ** 2)
                       for w, b in gradients))
    before = _parameters(network)
    unclipped = network.copy()
    _one_step(unclipped, x, y, max_grad_norm=10 * norm)  # not reached: a plain step
    plain = network.copy()
    _one_step(plain, x, y)
    assert_allclose(_parameters(unclipped), _parameters(plain), rtol=1e-6)
    clipped = network.copy()
    _one_step(clipped, x, y, max_grad_norm=norm / 4)
    step = np.linalg.norm(_parameters(clipped) - before)
    assert step == pytest.approx(0.1 * norm / 4, rel=1e-3)


@pytest.mark.parametrize("epsilon", [3.0, np.inf])
def test_clipping_scales_the_data_gradient_only_and_keeps_one_buffer(rng, epsilon):
    # the gradient is computed once and kept until the norm is known: the step is
    # w - lr * (scale * g + decay * w) - shrink * w, the L2 term and the decoupled decay
    # unclipped; the buffer is allocated once and never persisted
    import pickle

    network = SparseMLP.erdos_renyi([6, 8, 7, 3], epsilon, rng)
    x = rng.standard_normal((6, 5)).astype(np.float32) * 10
    y = np.array([0, 1, 2, 0, 1])
    _, gradients = network.loss_and_gradients(x, y)
    norm = np.sqrt(sum(np.sum(w.astype(float) ** 2) + np.sum(b.astype(float) ** 2)
                       for w, b in gradients))
    lr, alpha, shrink, scale = 0.1, 0.5, 0.01, 0.25
    before = network.copy()
    network.train_batch(x, y, learning_rate=lr, momentum=0.9, alpha=alpha, rng=None,
                        weight_decay=shrink, max_grad_norm=scale * norm)
    decay = alpha / x.shape[1]
    for old, new, (w_grad, b_grad) in zip(before.layers, network.layers, gradients,
                                          strict=True):
        expected = old.weights - lr * (scale * w_grad + decay * old.weights) \
            - shrink * old.weights
        assert_allclose(new.weights, expected, rtol=1e-4, atol=1e-6)
        assert_allclose(new.bias, old.bias - lr * scale * b_grad, rtol=1e-4, atol=1e-6)
    buffer = network._gradients
    assert buffer.shape[0] == network.nnz
    network.train_batch(x, y, learning_rate=lr, momentum=0.9, alpha=alpha, rng=None,
                        max_grad_norm=scale * norm)
    assert network._gradients is buffer  # no allocation per step
    assert pickle.loads(pickle.dumps(network))._gradients is None


def test_a_full_layer_trains_through_blas_as_the_kernels_would(rng, monkeypatch):
    # epsilon=inf: training multiplies by the dense matrix (BLAS), predictions keep the
    # kernels' order; the two must agree on every quantity of a step. The layer is
    # small, so BLAS is asked for whatever its size.
    monkeypatch.setattr(network_module, "BLAS_MIN_CONNECTIONS", 0)
    layer = SparseMLP.erdos_renyi((7, 6, 3), np.inf, rng, dtype=np.float64,
                                  weight_init="normal").layers[0]
    assert layer.is_full and not SparseMLP.erdos_renyi((7, 6, 3), 1.0, rng).layers[0].is_full
    assert layer.trains_with_blas
    x, delta = rng.standard_normal((7, 5)), rng.standard_normal((6, 5))
    local_gradient = rng.random((7, 5))
    activation = (RELU, 0.0, 0.5, 123)  # dropout too: the same mask on both paths
    blas_gradient, kernel_gradient = np.empty((6, 5)), np.empty((6, 5))
    out = layer.forward(x, activation, blas_gradient, strict=False)
    assert_allclose(out, layer.forward(x, activation, kernel_gradient), rtol=1e-12)
    assert_allclose(blas_gradient, kernel_gradient)

    t = layer.topology
    partial = np.empty(7)
    sddmm_squared_norm(t.indptr, t.indices, x, delta, partial)
    assert layer.squared_gradient_norm(x, delta) == pytest.approx(
        partial.sum() + np.sum(delta.sum(axis=1) ** 2), rel=1e-12)

    kernels = layer.copy()
    below = layer.sgd_step(x, delta, 0.1, 0.9, 0.01, False, local_gradient, shrink=1e-3)
    expected_below = np.empty_like(x)
    backward_momentum_update(t.indptr, t.indices, x, delta, kernels.weights, kernels.velocity,
                             0.1, 0.9, 0.01, False, expected_below, local_gradient, 1e-3)
    assert_allclose(below, expected_below, rtol=1e-12)
    assert_allclose(layer.weights, kernels.weights, rtol=1e-12)
    assert_allclose(layer.velocity, kernels.velocity, rtol=1e-12, atol=1e-15)


def test_a_small_full_layer_trains_through_the_kernels(rng, monkeypatch):
    # a two-class output layer of 500 x 2: BLAS's fixed cost per product outweighs the
    # index the kernels follow, so training takes the kernels, in the order
    # predictions sum in, and the large full layer keeps BLAS
    network = SparseMLP.erdos_renyi((20, 500, 2), np.inf, rng)
    small = network.layers[1]
    assert small.is_full and not small.trains_with_blas
    assert network.layers[0].trains_with_blas  # 10 000 connections
    blas_operands = []
    product = network_module._product
    monkeypatch.setattr(network_module, "_product",
                        lambda a, b, out, timer=None: (blas_operands.append(out.shape),
                                                       product(a, b, out, timer)))
    x = rng.standard_normal((20, 32)).astype(np.float32)
    hidden = network.layers[0].forward(x, (RELU, 0.0, 1.0, 0))
    assert np.array_equal(small.forward(hidden, strict=False), small.forward(hidden))
    network.train_batch(x, rng.integers(0, 2, 32), learning_rate=0.1, momentum=0.9,
                        alpha=1e-4, rng=None)
    assert blas_operands and all(500 in shape for shape in blas_operands)
