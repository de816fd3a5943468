"""Evolve-and-prune rules that change a network's connectivity between epochs.

Each rule reads weights and topologies, builds new topologies, and moves the weights
and momentum of the surviving connections along with them
(:meth:`SparseLayer.rewire`). All work is O(nnz + neurons) memory and vectorised:
there is no Python loop over connections or neurons.

* :func:`evolve_set`: SET's remove-by-magnitude, regrow-at-random step on a layer.
* :func:`prune_neurons`: importance pruning of hidden neurons across a network.

When they run, and how much they change, is :mod:`._schedule`'s business.
"""

import numba
import numpy as np
from numba import prange

from ._growth import random_growth
from ._jit import PARALLEL_MIN_WORK, cached_njit, sized_njit
from ._network import draw_weights

__all__ = [
    "PRUNE_CRITERIA",
    "set_keep_mask",
    "evolve_set",
    "evolve_network",
    "neuron_importance",
    "importance_keep_mask",
    "most_important_mask",
    "prune_neurons",
]

PRUNE_CRITERIA = ("incoming", "outgoing", "both")


#: Chunks of fewer weights than this resolve 11 bits of the magnitude per radix
#: pass, larger ones 16 (see :func:`_radix_bits`).
_SMALL_CHUNK = 1 << 17
#: The fewest weights per chunk of a threaded removal. On 2 threads, two chunks of
#: 64 000 to 129 000 weights took 1.2 to 2.7 times less time than one chunk, with one
#: run at 0.86 times (``benchmarks/bench_removal.py``; docs/speed.md, "One layer").
_MIN_CHUNK = 1 << 15


@cached_njit(inline="always")
def _side(weight):
    """0 for a negative weight, 1 otherwise (-0.0 included), as ``weight < 0`` splits."""
    return np.int64(1) - np.int64(weight < 0)


@sized_njit()
def _remove_smallest_by_sign(weights, bits, magnitude_bits, radix_bits, zeta, bounds, histogram,
                             remaining, threshold, offsets, keep):
    """Set ``keep`` False at the ``zeta`` fraction of each sign's weights closest to
    zero, True elsewhere.

    An exact radix selection: for finite floats, the bit pattern without the sign bit
    orders magnitudes as integers. A first pass histograms the leading ``radix_bits``
    bits of every magnitude, which fixes the threshold's leading digit; a second pass
    lists the candidates, the weights whose leading digit is their side's (a few
    percent of them); the remaining digits are resolved over the candidates alone,
    and a last pass over the weights keeps those not below the threshold. Passes over
    the weights are split into chunks ``[bounds[c], bounds[c + 1])`` run in parallel
    with their own histograms; no sort, no copy of the weights. Ties go by position:
    the candidates are listed in position order, and the first ties among them go.

    ``bits`` is ``weights`` viewed as signed integers of the same width;
    ``magnitude_bits`` is 31 or 63. The rest is scratch of any content, allocated by
    the caller: ``histogram`` of shape ``(n_chunks, 2, 2 ** radix_bits)``, ``remaining``
    and ``threshold`` of shape ``(2,)``, ``offsets`` of shape ``(n_chunks + 1,)``.
    Allocating them here, and writing array expressions, would compile code that a
    first fit waits for; only the candidates' list, whose length the first pass
    gives, is allocated here.
    """
    n_chunks = bounds.shape[0] - 1
    magnitude_mask = (np.int64(1) << magnitude_bits) - 1
    threshold[0] = threshold[1] = 0  # magnitude prefix of the last weight removed
    candidates = np.empty(0, dtype=np.int64)
    shift = magnitude_bits
    while shift > 0:
        every_weight = shift == magnitude_bits  # the first pass; then the candidates
        width = min(radix_bits, shift)
        shift -= width
        ranges = bounds if every_weight else offsets
        for c in prange(n_chunks):
            _clear_histogram(histogram, c, width)
            for q in range(np.uint64(ranges[c]), np.uint64(ranges[c + 1])):
                p = q if every_weight else np.uint64(candidates[q])
                _count_digit(histogram, c, _side(weights[p]),
                             np.int64(bits[p]) & magnitude_mask, shift, width, threshold)
        for side in range(2):
            if every_weight:
                seen = 0
                for d in range(1 << width):
                    seen += _digit_count(histogram, side, d)
                remaining[side] = int(zeta * seen)  # weights still to remove
            _next_digit(histogram, side, width, remaining, threshold)
        if every_weight:
            offsets[0] = 0
            for c in range(n_chunks):
                offsets[c + 1] = (offsets[c] + histogram[c, 0, threshold[0]]
                                  + histogram[c, 1, threshold[1]])
            candidates = np.empty(offsets[n_chunks], dtype=np.int64)
            negative, positive = threshold[0], threshold[1]
            for c in prange(n_chunks):
                q = offsets[c]
                for p in range(np.uint64(bounds[c]), np.uint64(bounds[c + 1])):
                    # the side's digit by arithmetic: a branch on the sign would mispredict
                    digit = _of_side(_side(weights[p]), negative, positive)
                    if (np.int64(bits[p]) & magnitude_mask) >> shift == digit:  # rarely
                        candidates[q] = p
                        q += 1
    negative, positive = threshold[0], threshold[1]
    # a pass of its own, which vectorises: merged into the candidates' pass, the two
    # took four times as long at 10^5 weights. Every pass counts in unsigned
    # positions, as the training kernels do (see _kernels._FOUR): Numba tests a signed
    # index for wrapping around, and with that test this pass ran one weight at a
    # time, most of the removal's time (0.83 ms of 1.37 at 129 320 weights).
    for c in prange(n_chunks):
        for p in range(np.uint64(bounds[c]), np.uint64(bounds[c + 1])):
            keep[p] = (np.int64(bits[p]) & magnitude_mask) >= _of_side(
                _side(weights[p]), negative, positive)
    # ties at the threshold are candidates: the first by position go
    for q in range(offsets[n_chunks]):
        p = candidates[q]
        side = _side(weights[p])
        if remaining[side] > 0 and (np.int64(bits[p]) & magnitude_mask) == threshold[side]:
            keep[p] = False
            remaining[side] -= 1


@cached_njit(inline="always")
def _count_digit(histogram, c, side, magnitude, shift, width, threshold):
    """Count ``magnitude``'s digit at ``shift`` in chunk ``c``'s histogram if its higher
    digits are ``threshold[side]``.

    Branch-free, since whether a weight shares the prefix is random, and adding the
    comparison even where it always holds (the first pass): an unconditional
    ``+= 1`` over random bins ran four times slower on Zen 3 at 10^5 weights.
    """
    histogram[c, side, (magnitude >> shift) & ((1 << width) - 1)] += (
        (magnitude >> (shift + width)) == threshold[side])


@cached_njit(inline="always")
def _of_side(side, negative, positive):
    """``negative`` for side 0, ``positive`` for side 1, without a branch."""
    return negative + (positive - negative) * side


@cached_njit(inline="always")
def _clear_histogram(histogram, c, width):
    """Zero chunk ``c``'s first ``2 ** width`` bins of both sides."""
    for d in range(1 << width):
        histogram[c, 0, d] = 0
        histogram[c, 1, d] = 0


@cached_njit(inline="always")
def _next_digit(histogram, side, width, remaining, threshold):
    """Append to ``threshold[side]`` the digit in which the ``remaining[side]``-th
    weight still to remove falls, and take the weights of the smaller digits off
    ``remaining[side]``."""
    digit = 0
    while digit < (1 << width) - 1:
        count = _digit_count(histogram, side, digit)
        if count >= remaining[side]:
            break
        remaining[side] -= count
        digit += 1
    threshold[side] = (threshold[side] << width) | digit


@cached_njit(inline="always")
def _digit_count(histogram, side, digit):
    """How many of ``side``'s weights fall on ``digit``, over every chunk."""
    count = 0
    for c in range(histogram.shape[0]):
        count += histogram[c, side, digit]
    return count


def set_keep_mask(weights, zeta):
    """Which connections survive SET's removal step.

    As in the original SET, the fraction ``zeta`` of the negative weights closest to
    zero (the largest negatives) and the fraction ``zeta`` of the non-negative weights
    closest to zero (the smallest positives) are removed; the signs are treated
    separately so that the balance between them is kept. Among equal magnitudes, the
    first by position go.

    Parameters
    ----------
    weights : ndarray of float32 or float64, shape (nnz,)
        Finite.
    zeta : float in [0, 1)

    Returns
    -------
    keep : ndarray of bool, shape (nnz,)
    """
    weights = np.ascontiguousarray(weights)
    n_chunks = 1
    if weights.shape[0] >= PARALLEL_MIN_WORK:  # as the compile plan's threaded removal
        n_chunks = max(1, min(numba.get_num_threads(), weights.shape[0] // _MIN_CHUNK))
    return _keep_mask_in_chunks(weights, zeta, n_chunks)


def _radix_bits(chunk_size):
    """Bits per radix pass for chunks of ``chunk_size`` weights.

    A pass costs its weights plus its histogram's bins, which are cleared and scanned
    whatever the chunk: in small chunks the bins dominate, so 11 bits (three passes
    for float32) beat 16 (two passes); in large ones the passes do (docs/speed.md,
    "One layer", for the measurements).
    """
    return 11 if chunk_size < _SMALL_CHUNK else 16


def _keep_mask_in_chunks(weights, zeta, n_chunks):
    """:func:`set_keep_mask` over ``n_chunks`` contiguous chunks, threaded when more
    than one; the result is the same for any ``n_chunks``."""
    n, itemsize = weights.shape[0], weights.dtype.itemsize
    keep = np.empty(n, dtype=bool)
    bits = weights.view(np.int32 if itemsize == 4 else np.int64)
    bounds = np.arange(n_chunks + 1, dtype=np.int64) * n // n_chunks
    radix_bits = _radix_bits(-(-n // n_chunks))
    histogram = np.empty((n_chunks, 2, 1 << radix_bits), dtype=np.int32)
    remaining, threshold = np.empty(2, dtype=np.int64), np.empty(2, dtype=np.int64)
    offsets = np.empty(n_chunks + 1, dtype=np.int64)
    _remove_smallest_by_sign(weights, bits, 8 * itemsize - 1, radix_bits, float(zeta), bounds,
                             histogram, remaining, threshold, offsets, keep,
                             parallel=n_chunks > 1)
    return keep


def _keep_and_grow(layer, keep, n_grow, rng, regrow_init, grow=random_growth, signal=None):
    """Keep the connections where ``keep`` is True and grow ``n_grow`` by ``grow``.

    Grown connections take weights from :func:`draw_weights` with ``regrow_init`` and
    zero momentum. ``grow`` is a rule of :mod:`._growth`; ``signal`` is what it needs.
    """
    added = grow(layer, keep, n_grow, rng, signal)
    new_weights = draw_weights(regrow_init, n_grow, layer.fan_in, rng, layer.weights.dtype)
    layer.rewire(keep, added, new_weights)


def evolve_set(layer, zeta, rng, regrow_init="zero", grow=random_growth, signal=None):
    """One evolution step on ``layer``, in place: remove by magnitude, then regrow.

    The number of connections is unchanged; see :func:`set_keep_mask` for what is
    removed. With the default ``grow``, this is SET: regrowth is uniform at random and
    may land on positions removed in this same step, as in the original SET. With
    :func:`._growth.gradient_growth` it is RigL.

    Parameters
    ----------
    layer : SparseLayer
    zeta : float in [0, 1)
    rng : numpy.random.Generator
    regrow_init : str
        ``"zero"`` or a weight initialisation of :func:`draw_weights`.
    grow : callable
        A growth rule of :mod:`sklearn_set._growth`.
    signal : tuple of ndarray, optional
        The layer's ``(input, delta)`` on a batch, for gradient growth.

    Returns
    -------
    n_rewired : int
        Number of connections removed (and regrown).
    """
    keep = set_keep_mask(layer.weights, zeta)
    n_removed = int(keep.shape[0] - np.count_nonzero(keep))
    if n_removed:
        _keep_and_grow(layer, keep, n_removed, rng, regrow_init, grow, signal)
    return n_removed


def evolve_network(network, zeta, rng, regrow_init="zero", grow=random_growth, signals=None):
    """Apply :func:`evolve_set` to every layer; returns the connections rewired.

    ``signals`` holds one ``(input, delta)`` per layer when ``grow`` needs them.
    """
    network.release_scratch()  # before the moves allocate
    signals = signals if signals is not None else [None] * len(network.layers)
    return sum(evolve_set(layer, zeta, rng, regrow_init, grow, signal)
               for layer, signal in zip(network.layers, signals, strict=True))


def neuron_importance(network, hidden_index, criterion="incoming"):
    """Importance of each neuron of a hidden layer: a sum of absolute weights.

    Parameters
    ----------
    network : SparseMLP
    hidden_index : int
        0 for the first hidden layer.
    criterion : {"incoming", "outgoing", "both"}
        Which of the neuron's connections count.

    Returns
    -------
    importance : ndarray of float64, shape (n_neurons,)
    """
    if criterion not in PRUNE_CRITERIA:
        raise ValueError(f"Unknown criterion {criterion!r}; expected one of {PRUNE_CRITERIA}.")
    into, out_of = network.layers[hidden_index], network.layers[hidden_index + 1]
    n = into.topology.n_out
    importance = np.zeros(n)
    if criterion in ("incoming", "both"):
        importance += np.bincount(into.topology.indices, np.abs(into.weights), minlength=n)
    if criterion in ("outgoing", "both"):
        importance += np.bincount(out_of.topology.rows(), np.abs(out_of.weights), minlength=n)
    return importance


def importance_keep_mask(importance, percentile, min_width):
    """Keep the neurons whose importance is above the ``percentile``-th percentile.

    Never keeps fewer than ``min_width``: if the percentile would cut deeper, the
    ``min_width`` most important neurons stay (ties broken by position).
    """
    keep = importance > np.percentile(importance, percentile)
    if np.count_nonzero(keep) < min_width:
        return most_important_mask(importance, min_width)
    return keep


def most_important_mask(importance, n_keep):
    """Keep the ``n_keep`` most important neurons; among equals, the first by position."""
    keep = np.zeros(importance.shape[0], dtype=bool)
    keep[np.argsort(-importance, kind="stable")[:n_keep]] = True
    return keep


def prune_neurons(network, keep_masks, rng=None, regrow_init="zero"):
    """Remove hidden neurons for real, with their connections and biases.

    Parameters
    ----------
    network : SparseMLP
        Changed in place: each layer's output size and the next layer's input size
        shrink; surviving connections keep their weights and momentum.
    keep_masks : list of ndarray of bool
        One per hidden layer.
    rng : numpy.random.Generator, optional
        When given, the connections lost by each layer are regrown at random among
        the surviving neurons (while room remains), keeping the connection budget.
    regrow_init : str
        Initial value of regrown connections, see :func:`draw_weights`.

    Returns
    -------
    n_removed : int
        Connections removed, net of any regrown.
    """
    network.release_scratch()  # before the moves allocate
    nnz_before = network.nnz
    budgets = [layer.topology.nnz for layer in network.layers]
    first, last = network.layers[0].topology, network.layers[-1].topology
    survivors = [np.ones(first.n_in, dtype=bool), *keep_masks, np.ones(last.n_out, dtype=bool)]
    # each layer loses its pruned inputs and outputs in one rebuild
    for layer, keep_in, keep_out in zip(network.layers, survivors[:-1], survivors[1:], strict=True):
        layer.drop_neurons(keep_in, keep_out)
    if rng is not None:
        for layer, budget in zip(network.layers, budgets, strict=True):
            t = layer.topology
            n_grow = min(budget, t.n_in * t.n_out) - t.nnz
            if n_grow > 0:
                _keep_and_grow(layer, np.ones(t.nnz, dtype=bool), n_grow, rng, regrow_init)
    return nnz_before - network.nnz
