import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sklearn_set._topology import Topology


def random_topology(rng, n_in, n_out, nnz):
    """A uniformly random topology with exactly ``nnz`` connections."""
    keys = np.sort(rng.choice(n_in * n_out, size=nnz, replace=False)).astype(np.int64)
    return Topology.from_keys(keys, n_in, n_out)


def _empty_rows_and_columns(rng):
    # rows 0 and 3 and columns 1 and 4 have no connection
    keys = np.array([0 * 6 + 0, 1 * 6 + 2, 1 * 6 + 5, 2 * 6 + 3, 4 * 6 + 0, 4 * 6 + 5])
    return Topology.from_keys(keys.astype(np.int64), 5, 6)


def edge_case_topologies(random_shape, dense_shape):
    """Topologies the kernels must get right, by name: a random one and a fully
    connected one of the given ``(n_in, n_out, nnz)``, one with empty rows and empty
    columns, and one with a single connection."""
    return {
        "random": lambda rng: random_topology(rng, *random_shape),
        "dense": lambda rng: random_topology(rng, *dense_shape),
        "empty_rows_and_columns": _empty_rows_and_columns,
        "single_connection": lambda rng: Topology.from_keys(np.array([17], dtype=np.int64), 4, 9),
    }


@pytest.fixture
def rng():
    return np.random.default_rng(0)


_MEMORY_PROBE = """
import numpy as np

def status_mb(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024

{body}

work(**{small})  # compiles (or loads) every kernel, so the compiler is not counted
baseline = status_mb("VmRSS")
result = work(**{large})
print(result, status_mb("VmHWM") - baseline)
"""


def peak_memory_of(body, small, large):
    """Peak resident memory (MiB) that ``work(**large)`` adds, in a fresh process.

    ``body`` defines ``work(**kwargs)``, which returns a short result to print. It runs
    once at ``small`` size first, so that Numba's compiler, imports and one-off
    buffers are in the baseline; what is left is the memory of the work itself. The
    peak is an upper bound: it never undercounts when the compiler's peak was higher.
    It is the process's own high-water mark (``VmHWM``): ``getrusage``'s ``ru_maxrss``
    survives ``exec`` and would report the test runner's size instead.
    glibc keeps freed blocks under 32 MiB in its heap; forcing large allocations to be
    mapped (``MALLOC_MMAP_THRESHOLD_``) makes the peak count live arrays only, as it
    does anyway for the large arrays of real layers.

    Returns
    -------
    result : str
    peak_mb : float
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/status")
    script = _MEMORY_PROBE.format(body=textwrap.dedent(body), small=small, large=large)
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 20))
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, env=env).stdout.split()
    return " ".join(output[:-1]), float(output[-1])
