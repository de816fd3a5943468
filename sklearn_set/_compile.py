"""A cold start's kernels, compiled by several processes at once.

Numba compiles one function at a time in a process, under a global lock, so on an
empty cache a first fit waits for the sum of its kernels' compile times: 15 to 20 s
on 2 cores. The kernels do not depend on each other, and each compile lands in
Numba's on-disk cache. So helper processes compile some kernels while this process
compiles the others, and this process then loads theirs from the cache: the fit
waits for the longest share instead of the sum.

The work comes as warm-up tasks, longest first. Each task runs a few kernels on tiny
arrays of the types a fit passes, so that its signatures, and its cache entries, are
the fit's own. Every process takes the next task that no process has claimed (a
claim is a file created exclusively), so the shares balance on any number of cores.
It is all best effort: whatever a helper fails to compile, the fit compiles when it
first calls it, as it would without helpers.

A process that compiles alone, such as each cold worker of a grid search (joblib caps
its threads, and so its helpers, at one), shares its tasks with the other processes
compiling the same plan into the same cache at the same time instead: each task runs
under a lock beside the cache, and a task another process holds is left to it.
"""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import NamedTuple

import numba
import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no locks to share tasks with other processes
    fcntl = None

from ._evolution import _keep_mask_in_chunks
from ._growth import CANDIDATES_PER_GROWTH, top_gradient_positions
from ._jit import PARALLEL_MIN_WORK, cache_index_path
from ._kernels import (
    RELU,
    TANH,
    _forward_rectified,
    activate,
    backward_momentum_update,
    bias_momentum_update,
    gather_columns,
    momentum_update,
    softmax,
    spmm_activate,
)
from ._network import SIGMOID_OUTPUTS, SparseLayer, SparseMLP, full_layer_for_blas
from ._threads import thread_limit
from ._topology import Topology, _merge_tail, erdos_renyi_nnz, sample_free_positions
from ._warn import warn

__all__ = ["KernelPlan", "TASKS", "task_names", "run_tasks", "run_shared_tasks",
           "kernels_cached", "compile_jobs", "compile_processes", "compile_kernels",
           "warm_up"]

#: The environment variable that caps the processes compiling a cold start (this
#: one included); 1 compiles in this process only.
JOBS_VARIABLE = "SKLEARN_SET_COMPILE_JOBS"
#: Seconds a helper may take before it is stopped (its tasks then compile on demand).
HELPER_TIMEOUT = 600.0


class KernelPlan(NamedTuple):
    """What a fit runs, as far as compiling goes."""

    #: The name of the dtype the network computes in.
    dtype: str = "float32"
    #: Whether gradients are clipped (the backward kernel then keeps them).
    clipping: bool = False
    #: The output head, one of :data:`._network.OUTPUTS`.
    output: str = "softmax"
    #: The hidden layers' activation, one of :data:`._network.ACTIVATIONS`.
    activation: str = "relu"
    #: Whether a layer has enough connections for the threaded evolution kernels.
    large_layers: bool = False
    #: Whether a layer's outputs on a batch are enough for threaded bias updates.
    wide_layers: bool = False
    #: Whether a batch of the inputs is large enough for the threaded gather.
    wide_inputs: bool = False
    #: Whether a hidden layer trains with BLAS (a full layer of at least
    #: ``BLAS_MIN_CONNECTIONS``: multiplied by BLAS, then activated).
    full_hidden: bool = False
    #: Where evolution regrows, one of :data:`._growth.GROWTH_RULES`.
    growth: str = "random"
    #: Whether a regrowth draws enough positions at once for the threaded sampler
    #: (sampled gradient growth draws many candidates per connection it grows).
    many_draws: bool = False

    @classmethod
    def for_layers(cls, layer_sizes, epsilon, batch_size, zeta=0.3, **plan):
        """The plan of a network of ``layer_sizes`` built with Erdős–Rényi ``epsilon``,
        trained on batches of ``batch_size`` and rewiring at most the fraction ``zeta``
        of a layer at once."""
        shapes = list(zip(layer_sizes[:-1], layer_sizes[1:], strict=False))
        sizes = [erdos_renyi_nnz(n_in, n_out, epsilon) for n_in, n_out in shapes]
        full_hidden = any(full_layer_for_blas(n_in, n_out, nnz)
                          for (n_in, n_out), nnz in zip(shapes[:-1], sizes, strict=False))
        per_growth = CANDIDATES_PER_GROWTH if plan.get("growth") == "sampled_gradient" else 1
        draws = max(min(n_in * n_out - nnz, per_growth * int(zeta * nnz))
                    for (n_in, n_out), nnz in zip(shapes, sizes, strict=False))
        return cls(large_layers=max(sizes) >= PARALLEL_MIN_WORK,
                   wide_layers=max(layer_sizes[1:]) * batch_size >= PARALLEL_MIN_WORK,
                   wide_inputs=layer_sizes[0] * batch_size >= PARALLEL_MIN_WORK,
                   full_hidden=full_hidden, many_draws=draws >= PARALLEL_MIN_WORK, **plan)


def _backward(plan, keep=None):
    """The backward kernel with the plan's rule (keeping gradients for clipping, or
    stepping at once), or with ``keep``'s."""
    keep = plan.clipping if keep is None else keep
    dtype = np.dtype(plan.dtype)
    zero = dtype.type(0.0)
    x, delta = np.ones((2, 3), dtype=dtype), np.ones((1, 3), dtype=dtype)
    backward_momentum_update(np.array([0, 1, 1], dtype=np.int64), np.zeros(1, dtype=np.int32),
                             x, delta, np.ones(1, dtype=dtype), np.zeros(1, dtype=dtype),
                             zero, zero, zero, False, np.empty((2, 3), dtype=dtype),
                             np.ones((2, 3), dtype=dtype), zero,
                             np.empty(1, dtype=dtype) if keep else None)


def _forward(plan, kind=RELU):
    """The forward kernel (product, bias, activation, derivative and dropout) that
    runs activation ``kind``: the rectified one for ReLU and identity layers."""
    dtype = np.dtype(plan.dtype)
    indices = np.zeros(1, dtype=np.int32)
    spmm_activate(np.array([0, 1], dtype=np.int64), indices, indices, np.ones(1, dtype=dtype),
                  np.zeros(1, dtype=dtype), np.ones((2, 3), dtype=dtype), kind,
                  dtype.type(0.0), 0.5, np.uint64(0), np.empty((1, 3), dtype=dtype),
                  np.empty((1, 3), dtype=dtype), np.empty(1, dtype=dtype))


def _smooth(plan):
    """Whether a layer of the fit applies tanh or the logistic: a hidden activation,
    or a sigmoid output head."""
    return plan.activation in ("tanh", "logistic") or plan.output in SIGMOID_OUTPUTS


def _topology(plan, threaded=False):
    """Erdős–Rényi initialisation, which draws positions as SET's regrowth does, and
    the transposed view, on a layer of 400 connections, or of 72 000 for the
    ``threaded`` kernels: sparse enough that positions are drawn, not enumerated.

    A plan whose layers are all small but whose gradient growth draws many
    candidates needs only the threaded draw: 70 000 positions in an empty 1000 x 1000
    layer, which leaves out the threaded transposed view (1.4 s of a 2-core compile)."""
    if threaded and not plan.large_layers:
        sample_free_positions(Topology.empty(1000, 1000), 70_000, np.random.default_rng(0))
        return
    size, epsilon = (600, 60.0) if threaded else (200, 1.0)
    network = SparseMLP.erdos_renyi([size, size], epsilon, np.random.default_rng(0),
                                    dtype=plan.dtype)
    network.layers[0].topology.transposed()
    # the merge of a second round of draws, which the draws above may not have needed
    _merge_tail(np.array([0, 2, 1, 2], dtype=np.int64), 2, 2)


def _rewiring(plan, threaded=False):
    """A layer's move to its rewired topology, with its weights and momentum, on a
    full 2 x 2 layer, or 256 x 256 for the ``threaded`` kernels."""
    size = 256 if threaded else 2
    indptr = np.arange(size + 1, dtype=np.int64) * size
    indices = np.tile(np.arange(size, dtype=np.int32), size)
    layer = SparseLayer(Topology(size, size, indptr, indices),
                        np.ones(size * size, dtype=plan.dtype), np.zeros(size, dtype=plan.dtype))
    keep = np.ones(size * size, dtype=bool)
    keep[0] = threaded  # the threaded merge needs every connection (65 536)
    layer.rewire(keep, np.empty(0, dtype=np.int64), np.empty(0, dtype=plan.dtype))


def _activation(plan, threaded=False):
    """The bias, activation and dropout of a fully connected hidden layer."""
    dtype = np.dtype(plan.dtype)
    z = np.ones((1, 3), dtype=dtype)
    activate(z, np.zeros(1, dtype=dtype), RELU, dtype.type(0.0), 0.5, np.uint64(0),
             np.empty_like(z), parallel=threaded)


def _removal(plan, threaded=False):
    """SET's removal of the weights closest to zero."""
    weights = np.linspace(-1.0, 1.0, 16, dtype=plan.dtype)
    _keep_mask_in_chunks(weights, 0.3, 2 if threaded else 1)


def _step(plan):
    """The rest of a training step: the batch gather, the output head's loss, and the
    momentum updates of layers that train with BLAS and of biases."""
    _updates(plan)
    dtype = np.dtype(plan.dtype)
    output = np.full((1, 3), 0.5, dtype=dtype)
    if plan.output == "softmax":
        softmax(output)
    head = SparseMLP([], output=plan.output)
    head._output_delta(output, _targets(plan, 1, 3), np.full(3, 1 / 3, dtype=dtype))


def _targets(plan, n_outputs, batch):
    """Training targets of ``batch`` samples as the plan's head takes them."""
    if plan.output == "identity":
        return np.zeros((batch, n_outputs), dtype=plan.dtype)
    return np.zeros(batch, dtype=np.intp)


def _gradient_signal(plan):
    """What gradient growth runs beyond training: every layer's delta on a batch
    without an update (a sparse layer's input gradient), and, for RigL's exact top-k,
    the masking of existing connections. Sampled growth's product is the backward
    kernel that keeps the gradient (task ``backward_keep``)."""
    network = SparseMLP.erdos_renyi([4, 6, 2], 1.0, np.random.default_rng(0),
                                    activation=plan.activation, output=plan.output,
                                    dtype=plan.dtype)  # both layers sparse
    signals = network.backward_signals(np.ones((4, 3), dtype=plan.dtype), _targets(plan, 2, 3))
    if plan.growth == "gradient":
        top_gradient_positions(*signals[1], network.layers[1].topology, 1)


def _updates(plan, threaded=False):
    """The batch gather, and the momentum updates of layers that train with BLAS (and
    of every layer, with clipping) and of biases."""
    dtype = np.dtype(plan.dtype)
    gather_columns(np.ones((2, 3), dtype=dtype), np.zeros(3, dtype=np.intp),
                   np.empty((3, 3), dtype=dtype), parallel=threaded)
    zero = dtype.type(0.0)
    ones = np.ones(1, dtype=dtype)
    momentum_update(ones.copy(), np.zeros(1, dtype=dtype), ones, zero, zero, zero, False,
                    zero, zero, parallel=threaded)
    bias_momentum_update(np.zeros(1, dtype=dtype), np.zeros(1, dtype=dtype),
                         np.ones((1, 3), dtype=dtype), zero, zero, False, parallel=threaded)


def _threaded(task):
    """``task`` compiling the threaded versions of its kernels."""
    return lambda plan: task(plan, threaded=True)


#: Every task by name, longest compile first (on the 2-core machine of 2026-11-29),
#: with whether a fit of a plan needs it.
TASKS = {
    "backward": (_backward, lambda plan: True),
    "forward": (_forward, lambda plan: True),
    "forward_smooth": (lambda plan: _forward(plan, TANH), _smooth),
    "backward_keep": (lambda plan: _backward(plan, keep=True),
                      lambda plan: plan.growth == "sampled_gradient" and not plan.clipping),
    "topology_threaded": (_threaded(_topology),
                          lambda plan: plan.large_layers or plan.many_draws),
    "topology": (_topology, lambda plan: True),
    "step": (_step, lambda plan: True),
    "gradient_signal": (_gradient_signal, lambda plan: plan.growth != "random"),
    "removal_threaded": (_threaded(_removal), lambda plan: plan.large_layers),
    "removal": (_removal, lambda plan: True),
    "updates_threaded": (_threaded(_updates),
                         lambda plan: plan.large_layers or plan.wide_layers
                         or plan.wide_inputs),
    "activation_threaded": (_threaded(_activation),
                            lambda plan: plan.full_hidden and plan.wide_layers),
    "activation": (_activation, lambda plan: plan.full_hidden),
    "rewiring_threaded": (_threaded(_rewiring), lambda plan: plan.large_layers),
    "rewiring": (_rewiring, lambda plan: True),
}


def task_names(plan):
    """The tasks a fit of ``plan`` needs, longest first."""
    return [name for name, (_, needed) in TASKS.items() if needed(plan)]


def run_tasks(plan, claims=None):
    """Run ``plan``'s tasks in this process: all of them, or with ``claims`` (a
    directory shared with helpers) those no other process has claimed first.

    Returns
    -------
    failures : list of str
        The tasks that raised, each with its traceback.
    """
    failures = []
    for name in task_names(plan):
        if claims is None or _claim(claims, name):
            failures += _run_task(plan, name)
    return failures


def _run_task(plan, name):
    """Run task ``name``; its failure with the traceback, in a list, or an empty list."""
    try:
        TASKS[name][0](plan)
    except Exception:  # best effort: the fit compiles it when it gets there
        return [f"{name}: {traceback.format_exc()}"]
    return []


def run_shared_tasks(plan, locks):
    """:func:`run_tasks` shared with the other processes that compile ``plan`` into
    the same cache at the same time, through the task locks in directory ``locks``.

    Each task runs under its lock. A task that another process holds is left to it
    and, once this process is through the others, waited for: by then its kernels are
    in the cache. A task whose kernels are cached already only loads them. The
    operating system releases a lock when its process ends, however it ends, so a
    crashed process leaves nothing behind to wait for.

    Returns
    -------
    failures : list of str
        This process's tasks that raised, as :func:`run_tasks`.
    """
    failures, held_elsewhere = [], []
    for name in task_names(plan):
        with _task_lock(locks, name) as held:
            if held:
                failures += _run_task(plan, name)
            else:
                held_elsewhere.append(name)
    deadline = time.monotonic() + HELPER_TIMEOUT
    for name in held_elsewhere:  # past the deadline, the fit compiles what it lacks
        with _task_lock(locks, name, deadline):
            pass
    return failures


def _task_locks(plan):
    """The directory of ``plan``'s task locks, beside Numba's cache of the kernels, so
    that every process compiling that plan into that cache finds it; None where locks
    cannot be shared (no cache, no ``fcntl``, or a cache this process cannot write)."""
    index = cache_index_path(_forward_rectified)
    if index is None or fcntl is None:
        return None
    # processes of other Pythons or Numbas share the cache directory, not its entries
    key = (tuple(plan), sys.version, numba.__version__)
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:12]
    locks = os.path.join(os.path.dirname(index), f"sklearn_set-compile-{digest}")
    try:
        os.makedirs(locks, exist_ok=True)
    except OSError:
        return None
    return locks


@contextlib.contextmanager
def _task_lock(locks, name, deadline=None):
    """Hold the lock of task ``name`` in ``locks``; yields whether this process got
    it, at once or, with a ``deadline`` (of ``time.monotonic``), by then. A lock that
    cannot be taken for another reason (no lock file, no lock support) counts as
    held: this process then runs the task itself, as it would alone."""
    try:
        fd = os.open(os.path.join(locks, f"{name}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:
        yield True
        return
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                held = False
            except OSError:
                held = True
            if held or deadline is None or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        yield held
    finally:
        os.close(fd)  # releases the lock


def warm_up(dtype=np.float32, clipping=False):
    """Compile (or load from Numba's cache), in this process, the kernels of a training
    step for ``dtype``: the forward, backward and step tasks. ``clipping`` says which
    backward rule to compile (keeping the gradient, or stepping at once); the kernels
    of evolution, gradient growth, the tests and the benchmarks compile when first
    called.

    Returns
    -------
    seconds : float
        Wall time spent; near zero once the kernels are loaded in this process.
    """
    start = time.perf_counter()
    plan = KernelPlan(dtype=np.dtype(dtype).name, clipping=clipping)
    for name in ("forward", "backward", "step"):
        TASKS[name][0](plan)
    return time.perf_counter() - start


def kernels_cached():
    """Whether Numba's on-disk cache already holds the forward kernel, or there is no
    cache: if not, this environment's first fit compiles every kernel it runs."""
    index = cache_index_path(_forward_rectified)
    return index is None or os.path.exists(index)


def _claim(claims, name):
    """Whether this process is the first to claim task ``name``."""
    try:
        os.close(os.open(os.path.join(claims, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def compile_jobs():
    """How many processes compile a cold start: :data:`JOBS_VARIABLE` if set, else as
    many as the kernels have threads (:func:`._threads.thread_limit`). Inside a joblib
    worker that is the worker's share of the cores, so that the workers of a grid
    search, each compiling on its first fit, do not start a helper per core each."""
    value = os.environ.get(JOBS_VARIABLE, "").strip()
    if not value:
        return thread_limit()
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{JOBS_VARIABLE} must be a whole number; got {value!r}.") from None


def compile_processes(plan, n_jobs=None):
    """How many processes compile ``plan``: ``n_jobs`` (:func:`compile_jobs` by
    default), but no more than it has tasks."""
    return min(compile_jobs() if n_jobs is None else n_jobs, len(task_names(plan)))


def compile_kernels(plan, n_jobs=None):
    """Compile ``plan``'s kernels into Numba's on-disk cache, in ``n_jobs`` processes
    (this one and ``n_jobs - 1`` helpers; :func:`compile_jobs` by default). With one,
    the tasks are shared with other processes compiling the same plan at the same
    time (:func:`run_shared_tasks`).

    Returns
    -------
    seconds : float
        Wall time, helpers included.
    """
    start = time.perf_counter()
    n_helpers = compile_processes(plan, n_jobs) - 1
    if n_helpers <= 0:
        locks = _task_locks(plan)
        if locks is None:
            run_tasks(plan)
        else:  # alone, but perhaps not the only process compiling this plan
            run_shared_tasks(plan, locks)
        return time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="sklearn_set-compile-") as claims:
        helpers = [_start_helper(claims, plan) for _ in range(n_helpers)]
        try:
            problems = run_tasks(plan, claims)
            problems += [problem for helper in helpers if (problem := _finish(helper))]
        except BaseException:  # interrupted: leave no helper behind
            for helper in helpers:
                if isinstance(helper, subprocess.Popen):
                    helper.kill()
                    helper.wait()
            raise
    if problems:
        warn("Compiling kernels in parallel processes failed; the fit compiles what it "
             f"missed itself. {problems[0]}", RuntimeWarning)
    return time.perf_counter() - start


#: A helper's program. It imports this package's modules from the directory in its
#: first argument, this very package whatever the helper's path, and without running
#: the package's ``__init__``: that imports scikit-learn, which compiling does not
#: need, and which would add over a second to every helper's start.
_HELPER_PROGRAM = (
    "import sys, types; package = types.ModuleType('sklearn_set'); "
    "package.__path__ = [sys.argv[1]]; sys.modules['sklearn_set'] = package; "
    "from sklearn_set._compile import _helper_main; _helper_main(*sys.argv[2:])"
)


def _start_helper(claims, plan):
    """A helper process running :func:`_helper_main` on ``plan``."""
    command = [sys.executable, "-c", _HELPER_PROGRAM, os.path.dirname(os.path.abspath(__file__)),
               claims, json.dumps(plan._asdict())]
    try:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError as error:  # no usable interpreter (an embedded or frozen one)
        return error


def _finish(helper):
    """Wait for ``helper``; what went wrong with it, or None."""
    if isinstance(helper, OSError):
        return f"Could not start a helper: {helper!r}."
    try:
        _, errors = helper.communicate(timeout=HELPER_TIMEOUT)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.communicate()
        return f"A helper took over {HELPER_TIMEOUT:.0f} s and was stopped."
    if helper.returncode != 0:
        return f"A helper exited with status {helper.returncode}: {errors.strip()[-2000:]}"
    return None


def _helper_main(claims, plan):
    """A helper's entry point: the claims directory, and the plan as JSON."""
    failures = run_tasks(KernelPlan(**json.loads(plan)), claims)
    if failures:
        sys.exit("\n".join(failures))
