import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_set import _kernels
from sklearn_set._topology import Topology

from . import _reference as ref
from .conftest import random_topology

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _empty_rows_and_columns(rng):
    # rows 0 and 3 and columns 1 and 4 have no connection
    keys = np.array([0 * 6 + 0, 1 * 6 + 2, 1 * 6 + 5, 2 * 6 + 3, 4 * 6 + 0, 4 * 6 + 5])
    return Topology.from_keys(keys.astype(np.int64), 5, 6)


TOPOLOGIES = {
    "random": lambda rng: random_topology(rng, 37, 23, 200),
    "dense": lambda rng: random_topology(rng, 7, 5, 35),
    "empty_rows_and_columns": _empty_rows_and_columns,
    "single_connection": lambda rng: Topology.from_keys(np.array([17], dtype=np.int64), 4, 9),
}


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
                                      lr, mom, decay, nesterov, grad_input)
    assert_allclose(grad_input, expected_input, **TOL[dtype])
    assert_allclose(w, expected_w, **TOL[dtype])
    assert_allclose(v, expected_v, **TOL[dtype])


def test_warm_up_runs():
    assert _kernels.warm_up(np.float32) >= 0
