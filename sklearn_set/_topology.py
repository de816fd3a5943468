"""A sparse layer's connectivity: which (input, output) pairs exist.

The topology is the one object that the kernels, the evolution rules, neuron pruning
and persistence all read. It is immutable; the rules that change connectivity build a
new one and say where each surviving connection came from, so that weights and
optimizer state can follow their connection.

Nothing here allocates ``n_in * n_out`` of anything: memory is O(nnz + neurons).
Positions are identified by their *key* ``i * n_out + j`` (int64), which orders
connections exactly as CSR does.
"""

import numba
import numpy as np
from numba import prange

from ._jit import PARALLEL_MIN_WORK, cached_njit, sized_njit
from ._kernels import _ONE

__all__ = ["Topology", "erdos_renyi_density", "erdos_renyi_nnz", "erdos_renyi",
           "sample_free_positions"]

INDEX_DTYPE = np.int32  # column indices and the transposed order
INDPTR_DTYPE = np.int64
_MAX_NNZ = np.iinfo(INDEX_DTYPE).max


@cached_njit()
def _csr_from_keys(keys, n_out, indptr, indices):
    """Fill CSR arrays from sorted unique keys (one pass, no sorting)."""
    for p in range(keys.shape[0]):
        row = keys[p] // n_out
        indices[p] = keys[p] - row * n_out
        indptr[row + 1] += 1
    for i in range(indptr.shape[0] - 1):
        indptr[i + 1] += indptr[i]


#: Output neurons per bucket when :func:`_transpose` partitions first.
_BUCKET_BITS = 12
#: Up to this many output neurons, :func:`_transpose` scatters directly.
_DIRECT_MAX_OUT = 1 << 16


def _transpose(indptr, indices, n_chunks, bucket_bits, t_indptr, t_indices, t_order, offsets):
    """Stable counting sort of the connections by output neuron, in parallel.

    The rows are cut into ``n_chunks`` contiguous chunks, one per thread. Each chunk
    counts its connections per bucket of ``2 ** bucket_bits`` consecutive output
    neurons, a prefix sum over (bucket, chunk) gives every chunk its own write
    cursors, and the chunks scatter in parallel. With ``bucket_bits = 0`` a bucket is
    one output neuron and the scatter is the whole sort. Past some 10^5 output
    neurons, though, its writes miss the cache on almost every connection; with
    ``bucket_bits > 0`` the scatter has few, cached write streams, and each bucket is
    then sorted by output neuron within the cache, in parallel over buckets. At
    1M x 1M (40M connections) that halved the time.

    Both sorts are stable, so within an output neuron the connections stay in row
    order: the result is the sequential one whatever ``n_chunks`` and ``bucket_bits``
    (at most 16). ``offsets`` is uint16 scratch of length nnz (0 when ``bucket_bits``
    is 0), allocated by the caller: numpy asks for huge pages, Numba does not.
    """
    n_in = indptr.shape[0] - 1
    n_out = t_indptr.shape[0] - 1
    n_buckets = ((n_out - 1) >> bucket_bits) + 1
    bounds = np.searchsorted(indptr, np.linspace(0, indices.shape[0], n_chunks + 1))
    bounds[0], bounds[-1] = 0, n_in
    starts = t_indptr if bucket_bits == 0 else np.empty(n_buckets + 1, dtype=np.int64)
    cursors = np.zeros((n_chunks, n_buckets), dtype=np.int64)
    _scatter_by_bucket(indptr, indices, bounds, bucket_bits, cursors, starts, t_indices,
                       t_order, offsets, parallel=n_chunks > 1)
    if bucket_bits:  # compiled only for layers this wide
        _sort_buckets(starts, bucket_bits, np.linspace(0, n_buckets, n_chunks + 1).astype(np.int64),
                      int(np.max(np.diff(starts))), offsets, t_indptr, t_indices, t_order)
        t_indptr[n_out] = indices.shape[0]


@sized_njit()
def _scatter_by_bucket(indptr, indices, bounds, bucket_bits, cursors, starts, t_indices,
                       t_order, offsets):
    """:func:`_transpose`'s counting sort by bucket: rows ``[bounds[c], bounds[c + 1])``
    are chunk ``c``; writes each bucket's start into ``starts``. ``cursors``, of shape
    ``(n_chunks, n_buckets)``, comes zeroed from the caller."""
    n_chunks = bounds.shape[0] - 1
    n_buckets = starts.shape[0] - 1
    # unsigned positions and indices (see _kernels._FOUR): both passes took twice as
    # long with signed ones at 5966 x 500
    shift = np.uint64(bucket_bits)
    for c in prange(n_chunks):
        for p in range(np.uint64(indptr[bounds[c]]), np.uint64(indptr[bounds[c + 1]])):
            cursors[c, np.uint64(indices[p]) >> shift] += 1
    total = 0
    for k in range(n_buckets):
        starts[k] = total
        for c in range(n_chunks):
            count = cursors[c, k]
            cursors[c, k] = total
            total += count
    starts[n_buckets] = total
    low_bits = (1 << bucket_bits) - 1
    for c in prange(n_chunks):
        cursor = cursors[c]
        for i in range(bounds[c], bounds[c + 1]):
            for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
                k = np.uint64(indices[p]) >> shift
                q = np.uint64(cursor[k])
                t_indices[q] = i
                t_order[q] = p
                if bucket_bits:  # the output neuron within its bucket
                    offsets[q] = indices[p] & low_bits
                cursor[k] = q + _ONE


@cached_njit(parallel=True)
def _sort_buckets(starts, bucket_bits, bucket_bounds, largest, offsets, t_indptr, t_indices,
                  t_order):
    """:func:`_transpose`'s second step: each chunk sorts its run of buckets,
    ``[bucket_bounds[c], bucket_bounds[c + 1])``, through one scratch buffer."""
    n_out = t_indptr.shape[0] - 1
    for c in prange(bucket_bounds.shape[0] - 1):
        rows = np.empty(largest, dtype=t_indices.dtype)
        order = np.empty(largest, dtype=t_order.dtype)
        for k in range(bucket_bounds[c], bucket_bounds[c + 1]):
            _sort_bucket(starts[k], starts[k + 1], k << bucket_bits,
                         min(1 << bucket_bits, n_out - (k << bucket_bits)), offsets,
                         t_indptr, t_indices, t_order, rows, order)


@cached_njit(inline="always")
def _sort_bucket(start, stop, first, width, offsets, t_indptr, t_indices, t_order, rows,
                 order):
    """Counting-sort ``[start, stop)`` of the transposed arrays by ``offsets``, stably,
    through the scratch ``rows`` and ``order``, and write the ``width`` output neurons'
    starts from ``first`` into ``t_indptr``."""
    counts = np.zeros(width + 1, dtype=np.int64)
    for q in range(start, stop):
        counts[offsets[q] + 1] += 1
    for j in range(width):
        counts[j + 1] += counts[j]
        t_indptr[first + j] = start + counts[j]
    for q in range(start, stop):
        r = counts[offsets[q]]
        rows[r] = t_indices[q]
        order[r] = t_order[q]
        counts[offsets[q]] = r + 1
    t_indices[start:stop] = rows[:stop - start]
    t_order[start:stop] = order[:stop - start]


def _rows(indptr):
    """Input neuron of each connection of a CSR, in canonical order."""
    return np.repeat(np.arange(indptr.shape[0] - 1, dtype=INDPTR_DTYPE), np.diff(indptr))


def _check_csr(n_in, n_out, indptr, indices):
    """Raise ValueError unless the arrays are a valid canonical CSR of shape (n_in, n_out).

    Canonical means: int64 ``indptr`` from 0 to nnz, non-decreasing; int32 column
    indices in range and strictly increasing within each row.
    """
    if not (isinstance(n_in, (int, np.integer)) and isinstance(n_out, (int, np.integer))
            and n_in > 0 and n_out > 0):
        raise ValueError(f"Topology shape must be positive integers, got ({n_in!r}, {n_out!r}).")
    if not (isinstance(indptr, np.ndarray) and indptr.dtype == INDPTR_DTYPE
            and indptr.shape == (n_in + 1,)):
        raise ValueError(f"Topology indptr must be {INDPTR_DTYPE.__name__} of length {n_in + 1}.")
    if not (isinstance(indices, np.ndarray) and indices.dtype == INDEX_DTYPE and indices.ndim == 1):
        raise ValueError(f"Topology indices must be a 1-d {INDEX_DTYPE.__name__} array.")
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or np.any(np.diff(indptr) < 0):
        raise ValueError("Topology indptr must rise from 0 to the number of connections.")
    if indices.size and (indices.min() < 0 or indices.max() >= n_out):
        raise ValueError(f"Topology indices must lie in [0, {n_out}).")
    if np.any(np.diff(_rows(indptr) * n_out + indices) <= 0):
        raise ValueError("Topology indices must be strictly increasing within each row.")


@sized_njit()
def _merge_rows(indptr, indices, keep, added_keys, added_indptr, n_out, out_indptr,
                out_indices, out_source):
    """Row by row and in parallel, merge the kept connections with the added ones.

    ``added_keys`` are sorted, and row ``i``'s are ``added_keys[added_indptr[i]:
    added_indptr[i + 1]]``. ``out_source`` gets the old position of each kept
    connection and -1 for added ones. Two passes (count, then fill), no int64 keys of
    the whole layer.
    """
    n_in = indptr.shape[0] - 1
    # unsigned positions, as in the training kernels (see _kernels._FOUR): a signed
    # index costs a wraparound test per access, and the fill took 1.25 times as long
    # with them at 5966 x 500
    for i in prange(n_in):
        kept = 0
        for p in range(np.uint64(indptr[i]), np.uint64(indptr[i + 1])):
            kept += keep[p]
        out_indptr[i + 1] = kept + added_indptr[i + 1] - added_indptr[i]
    for i in range(n_in):
        out_indptr[i + 1] += out_indptr[i]
    for i in prange(n_in):
        p, end = np.uint64(indptr[i]), np.uint64(indptr[i + 1])
        a, added_end = np.uint64(added_indptr[i]), np.uint64(added_indptr[i + 1])
        first_key = i * n_out
        for q in range(np.uint64(out_indptr[i]), np.uint64(out_indptr[i + 1])):
            while p < end and not keep[p]:
                p += _ONE
            if a == added_end or (p < end and indices[p] < added_keys[a] - first_key):
                out_indices[q] = indices[p]
                out_source[q] = p
                p += _ONE
            else:
                out_indices[q] = added_keys[a] - first_key
                out_source[q] = -1
                a += _ONE


class Topology:
    """The connections of a layer with ``n_in`` inputs and ``n_out`` outputs.

    Held twice over the same connections: as CSR by input neuron (``indptr``,
    ``indices``), the canonical order in which weights are stored, and as CSR by
    output neuron (``t_indptr``, ``t_indices``, ``t_order``), which the forward pass
    needs. ``t_order[q]`` is the canonical position of the ``q``-th connection in the
    transposed order. At 4-byte indices the structure costs 12 bytes per connection.

    The connections never change once built: rules that change connectivity build a
    new topology. The transposed view is a cache of the object, built on first use,
    so that a rewired layer can let go of its old view before paying for the new one
    (see :meth:`SparseLayer._move`). Hence each layer holds a topology object of its
    own, and a copied layer gets another object over the same arrays
    (:meth:`share`): dropping one object's cache never takes the view from another.

    Build one with :meth:`from_keys` or :func:`erdos_renyi`.
    """

    __slots__ = ("n_in", "n_out", "indptr", "indices", "_transposed")

    def __init__(self, n_in, n_out, indptr, indices):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.indptr = indptr
        self.indices = indices
        self._transposed = None

    def transposed(self):
        """``(t_indptr, t_indices, t_order)``, built once, O(nnz + n_out)."""
        if self._transposed is None:
            nnz = self.indices.shape[0]
            t_indptr = np.zeros(self.n_out + 1, dtype=INDPTR_DTYPE)
            t_indices = np.empty(nnz, dtype=INDEX_DTYPE)
            t_order = np.empty(nnz, dtype=INDEX_DTYPE)
            n_chunks = max(1, min(numba.get_num_threads(), self.n_in))
            if nnz < PARALLEL_MIN_WORK:
                n_chunks = 1
            bucket_bits = 0 if self.n_out <= _DIRECT_MAX_OUT else _BUCKET_BITS
            offsets = np.empty(nnz if bucket_bits else 0, dtype=np.uint16)
            _transpose(self.indptr, self.indices, n_chunks, bucket_bits, t_indptr, t_indices,
                       t_order, offsets)
            self._transposed = (t_indptr, t_indices, t_order)
        return self._transposed

    def release_transposed(self):
        """Let go of this object's transposed view; it is rebuilt if read again."""
        self._transposed = None

    def share(self):
        """Another topology over the same connections, with a cache of its own.

        Costs no copy: the index arrays are never written, and the cached transposed
        view, if built, is shared until either object releases it.
        """
        other = Topology(self.n_in, self.n_out, self.indptr, self.indices)
        other._transposed = self._transposed
        return other

    @property
    def t_indptr(self):
        return self.transposed()[0]

    @property
    def t_indices(self):
        return self.transposed()[1]

    @property
    def t_order(self):
        return self.transposed()[2]

    @classmethod
    def from_keys(cls, keys, n_in, n_out):
        """Build from sorted, unique int64 keys ``i * n_out + j``."""
        if keys.shape[0] > _MAX_NNZ:
            raise ValueError(
                f"A layer may hold at most {_MAX_NNZ} connections; got {keys.shape[0]}."
            )
        indptr = np.zeros(n_in + 1, dtype=INDPTR_DTYPE)
        indices = np.empty(keys.shape[0], dtype=INDEX_DTYPE)
        _csr_from_keys(keys, n_out, indptr, indices)
        return cls(n_in, n_out, indptr, indices)

    @classmethod
    def with_transposed(cls, n_in, n_out, indptr, indices, transposed):
        """A topology whose transposed view ``(t_indptr, t_indices, t_order)`` was
        already built elsewhere (on a GPU, see :mod:`._device`), so it is not rebuilt."""
        topology = cls(n_in, n_out, indptr, indices)
        topology._transposed = tuple(transposed)
        return topology

    @classmethod
    def empty(cls, n_in, n_out):
        """A layer of shape ``(n_in, n_out)`` with no connections."""
        return cls(n_in, n_out, np.zeros(n_in + 1, dtype=INDPTR_DTYPE),
                   np.empty(0, dtype=INDEX_DTYPE))

    @property
    def shape(self):
        return (self.n_in, self.n_out)

    @property
    def nnz(self):
        return int(self.indices.shape[0])

    @property
    def density(self):
        return self.nnz / (self.n_in * self.n_out)

    def rows(self):
        """Input neuron of each connection, in canonical order."""
        return _rows(self.indptr)

    def keys(self):
        """Sorted int64 keys ``i * n_out + j`` of all connections."""
        return self.rows() * self.n_out + self.indices

    def rewire(self, keep, added_keys):
        """Drop the connections where ``keep`` is False and add ``added_keys``.

        Parameters
        ----------
        keep : ndarray of bool, shape (nnz,)
        added_keys : ndarray of int64
            Sorted, unique keys of positions that are not kept connections.

        Returns
        -------
        topology : Topology
        source : ndarray of int32, shape (new nnz,)
            Canonical position in ``self`` of each new connection, -1 where added.
        """
        n_new = int(np.count_nonzero(keep)) + added_keys.shape[0]
        row_starts = np.arange(self.n_in + 1, dtype=np.int64) * self.n_out
        added_indptr = np.searchsorted(added_keys, row_starts)
        indptr = np.zeros(self.n_in + 1, dtype=INDPTR_DTYPE)
        indices = np.empty(n_new, dtype=INDEX_DTYPE)
        source = np.empty(n_new, dtype=INDEX_DTYPE)
        _merge_rows(self.indptr, self.indices, keep, added_keys, added_indptr, self.n_out,
                    indptr, indices, source, parallel=n_new >= PARALLEL_MIN_WORK)
        return Topology(self.n_in, self.n_out, indptr, indices), source

    def drop_neurons(self, keep_in, keep_out):
        """Remove input and output neurons, with every connection that touches them.

        Parameters
        ----------
        keep_in : ndarray of bool, shape (n_in,)
        keep_out : ndarray of bool, shape (n_out,)

        Returns
        -------
        topology : Topology
            Of shape ``(keep_in.sum(), keep_out.sum())``; survivors are renumbered in
            their old order.
        source : ndarray of int32
            Canonical position in ``self`` of each surviving connection.
        """
        rows = self.rows()
        source = np.flatnonzero(keep_in[rows] & keep_out[self.indices])
        new_row = np.cumsum(keep_in) - 1
        new_col = np.cumsum(keep_out) - 1
        n_in, n_out = int(keep_in.sum()), int(keep_out.sum())
        # renumbering is monotone, so the keys stay sorted
        keys = new_row[rows[source]] * n_out + new_col[self.indices[source]]
        return (Topology.from_keys(keys.astype(np.int64, copy=False), n_in, n_out),
                source.astype(INDEX_DTYPE))

    def __getstate__(self):
        # The transposed view is derived: persist only the canonical CSR. A dict, so
        # that skops can store it too.
        return {"n_in": self.n_in, "n_out": self.n_out, "indptr": self.indptr,
                "indices": self.indices}

    def __setstate__(self, state):
        # A file may be corrupt or hostile: check it before any kernel reads it.
        _check_csr(state["n_in"], state["n_out"], state["indptr"], state["indices"])
        self.__init__(**state)

    def __repr__(self):
        return f"Topology(n_in={self.n_in}, n_out={self.n_out}, nnz={self.nnz})"


def erdos_renyi_density(n_in, n_out, epsilon, capped=True):
    """Density of the Erdős–Rényi topology: ``epsilon * (n_in + n_out) / (n_in * n_out)``.

    Capped at 1 unless ``capped`` is False (to tell how far ``epsilon`` overshoots).
    """
    density = epsilon * (n_in + n_out) / (n_in * n_out)
    return min(1.0, density) if capped else density


def erdos_renyi_nnz(n_in, n_out, epsilon):
    """The connections of an Erdős–Rényi layer: ``round(density * n_in * n_out)``, at
    least 1."""
    return max(1, int(round(erdos_renyi_density(n_in, n_out, epsilon) * n_in * n_out)))


def erdos_renyi(n_in, n_out, epsilon, rng):
    """Random topology with ``round(density * n_in * n_out)`` connections (at least 1).

    Parameters
    ----------
    n_in, n_out : int
    epsilon : float
        The Erdős–Rényi sparsity parameter, > 0.
    rng : numpy.random.Generator

    Returns
    -------
    Topology
    """
    nnz = erdos_renyi_nnz(n_in, n_out, epsilon)
    return Topology.from_keys(sample_free_positions(Topology.empty(n_in, n_out), nnz, rng),
                              n_in, n_out)


@cached_njit()
def _sort_short(values, start, end):
    """Sort ``values[start:end]`` in place: by insertion when short, as a row's draws
    are (a dozen on average), where it beats a general sort's set-up cost; by
    heapsort otherwise (hand-written: Numba's own sort takes seconds to compile).

    Called, not inlined: the serial and the threaded sampler then share one compiled
    sort, and the threaded one compiles in 2.2 s instead of 3.6 s on 2 cores, with no
    measurable cost per call (one per row)."""
    if end - start > 32:
        _heapsort(values, start, end)
        return
    first = np.uint64(start)  # unsigned: see _kernels._FOUR
    for s in range(first + _ONE, np.uint64(end)):
        value = values[s]
        k = s
        while k > first and values[k - _ONE] > value:
            values[k] = values[k - _ONE]
            k -= _ONE
        values[k] = value


@cached_njit(inline="always")
def _sift_down(values, start, root, end):
    """Restore the max-heap below ``root`` of the heap ``values[start:end]``."""
    while True:
        child = 2 * (root - start) + 1 + start
        if child >= end:
            return
        if child + 1 < end and values[child + 1] > values[child]:
            child += 1
        if values[root] >= values[child]:
            return
        values[root], values[child] = values[child], values[root]
        root = child


@cached_njit(inline="always")
def _heapsort(values, start, end):
    """Sort ``values[start:end]`` in place, in O(n log n) with no extra memory."""
    for root in range(start + (end - start) // 2 - 1, start - 1, -1):
        _sift_down(values, start, root, end)
    for last in range(end - 1, start, -1):
        values[start], values[last] = values[last], values[start]
        _sift_down(values, start, start, last)


@cached_njit(inline="always")
def _lower_bound(sorted_values, value):
    """The first position in ``sorted_values`` whose value is not below ``value``."""
    low, high = 0, sorted_values.shape[0]
    while low < high:
        middle = (low + high) // 2
        if sorted_values[middle] < value:
            low = middle + 1
        else:
            high = middle
    return low


@sized_njit()
def _accept_free(indptr, indices, keep, draw_indptr, columns, n_out, n_accepted, out_keys):
    """Keys of the distinct drawn positions that hold no kept connection; returns how many.

    Row ``i`` drew ``columns[draw_indptr[i]:draw_indptr[i + 1]]``. In parallel over
    rows, each row's draws are sorted and merged against the row's connections, and
    the accepted ones compacted in place; a second pass writes their keys. The result
    comes out sorted by key with no global sort and no key of an existing connection.
    ``n_accepted`` is scratch of length ``n_in + 1``.
    """
    n_in = indptr.shape[0] - 1
    n_accepted[0] = 0
    for i in prange(n_in):  # unsigned positions: see _kernels._FOUR
        # the sort is a call: only where there is something to sort, which most rows of
        # a regrowth's later rounds lack (the calls took 100 us a round at 5966 rows)
        if draw_indptr[i + 1] - draw_indptr[i] > 1:
            _sort_short(columns, draw_indptr[i], draw_indptr[i + 1])
        start, end = np.uint64(draw_indptr[i]), np.uint64(draw_indptr[i + 1])
        p, stop, write, previous = np.uint64(indptr[i]), np.uint64(indptr[i + 1]), start, -1
        for s in range(start, end):
            column = columns[s]
            if column == previous:
                continue
            previous = column
            while p < stop and indices[p] < column:
                p += _ONE
            if p < stop and indices[p] == column and keep[p]:
                continue
            columns[write] = column
            write += _ONE
        n_accepted[i + 1] = write - start
    for i in range(n_in):
        n_accepted[i + 1] += n_accepted[i]
    for i in prange(n_in):
        first_key = i * n_out
        first_out, first_draw = np.uint64(n_accepted[i]), np.uint64(draw_indptr[i])
        for s in range(np.uint64(n_accepted[i + 1] - n_accepted[i])):
            out_keys[first_out + s] = first_key + columns[first_draw + s]
    return n_accepted[n_in]


def sample_free_positions(occupied, count, rng, keep=None):
    """Draw ``count`` distinct positions uniformly among those free in ``occupied``.

    Free means holding no connection of ``occupied`` for which ``keep`` is True.
    Memory is O(count + n_in) beyond the topology: when free positions are plentiful,
    each round draws as many positions as are still missing, with replacement, and
    keeps the distinct free ones (at least three quarters). Every round's accepted
    set is uniform given its size, so their union is a uniform ``count``-subset of
    the free positions. When the layer is nearly full, ``n_in * n_out`` is itself
    O(count + nnz) and the free positions are enumerated.

    Parameters
    ----------
    occupied : Topology
        Gives the shape and the connections that may be occupied.
    count : int
    rng : numpy.random.Generator
    keep : ndarray of bool, shape (occupied.nnz,), optional
        Which connections of ``occupied`` count as taken; all of them by default.

    Returns
    -------
    keys : ndarray of int64
        Sorted keys ``i * n_out + j`` of the drawn positions.
    """
    n_in, n_out = occupied.shape
    keep = np.ones(occupied.nnz, dtype=bool) if keep is None else keep
    n_taken = int(np.count_nonzero(keep))
    total = n_in * n_out
    if count > total - n_taken:
        raise ValueError(
            f"Cannot place {count} connections: only {total - n_taken} of the layer's "
            f"{n_in} x {n_out} positions are free."
        )
    if count == 0:
        return np.empty(0, dtype=np.int64)
    if total <= 4 * (count + n_taken):
        free = np.ones(total, dtype=bool)
        free[occupied.keys()[keep]] = False
        chosen = rng.choice(np.flatnonzero(free), size=count, replace=False)
        chosen.sort()
        return chosen.astype(np.int64, copy=False)

    # each round's accepted keys are written straight after those chosen so far
    chosen = np.empty(count, dtype=np.int64)
    n_chosen = 0
    while n_chosen < count:
        need = count - n_chosen
        draw_indptr = np.zeros(n_in + 1, dtype=np.int64)
        np.cumsum(_uniform_counts(rng, n_in, need), out=draw_indptr[1:])
        columns = rng.integers(0, n_out, size=need, dtype=INDEX_DTYPE)
        n_accepted = _accept_free(occupied.indptr, occupied.indices, keep, draw_indptr,
                                  columns, n_out, np.empty(n_in + 1, dtype=np.int64),
                                  chosen[n_chosen:],
                                  parallel=max(need, occupied.nnz) >= PARALLEL_MIN_WORK)
        n_chosen = _merge_tail(chosen, n_chosen, n_accepted)
    return chosen


def _uniform_counts(rng, n_bins, n_draws, chunk=1 << 20):
    """How many of ``n_draws`` uniform draws from ``range(n_bins)`` land in each bin.

    Drawn ``chunk`` at a time, O(n_bins + chunk) memory, and the same stream as
    ``rng.integers(0, n_bins, size=n_draws)``.
    """
    counts = np.zeros(n_bins, dtype=np.int64)
    for start in range(0, n_draws, chunk):
        counts += np.bincount(rng.integers(0, n_bins, size=min(chunk, n_draws - start)),
                              minlength=n_bins)
    return counts


def _merge_tail(keys, n_old, n_new):
    """Merge the sorted run ``keys[n_old:n_old + n_new]`` into the sorted run
    ``keys[:n_old]``, in place, dropping the keys the first run already holds; returns
    the merged length.

    After the first round of :func:`sample_free_positions` the new run is small, so
    copying it costs little; the merge runs backwards, into the room it leaves.
    """
    if n_old == 0:
        return n_new
    return _merge_into(keys, n_old, keys[n_old:n_old + n_new].copy())


@cached_njit()
def _merge_into(keys, n_old, new):
    """:func:`_merge_tail` of the sorted keys ``new``, a copy of the run, which is
    overwritten."""
    old = keys[:n_old]
    n_distinct = 0
    for s in range(new.shape[0]):
        at = _lower_bound(old, new[s])
        if at == n_old or old[at] != new[s]:
            new[n_distinct] = new[s]
            n_distinct += 1
    i, k = n_old - 1, n_old + n_distinct - 1
    for j in range(n_distinct - 1, -1, -1):
        while i >= 0 and keys[i] > new[j]:
            keys[k] = keys[i]
            i -= 1
            k -= 1
        keys[k] = new[j]
        k -= 1
    return n_old + n_distinct
