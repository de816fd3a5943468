"""Evolution against training on one large layer: is SET's step cheap next to an epoch?

Builds a network whose first layer is ``--n`` x ``--n`` at epsilon 20 (1M x 1M gives
40M connections), trains one epoch on random data (``--samples`` samples, batch 32),
then one SET step on that layer, and again; prints the second epoch and step with
their ratio and the cost per connection.

    python benchmarks/bench_evolution.py [--n 1000000] [--samples 200]
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

    # as in fit: epoch, evolution, epoch, evolution; the second pair is reported, so
    # that regrown connections have trained once (a step straight after another would
    # find them all at exactly zero, an unrealistic tie-heavy case)
    first_epoch, first_step = train_epoch(), evolution_step()
    epoch, evolution = train_epoch(), evolution_step()
    nnz = layer.topology.nnz
    print(f"layer {args.n:,} x {args.n:,}: {nnz:,} connections (built in {build:.1f} s)")
    print(f"one epoch ({args.samples} samples, batch {args.batch_size}): {epoch:.2f} s "
          f"(first {first_epoch:.2f} s)")
    print(f"one SET step (zeta 0.3): {evolution:.2f} s, {1e9 * evolution / nnz:.0f} ns per "
          f"connection (first {first_step:.2f} s)")
    print(f"evolution / epoch: {evolution / epoch:.2f}")


if __name__ == "__main__":
    main()
