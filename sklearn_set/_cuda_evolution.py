"""SET's evolution step on the GPU: keep mask, random regrowth and rewiring, in
numba.cuda kernels over the device arrays of one layer.

The step is the CPU's (:func:`._evolution.evolve_set` with
:func:`._growth.random_growth`), built from parallel pieces that need no sort:

* **Keep mask.** An exact radix selection of the fraction ζ of each sign's weights
  closest to zero, as :func:`._evolution.set_keep_mask` does: histograms of the
  magnitudes' bits in two passes, then ties removed first by position. Its mask is the
  CPU's, bit for bit.
* **Regrowth.** Candidate positions are drawn uniformly (or, for a nearly full layer,
  every position is enumerated), bucketed by input neuron, sorted within their row,
  and rejected where they repeat or hit a kept connection; each survivor gets a random
  priority, and the ``count`` smallest priorities are grown (the same radix
  selection). A uniform subset of a uniform set of free positions is a uniform set of
  free positions, as SET asks; the draw is the device's own, so it differs from the
  CPU's for the same seed.
* **Rewiring.** Each row merges its kept connections with its grown ones, in column
  order, carrying weights and momentum; the transposed view is rebuilt by counting,
  scattering and sorting each column by row, so it matches the CPU's exactly.

Memory is O(nnz + neurons + candidates), candidates about ``1.1 * count`` for a sparse
layer. The step reads two kinds of scalars back to the host, the number of weights to
remove and, per regrowth round, the number of usable candidates, so that it can size
its arrays; it runs between epochs (or every ``evolve_every`` batches), never inside a
batch.
"""

import math

import numpy as np
from numba import config, cuda

from ._cuda_kernels import THREADS, blocks
from ._draws import mix64, uniform

__all__ = ["evolve_layer", "exclusive_scan", "select_smallest", "REGROW_KINDS"]

#: Codes of the initial value of a regrown connection (see ``regrow_init``).
REGROW_KINDS = {"zero": 0, "he_uniform": 1, "normal": 2}

#: Positions per tie-breaking chunk of :func:`select_smallest`.
CHUNK = 256
#: Threads of the single-block scan (fewer under numba's simulator, whose threads are
#: Python threads).
SCAN_THREADS = 32 if config.ENABLE_CUDASIM else 256
#: The radix passes of :func:`select_smallest` over its 31-bit keys, as (shift, width),
#: most significant first: two on a GPU; under numba's simulator, whose threads are
#: Python threads, four of 8 bits, since each pass clears and scans a histogram of
#: ``2 ** width`` bins per group in Python. With them (and one block per fill), SET's
#: regrowth on a 10 x 10 layer under the simulator took 0.48 s instead of 1.1 s.
#: Either way the selection is exact.
_PASSES = ((23, 8), (15, 8), (7, 8), (0, 7)) if config.ENABLE_CUDASIM else ((15, 16), (0, 15))
#: Histogram bins per group: enough for the widest pass. The kernels take the count
#: from the histogram's length, so that a compiled kernel serves any passes.
_BINS = 1 << max(width for _, width in _PASSES)


# -- small utilities ------------------------------------------------------------------
@cuda.jit(device=True)
def _sort_segment(keys, values, start, stop):
    """Insertion sort of ``keys[start:stop]``, ``values`` moved along (pass ``keys``
    again for none): one thread sorts one row or column, which holds few entries."""
    for s in range(start + 1, stop):
        key, value = keys[s], values[s]
        t = s - 1
        while t >= start and keys[t] > key:
            keys[t + 1] = keys[t]
            values[t + 1] = values[t]
            t -= 1
        keys[t + 1] = key
        values[t + 1] = value


@cuda.jit
def _fill(values, value):
    """``values[:] = value``, each thread over a strided share (a small grid fills a
    large histogram)."""
    for k in range(cuda.grid(1), values.shape[0], cuda.gridsize(1)):
        values[k] = value


#: Most blocks of a :func:`_fill`: one under numba's simulator, where starting its
#: Python threads, not the stores, takes the time.
_FILL_BLOCKS = 1 if config.ENABLE_CUDASIM else 64


@cuda.jit
def _exclusive_scan(values, out):
    """``out[0] = 0`` and ``out[k + 1] = values[0] + ... + values[k]``, in one block:
    each thread sums a contiguous chunk, the chunk totals are scanned, then each
    thread writes its chunk's running sums."""
    totals = cuda.shared.array(SCAN_THREADS, dtype=np.int64)
    t = cuda.threadIdx.x
    n = values.shape[0]
    chunk = (n + SCAN_THREADS - 1) // SCAN_THREADS
    start = t * chunk if t * chunk < n else n  # (numba.cuda's min() fails to type here)
    stop = start + chunk if start + chunk < n else n
    s = 0
    for k in range(start, stop):
        s += values[k]
    totals[t] = s
    cuda.syncthreads()
    if t == 0:
        running = 0
        for u in range(SCAN_THREADS):
            v = totals[u]
            totals[u] = running
            running += v
        out[0] = 0
    cuda.syncthreads()
    running = totals[t]
    for k in range(start, stop):
        running += values[k]
        out[k + 1] = running


def exclusive_scan(values):
    """The exclusive prefix sums of an int64 device array, ``n + 1`` of them."""
    out = cuda.device_array(values.shape[0] + 1, dtype=np.int64)
    _exclusive_scan[1, SCAN_THREADS](values, out)
    return out


def _zeros(n, dtype):
    """A device array of ``n`` zeros, filled on the device."""
    array = cuda.device_array(n, dtype=dtype)
    if n:
        _fill[min(blocks(n), _FILL_BLOCKS), THREADS](array, dtype(0))
    return array


# -- exact selection of the smallest keys ---------------------------------------------
@cuda.jit
def _histogram(keys, group, shift, width, prefix, histogram):
    """Count the digits at ``shift`` of the keys whose higher digits are their group's
    ``prefix``, each group in its half of ``histogram`` (group 0 the first)."""
    p = cuda.grid(1)
    if p >= keys.shape[0]:
        return
    g = np.int64(group[p])
    if g < 0:
        return
    key = np.int64(keys[p])
    if (key >> (shift + width)) == prefix[g]:
        bins = histogram.shape[0] // 2
        cuda.atomic.add(histogram, g * bins + ((key >> shift) & ((1 << width) - 1)), 1)


@cuda.jit
def _pick_digit(histogram, width, remaining, prefix):
    """Per group (one thread each): the digit at which the ``remaining`` smallest end."""
    g = cuda.grid(1)
    if g >= 2:
        return
    first, digit = g * (histogram.shape[0] // 2), 0
    while digit < (1 << width) - 1 and histogram[first + digit] < remaining[g]:
        remaining[g] -= histogram[first + digit]
        digit += 1
    prefix[g] = (prefix[g] << width) | digit


@cuda.jit
def _mark_below(keys, group, threshold, selected, ties):
    """Select keys below their group's threshold; count the ties of each chunk."""
    p = cuda.grid(1)
    if p >= keys.shape[0]:
        return
    g = np.int64(group[p])
    selected[p] = 0
    if g < 0:
        return
    key = np.int64(keys[p])
    if key < threshold[g]:
        selected[p] = 1
    elif key == threshold[g]:
        cuda.atomic.add(ties, (p // CHUNK) * 2 + g, 1)


@cuda.jit
def _tie_quota(ties, remaining):
    """One thread: the first ties by position go, so chunks fill their quota in order."""
    if cuda.grid(1) != 0:
        return
    for c in range(ties.shape[0] // 2):
        for g in range(2):
            quota = ties[c * 2 + g] if ties[c * 2 + g] < remaining[g] else remaining[g]
            remaining[g] -= quota
            ties[c * 2 + g] = quota


@cuda.jit
def _mark_ties(keys, group, threshold, ties, selected):
    """One thread per chunk: select its quota of ties, first by position."""
    c = cuda.grid(1)
    n = keys.shape[0]
    if c * CHUNK >= n:
        return
    stop = (c + 1) * CHUNK if (c + 1) * CHUNK < n else n
    for p in range(c * CHUNK, stop):
        g = np.int64(group[p])
        if g >= 0 and ties[c * 2 + g] > 0 and np.int64(keys[p]) == threshold[g]:
            selected[p] = 1
            ties[c * 2 + g] -= 1


def select_smallest(keys, group, remaining):
    """Mark the ``remaining[g]`` smallest ``keys`` of each group ``g`` in {0, 1}, ties
    by position; entries of group -1 take no part.

    ``keys`` are non-negative int32 (31 bits); ``remaining`` is an int64 device array
    of two counts, consumed. Returns a uint8 device array, 1 where selected.
    """
    n = keys.shape[0]
    prefix = _zeros(2, np.int64)
    histogram = cuda.device_array(2 * _BINS, dtype=np.int64)
    for shift, width in _PASSES:
        _fill[_FILL_BLOCKS, THREADS](histogram, 0)
        _histogram[blocks(n), THREADS](keys, group, shift, width, prefix, histogram)
        _pick_digit[1, 2](histogram, width, remaining, prefix)
    selected = cuda.device_array(n, dtype=np.uint8)
    n_chunks = max(1, -(-n // CHUNK))
    ties = _zeros(2 * n_chunks, np.int64)
    _mark_below[blocks(n), THREADS](keys, group, prefix, selected, ties)
    _tie_quota[1, 1](ties, remaining)
    _mark_ties[blocks(n_chunks), THREADS](keys, group, prefix, ties, selected)
    return selected


# -- the keep mask ---------------------------------------------------------------------
@cuda.jit
def _magnitude_keys(weights, bits, keys, group, sizes):
    """Key = the magnitude's bits, group = the sign (0 negative, 1 otherwise, -0.0
    included, as :func:`._evolution._side`), and the size of each group."""
    p = cuda.grid(1)
    if p >= weights.shape[0]:
        return
    side = 0 if weights[p] < 0 else 1
    group[p] = side
    keys[p] = bits[p] & 0x7FFFFFFF
    cuda.atomic.add(sizes, side, 1)


def removal_mask(weights, zeta):
    """The connections SET removes: the fraction ``zeta`` of each sign's weights closest
    to zero, first by position among ties (:func:`._evolution.set_keep_mask`'s
    complement). Returns the uint8 mask and the number removed."""
    n = weights.shape[0]
    keys = cuda.device_array(n, dtype=np.int32)
    group = cuda.device_array(n, dtype=np.int8)
    sizes = _zeros(2, np.int64)
    _magnitude_keys[blocks(n), THREADS](weights, weights.view(np.int32), keys, group, sizes)
    counts = sizes.copy_to_host()
    wanted = np.array([int(zeta * counts[0]), int(zeta * counts[1])], dtype=np.int64)
    removed = select_smallest(keys, group, cuda.to_device(wanted))
    return removed, int(wanted.sum())


# -- regrowth --------------------------------------------------------------------------
@cuda.jit
def _draw_candidates(seed, n_in, n_out, enumerate_all, rows, columns, row_counts):
    k = cuda.grid(1)
    if k >= rows.shape[0]:
        return
    if enumerate_all:
        i = k // n_out
        j = k - i * n_out
    else:
        i = np.int64(mix64(seed, 2 * k) % np.uint64(n_in))
        j = np.int64(mix64(seed, 2 * k + 1) % np.uint64(n_out))
    rows[k] = i
    columns[k] = j
    cuda.atomic.add(row_counts, i, 1)


@cuda.jit
def _scatter_by_row(rows, columns, cursor, bucket_columns):
    k = cuda.grid(1)
    if k >= rows.shape[0]:
        return
    bucket_columns[cuda.atomic.add(cursor, rows[k], 1)] = columns[k]


@cuda.jit
def _accept_candidates(indptr, indices, removed, row_start, bucket_columns, seed, n_out,
                       priority, group, n_valid):
    """One thread per row: sort its candidates, keep the distinct ones that hold no
    kept connection (a just-removed position may grow back, as in SET), and give each
    a random 31-bit priority."""
    i = cuda.grid(1)
    if i >= row_start.shape[0] - 1:
        return
    start, stop = row_start[i], row_start[i + 1]
    _sort_segment(bucket_columns, bucket_columns, start, stop)
    p, end, previous = indptr[i], indptr[i + 1], -1
    for s in range(start, stop):
        column = bucket_columns[s]
        group[s] = -1
        if column == previous:
            continue
        previous = column
        while p < end and indices[p] < column:
            p += 1
        if p < end and indices[p] == column and removed[p] == 0:
            continue
        group[s] = 0
        priority[s] = np.int32(mix64(seed, i * n_out + column) >> np.uint64(33))
        cuda.atomic.add(n_valid, 0, 1)


def _grown_positions(indptr, indices, removed, n_in, n_out, count, seed):
    """``count`` free positions, uniformly: per-row sorted candidate columns, their
    row offsets, and the uint8 mask of those grown."""
    nnz = indices.shape[0]
    total = n_in * n_out
    enumerate_all = total <= 4 * nnz  # the CPU's rule for enumerating a dense layer
    n_draws = total if enumerate_all else int(1.1 * count * total / (total - nnz + count)) + 64
    attempt = 0
    while True:
        round_seed = np.uint64((int(seed) + 0x632BE59BD9B4E019 * attempt) % (1 << 64))
        rows = cuda.device_array(n_draws, dtype=np.int64)
        columns = cuda.device_array(n_draws, dtype=np.int32)
        row_counts = _zeros(n_in, np.int64)
        _draw_candidates[blocks(n_draws), THREADS](round_seed, n_in, n_out, enumerate_all,
                                                    rows, columns, row_counts)
        row_start = exclusive_scan(row_counts)
        cursor = cuda.device_array(n_in, dtype=np.int64)
        cursor.copy_to_device(row_start[:n_in])
        bucket_columns = cuda.device_array(n_draws, dtype=np.int32)
        _scatter_by_row[blocks(n_draws), THREADS](rows, columns, cursor, bucket_columns)
        del rows, columns, cursor
        priority = cuda.device_array(n_draws, dtype=np.int32)
        group = cuda.device_array(n_draws, dtype=np.int8)
        n_valid = _zeros(1, np.int64)
        _accept_candidates[blocks(n_in), THREADS](indptr, indices, removed, row_start,
                                                  bucket_columns, round_seed, n_out,
                                                  priority, group, n_valid)
        if int(n_valid.copy_to_host()[0]) >= count:
            break
        n_draws *= 2  # too few distinct free positions: draw again, twice as many
        attempt += 1
    grown = select_smallest(priority, group, cuda.to_device(np.array([count, 0], np.int64)))
    return bucket_columns, row_start, grown


# -- rewiring --------------------------------------------------------------------------
@cuda.jit
def _row_sizes(indptr, removed, row_start, grown, sizes):
    i = cuda.grid(1)
    if i >= sizes.shape[0]:
        return
    n = 0
    for p in range(indptr[i], indptr[i + 1]):
        n += 1 - removed[p]
    for s in range(row_start[i], row_start[i + 1]):
        n += grown[s]
    sizes[i] = n


@cuda.jit(device=True)
def _initial_weight(seed, key, kind, limit):
    """A regrown connection's first value: 0, U(-limit, limit) or N(0, 0.1^2), drawn
    from its position's hash."""
    if kind == 0:
        return np.float32(0.0)
    u = uniform(seed, key, 0, 2)
    if kind == 1:
        return np.float32((2.0 * u - 1.0) * limit)
    v = uniform(seed, key, 1, 2)
    return np.float32(0.1 * math.sqrt(-2.0 * math.log(1.0 - u)) * math.cos(2.0 * math.pi * v))


@cuda.jit
def _merge_rows(indptr, indices, weights, velocity, removed, row_start, bucket_columns,
                grown, new_indptr, n_out, seed, kind, limit, new_indices, new_weights,
                new_velocity):
    """One thread per row: kept and grown connections in column order; kept ones carry
    their weight and momentum, grown ones start at their initial value, at rest."""
    i = cuda.grid(1)
    if i >= new_indptr.shape[0] - 1:
        return
    p, p_end = indptr[i], indptr[i + 1]
    s, s_end = row_start[i], row_start[i + 1]
    o = new_indptr[i]
    while True:
        while p < p_end and removed[p] != 0:
            p += 1
        while s < s_end and grown[s] == 0:
            s += 1
        if p >= p_end and s >= s_end:
            break
        if s >= s_end or (p < p_end and indices[p] < bucket_columns[s]):
            new_indices[o] = indices[p]
            new_weights[o] = weights[p]
            new_velocity[o] = velocity[p]
            p += 1
        else:
            column = bucket_columns[s]
            new_indices[o] = column
            new_weights[o] = _initial_weight(seed, i * n_out + column, kind, limit)
            new_velocity[o] = 0.0
            s += 1
        o += 1


@cuda.jit(device=True)
def _row_of(indptr, p):
    """The input neuron of connection ``p``: the last ``i`` with ``indptr[i] <= p``."""
    low, high = 0, indptr.shape[0] - 1
    while high - low > 1:
        middle = (low + high) // 2
        if indptr[middle] <= p:
            low = middle
        else:
            high = middle
    return low


@cuda.jit
def _count_columns(indices, counts):
    p = cuda.grid(1)
    if p < indices.shape[0]:
        cuda.atomic.add(counts, indices[p], 1)


@cuda.jit
def _scatter_transposed(indptr, indices, cursor, t_indices, t_order):
    p = cuda.grid(1)
    if p >= indices.shape[0]:
        return
    q = cuda.atomic.add(cursor, indices[p], 1)
    t_indices[q] = _row_of(indptr, p)
    t_order[q] = p


@cuda.jit
def _sort_columns(t_indptr, t_indices, t_order):
    """One thread per output neuron: its connections by input neuron, as the CPU's
    transposed view orders them (so that the forward pass sums in the same order)."""
    j = cuda.grid(1)
    if j >= t_indptr.shape[0] - 1:
        return
    start, stop = t_indptr[j], t_indptr[j + 1]
    _sort_segment(t_indices, t_order, start, stop)


def transposed(indptr, indices, n_out):
    """``(t_indptr, t_indices, t_order)`` of a CSR layout, on the device."""
    nnz = indices.shape[0]
    counts = _zeros(n_out, np.int64)
    _count_columns[blocks(nnz), THREADS](indices, counts)
    t_indptr = exclusive_scan(counts)
    cursor = cuda.device_array(n_out, dtype=np.int64)
    cursor.copy_to_device(t_indptr[:n_out])
    t_indices = cuda.device_array(nnz, dtype=np.int32)
    t_order = cuda.device_array(nnz, dtype=np.int32)
    _scatter_transposed[blocks(nnz), THREADS](indptr, indices, cursor, t_indices, t_order)
    _sort_columns[blocks(n_out), THREADS](t_indptr, t_indices, t_order)
    return t_indptr, t_indices, t_order


def evolve_layer(layer, zeta, seed, regrow_init="zero"):
    """One SET step on a :class:`._device.DeviceLayer`, in place: remove the fraction
    ``zeta`` of each sign's weights closest to zero, regrow as many uniformly at random
    among the free positions. Returns the number rewired.

    ``seed`` (uint64) drives the regrowth; ``regrow_init`` is a key of
    :data:`REGROW_KINDS`.
    """
    removed, count = removal_mask(layer.weights, zeta)
    if count == 0:
        return 0
    n_in, n_out = layer.n_in, layer.n_out
    bucket_columns, row_start, grown = _grown_positions(
        layer.indptr, layer.indices, removed, n_in, n_out, count, seed)
    sizes = cuda.device_array(n_in, dtype=np.int64)
    _row_sizes[blocks(n_in), THREADS](layer.indptr, removed, row_start, grown, sizes)
    new_indptr = exclusive_scan(sizes)
    nnz = layer.indices.shape[0]
    new_indices = cuda.device_array(nnz, dtype=np.int32)
    new_weights = cuda.device_array(nnz, dtype=np.float32)
    new_velocity = cuda.device_array(nnz, dtype=np.float32)
    limit = math.sqrt(6.0 / max(nnz / n_out, 1.0))  # as draw_weights' he_uniform
    _merge_rows[blocks(n_in), THREADS](
        layer.indptr, layer.indices, layer.weights, layer.velocity, removed, row_start,
        bucket_columns, grown, new_indptr, n_out, np.uint64(seed), REGROW_KINDS[regrow_init],
        limit, new_indices, new_weights, new_velocity)
    layer.indptr, layer.indices = new_indptr, new_indices
    layer.weights, layer.velocity = new_weights, new_velocity
    layer.t_indptr, layer.t_indices, layer.t_order = transposed(new_indptr, new_indices, n_out)
    return count
