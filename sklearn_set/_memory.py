"""How much memory a fit will need, checked before anything large is allocated.

A fit that cannot fit in memory should stop at once with numbers, not hours later at
the hands of the operating system's out-of-memory killer.
"""

import os

from ._topology import erdos_renyi_nnz

__all__ = ["BYTES_PER_CONNECTION", "estimate_fit_bytes", "available_bytes", "check_fit_memory"]

#: Resident bytes per connection between epochs, in float32: weight and momentum
#: (4 + 4), the column index (4), and the transposed view's row index and order (4 + 4).
BYTES_PER_CONNECTION = 20

#: Extra bytes per connection of the largest layer while evolution rebuilds it, a
#: bound: the keep mask (1); the regrown positions' int64 keys, column draws and new
#: weights (8 + 4 + 4 per regrown connection, at most all of them); the new column
#: indices and source map (4 + 4), less the old transposed view (8) released before
#: them; the bucket offsets of the new transposed view (2). Each new value array is
#: allocated after an old one goes. Measured: 7 at zeta = 0.3 (tests/test_memory.py).
_EVOLUTION_BYTES_PER_CONNECTION = 24

#: The interpreter with numpy, scipy, scikit-learn and the compiled kernels.
_BASELINE_BYTES = 300 * 2**20


def estimate_fit_bytes(layer_sizes, epsilon, batch_size, itemsize=4, clipping=False):
    """Peak resident bytes of a fit, from the layer sizes alone (no allocation).

    Connections, at :data:`BYTES_PER_CONNECTION` each, plus the transient cost of
    evolving the largest layer, plus per-batch activations (inputs, local gradients
    and backward deltas of every layer), plus a fixed baseline. With ``clipping``
    (``max_grad_norm``), also every layer's gradient, ``itemsize`` per connection,
    which clipping keeps until it knows the norm.
    """
    connections = [
        erdos_renyi_nnz(n_in, n_out, epsilon)
        for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True)
    ]
    activations = 3 * batch_size * sum(layer_sizes) * itemsize
    return int(
        BYTES_PER_CONNECTION * sum(connections)
        + _EVOLUTION_BYTES_PER_CONNECTION * max(connections)
        + activations
        + (itemsize * sum(connections) if clipping else 0)
        + _BASELINE_BYTES
    )


def available_bytes():
    """Memory the process may still use: ``MemAvailable``, else free pages; None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fit_memory(layer_sizes, epsilon, batch_size, itemsize=4, clipping=False):
    """Raise MemoryError, with the estimate and the limit, when a fit cannot fit."""
    needed = estimate_fit_bytes(layer_sizes, epsilon, batch_size, itemsize, clipping)
    limit = available_bytes()
    if limit is not None and needed > limit:
        raise MemoryError(
            f"This fit needs about {needed / 2**30:.1f} GiB (layers {list(layer_sizes)}, "
            f"epsilon={epsilon}, batch_size={batch_size}, {BYTES_PER_CONNECTION} bytes per "
            f"connection plus activations), but only {limit / 2**30:.1f} GiB of memory "
            "is available. Reduce hidden_layer_sizes, epsilon or batch_size."
        )
    return needed
