"""Slow, obvious numpy/scipy references for the kernels."""

import numpy as np
import scipy.sparse as sp


def as_scipy(topology, weights):
    """The layer's weights as a scipy CSR matrix of shape (n_in, n_out)."""
    return sp.csr_array((weights, topology.indices, topology.indptr), shape=topology.shape)


def spmm(topology, weights, bias, x):
    return (as_scipy(topology, weights).T @ x) + bias[:, None]


def spmm_transposed(topology, weights, delta):
    return as_scipy(topology, weights) @ delta


def sddmm(topology, x, delta):
    rows = topology.rows()
    return np.einsum("pb,pb->p", x[rows], delta[topology.indices])


def momentum_update(weights, velocity, grads, learning_rate, momentum, decay, nesterov=False):
    """scikit-learn's SGDOptimizer._get_updates, with the L2 term in the gradient."""
    grads = grads + decay * weights
    velocity = momentum * velocity - learning_rate * grads
    update = momentum * velocity - learning_rate * grads if nesterov else velocity
    return weights + update, velocity
