"""``njit`` with Numba's on-disk cache, and no crash when that cache is unusable.

Numba raises at import time when no cache directory is writable (a read-only install
with an unwritable ``NUMBA_CACHE_DIR``), and at the first call when a cache file is
corrupt or was written by an incompatible build. Either way the right answer is to
compile in memory: it costs seconds of start-up, never a failed fit. We warn once per
process and, for a corrupt index, remove it so that the next save heals the cache.
"""

import os
import warnings

from numba import njit

__all__ = ["cached_njit"]

_warned = False


def _warn_once(message):
    global _warned
    if not _warned:
        warnings.warn(f"{message}; compiling without the on-disk cache.", RuntimeWarning,
                      stacklevel=3)
        _warned = True


def _tolerate_corrupt_cache(dispatcher):
    """Turn cache read and write errors of ``dispatcher`` into a warning and a recompile."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "load_overload"):
        return dispatcher
    load, save = cache.load_overload, cache.save_overload

    def load_overload(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception as error:  # unpickling garbage can raise almost anything
            index = getattr(getattr(cache, "_cache_file", None), "_index_path", None)
            if index:
                try:
                    os.remove(index)
                except OSError:
                    pass
            _warn_once(f"Numba cache of {dispatcher.py_func.__qualname__} unreadable ({error!r})")
            return None

    def save_overload(sig, data):
        try:
            save(sig, data)
        except Exception as error:
            _warn_once(f"Numba cache of {dispatcher.py_func.__qualname__} unwritable ({error!r})")

    cache.load_overload, cache.save_overload = load_overload, save_overload
    return dispatcher


def cached_njit(**options):
    """Decorator: ``numba.njit(cache=True, **options)`` that falls back to no cache.

    Division follows numpy's rules (``error_model="numpy"``) unless asked otherwise:
    no kernel divides by a number that can be zero, and Python's rule would compile
    an exception path into every division, which a first fit waits for.
    """
    options.setdefault("error_model", "numpy")

    def decorate(function):
        try:
            return _tolerate_corrupt_cache(njit(cache=True, **options)(function))
        except RuntimeError as error:
            if "no locator available" not in str(error):
                raise
            _warn_once(f"No writable Numba cache directory for {function.__qualname__}")
            return njit(cache=False, **options)(function)

    return decorate
