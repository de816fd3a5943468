"""A sparse layer's connectivity: which (input, output) pairs exist.

The topology is the one object that the kernels, the evolution rules, neuron pruning
and persistence all read. It is immutable; the rules that change connectivity build a
new one and say where each surviving connection came from, so that weights and
optimizer state can follow their connection.

Nothing here allocates ``n_in * n_out`` of anything: memory is O(nnz + neurons).
Positions are identified by their *key* ``i * n_out + j`` (int64), which orders
connections exactly as CSR does.
"""

import numpy as np

from ._jit import cached_njit

__all__ = ["Topology", "erdos_renyi_density", "erdos_renyi", "sample_free_positions"]

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


@cached_njit()
def _transpose(indptr, indices, t_indptr, t_indices, t_order):
    """Counting sort of the connections by output neuron, O(nnz + n_out)."""
    for p in range(indices.shape[0]):
        t_indptr[indices[p] + 1] += 1
    for j in range(t_indptr.shape[0] - 1):
        t_indptr[j + 1] += t_indptr[j]
    cursor = t_indptr[:-1].copy()
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            q = cursor[indices[p]]
            t_indices[q] = i
            t_order[q] = p
            cursor[indices[p]] = q + 1


@cached_njit()
def _merge_sorted(a, b, out):
    """Merge two sorted arrays with no common element into ``out``."""
    i = 0
    j = 0
    for k in range(out.shape[0]):
        if j == b.shape[0] or (i < a.shape[0] and a[i] < b[j]):
            out[k] = a[i]
            i += 1
        else:
            out[k] = b[j]
            j += 1


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


@cached_njit()
def _merge_rows(indptr, indices, keep, added_rows, added_columns, out_indptr, out_indices,
                out_source):
    """Row by row, merge the kept connections with the added ones into a new CSR.

    ``added_rows``/``added_columns`` are sorted by key; ``out_source`` gets the old
    position of each kept connection and -1 for added ones. One pass, no int64 keys of
    the whole layer.
    """
    q = 0
    a = 0
    for i in range(indptr.shape[0] - 1):
        p = indptr[i]
        end = indptr[i + 1]
        while True:
            while p < end and not keep[p]:
                p += 1
            take_added = a < added_rows.shape[0] and added_rows[a] == i
            if p < end and (not take_added or indices[p] < added_columns[a]):
                out_indices[q] = indices[p]
                out_source[q] = p
                p += 1
            elif take_added:
                out_indices[q] = added_columns[a]
                out_source[q] = -1
                a += 1
            else:
                break
            q += 1
        out_indptr[i + 1] = q


class Topology:
    """The connections of a layer with ``n_in`` inputs and ``n_out`` outputs.

    Held twice over the same connections: as CSR by input neuron (``indptr``,
    ``indices``), the canonical order in which weights are stored, and as CSR by
    output neuron (``t_indptr``, ``t_indices``, ``t_order``), which the forward pass
    needs. ``t_order[q]`` is the canonical position of the ``q``-th connection in the
    transposed order. At 4-byte indices the structure costs 12 bytes per connection.

    Build one with :meth:`from_keys` or :func:`erdos_renyi`.
    """

    __slots__ = ("n_in", "n_out", "indptr", "indices", "t_indptr", "t_indices", "t_order")

    def __init__(self, n_in, n_out, indptr, indices):
        self.n_in = int(n_in)
        self.n_out = int(n_out)
        self.indptr = indptr
        self.indices = indices
        nnz = indices.shape[0]
        self.t_indptr = np.zeros(self.n_out + 1, dtype=INDPTR_DTYPE)
        self.t_indices = np.empty(nnz, dtype=INDEX_DTYPE)
        self.t_order = np.empty(nnz, dtype=INDEX_DTYPE)
        _transpose(indptr, indices, self.t_indptr, self.t_indices, self.t_order)

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
        source : ndarray of int64, shape (new nnz,)
            Canonical position in ``self`` of each new connection, -1 where added.
        """
        added_rows, added_columns = np.divmod(added_keys, self.n_out)
        n_new = int(np.count_nonzero(keep)) + added_keys.shape[0]
        indptr = np.zeros(self.n_in + 1, dtype=INDPTR_DTYPE)
        indices = np.empty(n_new, dtype=INDEX_DTYPE)
        source = np.empty(n_new, dtype=np.int64)
        _merge_rows(self.indptr, self.indices, keep, added_rows, added_columns.astype(INDEX_DTYPE),
                    indptr, indices, source)
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
        source : ndarray of int64
            Canonical position in ``self`` of each surviving connection.
        """
        rows = self.rows()
        source = np.flatnonzero(keep_in[rows] & keep_out[self.indices])
        new_row = np.cumsum(keep_in) - 1
        new_col = np.cumsum(keep_out) - 1
        n_in, n_out = int(keep_in.sum()), int(keep_out.sum())
        # renumbering is monotone, so the keys stay sorted
        keys = new_row[rows[source]] * n_out + new_col[self.indices[source]]
        return Topology.from_keys(keys.astype(np.int64, copy=False), n_in, n_out), source

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


def erdos_renyi_density(n_in, n_out, epsilon):
    """Density of the Erdős–Rényi topology: ``epsilon * (n_in + n_out) / (n_in * n_out)``, capped at 1."""
    return min(1.0, epsilon * (n_in + n_out) / (n_in * n_out))


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
    density = erdos_renyi_density(n_in, n_out, epsilon)
    nnz = max(1, int(round(density * n_in * n_out)))
    empty = np.empty(0, dtype=np.int64)
    return Topology.from_keys(sample_free_positions(n_in, n_out, nnz, rng, empty), n_in, n_out)


def _sorted_unique(keys):
    """Sort ``keys`` in place and return its distinct values.

    Much faster than ``np.unique`` on large int64 arrays in recent numpy releases.
    """
    keys.sort()
    if keys.shape[0] == 0:
        return keys
    distinct = np.empty(keys.shape[0], dtype=bool)
    distinct[0] = True
    np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
    return keys[distinct]


def _isin_sorted(sorted_keys, candidates):
    """Boolean mask: which ``candidates`` occur in ``sorted_keys``."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(candidates.shape[0], dtype=bool)
    pos = np.searchsorted(sorted_keys, candidates)
    pos[pos == sorted_keys.shape[0]] = 0
    return sorted_keys[pos] == candidates


def sample_free_positions(n_in, n_out, count, rng, occupied):
    """Draw ``count`` distinct positions uniformly among those not in ``occupied``.

    Memory is O(count + len(occupied)): when free positions are plentiful, candidates
    are drawn with replacement and collisions rejected (each round accepts at least
    three quarters); when the layer is nearly full, ``n_in * n_out`` is itself
    O(count + len(occupied)) and the free positions are enumerated.

    Parameters
    ----------
    n_in, n_out : int
    count : int
    rng : numpy.random.Generator
    occupied : ndarray of int64
        Sorted keys that must not be drawn.

    Returns
    -------
    keys : ndarray of int64
        Sorted keys of the drawn positions.
    """
    total = n_in * n_out
    n_free = total - occupied.shape[0]
    if count > n_free:
        raise ValueError(
            f"Cannot place {count} connections: only {n_free} of the layer's "
            f"{n_in} x {n_out} positions are free."
        )
    if count == 0:
        return np.empty(0, dtype=np.int64)
    if total <= 4 * (count + occupied.shape[0]):
        free = np.ones(total, dtype=bool)
        free[occupied] = False
        chosen = rng.choice(np.flatnonzero(free), size=count, replace=False)
        chosen.sort()
        return chosen.astype(np.int64, copy=False)

    chosen = np.empty(0, dtype=np.int64)
    while chosen.shape[0] < count:
        need = count - chosen.shape[0]
        draw = _sorted_unique(rng.integers(0, total, size=need + need // 8 + 16, dtype=np.int64))
        draw = draw[~_isin_sorted(occupied, draw) & ~_isin_sorted(chosen, draw)]
        if draw.shape[0] > need:
            # the same draw as sorting rng.choice(draw, need, replace=False), without a sort
            picked = np.zeros(draw.shape[0], dtype=bool)
            picked[rng.choice(draw.shape[0], size=need, replace=False)] = True
            draw = draw[picked]
        chosen = _merge_disjoint(chosen, draw)
    return chosen


def _merge_disjoint(a, b):
    """Sorted union of two sorted arrays with no common element, in O(len(a) + len(b))."""
    if a.shape[0] == 0:
        return b
    merged = np.empty(a.shape[0] + b.shape[0], dtype=np.int64)
    _merge_sorted(a, b, merged)
    return merged
