"""``njit`` with Numba's on-disk cache, and no crash when that cache is unusable.

Numba raises at import time when no cache directory is writable (a read-only install
with an unwritable ``NUMBA_CACHE_DIR``), and at the first call when a cache file is
corrupt or was written by an incompatible build. Either way the right answer is to
compile in memory: it costs seconds of start-up, never a failed fit. We warn once per
process and, for a corrupt index, remove it so that the next save heals the cache.

Loading from the cache also skips Numba's compile registries (see ``_loader``), which
would otherwise be most of a warm first fit.
"""

import os
import types
import warnings

from numba import config, njit
from numba.core.runtime import rtsys

__all__ = ["cached_njit", "sized_njit", "specialised", "cache_index_path", "PARALLEL_MIN_WORK"]

if config.DISABLE_JIT:
    # the kernels build on compiled functions (specialised copies of their helpers,
    # LLVM intrinsics), which do not exist as plain Python: say so at import
    raise ImportError("sklearn_set's kernels need Numba's compiler, and NUMBA_DISABLE_JIT "
                      "is set: unset it (or set it to 0) to use sklearn_set.")

#: Below this many items (connections, weights or draws), a kernel runs serially:
#: sharing out less work costs more than it saves.
PARALLEL_MIN_WORK = 1 << 16

_warned = False


def _warn_once(message):
    global _warned
    if not _warned:
        warnings.warn(f"{message}; compiling without the on-disk cache.", RuntimeWarning,
                      stacklevel=3)
        _warned = True


def cache_index_path(dispatcher):
    """The path of ``dispatcher``'s on-disk cache index, or None without a cache."""
    cache = getattr(dispatcher, "_cache", None)
    return getattr(getattr(cache, "_cache_file", None), "_index_path", None)


def _loader(cache):
    """``cache.load_overload`` without the registry refresh that Numba runs first.

    That refresh imports and installs every typing and lowering registry Numba has:
    about 0.3 s in a fresh process, most of a warm first fit, and needed only to
    compile (Numba's compiler refreshes itself before it compiles). Code loaded from
    the cache needs only the runtime it links against; threaded kernels start their
    thread pool themselves when loaded. Where Numba's cache lacks the private methods
    this relies on, its own ``load_overload`` is used.
    """
    load, guard = (getattr(cache, name, None) for name in
                   ("_load_overload", "_guard_against_spurious_io_errors"))
    if load is None or guard is None:
        return cache.load_overload

    def load_overload(sig, target_context):
        rtsys.initialize(target_context)
        with guard():
            return load(sig, target_context)

    return load_overload


def _tolerate_corrupt_cache(dispatcher):
    """Turn cache read and write errors of ``dispatcher`` into a warning and a recompile."""
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "load_overload"):
        return dispatcher
    load, save = _loader(cache), cache.save_overload

    def load_overload(sig, target_context):
        try:
            return load(sig, target_context)
        except Exception as error:  # unpickling garbage can raise almost anything
            index = cache_index_path(dispatcher)
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


class SizedKernel:
    """One loop nest compiled twice, each version when first called: serially, for
    work too small to share among threads (under :data:`PARALLEL_MIN_WORK` items, or
    one chunk), and with ``parallel=True``.

    ``prange`` is ``range`` in the serial version, so both compute the same thing.
    The serial one compiles several times faster: fits whose layers are all small
    never wait for the threaded compile. Each version is a copy of the function under
    its own name, so their on-disk caches stay apart.
    """

    def __init__(self, function, options):
        self.serial = cached_njit(**options)(_renamed(function, "serial"))
        self.parallel = cached_njit(parallel=True, **options)(_renamed(function, "parallel"))
        self.__doc__ = function.__doc__
        self.__wrapped__ = function

    def __call__(self, *args, parallel=True):
        """Run the threaded version, or with ``parallel=False`` the serial one."""
        return (self.parallel if parallel else self.serial)(*args)


def _renamed(function, suffix, namespace=None):
    """A copy of ``function`` whose qualified name ends in ``_suffix``, resolving its
    global names in ``namespace`` (its module's, by default)."""
    namespace = function.__globals__ if namespace is None else namespace
    clone = types.FunctionType(function.__code__, namespace, function.__name__,
                               function.__defaults__, function.__closure__)
    clone.__qualname__ = f"{function.__qualname__}_{suffix}"
    clone.__module__ = function.__module__
    clone.__doc__ = function.__doc__
    return clone


def specialised(function, suffix, **bindings):
    """A copy of ``function``, named with ``_suffix``, in which the global names of
    ``bindings`` stand for the objects given: a rule fixed when the copy is made.

    Numba compiles a branch on an argument (``if gradient is None``) whole, both
    sides through every pass, before LLVM drops the dead one; a copy per rule
    compiles only its own. Each copy caches under its own name. It sees the module's
    other globals as they are when it is made, so make it after the helpers it calls.
    """
    return _renamed(function, suffix, dict(function.__globals__, **bindings))


def sized_njit(**options):
    """Decorator: a :class:`SizedKernel`, called with ``parallel=`` whether the work is
    large enough for threads."""
    return lambda function: SizedKernel(function, options)
