import numpy as np
import pytest
from numba import njit
from numpy.testing import assert_allclose

from sklearn_set import _kernels, _prefetch
from sklearn_set._compile import warm_up
from sklearn_set._draws import keeps, keeps_vectorised

from . import _reference as ref
from .conftest import edge_case_topologies, random_topology

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


TOPOLOGIES = edge_case_topologies(random_shape=(37, 23, 200), dense_shape=(7, 5, 35))


@pytest.fixture(params=list(TOPOLOGIES))
def topology(request, rng):
    return TOPOLOGIES[request.param](rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_spmm_matches_scipy(topology, dtype, batch, rng):
    weights = rng.standard_normal(topology.nnz).astype(dtype)
    bias = rng.standard_normal(topology.n_out).astype(dtype)
    x = rng.standard_normal((topology.n_in, batch)).astype(dtype)
    out = np.full((topology.n_out, batch), np.nan, dtype=dtype)
    _kernels.spmm(topology.t_indptr, topology.t_indices, topology.t_order, weights, bias, x, out,
                  np.empty_like(weights))
    assert_allclose(out, ref.spmm(topology, weights, bias, x), **TOL[dtype])


def test_spmm_sums_one_connection_after_another(rng):
    # Taking connections four at a time must not reorder the forward pass's sum: it is
    # what keeps a sample's prediction independent of the batch it comes in.
    topology = random_topology(rng, 37, 23, 300)  # rows of 0 to 20+ connections
    weights = rng.standard_normal(topology.nnz).astype(np.float32)
    bias = rng.standard_normal(topology.n_out).astype(np.float32)
    x = rng.standard_normal((topology.n_in, 16)).astype(np.float32)
    out = np.empty((topology.n_out, 16), dtype=np.float32)
    _kernels.spmm(topology.t_indptr, topology.t_indices, topology.t_order, weights, bias, x, out,
                  np.empty_like(weights))
    expected = np.repeat(bias[:, None], 16, axis=1)
    for j in range(topology.n_out):
        for q in range(topology.t_indptr[j], topology.t_indptr[j + 1]):
            expected[j] = expected[j] + weights[topology.t_order[q]] * x[topology.t_indices[q]]
    assert np.array_equal(out, expected)


def test_a_wide_input_is_prefetched_and_summed_all_the_same(rng):
    # past PREFETCH_MIN_BYTES the forward pass asks for its input rows ahead of use: a
    # hint, which must leave every sum as the one-at-a-time loop computes it
    batch = 32
    n_in = _prefetch.PREFETCH_MIN_BYTES // (4 * batch) + 5
    topology = random_topology(rng, n_in, 5, 3000)  # rows of some 600 connections
    weights = rng.standard_normal(topology.nnz).astype(np.float32)
    bias = rng.standard_normal(topology.n_out).astype(np.float32)
    x = rng.standard_normal((n_in, batch)).astype(np.float32)
    assert x.nbytes >= _prefetch.PREFETCH_MIN_BYTES
    out = np.empty((topology.n_out, batch), dtype=np.float32)
    _kernels.spmm(topology.t_indptr, topology.t_indices, topology.t_order, weights, bias, x, out,
                  np.empty_like(weights))
    expected = np.repeat(bias[:, None], batch, axis=1)
    for j in range(topology.n_out):
        for q in range(topology.t_indptr[j], topology.t_indptr[j + 1]):
            expected[j] = expected[j] + weights[topology.t_order[q]] * x[topology.t_indices[q]]
    assert np.array_equal(out, expected)
    # a strided view of the same input (the kernels take any layout) sums the same
    strided = np.repeat(x, 2, axis=1)[:, ::2]
    assert not strided.flags.c_contiguous and strided.nbytes >= _prefetch.PREFETCH_MIN_BYTES
    _kernels.spmm(topology.t_indptr, topology.t_indices, topology.t_order, weights, bias,
                  strided, out, np.empty_like(weights))
    assert np.array_equal(out, expected)


def test_prefetch_row_is_a_hint_in_the_machine_code():
    @njit
    def touch(rows):
        for i in range(rows.shape[0]):
            _prefetch.prefetch_row(rows, i)
        return rows.sum()

    rows = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    assert touch(rows) == 66.0
    hints = "prefetch" in touch.inspect_asm(touch.signatures[0])
    assert hints == _prefetch._OPAQUE_POINTERS  # older LLVM goes without


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_spmm_transposed_matches_scipy(topology, dtype, batch, rng):
    weights = rng.standard_normal(topology.nnz).astype(dtype)
    delta = rng.standard_normal((topology.n_out, batch)).astype(dtype)
    out = np.full((topology.n_in, batch), np.nan, dtype=dtype)
    _kernels.spmm_transposed(topology.indptr, topology.indices, weights, delta, out)
    assert_allclose(out, ref.spmm_transposed(topology, weights, delta), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_sddmm_matches_numpy(topology, dtype, batch, rng):
    x = rng.standard_normal((topology.n_in, batch)).astype(dtype)
    delta = rng.standard_normal((topology.n_out, batch)).astype(dtype)
    out = np.full(topology.nnz, np.nan, dtype=dtype)
    _kernels.sddmm(topology.indptr, topology.indices, x, delta, out)
    assert_allclose(out, ref.sddmm(topology, x, delta), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 16])
def test_sddmm_squared_norm_sums_the_squared_gradient_by_input_neuron(topology, dtype, batch,
                                                                     rng):
    # rows of every length, so that both the four-at-a-time loop and its remainder count
    x = rng.standard_normal((topology.n_in, batch)).astype(dtype)
    delta = rng.standard_normal((topology.n_out, batch)).astype(dtype)
    partial = np.full(topology.n_in, np.nan)
    _kernels.sddmm_squared_norm(topology.indptr, topology.indices, x, delta, partial)
    gradient = ref.sddmm(topology, x, delta).astype(np.float64)
    expected = np.bincount(topology.rows(), gradient ** 2, minlength=topology.n_in)
    assert_allclose(partial, expected, **TOL[dtype])


def test_sddmm_equals_dense_product_at_connections(rng):
    topology = random_topology(rng, 30, 20, 111)
    x = rng.standard_normal((30, 8))
    delta = rng.standard_normal((20, 8))
    out = np.empty(topology.nnz)
    _kernels.sddmm(topology.indptr, topology.indices, x, delta, out)
    dense = x @ delta.T
    assert_allclose(out, dense[topology.rows(), topology.indices], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_update_matches_numpy(dtype, nesterov, rng):
    w, v, g = (rng.standard_normal(50).astype(dtype) for _ in range(3))
    lr, mom, decay = (dtype(s) for s in (0.05, 0.9, 1e-3))
    expected_w, expected_v = ref.momentum_update(w, v, g, lr, mom, decay, nesterov)
    _kernels.momentum_update(w, v, g, lr, mom, decay, nesterov)
    assert_allclose(w, expected_w, **TOL[dtype])
    assert_allclose(v, expected_v, **TOL[dtype])


def _update_case(topology, dtype, nesterov, rng):
    """Inputs of a fused SGD step, and the reference weights and momentum after it."""
    x = rng.standard_normal((topology.n_in, 5)).astype(dtype)
    delta = rng.standard_normal((topology.n_out, 5)).astype(dtype)
    w, v = (rng.standard_normal(topology.nnz).astype(dtype) for _ in range(2))
    lr, mom, decay = (dtype(s) for s in (0.05, 0.9, 1e-3))
    expected_w, expected_v = ref.momentum_update(w, v, ref.sddmm(topology, x, delta), lr, mom,
                                                 decay, nesterov)
    return x, delta, w, v, (lr, mom, decay), expected_w, expected_v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_update_equals_sddmm_then_update(topology, dtype, nesterov, rng):
    x, delta, w, v, (lr, mom, decay), expected_w, expected_v = _update_case(topology, dtype,
                                                                            nesterov, rng)
    _kernels.sddmm_momentum_update(topology.indptr, topology.indices, x, delta, w, v, lr, mom,
                                   decay, nesterov)
    assert_allclose(w, expected_w, **TOL[dtype])
    assert_allclose(v, expected_v, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_backward_equals_input_gradient_then_update(topology, dtype, nesterov, rng):
    x, delta, w, v, (lr, mom, decay), expected_w, expected_v = _update_case(topology, dtype,
                                                                            nesterov, rng)
    expected_input = ref.spmm_transposed(topology, w, delta)  # from the weights before
    grad_input = np.full((topology.n_in, 5), np.nan, dtype=dtype)
    _kernels.backward_momentum_update(topology.indptr, topology.indices, x, delta, w, v,
                                      lr, mom, decay, nesterov, grad_input,
                                      np.empty((0, 0), dtype=dtype))
    assert_allclose(grad_input, expected_input, **TOL[dtype])
    assert_allclose(w, expected_w, **TOL[dtype])
    assert_allclose(v, expected_v, **TOL[dtype])


def test_fused_backward_holds_the_gradients_in_the_scratch_it_is_given(topology, rng):
    # training lends the forward pass's scratch (any length from nnz up); without one,
    # the kernel allocates its own, and the step is the same
    dtype = np.float32
    x, delta, w, v, (lr, mom, decay), _, _ = _update_case(topology, dtype, False, rng)
    local = rng.random((topology.n_in, 5)).astype(dtype)
    results = []
    for scratch in (None, np.full(topology.nnz + 7, np.nan, dtype=dtype)):
        weights, velocity = w.copy(), v.copy()
        grad_input = np.full((topology.n_in, 5), np.nan, dtype=dtype)
        _kernels.backward_momentum_update(topology.indptr, topology.indices, x, delta, weights,
                                          velocity, lr, mom, decay, False, grad_input, local,
                                          scratch=scratch)
        results.append((weights, velocity, grad_input))
    for allocated, lent in zip(*results, strict=True):
        np.testing.assert_array_equal(allocated, lent)


def test_a_wide_delta_is_prefetched_and_the_step_is_the_same(rng):
    # the backward pass reads a row of delta per connection: past PREFETCH_MIN_BYTES it
    # asks for them ahead, which must change nothing
    batch, f32 = 32, np.float32
    n_out = _prefetch.PREFETCH_MIN_BYTES // (4 * batch) + 5
    topology = random_topology(rng, 7, n_out, 3000)
    x = rng.standard_normal((7, batch)).astype(f32)
    delta = rng.standard_normal((n_out, batch)).astype(f32)
    local = rng.random((7, batch)).astype(f32)
    w0, v0 = rng.standard_normal((2, topology.nnz)).astype(f32)
    results = []
    for lookahead in (0, _prefetch.PREFETCH_AHEAD):
        w, v = w0.copy(), v0.copy()
        grad_input, scratch = np.empty_like(x), np.empty_like(w)
        _kernels._backward_step(topology.indptr, topology.indices, x, delta, w, v, f32(0.1),
                                f32(0.9), f32(1e-3), False, grad_input, local, f32(0.0),
                                scratch, lookahead)
        results.append((w, v, grad_input))
    for without, with_hint in zip(*results, strict=True):
        np.testing.assert_array_equal(without, with_hint)


@pytest.mark.parametrize("with_input_gradient", [False, True])
def test_fused_backward_keeps_the_gradient_instead_of_stepping(topology, with_input_gradient,
                                                               rng):
    # clipping's pass: the same sweep writes sddmm's gradient and the input gradient
    # times the local gradient, and leaves the weights and their momentum alone
    dtype = np.float32
    x, delta, w, v, (lr, mom, decay), _, _ = _update_case(topology, dtype, False, rng)
    w_before, v_before = w.copy(), v.copy()
    local = rng.random((topology.n_in, 5)).astype(dtype)
    grad_input = np.full((topology.n_in, 5), np.nan, dtype=dtype)
    if not with_input_gradient:
        grad_input = local = np.empty((0, 0), dtype=dtype)
    gradient = np.full(topology.nnz, np.nan, dtype=dtype)
    _kernels.backward_momentum_update(topology.indptr, topology.indices, x, delta, w, v,
                                      lr, mom, decay, False, grad_input, local, dtype(0.0),
                                      gradient)
    assert_allclose(gradient, ref.sddmm(topology, x, delta), **TOL[dtype])
    if with_input_gradient:
        expected_input = ref.spmm_transposed(topology, w_before, delta) * local
        assert_allclose(grad_input, expected_input, **TOL[dtype])
    np.testing.assert_array_equal(w, w_before)
    np.testing.assert_array_equal(v, v_before)


def test_warm_up_runs():
    assert warm_up(np.float32) >= 0


# -- the per-batch work around the products ----------------------------------------
_KINDS = {"identity": _kernels.IDENTITY, "relu": _kernels.RELU, "tanh": _kernels.TANH,
          "logistic": _kernels.LOGISTIC}


def _forward(topology, weights, bias, x, kind, slope=0.0, keep=1.0, seed=0):
    out = np.full((topology.n_out, x.shape[1]), np.nan, dtype=x.dtype)
    local_gradient = np.full_like(out, np.nan)
    _kernels.spmm_activate(topology.t_indptr, topology.t_indices, topology.t_order, weights,
                           bias, x, _KINDS[kind], x.dtype.type(slope), keep, np.uint64(seed),
                           out, local_gradient, np.empty_like(weights))
    return out, local_gradient


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, slope", [("identity", 0.0), ("relu", 0.0), ("relu", -0.6),
                                         ("tanh", 0.0), ("logistic", 0.0)])
def test_spmm_activate_applies_the_activation_and_its_derivative(topology, dtype, kind, slope,
                                                                  rng):
    weights = (3 * rng.standard_normal(topology.nnz)).astype(dtype)
    bias = rng.standard_normal(topology.n_out).astype(dtype)
    x = rng.standard_normal((topology.n_in, 7)).astype(dtype)
    out, local_gradient = _forward(topology, weights, bias, x, kind, slope)
    expected, derivative = ref.activation(ref.spmm(topology, weights, bias, x), kind, slope)
    assert_allclose(out, expected, **TOL[dtype])
    assert_allclose(local_gradient, derivative, **TOL[dtype])


@pytest.mark.parametrize("slope", [0.0, 0.6, -0.6])
def test_relu_at_its_edges(slope):
    """Zero's sign, the kink and non-finite pre-activations, bit for bit: ``-0.0`` and
    negatives give ``+0.0`` without a slope, and NaN or -inf stay NaN (a diverging
    fit's loss reports them) rather than vanish."""
    z = np.array([[np.nan, -np.inf, -1.5, -0.0, 0.0, 2.5, np.inf]], dtype=np.float32)
    out = z.copy()
    derivative = np.empty_like(z)
    _kernels.activate(out, np.zeros(1, np.float32), _kernels.RELU, np.float32(slope), 1.0,
                      np.uint64(0), derivative, parallel=False)
    s = np.float32(slope)
    leaky = np.float32(-1.5) * s + np.float32(0.0)  # +0.0 without a slope
    expected = np.array([[np.nan, np.nan if slope == 0 else -np.inf * s, leaky, 0.0, 0.0,
                          2.5, np.inf]], dtype=np.float32)
    np.testing.assert_array_equal(out.view(np.int32)[~np.isnan(out)],
                                  expected.view(np.int32)[~np.isnan(expected)])
    assert np.array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(derivative, [[s, s, s, s, s, 1, 1]])


def test_dropout_is_drawn_in_the_kernel_from_the_seed_alone(rng):
    import numba

    topology = random_topology(rng, 60, 400, 6000)
    weights = np.abs(rng.standard_normal(topology.nnz)).astype(np.float32)
    bias = np.ones(topology.n_out, dtype=np.float32)  # with x > 0: every unit active
    x = np.abs(rng.standard_normal((60, 64))).astype(np.float32)
    clean, _ = _forward(topology, weights, bias, x, "relu")
    threads = numba.get_num_threads()
    try:
        runs = []
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            runs.append(_forward(topology, weights, bias, x, "relu", keep=0.7, seed=12345))
    finally:
        numba.set_num_threads(threads)
    out, local_gradient = runs[0]
    for other_out, other_gradient in runs[1:]:  # the thread count changes nothing
        np.testing.assert_array_equal(other_out, out)
        np.testing.assert_array_equal(other_gradient, local_gradient)
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.01  # 25 600 draws: sd 0.003
    assert_allclose(out[kept], clean[kept] / np.float32(0.7), rtol=1e-6)
    assert_allclose(local_gradient, kept / np.float32(0.7), rtol=1e-6)
    # masks of units and samples are not aligned: rows and columns keep alike
    assert np.abs(kept.mean(axis=1) - 0.7).max() < 0.25
    other, _ = _forward(topology, weights, bias, x, "relu", keep=0.7, seed=12346)
    assert 0.3 < np.mean((other != 0) != kept) < 0.5  # another seed, another mask
    # neighbouring units and samples keep independently: correlations near 0 (sd 0.006)
    for a, b in ((kept[:, 1:], kept[:, :-1]), (kept[1:], kept[:-1]), (kept, other != 0)):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.03


@njit
def _keep_draws(keys, samples, thresholds, vectorised):
    out = np.empty((keys.shape[0], samples.shape[0]), dtype=np.bool_)
    for k in range(keys.shape[0]):
        for s in range(samples.shape[0]):
            if vectorised:
                out[k, s] = keeps_vectorised(keys[k], samples[s], thresholds[k])
            else:
                out[k, s] = keeps(keys[k], samples[s], thresholds[k])
    return out


def test_the_cpus_vectorised_dropout_draw_is_the_reference_draw(rng):
    """The CPU's kernels draw dropout in 32-bit IR, the GPU's with the reference in
    64-bit integers: both must keep the same units."""
    keys = np.concatenate([[0, 1, 2**31, 2**32 - 1],
                           rng.integers(0, 2**32, 200)]).astype(np.uint32)
    samples = np.concatenate([np.arange(70), [2**20, 2**31 - 1]]).astype(np.int64)
    thresholds = rng.integers(0, 2**24 + 1, keys.shape[0])
    thresholds[:3] = (0, 2**24, 2**23)
    vectorised = _keep_draws(keys, samples, thresholds, True)
    np.testing.assert_array_equal(vectorised, _keep_draws(keys, samples, thresholds, False))
    # and the reference is the hash it documents, in Python integers
    h = (int(keys[5]) + int(samples[3]) * 0x9E3779B9) % 2**32
    for multiplier, shift in ((0x7FEB352D, 16), (0x846CA68B, 15)):
        h = ((h ^ (h >> shift)) * multiplier) % 2**32
    assert vectorised[5, 3] == (((h ^ (h >> 16)) >> 8) < thresholds[5])
    assert not vectorised[0].any() and vectorised[1].all()  # keep 0 and keep 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_cross_entropy_match_numpy(dtype, rng):
    logits = (5 * rng.standard_normal((6, 9))).astype(dtype)
    logits[:, 0] = 1000.0  # equal, huge logits: no overflow, ties go to the first class
    y = rng.integers(0, 6, 9)
    y[0] = 0
    expected_proba, expected_loss, expected_delta = ref.cross_entropy(logits, y)
    proba = logits.copy()
    _kernels.softmax(proba)
    delta = np.full_like(proba, np.nan)
    share = np.full(9, 1 / 9, dtype=dtype)
    loss, n_correct = _kernels.cross_entropy(proba, y, share, 1e-30, delta)
    assert_allclose(proba, expected_proba, **TOL[dtype])
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert_allclose(delta, expected_delta, **TOL[dtype])
    assert n_correct == np.count_nonzero(expected_proba.argmax(axis=0) == y)


@pytest.mark.parametrize("nesterov", [False, True])
def test_bias_update_sums_the_deltas(nesterov, rng):
    bias, velocity = rng.standard_normal(7), rng.standard_normal(7)
    delta = rng.standard_normal((7, 5))
    expected_b, expected_v = ref.momentum_update(bias, velocity, delta.sum(axis=1), 0.05, 0.9,
                                                 0.0, nesterov)
    _kernels.bias_momentum_update(bias, velocity, delta, 0.05, 0.9, nesterov)
    assert_allclose(bias, expected_b, rtol=1e-12)
    assert_allclose(velocity, expected_v, rtol=1e-12)


def test_fused_backward_applies_the_local_gradient(rng):
    topology = random_topology(rng, 37, 23, 200)
    x, delta, w, v, (lr, mom, decay), expected_w, _ = _update_case(topology, np.float64,
                                                                   False, rng)
    local_gradient = rng.random((topology.n_in, 5))
    expected = ref.spmm_transposed(topology, w, delta) * local_gradient
    below = np.full((topology.n_in, 5), np.nan)
    _kernels.backward_momentum_update(topology.indptr, topology.indices, x, delta, w, v, lr,
                                      mom, decay, False, below, local_gradient)
    assert_allclose(below, expected, rtol=1e-12, atol=1e-12)
    assert_allclose(w, expected_w, rtol=1e-12, atol=1e-12)


def test_gather_columns_lays_samples_out_batch_innermost(rng):
    X = rng.standard_normal((50, 130)).astype(np.float32)  # a partial block of features
    rows = rng.permutation(50)[:17]
    out = np.empty((130, 17), dtype=np.float32)
    _kernels.gather_columns(X, rows, out)
    np.testing.assert_array_equal(out, X[rows].T)
    serial = np.empty_like(out)
    _kernels.gather_columns(X, rows, serial, parallel=False)
    np.testing.assert_array_equal(serial, X[rows].T)
