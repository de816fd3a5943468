"""Numba CPU kernels for one sparse layer.

Every kernel takes plain arrays and writes into a preallocated output. Activations are
stored *batch-innermost*, shape ``(n_neurons, batch)``, so that each connection reads
and writes one contiguous vector of length ``batch``.

A layer's connectivity comes in two index sets over the same weights (see
:class:`sklearn_set._topology.Topology`):

* ``indptr, indices``: CSR by input neuron; ``weights[p]`` is the weight of
  connection ``p`` in this (canonical) order;
* ``t_indptr, t_indices, t_order``: CSR by output neuron; ``t_order[q]`` is the
  canonical position of the ``q``-th connection in that order.

Every kernel parallelises over the neuron whose vector it *writes*, so no two
threads ever touch the same output and results do not depend on the thread count.
"""

import math

import numpy as np
from numba import njit, prange

from ._draws import keep_threshold, keeps_vectorised, unit_key
from ._jit import cached_njit, sized_njit, specialised
from ._prefetch import lookahead_for, prefetch_row

__all__ = [
    "IDENTITY", "RELU", "TANH", "LOGISTIC",
    "spmm",
    "spmm_activate",
    "activate",
    "softmax",
    "cross_entropy",
    "squared_error",
    "sigmoid_squared_error",
    "bias_momentum_update",
    "gather_columns",
    "spmm_transposed",
    "sddmm",
    "sddmm_squared_norm",
    "momentum_update",
    "sddmm_momentum_update",
    "backward_momentum_update",
    "carry",
]

# Reassociating the batch dot product lets LLVM vectorise it. The forward pass is
# kept strict so that a sample's prediction never depends on its batch.
_DOT_FLAGS = {"reassoc", "nsz", "arcp", "contract"}

#: Steps between unsigned positions. Numba wraps a negative index around, a test per
#: index that LLVM cannot prove away, so the loops over connections count in unsigned
#: integers, and mixing them with signed ones would make floats.
_ONE, _TWO, _THREE, _FOUR = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)


@njit(inline="always")
def _prefetch_four_ahead(rows, indices, p, ahead, stop):
    """With ``ahead`` > 0, ask for the ``rows`` of the four connections ``ahead`` past
    position ``p`` (:func:`._prefetch.prefetch_row`), if they lie before ``stop``: what
    the sweeps that take four connections at a time read that many steps later."""
    if ahead > 0 and p + ahead + _FOUR <= stop:
        for k in range(4):  # unrolled by LLVM
            prefetch_row(rows, np.uint64(indices[p + ahead + np.uint64(k)]))


@njit(inline="always")
def _accumulate(out, j, weights, sources, indices, start, stop, lookahead=0):
    """``out[j] += sum_p weights[p] * sources[indices[p]]`` over ``p`` in ``[start, stop)``.

    Connections are taken four at a time, so the output row is loaded and stored once
    per four products instead of once per product: the output row's traffic, not the
    arithmetic, bounds this loop. Under strict floating point (the forward pass) the
    sum is still evaluated left to right, one connection after the other, so the
    result is bit-identical to the one-at-a-time loop.

    Rows are indexed in two dimensions, never taken as views: a view, like a tuple
    returned by an inlined helper, is an alias to Numba's parfor analysis, which then
    withholds ``noalias`` from the kernel's arrays, and LLVM checks at run time, for
    every four connections, whether the output row overlaps any of the four source
    rows: eight comparisons and spilled registers per four connections, for a loop of
    two vector iterations at batch 32 (the 3000 x 3000 forward pass took 15 to 20 %
    longer on one thread, the backward pass 15 %). Positions and rows are unsigned
    (see ``_FOUR``): with their wraparound tests, both passes took about 20 %
    longer again.

    With ``lookahead`` (a number of connections, 0 for none), the source rows that far
    ahead are prefetched: see :mod:`._prefetch`.
    """
    batch = out.shape[1]
    p, stop = np.uint64(start), np.uint64(stop)
    ahead = np.uint64(lookahead)
    while p + _FOUR <= stop:
        _prefetch_four_ahead(sources, indices, p, ahead, stop)
        w0, w1, w2, w3 = weights[p], weights[p + _ONE], weights[p + _TWO], weights[p + _THREE]
        i0, i1, i2, i3 = (np.uint64(indices[p]), np.uint64(indices[p + _ONE]),
                          np.uint64(indices[p + _TWO]), np.uint64(indices[p + _THREE]))
        for b in range(batch):
            out[j, b] = (out[j, b] + w0 * sources[i0, b] + w1 * sources[i1, b]
                         + w2 * sources[i2, b] + w3 * sources[i3, b])
        p += _FOUR
    for p in range(p, stop):
        w, i = weights[p], np.uint64(indices[p])
        for b in range(batch):
            out[j, b] += w * sources[i, b]


#: Activation codes of :func:`spmm_activate` and :func:`activate`. ``RELU`` with a
#: non-zero slope is a leaky ReLU (All-ReLU's layers).
IDENTITY, RELU, TANH, LOGISTIC = 0, 1, 2, 3


@njit(inline="always")
def _relu_slope(z, slope, zero, one):
    """``a'(z)`` of a (leaky, when ``slope`` is not zero) ReLU; ``a(z)`` is
    ``z * a'(z) + 0``, without a branch on the value.

    A branch returning ``z`` as it was read let LLVM drop that store and mask the
    others': a masked vector store, which AMD's Zen cores run microcoded (the
    3000 x 3000 forward pass at batch 32 took 4 to 9 % longer). ``+ 0`` makes ``-0.0``
    ``0.0``, as the branch did; a NaN or -inf pre-activation now stays NaN instead of
    becoming 0, which only a diverging fit meets, and its loss reports it.
    """
    return one if z > zero else slope


@njit(inline="always")
def _value(z, kind, slope, zero, one):
    """``a(z)`` for one pre-activation; ``zero`` and ``one`` carry its dtype."""
    if kind == RELU:
        return z * _relu_slope(z, slope, zero, one) + zero
    if kind == TANH:
        return np.tanh(z)
    if kind == LOGISTIC:  # the form that cannot overflow: exp of a non-positive number
        if z >= zero:  # (math.exp, as numba.cuda has no np.exp for the GPU kernels)
            return one / (one + math.exp(-z))
        e = math.exp(z)
        return e / (one + e)
    return z


@njit(inline="always")
def _derivative(z, a, kind, slope, zero, one):
    """``a'(z)`` for one pre-activation ``z`` and its value ``a``."""
    if kind == RELU:
        return _relu_slope(z, slope, zero, one)
    if kind == TANH:
        return one - a * a
    if kind == LOGISTIC:
        return a * (one - a)
    return one


@njit(inline="always")
def _activation(z, kind, slope, zero, one):
    """``(a(z), a'(z))`` for one pre-activation: the GPU kernels'. The CPU kernels call
    :func:`_value` and :func:`_derivative` apart, as a tuple returned inside a
    threaded loop costs it ``noalias`` (see :func:`_accumulate`)."""
    a = _value(z, kind, slope, zero, one)
    return a, _derivative(z, a, kind, slope, zero, one)


@njit(inline="always")
def _activate_any_row(out, local_gradient, j, kind, slope, with_gradient):
    """Row ``j``'s activation of any ``kind`` but ReLU, and its derivative if asked
    (a loop for each case: see :func:`_activate_row`)."""
    zero, one = out.dtype.type(0.0), out.dtype.type(1.0)
    if with_gradient:
        for b in range(out.shape[1]):
            z = out[j, b]
            a = _value(z, kind, slope, zero, one)
            out[j, b] = a
            local_gradient[j, b] = _derivative(z, a, kind, slope, zero, one)
    else:
        for b in range(out.shape[1]):
            out[j, b] = _value(out[j, b], kind, slope, zero, one)


@njit(inline="always")
def _activate_identity_row(out, local_gradient, j, kind, slope, with_gradient):
    """:func:`_activate_any_row` for ``IDENTITY`` alone: the value stays, the derivative
    is 1."""
    if with_gradient:
        one = out.dtype.type(1.0)
        for b in range(out.shape[1]):
            local_gradient[j, b] = one


#: The rule :func:`_activate_row` applies to activations other than ReLU; the
#: rectified forward kernel binds :func:`_activate_identity_row` instead.
_activate_other_row = _activate_any_row


@njit(inline="always")
def _activate_relu_row(out, local_gradient, j, slope, with_gradient):
    """Row ``j``'s (leaky) ReLU, and its derivative if asked (a loop for each case: see
    :func:`_activate_row`)."""
    zero, one = out.dtype.type(0.0), out.dtype.type(1.0)
    if with_gradient:
        for b in range(out.shape[1]):
            z = out[j, b]
            derivative = _relu_slope(z, slope, zero, one)
            out[j, b] = z * derivative + zero
            local_gradient[j, b] = derivative
    else:
        for b in range(out.shape[1]):
            z = out[j, b]
            out[j, b] = z * _relu_slope(z, slope, zero, one) + zero


@njit(inline="always")
def _drop_row(out, local_gradient, j, keep, seed, with_gradient):
    """Inverted dropout on row ``j``, and on its derivative if asked (a loop for each
    case: see :func:`_activate_row`)."""
    zero, scale = out.dtype.type(0.0), out.dtype.type(1.0 / keep)
    key, threshold = unit_key(seed, j), keep_threshold(keep)
    if with_gradient:
        for b in range(out.shape[1]):
            mask = scale if keeps_vectorised(key, b, threshold) else zero
            out[j, b] *= mask
            local_gradient[j, b] *= mask
    else:
        for b in range(out.shape[1]):
            out[j, b] *= scale if keeps_vectorised(key, b, threshold) else zero


@njit(inline="always")
def _activate_row(out, local_gradient, j, kind, slope, keep, seed):
    """Activate row ``j`` of ``out`` in place, drop units with probability ``1 - keep``
    (inverted dropout, off when ``keep == 1``), and write the derivative, dropout
    included, into ``local_gradient[j]`` unless that array is empty.

    Written for the vectoriser: the rows are indexed in two dimensions rather than
    taken as views (a view per row costs reference counting that LLVM cannot hoist,
    and ``noalias``: see :func:`_accumulate`), ReLU, the default, has a loop of its
    own (LLVM does not unswitch the choice of activation out of one loop), and
    dropout is a second pass over the row in cache. Whether the derivative is kept
    is decided outside the loops, each pass having a loop for either case: decided
    inside, it turned the derivative's stores into masked vector stores, which AMD's
    Zen cores run microcoded, and the 1024 x 3000 forward pass with dropout took 1.3
    times as long (docs/speed.md, "The derivative's stores unmasked").
    """
    with_gradient = local_gradient.shape[0] > 0
    if kind == IDENTITY and keep >= 1.0 and not with_gradient:
        return  # nothing to apply
    if kind == RELU:
        _activate_relu_row(out, local_gradient, j, slope, with_gradient)
    else:
        _activate_other_row(out, local_gradient, j, kind, slope, with_gradient)
    if keep < 1.0:
        _drop_row(out, local_gradient, j, keep, seed, with_gradient)


def _forward(t_indptr, t_indices, t_order, weights, bias, x, kind, slope, keep, seed, out,
             local_gradient, t_weights, lookahead):
    """:func:`spmm_activate`'s loops, with the activations that ``_activate_row`` knows."""
    for q in prange(t_order.shape[0]):
        t_weights[q] = weights[np.uint64(t_order[q])]  # unsigned: see _FOUR
    n_out, batch = out.shape
    for j in prange(n_out):
        b0 = bias[j]
        for b in range(batch):
            out[j, b] = b0
        _accumulate(out, j, t_weights, x, t_indices, t_indptr[j], t_indptr[j + 1], lookahead)
        _activate_row(out, local_gradient, j, kind, slope, keep, seed)


_forward_rectified = cached_njit(parallel=True)(specialised(
    _forward, "rectified", _activate_row=njit(inline="always")(specialised(
        _activate_row.py_func, "rectified", _activate_other_row=_activate_identity_row))))
_forward_any = cached_njit(parallel=True)(specialised(_forward, "any"))


def spmm_activate(t_indptr, t_indices, t_order, weights, bias, x, kind, slope, keep, seed,
                  out, local_gradient, t_weights):
    """Forward pass of a layer, its activation and dropout fused in:
    ``out[j] = dropout(a(bias[j] + sum_i W[i, j] * x[i]))``.

    Each output row is activated while it is still in cache, so the activation costs no
    extra pass over the activations. ReLU and identity layers (every layer of a ReLU
    network, and the output layer of most networks) run a kernel without the other
    activations: compiling tanh and the logistic into it took 1.2 s of a first fit. An
    input too large for the core's L2 cache (:data:`._prefetch.PREFETCH_MIN_BYTES`)
    has its rows prefetched a few connections ahead.

    Parameters
    ----------
    t_indptr, t_indices, t_order : ndarray
        The layer's connections grouped by output neuron.
    weights : ndarray of shape (nnz,)
        Weights in canonical (by input neuron) order.
    bias : ndarray of shape (n_out,)
    x : ndarray of shape (n_in, batch)
    kind : int
        ``IDENTITY``, ``RELU``, ``TANH`` or ``LOGISTIC``.
    slope : float
        Negative-side slope of ``RELU``, in the array dtype.
    keep : float
        Probability of keeping a unit; 1 turns dropout off.
    seed : uint64
        The dropout mask's seed, drawn once per pass.
    out : ndarray of shape (n_out, batch)
        Overwritten.
    local_gradient : ndarray of shape (n_out, batch) or (0, 0)
        Overwritten with the activation's derivative times the dropout mask, for the
        backward pass; pass an empty array when no gradient is needed.
    t_weights : ndarray of shape (nnz,)
        Scratch, overwritten with the weights in transposed order.
    """
    kernel = _forward_rectified if kind == RELU or kind == IDENTITY else _forward_any
    kernel(t_indptr, t_indices, t_order, weights, bias, x, kind, slope, keep, seed, out,
           local_gradient, t_weights, lookahead_for(x))


def spmm(t_indptr, t_indices, t_order, weights, bias, x, out, t_weights):
    """Forward pass without activation: ``out[j] = bias[j] + sum_i W[i, j] * x[i]``.

    :func:`spmm_activate` with ``IDENTITY``; see there for the parameters.
    """
    spmm_activate(t_indptr, t_indices, t_order, weights, bias, x, IDENTITY,
                  weights.dtype.type(0.0), 1.0, np.uint64(0), out,
                  np.empty((0, 0), dtype=out.dtype), t_weights)


@sized_njit()
def activate(z, bias, kind, slope, keep, seed, local_gradient):
    """:func:`spmm_activate`'s bias, activation and dropout alone, in place on ``z``:
    what follows a product computed elsewhere (a full layer's, by BLAS). Call with
    ``parallel=`` whether ``z`` is large enough for threads (see :mod:`._jit`)."""
    for j in prange(z.shape[0]):
        b0 = bias[j]
        for b in range(z.shape[1]):
            z[j, b] += b0
        _activate_row(z, local_gradient, j, kind, slope, keep, seed)


@njit(inline="always")
def _softmax_column(logits, b):
    """Column ``b`` of ``logits`` turned into probabilities, in place."""
    n_classes = logits.shape[0]
    top = logits[0, b]
    for c in range(1, n_classes):
        top = max(top, logits[c, b])
    total = logits.dtype.type(0.0)
    for c in range(n_classes):
        e = np.exp(logits[c, b] - top)
        logits[c, b] = e
        total += e
    for c in range(n_classes):
        logits[c, b] /= total


@cached_njit()
def softmax(logits):
    """Softmax over classes, in place, for logits of shape (n_classes, batch)."""
    for b in range(logits.shape[1]):
        _softmax_column(logits, b)


@njit(inline="always")
def _first_argmax(values, b):
    """The row of column ``b``'s largest value; the first, among ties."""
    best = 0
    for c in range(1, values.shape[0]):
        if values[c, b] > values[best, b]:
            best = c
    return best


@cached_njit()
def cross_entropy(proba, y, share, tiny, delta):
    """Softmax cross-entropy of a batch from its probabilities, in one pass.

    Parameters
    ----------
    proba : ndarray of shape (n_classes, batch)
        :func:`softmax` of the logits.
    y : ndarray of int, shape (batch,)
        Class indices.
    share : ndarray of shape (batch,)
        Each sample's share of the batch loss, summing to 1: ``1 / batch`` each for a
        plain mean, ``w / w.sum()`` for sample weights ``w``.
    tiny : float
        Floor of a probability inside the log.
    delta : ndarray of shape (n_classes, batch)
        Overwritten with the gradient of the loss with respect to the logits,
        ``share * (proba - onehot(y))``.

    Returns
    -------
    loss : float
        The ``share``-weighted mean cross-entropy over the batch.
    n_correct : int
        Samples whose most probable class (the first, among ties) is ``y``.
    """
    n_classes, batch = proba.shape
    loss = 0.0
    n_correct = 0
    for b in range(batch):
        for c in range(n_classes):
            delta[c, b] = proba[c, b]
        n_correct += _first_argmax(proba, b) == y[b]
        loss -= share[b] * np.log(max(proba[y[b], b], tiny))
        delta[y[b], b] -= 1.0
        for c in range(n_classes):
            delta[c, b] *= share[b]
    return loss, n_correct


@cached_njit()
def squared_error(out, target, share, delta):
    """Half squared error of a batch of identity outputs, as scikit-learn's
    ``MLPRegressor`` defines it, in one pass.

    Parameters
    ----------
    out : ndarray of shape (n_outputs, batch)
        The network's outputs.
    target : ndarray of shape (batch, n_outputs)
        The targets, one row per sample as the user gave them.
    share : ndarray of shape (batch,)
        Each sample's share of the batch loss, summing to 1 (see :func:`cross_entropy`).
    delta : ndarray of shape (n_outputs, batch)
        Overwritten with ``share * (out - target)``: scikit-learn's gradient, which
        leaves out the loss's ``1 / n_outputs`` so that a learning rate means the
        same step whatever the number of outputs.

    Returns
    -------
    loss : float
        ``0.5 * sum_b share_b * mean_c (out - target) ** 2``.
    """
    n_outputs, batch = out.shape
    loss = 0.0
    for b in range(batch):
        for c in range(n_outputs):
            residual = out[c, b] - target[b, c]
            loss += share[b] * residual * residual
            delta[c, b] = share[b] * residual
    return 0.5 * loss / n_outputs


@cached_njit()
def sigmoid_squared_error(proba, y, share, derivative_at_output, delta):
    """Half squared error of a batch of sigmoid outputs against one-hot targets, and
    its gradient or the original SET-MLP code's version of it, in one pass.

    Parameters
    ----------
    proba : ndarray of shape (n_classes, batch)
        The logistic function of the output layer's pre-activations.
    y : ndarray of int, shape (batch,)
        Class indices.
    share : ndarray of shape (batch,)
        Each sample's share of the batch loss, summing to 1 (see :func:`cross_entropy`).
    derivative_at_output : bool
        False: the gradient with respect to the pre-activations,
        ``share * (proba - onehot(y)) * s'(z)`` with ``s'(z) = proba * (1 - proba)``,
        which vanishes as outputs saturate. True: the original code's rule, which
        evaluates the sigmoid's derivative at the output instead, ``s'(proba)``: a
        factor between 0.20 and 0.25 that never vanishes (not the gradient of any
        standard loss; it reproduces that code's training).
    delta : ndarray of shape (n_classes, batch)
        Overwritten with ``share * (proba - onehot(y))`` times that derivative, leaving
        out the loss's ``1 / n_classes`` as :func:`squared_error` does.

    Returns
    -------
    loss : float
        ``0.5 * sum_b share_b * mean_c (proba - onehot(y)) ** 2``.
    n_correct : int
        Samples whose largest output (the first, among ties) is ``y``.
    """
    n_classes, batch = proba.shape
    loss = 0.0
    n_correct = 0
    for b in range(batch):
        for c in range(n_classes):
            p = proba[c, b]
            residual = p - (1.0 if c == y[b] else 0.0)
            loss += share[b] * residual * residual
            s = 1.0 / (1.0 + np.exp(-p)) if derivative_at_output else p
            delta[c, b] = share[b] * residual * s * (1.0 - s)
        n_correct += _first_argmax(proba, b) == y[b]
    return 0.5 * loss / n_classes, n_correct


@sized_njit()
def gather_columns(X, rows, out):
    """The samples ``X[rows]`` as columns: ``out[f, b] = X[rows[b], f]``.

    The kernels' batch-innermost layout, in one pass, without the copy and the
    transpose of ``X[rows].T``. In blocks of 64 features, so that the writes stay in
    cache, and threaded over blocks unless called with ``parallel=False``: a batch of
    32 samples of 10 000 features took 293 us serially and 141 us on two threads, and
    the first layer's forward pass on such inputs takes about a millisecond.
    """
    n_features = X.shape[1]
    for block in prange((n_features + 63) // 64):
        start = block * 64
        stop = min(start + 64, n_features)
        for b in range(rows.shape[0]):
            # unsigned (see _FOUR), and no row view: 1.2 to 2.5 times faster at 500 to
            # 7129 features than a signed view's loop
            row = np.uint64(rows[b])
            for f in range(np.uint64(start), np.uint64(stop)):
                out[f, b] = X[row, f]


@cached_njit(parallel=True)
def spmm_transposed(indptr, indices, weights, delta, out):
    """Input gradient: ``out[i] = sum_j W[i, j] * delta[j]``.

    Parameters
    ----------
    indptr, indices : ndarray
        The layer's connections grouped by input neuron.
    weights : ndarray of shape (nnz,)
    delta : ndarray of shape (n_out, batch)
        Gradient of the loss with respect to the layer's pre-activations.
    out : ndarray of shape (n_in, batch)
        Overwritten.
    """
    n_in, batch = out.shape
    for i in prange(n_in):
        for b in range(batch):
            out[i, b] = 0.0
        _accumulate(out, i, weights, delta, indices, indptr[i], indptr[i + 1])


@njit(inline="always", fastmath=_DOT_FLAGS)
def _dot(x, i, delta, j):
    """``x[i] . delta[j]``: the weight gradient of the connection ``(i, j)``."""
    acc = x.dtype.type(0.0)
    for b in range(x.shape[1]):
        acc += x[i, b] * delta[j, b]
    return acc


@njit(inline="always")
def _gradient_step(weight, grad, learning_rate, decay):
    """``lr * g``, with the L2 term in the gradient: ``g = grad + decay * w``."""
    return learning_rate * (grad + decay * weight)


@njit(inline="always")
def _new_velocity(velocity, step, momentum):
    """scikit-learn's SGDOptimizer rule for the velocity: ``v <- momentum * v - lr * g``."""
    return momentum * velocity - step


@njit(inline="always")
def _new_weight(weight, new_velocity, step, momentum, nesterov, shrink):
    """The weight after its step: ``w + v``, or ``w + momentum * v - lr * g`` with
    Nesterov's momentum; then the decoupled decay of the original SET code (and
    AdamW), ``- shrink * w``, which bypasses the momentum."""
    return weight + (momentum * new_velocity - step if nesterov else new_velocity) - (
        shrink * weight)


@njit(inline="always")
def _momentum(weight, velocity, grad, learning_rate, momentum, decay, nesterov, shrink):
    """``(new weight, new velocity)``, on scalars: the GPU kernels'. The CPU kernels
    call :func:`_momentum_step`, which returns no tuple (see :func:`_accumulate`)."""
    step = _gradient_step(weight, grad, learning_rate, decay)
    v = _new_velocity(velocity, step, momentum)
    return _new_weight(weight, v, step, momentum, nesterov, shrink), v


@njit(inline="always")
def _momentum_step(weights, velocity, p, grad, learning_rate, momentum, decay, nesterov,
                   shrink):
    """:func:`_momentum` applied to ``weights[p]`` and ``velocity[p]``, in place."""
    weight = weights[p]
    step = _gradient_step(weight, grad, learning_rate, decay)
    v = _new_velocity(velocity[p], step, momentum)
    velocity[p] = v
    weights[p] = _new_weight(weight, v, step, momentum, nesterov, shrink)


@njit(inline="always")
def _step_row(weights, velocity, gradient, start, stop, learning_rate, momentum, decay,
              nesterov, shrink):
    """A rule of :func:`_backward`: the row's connections ``[start, stop)`` take their
    momentum steps from the gradients the sweep left in ``gradient``.

    One loop over contiguous weights, velocities and gradients, which vectorises,
    while the row is in cache: stepping each connection where its gradient is
    computed ran the update one lane at a time, and the backward pass took 13 to 20 %
    longer (docs/speed.md, "The row's steps after its sweep").
    """
    for p in range(start, stop):
        _momentum_step(weights, velocity, p, gradient[p], learning_rate, momentum, decay,
                       nesterov, shrink)


@njit(inline="always")
def _keep_row(weights, velocity, gradient, start, stop, learning_rate, momentum, decay,
              nesterov, shrink):
    """A rule of :func:`_backward`: the gradients stay in ``gradient``, and nothing
    steps."""


#: What :func:`_backward` does with a row's gradients once its sweep has written them.
#: Each compiled copy of the sweep binds its own (:func:`._jit.specialised`).
_finish_row = _step_row


def sddmm(indptr, indices, x, delta, out):
    """Weight gradient at existing connections only: ``out[p] = x[i] . delta[j]``.

    A sampled dense-dense product: the dense ``x @ delta.T`` is never formed. It is
    :func:`sddmm_momentum_update` keeping the gradient in ``out`` (the kernel that
    clipping runs), whose rule touches no weight or velocity, so none is passed.

    Parameters
    ----------
    indptr, indices : ndarray
        The layer's connections grouped by input neuron.
    x : ndarray of shape (n_in, batch)
        The layer's input.
    delta : ndarray of shape (n_out, batch)
        Gradient with respect to the pre-activations, already divided by the batch size.
    out : ndarray of shape (nnz,)
        Overwritten, in canonical order.
    """
    zero, unused = x.dtype.type(0.0), np.empty(0, dtype=x.dtype)
    sddmm_momentum_update(indptr, indices, x, delta, unused, unused, zero, zero, zero, False,
                          zero, out)


@cached_njit(parallel=True, fastmath=_DOT_FLAGS)
def sddmm_squared_norm(indptr, indices, x, delta, partial):
    """``partial[i] = sum_p (x[i] . delta[j]) ** 2`` over the connections of input
    neuron ``i``: the squared norm of :func:`sddmm`'s gradient, row by row, without
    storing it: :meth:`._network.SparseLayer.squared_gradient_norm`'s, for memory-lean
    clipping (training on the CPU keeps the gradient instead, which saves a pass). One
    connection at a time: training never calls it; the tests hold the GPU's kernel to
    it."""
    for i in prange(x.shape[0]):
        total = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            g = _dot(x, i, delta, indices[p])
            total += g * g
        partial[i] = total


@sized_njit()
def momentum_update(weights, velocity, grads, learning_rate, momentum, decay, nesterov,
                    shrink=0.0, scale=1.0):
    """SGD with momentum and L2 decay, in place, for one array of parameters (threaded
    unless called with ``parallel=False``).

    Parameters
    ----------
    weights, velocity, grads : ndarray of shape (n,)
    learning_rate, momentum, decay : float
        ``decay`` is the L2 coefficient as it enters the gradient, ``grad + decay * w``.
    nesterov : bool
        Nesterov's momentum, as scikit-learn's ``nesterovs_momentum``.
    shrink : float, default=0
        Decoupled weight decay: ``w`` also loses ``shrink * w`` per step, outside the
        momentum.
    scale : float, default=1
        Factor on ``grads`` (not on the L2 term): global-norm clipping's, applied to
        gradients computed before the norm was known.
    """
    shrink, scale = weights.dtype.type(shrink), weights.dtype.type(scale)
    for p in prange(weights.shape[0]):
        _momentum_step(weights, velocity, p, grads[p] * scale, learning_rate, momentum,
                       decay, nesterov, shrink)


def sddmm_momentum_update(
    indptr, indices, x, delta, weights, velocity, learning_rate, momentum, decay, nesterov,
    shrink=0.0, gradient=None, scratch=None
):
    """:func:`sddmm` fused with :func:`momentum_update`: the first layer's step.

    Each row of weights steps as soon as its gradients are computed, while they are in
    cache, and reads each weight once. It is :func:`backward_momentum_update` without
    an input gradient (one kernel to compile), and like it writes the gradient into
    ``gradient`` instead of stepping, when given, and holds a row's gradients in
    ``scratch`` until the row steps.
    """
    nothing = np.empty((0, 0), dtype=x.dtype)
    backward_momentum_update(indptr, indices, x, delta, weights, velocity, learning_rate,
                             momentum, decay, nesterov, nothing, nothing, shrink, gradient,
                             scratch)


def _backward(indptr, indices, x, delta, weights, velocity, learning_rate, momentum, decay,
              nesterov, grad_input, local_gradient, shrink, gradient, lookahead):
    """:func:`backward_momentum_update`'s sweep: each weight gradient goes into
    ``gradient``, and ``_finish_row`` then deals with the row's.

    Four connections at a time, as :func:`_accumulate`, and like it with no row views
    and no tuple from a helper, so that the threaded loop keeps ``noalias``. Every
    weight of the row enters the input gradient before the row steps. With
    ``lookahead``, the rows of ``delta`` that many connections ahead are prefetched.
    """
    batch = x.shape[1]
    zero = x.dtype.type(0.0)
    with_input_gradient = grad_input.shape[0] > 0
    with_local_gradient = local_gradient.shape[0] > 0
    ahead = np.uint64(lookahead)
    for i in prange(x.shape[0]):
        start, stop = np.uint64(indptr[i]), np.uint64(indptr[i + 1])  # unsigned: see _FOUR
        p = start
        if with_input_gradient:
            for b in range(batch):
                grad_input[i, b] = zero
        while p + _FOUR <= stop:
            _prefetch_four_ahead(delta, indices, p, ahead, stop)
            j0, j1, j2, j3 = (np.uint64(indices[p]), np.uint64(indices[p + _ONE]),
                              np.uint64(indices[p + _TWO]), np.uint64(indices[p + _THREE]))
            g0 = g1 = g2 = g3 = zero
            if with_input_gradient:  # each delta row read once for both products
                w0, w1, w2, w3 = (weights[p], weights[p + _ONE], weights[p + _TWO],
                                  weights[p + _THREE])
                for b in range(batch):
                    d0, d1, d2, d3 = delta[j0, b], delta[j1, b], delta[j2, b], delta[j3, b]
                    grad_input[i, b] = grad_input[i, b] + w0 * d0 + w1 * d1 + w2 * d2 + w3 * d3
                    xb = x[i, b]
                    g0 += xb * d0
                    g1 += xb * d1
                    g2 += xb * d2
                    g3 += xb * d3
            else:
                for b in range(batch):
                    xb = x[i, b]
                    g0 += xb * delta[j0, b]
                    g1 += xb * delta[j1, b]
                    g2 += xb * delta[j2, b]
                    g3 += xb * delta[j3, b]
            gradient[p] = g0
            gradient[p + _ONE] = g1
            gradient[p + _TWO] = g2
            gradient[p + _THREE] = g3
            p += _FOUR
        if with_input_gradient:
            # the last (up to three) connections
            _accumulate(grad_input, i, weights, delta, indices, p, stop)
            if with_local_gradient:
                for b in range(batch):
                    grad_input[i, b] *= local_gradient[i, b]
        for p in range(p, stop):
            gradient[p] = _dot(x, i, delta, np.uint64(indices[p]))
        _finish_row(weights, velocity, gradient, start, stop, learning_rate, momentum, decay,
                    nesterov, shrink)


_backward_step = cached_njit(parallel=True, fastmath=_DOT_FLAGS)(
    specialised(_backward, "step", _finish_row=_step_row))
_backward_keep = cached_njit(parallel=True, fastmath=_DOT_FLAGS)(
    specialised(_backward, "keep", _finish_row=_keep_row))


def backward_momentum_update(
    indptr, indices, x, delta, weights, velocity, learning_rate, momentum, decay, nesterov,
    grad_input, local_gradient, shrink=0.0, gradient=None, scratch=None
):
    """:func:`spmm_transposed` fused with the momentum update of :func:`sddmm`'s
    gradients.

    Both walk the connections by input neuron and read ``delta[j]`` for each; fused,
    each of those rows is read once instead of twice. Each input neuron's weights
    enter the input gradient *before* they step, so the result equals the two kernels
    in sequence. The row's gradients wait in ``scratch`` while its sweep runs, and its
    steps then run as one vectorised loop. A ``delta`` too large for the core's L2
    cache has its rows prefetched, as the forward pass's input.

    Parameters
    ----------
    grad_input : ndarray of shape (n_in, batch) or (0, 0)
        Overwritten with the gradient with respect to ``x``, times ``local_gradient``;
        empty for the first layer, whose input needs no gradient: the kernel is then
        :func:`sddmm_momentum_update`.
    local_gradient : ndarray of shape (n_in, batch) or (0, 0)
        The derivative of the layer below's activation (dropout included), applied
        to each row of ``grad_input`` while it is in cache, which turns it into the
        layer below's delta; empty to leave the input gradient as it is.
    shrink : float, default=0
        Decoupled weight decay per step (see :func:`momentum_update`).
    gradient : ndarray of shape (nnz,) or None
        When given, no step is taken: the weight gradient is written here instead, and
        ``velocity`` is left alone. What clipping needs, which cannot scale a step
        before it knows the norm of every layer's gradient. Each rule is a kernel of
        its own, so a fit compiles only the one it uses.
    scratch : ndarray of at least nnz values, or None
        Where a step holds the gradients until their row steps; overwritten, and
        allocated when not given. Training passes the forward pass's scratch, free by
        then, so that no batch allocates per connection. Unused with ``gradient``.
    """
    if gradient is None:
        kernel = _backward_step
        nnz = indices.shape[0]
        gradient = np.empty(nnz, dtype=weights.dtype) if scratch is None else scratch[:nnz]
    else:
        kernel = _backward_keep
    kernel(indptr, indices, x, delta, weights, velocity, learning_rate, momentum, decay,
           nesterov, grad_input, local_gradient, weights.dtype.type(shrink), gradient,
           lookahead_for(delta))


@sized_njit()
def bias_momentum_update(bias, velocity, delta, learning_rate, momentum, nesterov):
    """The momentum step of the biases, their gradient ``delta.sum(axis=1)`` summed on
    the fly; no L2 decay, coupled or decoupled, as in scikit-learn. Threaded unless
    called with ``parallel=False`` (a 3000 x 32 delta: 18.7 us serially, 13.2 us on
    two threads)."""
    decay = bias.dtype.type(0.0)
    for j in prange(bias.shape[0]):
        grad = bias.dtype.type(0.0)
        for b in range(delta.shape[1]):  # indexed, not a row view: no reference counting
            grad += delta[j, b]
        _momentum_step(bias, velocity, j, grad, learning_rate, momentum, decay, nesterov,
                       decay)


@cached_njit()
def carry(source, values, added, out):
    """Values of a rewired layer: ``out[p] = values[source[p]]``, or the next of
    ``added`` where ``source[p]`` is -1.

    Kept connections keep their canonical order, so ``values`` is read in one forward
    sweep, without the masks and gathered index copies of fancy indexing.
    """
    a = 0
    for p in range(source.shape[0]):
        if source[p] >= 0:
            out[p] = values[source[p]]
        else:
            out[p] = added[a]
            a += 1
