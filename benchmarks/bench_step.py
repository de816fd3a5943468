"""One step of a fit, a training step (``SparseMLP.train_batch``) or with
``--evolve`` an evolution step (SET's ``evolve_network``): this checkout against an
earlier revision, in one process.

Both trees build the same network from the same seed and take the same steps (on the
same random batch, or from the same random stream), taking turns of ``--batches``
steps each, A B B A, for ``--rounds`` rounds. On a shared machine a slow spell then
weighs on both alike, which whole fits in separate processes (``bench_epoch.py``)
cannot promise: it prints the median of the rounds' ratios and their range, the
forward and backward passes' share of a training step, and whether the two networks
are still bit-identical at the end (connections, weights and momentum: a change
meant only to be faster must keep them so).

    python benchmarks/bench_step.py --against c713c45
    python benchmarks/bench_step.py --against c713c45 --sizes 5966,500,500,500,2
    python benchmarks/bench_step.py --against c713c45 --sizes 5966,500,500,500,2 --evolve

The revision is imported under another name from a temporary git worktree, so its
kernels compile once per run; its ``SparseMLP`` must take the same arguments as ours.
"""

import argparse
import importlib.util
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from bench_epoch import revision_checkout  # this folder's, as scripts run from it

import sklearn_set
from sklearn_set import _evolution, _network, _threads  # noqa: F401 (loaded for the loop)


def import_tree(tree, name):
    """The ``sklearn_set`` package of the checkout at ``tree``, imported as ``name``."""
    package = Path(tree) / "sklearn_set"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build(network_module, sizes, epsilon, dropout):
    """A network of ``sizes`` drawn from seed 0, as both trees draw it."""
    return network_module.SparseMLP.erdos_renyi(sizes, epsilon, np.random.default_rng(0),
                                                dropout=dropout)


def training_steps(x, y):
    """``run(network, steps, timer)``: that many SGD steps on ``(x, y)``; their seconds
    (the learning rate is 0.001)."""

    def run(network, steps, timer):
        start = time.perf_counter()
        for _ in range(steps):
            network.train_batch(x, y, learning_rate=1e-3, momentum=0.9, alpha=1e-4,
                                rng=np.random.default_rng(0), timer=timer)
        return time.perf_counter() - start

    return run


def evolution_steps(evolution_module, x, y):
    """``run(network, steps, timer)``: that many SET steps of ``evolution_module``
    (``zeta`` 0.3, weights regrown at zero), the ``k``-th of a tree's drawing from seed
    ``k`` in both trees; their seconds (``timer`` is left as it is). An untimed
    training step on ``(x, y)`` precedes each, as an epoch does in a fit: without it
    the weights regrown at zero would stay there, and the removal step would meet ties
    at zero that training leaves rare."""
    seeds = itertools.count()
    train = training_steps(x, y)

    def run(network, steps, timer):
        seconds = 0.0
        for _ in range(steps):
            train(network, 1, None)
            start = time.perf_counter()
            evolution_module.evolve_network(network, 0.3, np.random.default_rng(next(seeds)))
            seconds += time.perf_counter() - start
        return seconds

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision to compare with")
    parser.add_argument("--sizes", default="1024,3000,3000,3000,20",
                        help="input, hidden and output widths (default: coil20's, 3 x 3000)")
    parser.add_argument("--epsilon", type=float, default=20.0)
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=50, help="steps per turn")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--evolve", action="store_true",
                        help="time SET's evolution step instead of a training step")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    data = np.random.default_rng(1)
    x = data.standard_normal((sizes[0], args.batch)).astype(np.float32)
    y = data.integers(0, sizes[-1], args.batch)

    with revision_checkout(args.against) as tree:
        other = import_tree(tree, "sklearn_set_against")
        trees = {}
        for name, package in (("this checkout", sklearn_set),
                              (args.against, other)):
            network = build(package._network, sizes, args.epsilon, args.dropout)
            step = (evolution_steps(package._evolution, x, y) if args.evolve
                    else training_steps(x, y))
            trees[name] = (network, package._threads.kernel_threads, step)
        seconds = {name: [] for name in trees}
        passes = {name: {"forward": 0.0, "backward": 0.0} for name in trees}
        for network, threads, step in trees.values():  # compile, or load the cache
            with threads():
                step(network, 3, None)
        names = list(trees)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                network, threads, step = trees[name]
                timer = {"forward": 0.0, "backward": 0.0, "kernels": 0.0}
                with threads():
                    seconds[name].append(step(network, args.batches, timer))
                for key in passes[name]:
                    passes[name][key] += timer[key]
        identical = all(
            np.array_equal(ours.topology.indptr, theirs.topology.indptr)
            and np.array_equal(ours.topology.indices, theirs.topology.indices)
            and np.array_equal(ours.weights, theirs.weights)
            and np.array_equal(ours.velocity, theirs.velocity)
            for ours, theirs in zip(trees[names[0]][0].layers, trees[names[1]][0].layers,
                                    strict=True))

    steps = args.rounds * args.batches
    kind = "SET evolution (zeta 0.3)" if args.evolve else f"training, batch {args.batch}"
    print(f"layers {sizes}, epsilon {args.epsilon}, dropout {args.dropout}; {kind}; "
          f"{args.rounds} rounds of {args.batches} steps, threading layer "
          f"{sklearn_set._threads.threading_layer()}")
    passes_header = "" if args.evolve else f" {'forward ms (mean)':>18} {'backward ms (mean)':>19}"
    print(f"{'tree':<16} {'ms/step (median)':>17}{passes_header}")
    for name in names:
        per_step = statistics.median(seconds[name]) / args.batches * 1e3
        shares = "" if args.evolve else (f" {passes[name]['forward'] / steps * 1e3:>18.3f}"
                                         f" {passes[name]['backward'] / steps * 1e3:>19.3f}")
        print(f"{name:<16} {per_step:>17.3f}{shares}")
    ratios = [theirs / ours for ours, theirs in zip(seconds[names[0]], seconds[names[1]],
                                                    strict=True)]
    print(f"speed-up: {statistics.median(ratios):.3f}x (median of the rounds' ratios; "
          f"range {min(ratios):.2f}-{max(ratios):.2f}); networks bit-identical after "
          f"{steps + 3} steps each: {identical}")


if __name__ == "__main__":
    main()
