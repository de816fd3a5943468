"""SET's removal step by chunk count: how many chunks a layer's weights should be
selected in, on this machine's threads.

For each size, times ``set_keep_mask``'s kernel on the same weights in 1, 2 and 4
chunks, alternating the chunk counts within each round, and prints the median time of
each and its speed-up against one chunk (the median of the rounds' ratios). The
weights are a layer's as SET leaves them: 70 % uniform like He initial weights, 30 %
near zero like regrown ones. The masks are the same whatever the chunks (checked).

    python benchmarks/bench_removal.py [--threads 2] [--rounds 40]
"""

import argparse
import time

import numba
import numpy as np

from sklearn_set._evolution import _keep_mask_in_chunks
from sklearn_set._threads import threading_layer

SIZES = (16_000, 32_000, 64_000, 96_000, 129_000, 192_000, 260_000)


def layer_like_weights(n, rng):
    """Weights of a layer after some SET steps: He-uniform, 30 % of them regrown small."""
    weights = rng.uniform(-0.53, 0.53, n).astype(np.float32)
    regrown = rng.random(n) < 0.3
    weights[regrown] = (rng.standard_normal(np.count_nonzero(regrown)) * 0.01).astype(np.float32)
    return weights


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--chunks", default="1,2,4")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    chunk_counts = [int(c) for c in args.chunks.split(",")]
    rng = np.random.default_rng(0)
    print(f"{args.threads} threads, threading layer {threading_layer()}; median us "
          f"(speed-up against {chunk_counts[0]} chunk)")  # set_num_threads chose the layer
    for n in SIZES:
        weights = layer_like_weights(n, rng)
        masks = [_keep_mask_in_chunks(weights, 0.3, c) for c in chunk_counts]  # compiles
        assert all(np.array_equal(mask, masks[0]) for mask in masks)
        seconds = {c: [] for c in chunk_counts}
        for r in range(args.rounds):
            for c in chunk_counts if r % 2 else chunk_counts[::-1]:
                start = time.perf_counter()
                _keep_mask_in_chunks(weights, 0.3, c)
                seconds[c].append(time.perf_counter() - start)
        base = np.array(seconds[chunk_counts[0]])
        print(f"{n:8d} weights  " + "  ".join(
            f"{c} chunks {np.median(seconds[c]) * 1e6:6.0f} "
            f"({np.median(base / np.array(seconds[c])):.2f}x)" for c in chunk_counts))


if __name__ == "__main__":
    main()
