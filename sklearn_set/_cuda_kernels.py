"""numba.cuda kernels for one training step of a sparse layer, on the GPU.

The same CSR layout as the CPU kernels of :mod:`._kernels` (see there): weights in
canonical order (by input neuron, ``indptr``/``indices``), the transposed view
(``t_indptr``/``t_indices``/``t_order``) for the forward pass, activations stored
``(n_neurons, batch)``. The elementwise rules (activation, momentum rule) are the CPU
kernels' own inline functions, compiled for the device, and the dropout draw is the
reference form of the CPU's (:func:`._draws.keeps`), so that both sides compute the
same thing: a dropout mask drawn from one seed is the same mask on either.

Threads are laid out one per ``(neuron, sample)`` with the sample fastest, so that a
warp reads consecutive samples of one row: every activation read is coalesced. The
backward pass is fused as on the CPU: one warp per input neuron walks its connections,
adding each into the input gradient and reducing its weight gradient in shared memory
straight into the momentum update, so no ``nnz``-sized gradient is ever stored and each
``delta`` row is read once.

Nothing here allocates: every kernel writes into arrays its caller owns. Batch-level
scalars (loss, correct predictions) are accumulated on the device, in float64, so that
a training epoch never waits for the host. ``float32`` only, as the estimator trains.
"""

import math

import numpy as np
from numba import config, cuda

from ._draws import keep_threshold, keeps, unit_key
from ._kernels import _activation, _momentum

__all__ = [
    "THREADS", "LANES", "blocks",
    "gather_columns", "spmm_activate", "spmm_transposed", "backward_momentum_update",
    "bias_momentum_update", "softmax_cross_entropy", "sigmoid_squared_error",
    "squared_error", "squared_norm", "squared_gradient_norm", "clip_delta", "finish_batch",
    "STAT_LOSS", "STAT_CORRECT", "STAT_GRADIENT", "EPOCH_LOSS", "EPOCH_WEIGHT",
    "EPOCH_CORRECT", "EPOCH_FAILED",
]

#: Threads per block of the elementwise kernels, and lanes (a power of two) that share
#: one input neuron's samples in :func:`backward_momentum_update`. numba's simulator
#: runs each thread as a Python thread, so under it the blocks are small.
if config.ENABLE_CUDASIM:
    THREADS, LANES = 32, 4
else:
    THREADS, LANES = 256, 32

_ZERO, _ONE = np.float32(0.0), np.float32(1.0)

#: Slots of the per-batch statistics array (float64): the data loss, correct
#: predictions, and the data loss's squared gradient norm (when clipping).
STAT_LOSS, STAT_CORRECT, STAT_GRADIENT = 0, 1, 2
#: Slots of the per-epoch accumulator (float64): weighted loss, weight, correct
#: predictions, and 1 once a batch's loss was not finite.
EPOCH_LOSS, EPOCH_WEIGHT, EPOCH_CORRECT, EPOCH_FAILED = 0, 1, 2, 3


@cuda.jit(device=True)
def _cell(shape):
    """``(row, sample)`` of this thread over an ``(n_rows, batch)`` array, one thread
    per entry; ``row`` is -1 for the threads past its end."""
    tid = cuda.grid(1)
    n_rows, batch = shape
    if tid >= n_rows * batch:
        return -1, 0
    row = tid // batch
    return row, tid - row * batch


def blocks(n_threads, threads=THREADS):
    """Blocks of ``threads`` that cover ``n_threads`` (at least one)."""
    return max(1, (n_threads + threads - 1) // threads)


@cuda.jit
def gather_columns(X, rows, out):
    """``out[f, b] = X[rows[b], f]``: a batch in the kernels' layout, from samples
    already on the device."""
    f, b = _cell(out.shape)
    if f < 0:
        return
    out[f, b] = X[rows[b], f]


@cuda.jit
def spmm_activate(t_indptr, t_indices, t_order, weights, bias, x, kind, slope, keep, seed,
                  out, local_gradient):
    """:func:`._kernels.spmm_activate` on the device:
    ``out[j] = dropout(a(bias[j] + sum_i W[i, j] * x[i]))``, and the activation's
    derivative (dropout included) into ``local_gradient`` unless it is empty.

    Weights are read through ``t_order`` in place, so no transposed copy is made.
    """
    j, b = _cell(out.shape)
    if j < 0:
        return
    z = bias[j]
    for q in range(t_indptr[j], t_indptr[j + 1]):
        z += weights[t_order[q]] * x[t_indices[q], b]
    a, derivative = _activation(z, kind, slope, _ZERO, _ONE)
    if keep < 1.0:
        kept = keeps(unit_key(seed, j), b, keep_threshold(keep))
        mask = np.float32(1.0 / keep) if kept else _ZERO
        a *= mask
        derivative *= mask
    out[j, b] = a
    if local_gradient.shape[0] > 0:
        local_gradient[j, b] = derivative


@cuda.jit
def spmm_transposed(indptr, indices, weights, delta, local_gradient, out):
    """Input gradient: ``out[i] = sum_j W[i, j] * delta[j]``, times
    ``local_gradient[i]`` unless that is empty (which makes it the layer below's delta).

    The input-gradient half of :func:`backward_momentum_update`, on its own: the
    clipping pass propagates deltas with it, and the benchmark compares it with
    cuSPARSE's ``W @ delta``.
    """
    i, b = _cell(out.shape)
    if i < 0:
        return
    g = _ZERO
    for p in range(indptr[i], indptr[i + 1]):
        g += weights[p] * delta[indices[p], b]
    if local_gradient.shape[0] > 0:
        g *= local_gradient[i, b]
    out[i, b] = g


@cuda.jit
def backward_momentum_update(indptr, indices, x, delta, weights, velocity, learning_rate,
                             momentum, decay, nesterov, shrink, epoch, grad_input,
                             local_gradient):
    """:func:`._kernels.backward_momentum_update` on the device: per input neuron, the
    input gradient, the weight gradient at each connection and its momentum step, in
    one pass over the connections, each ``delta`` row read once for both.

    One block of ``LANES`` threads per input neuron ``i``; lane ``l`` owns samples
    ``l, l + LANES, ...``. For each connection, the lanes add ``w * delta[j]`` into
    their samples of ``grad_input[i]`` with the weight as it was, reduce
    ``x[i] . delta[j]`` in shared memory, and lane 0 takes the step. ``grad_input`` is
    then multiplied by ``local_gradient`` (unless that is empty), which makes it the
    layer below's delta; an empty ``grad_input`` skips the input gradient (the first
    layer). No step is taken once ``epoch[EPOCH_FAILED]`` is set (see
    :func:`finish_batch`): the weights stay those of the last good step.
    """
    partial = cuda.shared.array(LANES, dtype=np.float32)
    i = cuda.blockIdx.x
    lane = cuda.threadIdx.x
    batch = x.shape[1]
    with_input_gradient = grad_input.shape[0] > 0
    frozen = epoch[EPOCH_FAILED] != 0
    if with_input_gradient:
        for b in range(lane, batch, LANES):
            grad_input[i, b] = _ZERO
    for p in range(indptr[i], indptr[i + 1]):
        j = indices[p]
        w = weights[p]  # every lane reads it before lane 0 may write it, below
        g = _ZERO
        for b in range(lane, batch, LANES):
            d = delta[j, b]
            g += x[i, b] * d
            if with_input_gradient:
                grad_input[i, b] += w * d
        partial[lane] = g
        cuda.syncthreads()
        width = LANES // 2
        while width > 0:
            if lane < width:
                partial[lane] += partial[lane + width]
            cuda.syncthreads()
            width //= 2
        if lane == 0 and not frozen:
            weights[p], velocity[p] = _momentum(w, velocity[p], partial[0], learning_rate,
                                                momentum, decay, nesterov, shrink)
        cuda.syncthreads()  # partial is reused by the next connection
    if with_input_gradient and local_gradient.shape[0] > 0:
        for b in range(lane, batch, LANES):
            grad_input[i, b] *= local_gradient[i, b]


@cuda.jit
def bias_momentum_update(bias, velocity, delta, learning_rate, momentum, nesterov, epoch):
    """The biases' momentum step, their gradient ``delta.sum(axis=1)`` summed on the
    fly; no L2 decay, as in scikit-learn. Nothing once ``epoch[EPOCH_FAILED]`` is set."""
    j = cuda.grid(1)
    if j >= bias.shape[0] or epoch[EPOCH_FAILED] != 0:
        return
    g = _ZERO
    for b in range(delta.shape[1]):
        g += delta[j, b]
    bias[j], velocity[j] = _momentum(bias[j], velocity[j], g, learning_rate, momentum, _ZERO,
                                     nesterov, _ZERO)


@cuda.jit
def softmax_cross_entropy(logits, rows, y, sample_weight, inverse_total, tiny, delta, stats):
    """Softmax in place and its cross-entropy, one thread per sample.

    ``y`` and ``sample_weight`` hold every training sample; sample ``b`` of the batch
    is ``rows[b]``, and its share of the batch loss is
    ``sample_weight[rows[b]] * inverse_total``. Writes ``delta`` as
    :func:`._kernels.cross_entropy` does and adds the weighted loss and the number of
    correct predictions into ``stats``. With an empty ``delta``, only the softmax.
    """
    b = cuda.grid(1)
    n_classes, batch = logits.shape
    if b >= batch:
        return
    top = logits[0, b]
    for c in range(1, n_classes):
        if logits[c, b] > top:  # (numba.cuda's max() fails to type here)
            top = logits[c, b]
    total = _ZERO
    for c in range(n_classes):
        e = math.exp(logits[c, b] - top)
        logits[c, b] = e
        total += e
    best = 0
    for c in range(n_classes):
        logits[c, b] /= total
        if logits[c, b] > logits[best, b]:
            best = c
    if delta.shape[0] == 0:
        return
    label = y[rows[b]]
    share = np.float32(sample_weight[rows[b]] * inverse_total)
    for c in range(n_classes):
        delta[c, b] = share * (logits[c, b] - (_ONE if c == label else _ZERO))
    probability = float(logits[label, b])
    cuda.atomic.add(stats, STAT_LOSS,
                    -float(share) * math.log(probability if probability > tiny else tiny))
    if best == label:
        cuda.atomic.add(stats, STAT_CORRECT, 1.0)


@cuda.jit
def sigmoid_squared_error(proba, rows, y, sample_weight, inverse_total, derivative_at_output,
                          delta, stats):
    """:func:`._kernels.sigmoid_squared_error` on the device, one thread per sample:
    ``proba`` holds the output layer's sigmoid outputs; ``y`` and ``sample_weight``
    hold every training sample, as in :func:`softmax_cross_entropy`."""
    b = cuda.grid(1)
    n_classes, batch = proba.shape
    if b >= batch:
        return
    label = y[rows[b]]
    share = np.float32(sample_weight[rows[b]] * inverse_total)
    loss = 0.0
    best = 0  # the first largest output, as on the CPU
    for c in range(n_classes):
        p = proba[c, b]
        residual = p - (_ONE if c == label else _ZERO)
        loss += float(share * residual * residual)
        s = _ONE / (_ONE + math.exp(-p)) if derivative_at_output else p
        delta[c, b] = share * residual * s * (_ONE - s)
        if p > proba[best, b]:
            best = c
    cuda.atomic.add(stats, STAT_LOSS, 0.5 * loss / n_classes)
    if best == label:
        cuda.atomic.add(stats, STAT_CORRECT, 1.0)


@cuda.jit
def squared_error(out, rows, target, sample_weight, inverse_total, delta, stats):
    """Half squared error of identity outputs, one thread per sample, as
    :func:`._kernels.squared_error` defines it; ``target`` holds every training
    sample's row, ``rows`` picks the batch's."""
    b = cuda.grid(1)
    n_outputs, batch = out.shape
    if b >= batch:
        return
    share = np.float32(sample_weight[rows[b]] * inverse_total)
    loss = 0.0
    for c in range(n_outputs):
        residual = out[c, b] - target[rows[b], c]
        loss += float(share * residual * residual)
        delta[c, b] = share * residual
    cuda.atomic.add(stats, STAT_LOSS, 0.5 * loss / n_outputs)


@cuda.jit
def squared_norm(weights, total):
    """``total[0] += sum(weights ** 2)``, in float64, each thread over a strided share."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    s = 0.0
    for p in range(start, weights.shape[0], stride):
        s += float(weights[p]) * float(weights[p])
    if s != 0.0:
        cuda.atomic.add(total, 0, s)


@cuda.jit
def squared_gradient_norm(indptr, indices, x, delta, stats):
    """``stats[STAT_GRADIENT] +=`` the squared norm of one layer's weight and bias
    gradients, as :meth:`._network.SparseLayer.squared_gradient_norm` computes it, never
    holding the weight gradient: thread ``i < n_in`` reduces input neuron ``i``'s
    connections, thread ``n_in + j`` the bias of output neuron ``j``."""
    tid = cuda.grid(1)
    n_in = indptr.shape[0] - 1
    n_out, batch = delta.shape
    s = 0.0
    if tid < n_in:
        for p in range(indptr[tid], indptr[tid + 1]):
            j = indices[p]
            g = _ZERO
            for b in range(batch):
                g += x[tid, b] * delta[j, b]
            s += float(g) * float(g)
    elif tid < n_in + n_out:
        g = 0.0
        for b in range(batch):
            g += float(delta[tid - n_in, b])
        s = g * g
    if s != 0.0:
        cuda.atomic.add(stats, STAT_GRADIENT, s)


@cuda.jit
def clip_delta(delta, stats, max_norm):
    """Global-norm clipping: scale the output layer's ``delta`` by
    ``max_norm / norm`` when the gradient's norm, ``sqrt(stats[STAT_GRADIENT])``, is
    larger (backpropagation is linear in ``delta``, so every gradient scales with it)."""
    c, b = _cell(delta.shape)
    if c < 0:
        return
    norm = math.sqrt(stats[STAT_GRADIENT])
    if norm > max_norm:
        delta[c, b] *= np.float32(max_norm / norm)


@cuda.jit
def finish_batch(stats, norm, half_alpha_over_weight, batch_weight, epoch):
    """Close a batch on the device (one thread): its loss is the data loss plus
    ``0.5 * alpha * ||W||^2`` over its weight; a loss that is not finite sets
    ``epoch[EPOCH_FAILED]``, which the update kernels obey, else the loss is added to
    the epoch's weighted sum. Resets ``stats`` and ``norm`` for the next batch (the
    gradient norm is summed after this, by the clipping pass)."""
    if cuda.grid(1) != 0:
        return
    loss = stats[STAT_LOSS] + half_alpha_over_weight * norm[0]
    if epoch[EPOCH_FAILED] == 0:
        if math.isfinite(loss):
            epoch[EPOCH_LOSS] += loss * batch_weight
            epoch[EPOCH_WEIGHT] += batch_weight
            epoch[EPOCH_CORRECT] += stats[STAT_CORRECT]
        else:
            epoch[EPOCH_FAILED] = 1.0
    stats[STAT_LOSS] = 0.0
    stats[STAT_CORRECT] = 0.0
    stats[STAT_GRADIENT] = 0.0
    norm[0] = 0.0
