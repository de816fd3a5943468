"""How many threads the kernels use: no more than the process was given.

Numba starts one thread per core. Inside a joblib worker (``GridSearchCV(n_jobs=2)``,
``cross_val_score(n_jobs=-1)``), joblib gives each process ``cores // n_jobs`` threads
by setting ``OMP_NUM_THREADS``, which Numba's default threading layer ignores; two
workers of two threads each on two cores would fight over them. The estimator runs
its kernels under :func:`kernel_threads`, which honours that limit.

BLAS (the products of full layers) runs on one thread meanwhile. Its threads wait for
work by spinning, and so do Numba's: with both pools on the cores, a fit of 3 full
layers of 500 on coil20 took 2.49 s per epoch on 2 idle cores, against 0.108 s with
BLAS on one thread (``benchmarks/bench_epoch.py --measure --epsilon inf --hidden
500,500,500``, without and with ``OPENBLAS_NUM_THREADS=1``).

Nor can the kernels run at all in a process forked (multiprocessing's ``fork`` start
method, Linux's default before Python 3.14) from one in which Numba's OpenMP layer had
already run threaded code under GNU OpenMP, which is not fork-safe: Numba kills such a
child at its first threaded kernel, and a ``multiprocessing.Pool`` then waits forever
for the lost task.
:func:`kernel_threads` raises instead, saying what to do.
"""

import os
from contextlib import contextmanager
from functools import cache

import numba

__all__ = ["thread_limit", "kernel_threads", "threading_layer"]

#: Whether this process was forked from one whose kernels had started GNU OpenMP.
_forked_from_gnu_openmp = False


def thread_limit():
    """Threads for the kernels: Numba's count, capped by ``OMP_NUM_THREADS`` if set."""
    threads = numba.get_num_threads()
    try:
        limit = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return threads
    return max(1, min(threads, limit))


@cache
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries (a dependency of
    scikit-learn), found once: finding them costs a millisecond, limiting them 7 us."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def threading_layer():
    """The name of Numba's threading layer, or None before any threaded code has run in
    this process: Numba chooses the layer then."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def _gnu_openmp_started():
    """Whether Numba's OpenMP layer has run threaded code in this process (or, in a
    freshly forked child, in its parent) under GNU OpenMP."""
    if threading_layer() != "omp":
        return False
    from numba.np.ufunc import omppool

    return getattr(omppool, "openmp_vendor", None) == "GNU"


def _note_fork():
    """In a freshly forked child: remember whether its parent had started GNU OpenMP."""
    global _forked_from_gnu_openmp
    _forked_from_gnu_openmp = _gnu_openmp_started()


if hasattr(os, "register_at_fork"):  # not on Windows, which cannot fork
    os.register_at_fork(after_in_child=_note_fork)


def check_fork_safety():
    """Raise where Numba would kill the process at its first threaded kernel."""
    if _forked_from_gnu_openmp:
        raise RuntimeError(
            "sklearn_set cannot run its kernels in this process: it was forked "
            "(multiprocessing's 'fork' start method, Linux's default before Python 3.14) "
            "from a process in which Numba's OpenMP layer had already run threaded code "
            "under GNU OpenMP, which is not fork-safe, so Numba would terminate it. "
            "Start workers with "
            "multiprocessing.get_context('spawn') or 'forkserver', or use joblib (its "
            "default backend starts fresh processes), or `pip install tbb`: Numba then "
            "takes its fork-safe TBB layer."
        )


@contextmanager
def kernel_threads():
    """Run the body with :func:`thread_limit` Numba threads and one BLAS thread, then
    restore both; raise first if the kernels cannot run in this process (see
    :func:`check_fork_safety`)."""
    check_fork_safety()
    before = numba.get_num_threads()
    numba.set_num_threads(thread_limit())
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
