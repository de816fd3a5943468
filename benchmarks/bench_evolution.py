"""Evolution against training on one large layer: is SET's step cheap next to an epoch?

Builds a network whose first layer is ``--n`` x ``--n`` at epsilon 20 (1M x 1M gives
40M connections), trains one epoch on random data (``--samples`` samples, batch 32),
then one SET step on that layer, as fit alternates them, for ``--cycles`` cycles.
The first cycle compiles and warms up; the others give the median epoch, step, ratio
(with its range) and cost per connection.

    python benchmarks/bench_evolution.py [--n 1000000] [--samples 200] [--cycles 5]
"""

import argparse
import time

import numpy as np

from sklearn_set._evolution import evolve_set
from sklearn_set._network import SparseMLP


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    network = SparseMLP.erdos_renyi([args.n, args.n, 2], 20.0, rng, dropout=0.3)
    build = time.perf_counter() - start
    layer = network.layers[0]
    X = rng.standard_normal((args.n, args.samples), dtype=np.float32)
    y = rng.integers(0, 2, args.samples)

    def train_epoch():
        start = time.perf_counter()
        for first in range(0, args.samples, args.batch_size):
            x = np.ascontiguousarray(X[:, first:first + args.batch_size])
            network.train_batch(x, y[first:first + args.batch_size], learning_rate=0.01,
                                momentum=0.9, alpha=1e-4, rng=rng)
        return time.perf_counter() - start

    def evolution_step():
        start = time.perf_counter()
        evolve_set(layer, 0.3, rng)
        return time.perf_counter() - start

    # as in fit: epoch, evolution, epoch, evolution, ...; the first cycle is left out
    # (compilation, and a step straight after the build would find no trained weight)
    cycles = [(train_epoch(), evolution_step()) for _ in range(max(2, args.cycles))][1:]
    epochs, steps = np.array(cycles).T
    ratios = steps / epochs
    nnz = layer.topology.nnz
    print(f"layer {args.n:,} x {args.n:,}: {nnz:,} connections (built in {build:.1f} s)")
    print(f"median of {len(cycles)} cycles after the first, (min-max):")
    print(f"  one epoch ({args.samples} samples, batch {args.batch_size}): "
          f"{np.median(epochs):.2f} s ({epochs.min():.2f}-{epochs.max():.2f})")
    print(f"  one SET step (zeta 0.3): {np.median(steps):.2f} s ({steps.min():.2f}-"
          f"{steps.max():.2f}), {1e9 * np.median(steps) / nnz:.0f} ns per connection")
    print(f"  evolution / epoch: {np.median(ratios):.3f} ({ratios.min():.3f}-{ratios.max():.3f})")


if __name__ == "__main__":
    main()
