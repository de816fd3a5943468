"""How many threads the kernels use: no more than the process was given.

Numba starts one thread per core. Inside a joblib worker (``GridSearchCV(n_jobs=2)``,
``cross_val_score(n_jobs=-1)``), joblib gives each process ``cores // n_jobs`` threads
by setting ``OMP_NUM_THREADS``, which Numba's default threading layer ignores; two
workers of two threads each on two cores would fight over them. The estimator runs
its kernels under :func:`kernel_threads`, which honours that limit.
"""

import os
from contextlib import contextmanager

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


@contextmanager
def kernel_threads():
    """Run the body with :func:`thread_limit` Numba threads, then restore the count."""
    before = numba.get_num_threads()
    numba.set_num_threads(thread_limit())
    try:
        yield
    finally:
        numba.set_num_threads(before)
