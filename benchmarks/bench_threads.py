"""How training scales with threads: seconds per epoch and per kernel at 1, 2, 4, ...
threads, up to the machine's cores, in one process.

The epoch is a real ``fit`` (coil20, standardised, float32; 3 x 3000 hidden, batch 32),
split as ``history_`` reports it: time in the Numba kernels, training outside them,
and evolution. ``s/epoch`` is the fit's time over its epochs, which spreads the fit's
setup (validation and the network's initialisation, shown once per fit) over them;
the last column is the speed-up of the epochs alone. The kernels are then timed alone
on the model's own first and second layers (1024 x 3000 and 3000 x 3000) at the same
batch: the fused forward (products, ReLU and dropout), the fused backward (input
gradient, its activation derivative, and the momentum update) and the first layer's
update (no input gradient). Where the output layer is full (3000 x 20 at epsilon 20),
its training step is timed as a fit takes it, by BLAS on one thread, and by the sparse
kernels, which use every thread: which of the two a fit should take depends on the
core count, which this shows.

    python benchmarks/bench_threads.py [--dataset coil20] [--epochs 3] [--repeats 21]
    python benchmarks/bench_threads.py --synthetic   # where the datasets are not at hand

Run it with ``NUMBA_NUM_THREADS`` unset (or set to the core count): Numba cannot
start more threads than it was given at start-up.
"""

import argparse
import os
import time
import warnings

import numba
import numpy as np
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from bench_kernels import median_seconds  # this folder's, as scripts run from it
from sklearn_set import SETMLPClassifier
from sklearn_set._kernels import (
    IDENTITY,
    RELU,
    backward_momentum_update,
    bias_momentum_update,
    sddmm_momentum_update,
    spmm_activate,
)
from sklearn_set.datasets import load_dataset


#: (samples, features, classes) of the datasets that ``--synthetic`` can stand in for.
SHAPES = {"coil20": (1440, 1024, 20), "madelon": (2600, 500, 2), "lung": (203, 3312, 5)}


def synthetic_like(name):
    """Gaussian features and balanced labels in the shape of dataset ``name``: an epoch
    costs what the dataset's would, as the sparse kernels do the same work whatever
    the values."""
    n_samples, n_features, n_classes = SHAPES[name]
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n_samples, n_features)),
            np.arange(n_samples) % n_classes)


def thread_counts():
    most = numba.config.NUMBA_NUM_THREADS
    counts = [1]
    while counts[-1] * 2 < most:
        counts.append(counts[-1] * 2)
    return counts + [most] if most > 1 else counts


def kernel_steps(clf, X, batch):
    """The three training kernels on the fitted model's first two layers."""
    rng = np.random.default_rng(0)
    first, second = clf.network_.layers[:2]
    x = np.ascontiguousarray(X[:batch].T)
    hidden = np.empty((first.topology.n_out, batch), dtype=np.float32)
    local = np.empty_like(hidden)
    out = np.empty((second.topology.n_out, batch), dtype=np.float32)
    delta = rng.standard_normal(out.shape).astype(np.float32) / batch
    delta_first = rng.standard_normal(hidden.shape).astype(np.float32) / batch
    below = np.empty_like(hidden)
    scratch = np.empty(max(first.topology.nnz, second.topology.nnz), dtype=np.float32)
    lr, mom, decay = np.float32(1e-9), np.float32(0.9), np.float32(0.0)
    t1, t2 = first.topology, second.topology
    t1.transposed(), t2.transposed()

    def forward():
        spmm_activate(t1.t_indptr, t1.t_indices, t1.t_order, first.weights, first.bias, x,
                      RELU, np.float32(0), 0.7, np.uint64(1), hidden, local,
                      scratch[:t1.nnz])
        spmm_activate(t2.t_indptr, t2.t_indices, t2.t_order, second.weights, second.bias,
                      hidden, RELU, np.float32(0), 0.7, np.uint64(2), out,
                      np.empty((0, 0), dtype=np.float32), scratch[:t2.nnz])

    def backward():
        backward_momentum_update(t2.indptr, t2.indices, hidden, delta, second.weights,
                                 second.velocity, lr, mom, decay, False, below, local,
                                 scratch=scratch)

    def first_update():
        sddmm_momentum_update(t1.indptr, t1.indices, x, delta_first, first.weights,
                              first.velocity, lr, mom, decay, False, scratch=scratch)

    steps = {"forward (2 layers)": forward, "backward (layer 2)": backward,
             "update (layer 1)": first_update}
    output = clf.network_.layers[-1]
    if output.is_full:
        steps.update(full_layer_steps(output, batch, rng))
    return steps


def full_layer_steps(layer, batch, rng):
    """A full layer's training step (forward, then backward with the input gradient
    and the update) the way a fit takes it, by BLAS on one thread, and by the sparse
    kernels, which threads share: at full density both compute the same products."""
    t = layer.topology
    t.transposed()
    x = np.abs(rng.standard_normal((t.n_in, batch))).astype(np.float32)
    local = (rng.random((t.n_in, batch)) < 0.7).astype(np.float32)
    delta = rng.standard_normal((t.n_out, batch)).astype(np.float32) / batch
    out = np.empty((t.n_out, batch), dtype=np.float32)
    below = np.empty_like(x)
    scratch = np.empty(t.nnz, dtype=np.float32)
    lr, mom, decay = np.float32(1e-9), np.float32(0.9), np.float32(0.0)
    nothing = np.empty((0, 0), dtype=np.float32)

    def by_blas():
        layer.forward(x, t_weights=scratch, strict=False)
        layer.sgd_step(x, delta, lr, mom, decay, local_gradient=local, scratch=scratch)

    def by_kernels():
        spmm_activate(t.t_indptr, t.t_indices, t.t_order, layer.weights, layer.bias, x,
                      IDENTITY, np.float32(0), 1.0, np.uint64(0), out, nothing, scratch)
        backward_momentum_update(t.indptr, t.indices, x, delta, layer.weights,
                                 layer.velocity, lr, mom, decay, False, below, local,
                                 scratch=scratch)
        bias_momentum_update(layer.bias, layer.bias_velocity, delta, lr, mom, False)

    name = f"{t.n_in} x {t.n_out} full"
    return {f"{name}, BLAS": by_blas, f"{name}, kernels": by_kernels}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="coil20")
    parser.add_argument("--hidden", default="3000,3000,3000")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--synthetic", action="store_true",
                        help="random data of the dataset's shape instead of the dataset: "
                             "the same work per epoch, on a machine without the datasets")
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    warnings.simplefilter("ignore")
    if args.synthetic:
        if args.dataset not in SHAPES:
            parser.error(f"--synthetic knows the shapes of {', '.join(SHAPES)} only")
        X, y = synthetic_like(args.dataset)
        args.dataset += " (synthetic)"
    else:
        X, y = load_dataset(args.dataset)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    params = dict(hidden_layer_sizes=hidden, batch_size=32, random_state=0,
                  n_iter_no_change=10**6)
    SETMLPClassifier(**params, max_iter=2).fit(X, y)  # compile, or load from the cache
    print(f"{args.dataset}, hidden {hidden}, batch 32; {os.cpu_count()} cores, "
          f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, "
          f"threading layer {numba.threading_layer()}")
    header = (f"{'threads':>7} {'s/epoch':>8} {'kernels':>8} {'outside':>8} {'evolve':>8}"
              f" {'setup':>8} {'speed-up':>8} {'epochs only':>11}")
    rows, reference = [], None
    for threads in thread_counts():
        numba.set_num_threads(threads)
        clf = SETMLPClassifier(**params, max_iter=args.epochs)
        start = time.perf_counter()
        clf.fit(X, y)
        fit = time.perf_counter() - start
        epochs = sum(r["seconds_train"] + r["seconds_evolve"] for r in clf.history_)
        history = clf.history_[1:] or clf.history_
        kernels = np.mean([r["seconds_kernels"] for r in history])
        outside = np.mean([r["seconds_train"] - r["seconds_kernels"] for r in history])
        evolve = np.mean([r["seconds_evolve"] for r in history])
        # the fit's own time outside its epochs (validation, the network's
        # initialisation), which s/epoch spreads over the epochs
        per_epoch = np.array([fit, epochs]) / clf.n_iter_
        reference = per_epoch if reference is None else reference
        with threadpool_limits(limits=1, user_api="blas"):  # as in a fit
            timings = {name: median_seconds(step, args.repeats)
                       for name, step in kernel_steps(clf, X, 32).items()}
        rows.append((threads, per_epoch[0], kernels, outside, evolve, fit - epochs,
                     reference / per_epoch, timings))
    print(header)
    for threads, epoch, kernels, outside, evolve, setup, speed_ups, _ in rows:
        print(f"{threads:>7} {epoch:>8.3f} {kernels:>8.3f} {outside:>8.3f} {evolve:>8.3f} "
              f"{setup:>8.3f} {speed_ups[0]:>7.2f}x {speed_ups[1]:>10.2f}x")
    by_threads = {row[0]: row[6] for row in rows}
    most = max(by_threads)
    if 2 in by_threads and most > 2:  # the target is against 2 threads
        against_two = by_threads[most] / by_threads[2]
        print(f"{most} threads against 2: {against_two[0]:.2f}x per epoch, "
              f"{against_two[1]:.2f}x for the epochs alone")
    names = list(rows[0][-1])
    print("\nkernels alone, median ms (speed-up against 1 thread)")
    print(f"{'threads':>7} " + " ".join(f"{n:>26}" for n in names))
    for threads, *_, timings in rows:
        cells = [f"{1e3 * timings[n]:>9.2f} ({rows[0][-1][n] / timings[n]:>5.2f}x)" for n in names]
        print(f"{threads:>7} " + " ".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
