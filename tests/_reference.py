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


def activation(z, kind, slope=0.0):
    """(a(z), a'(z)) of the kernels' activation codes, in float64."""
    z = z.astype(np.float64)
    if kind == "relu":
        return np.where(z > 0, z, slope * z), np.where(z > 0, 1.0, slope)
    if kind == "tanh":
        a = np.tanh(z)
        return a, 1 - a * a
    if kind == "logistic":
        a = 0.5 * (1 + np.tanh(0.5 * z))  # the logistic function, without exp overflow
        return a, a * (1 - a)
    return z, np.ones_like(z)


def cross_entropy(logits, y):
    """Softmax, mean cross-entropy and its gradient w.r.t. the logits, (classes, batch)."""
    logits = logits.astype(np.float64)
    proba = np.exp(logits - logits.max(axis=0))
    proba /= proba.sum(axis=0)
    columns = np.arange(y.shape[0])
    loss = -np.log(proba[y, columns]).mean()
    delta = proba.copy()
    delta[y, columns] -= 1
    return proba, loss, delta / y.shape[0]
