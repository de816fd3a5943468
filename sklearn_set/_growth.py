"""Where evolution grows new connections: at random (SET) or by gradient (RigL).

A growth rule is a function ``rule(layer, keep, count, rng, signal)`` returning the
sorted int64 keys (``i * n_out + j``) of ``count`` free positions. ``keep`` marks the
layer's connections that survive the removal step; ``signal`` is the layer's
``(input, delta)`` on one batch, shapes ``(n_in, batch)`` and ``(n_out, batch)``, for
the rules that need a gradient.

Every public implementation of RigL scores all ``n_in * n_out`` positions with a
dense gradient. :func:`gradient_growth` gets the identical top-k while holding one
block of output neurons at a time, so its memory is O(block + count), and
:func:`sampled_gradient_growth` scores only a random sample of free positions
(Heddes et al., 2024), O(nnz + candidates) in memory and time.
"""

import numpy as np

from ._jit import cached_njit
from ._kernels import sddmm
from ._topology import Topology, sample_free_positions

__all__ = ["GROWTH_RULES", "random_growth", "gradient_growth", "sampled_gradient_growth",
           "top_gradient_positions"]

#: Elements of the gradient block scored at once (16 MiB of float32).
BLOCK_ELEMENTS = 1 << 22
#: Free positions :func:`sampled_gradient_growth` scores per connection it grows.
CANDIDATES_PER_GROWTH = 10


def random_growth(layer, keep, count, rng, signal=None):
    """SET: uniformly among positions not kept (just-removed ones included)."""
    return sample_free_positions(layer.topology, count, rng, keep)


@cached_njit()
def _hide_existing(t_indptr, t_indices, first_column, scores):
    """Set to -1 the scores of existing connections into columns of this block."""
    for c in range(scores.shape[1]):
        j = first_column + c
        for q in range(t_indptr[j], t_indptr[j + 1]):
            scores[t_indices[q], c] = -1.0


def _top(scores, keys, count):
    """The ``count`` largest scores (and their keys), ties broken by smaller key, in no
    particular order.

    In linear time: a partition finds the ``count``-th largest score, and only the
    ties at it are sorted, by key. A full sort of every candidate (``np.lexsort``)
    took 1.2 s of the 2.9 s that a 30 000 x 30 000 layer's exact top-k took.
    """
    if scores.shape[0] <= count:
        return scores, keys
    if count <= 0:
        return scores[:0], keys[:0]
    kth = np.partition(scores, scores.shape[0] - count)[scores.shape[0] - count]
    above = np.flatnonzero(scores > kth)
    ties = np.flatnonzero(scores == kth)
    ties = ties[np.argsort(keys[ties], kind="stable")[:count - above.shape[0]]]
    chosen = np.concatenate([above, ties])
    return scores[chosen], keys[chosen]


def _at_least_kth(values, k):
    """Indices of the values not below the ``k``-th largest (all ties kept)."""
    if values.shape[0] <= k:
        return np.arange(values.shape[0])
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    kth = np.partition(values, values.shape[0] - k)[values.shape[0] - k]
    return np.flatnonzero(values >= kth)


def top_gradient_positions(x, delta, topology, count, block_elements=BLOCK_ELEMENTS):
    """Keys of the ``count`` free positions with the largest ``|x @ delta.T|``.

    Streams over blocks of output neurons: each block's gradient is one BLAS product
    of shape ``(n_in, block)``, existing connections are masked out, and only scores
    at or above the running ``count``-th best are kept, in a buffer compacted back to
    ``count`` whenever it doubles. One block is held at a time, so memory is
    O(block + count). Returns exactly the dense top-``count``, ties broken by smaller
    key. Positions whose gradient is exactly zero are never chosen, so fewer than
    ``count`` keys may come back.
    """
    n_in, n_out = topology.shape
    width = max(1, min(n_out, block_elements // max(n_in, 1)))
    # one block's products and comparisons, reused: fresh arrays per block are fresh
    # pages to fault in, and where large arrays are mapped afresh (as the memory tests
    # run, MALLOC_MMAP_THRESHOLD_ at 1 MiB) that was over a third of the time
    product = np.empty(n_in * width, dtype=np.result_type(x, delta))
    passing = np.empty(n_in * width, dtype=bool)
    kept_scores, kept_keys = [], []
    n_kept, floor = 0, np.float32(0.0)
    for first in range(0, n_out, width):
        last = min(n_out, first + width)
        scores = product[:n_in * (last - first)].reshape(n_in, last - first)
        np.matmul(x, delta[first:last].T, out=scores)
        np.abs(scores, out=scores)
        scores = scores.astype(np.float32, copy=False)
        _hide_existing(topology.t_indptr, topology.t_indices, first, scores)
        flat = scores.ravel()
        above = passing[:flat.shape[0]]
        if floor > 0:
            np.greater_equal(flat, floor, out=above)
        else:
            np.greater(flat, 0, out=above)
        candidates = np.flatnonzero(above)
        candidates = candidates[_at_least_kth(flat[candidates], count)]
        rows, columns = np.divmod(candidates, last - first)
        kept_scores.append(flat[candidates])
        kept_keys.append(rows.astype(np.int64) * n_out + first + columns)
        n_kept += candidates.shape[0]
        if n_kept > 2 * count:
            best_scores, best_keys = _top(np.concatenate(kept_scores),
                                          np.concatenate(kept_keys), count)
            kept_scores, kept_keys, n_kept = [best_scores], [best_keys], best_scores.shape[0]
            floor = best_scores.min()
    _, best_keys = _top(np.concatenate([np.empty(0, np.float32), *kept_scores]),
                        np.concatenate([np.empty(0, np.int64), *kept_keys]), count)
    return np.sort(best_keys)


def _top_up_at_random(chosen, layer, keep, count, rng):
    """Fill up to ``count`` at random when too few positions had a gradient."""
    missing = count - chosen.shape[0]
    if missing <= 0:
        return chosen
    occupied, _ = layer.topology.rewire(keep, chosen)  # kept and chosen positions
    return np.union1d(chosen, sample_free_positions(occupied, missing, rng))


def gradient_growth(layer, keep, count, rng, signal):
    """RigL: the free positions with the largest gradient magnitude.

    Free means holding no connection before this step: just-removed connections are
    not grown back. Positions with no gradient at all are topped up at random.
    """
    x, delta = signal
    chosen = top_gradient_positions(x, delta, layer.topology, count)
    return _top_up_at_random(chosen, layer, keep, count, rng)


def sampled_gradient_growth(layer, keep, count, rng, signal,
                            candidates_per_growth=CANDIDATES_PER_GROWTH):
    """RigL over a random sample of ``candidates_per_growth * count`` free positions.

    The gradient is evaluated at the sampled positions only (one sampled product, as
    for the weight gradient), so cost and memory are O(nnz + candidates). The
    candidates' keys and scores are all that is held while the best are chosen: 17
    bytes a candidate at the peak (by ``tracemalloc``), where holding their topology
    and copies of both took 36.
    """
    x, delta = signal
    t = layer.topology
    n_free = t.n_in * t.n_out - t.nnz
    n_candidates = min(n_free, candidates_per_growth * count)
    keys = sample_free_positions(t, n_candidates, rng)
    sample = Topology.from_keys(keys, t.n_in, t.n_out)
    scores = np.empty(keys.shape[0], dtype=x.dtype)
    sddmm(sample.indptr, sample.indices, x, delta, scores)
    del sample
    np.abs(scores, out=scores)
    positive = scores > 0
    if not positive.all():  # a zero gradient is never grown
        scores, keys = scores[positive], keys[positive]
    _, best = _top(scores, keys, count)
    return _top_up_at_random(np.sort(best), layer, keep, count, rng)


#: Growth rules by the name the estimator's ``growth`` parameter uses.
GROWTH_RULES = {
    "random": random_growth,
    "gradient": gradient_growth,
    "sampled_gradient": sampled_gradient_growth,
}
