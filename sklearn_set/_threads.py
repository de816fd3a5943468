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
"""

import os
from contextlib import contextmanager
from functools import cache

import numba

__all__ = ["thread_limit", "kernel_threads"]


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


@contextmanager
def kernel_threads():
    """Run the body with :func:`thread_limit` Numba threads and one BLAS thread, then
    restore both."""
    before = numba.get_num_threads()
    numba.set_num_threads(thread_limit())
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(before)
