"""RigL's growth at scale: the seconds and peak memory of one growth step on an n x n
layer at epsilon 20, without a dense gradient.

``--rule exact`` times :func:`sklearn_set._growth.top_gradient_positions`, the exact
top-k of ``|x @ delta.T|`` over every free position, streamed one block of outputs at a
time (what ``growth="gradient"`` runs); ``--rule sampled`` times
:func:`sklearn_set._growth.sampled_gradient_growth` (``growth="sampled_gradient"``).
Each step grows 30 % of the layer's connections from one batch of random inputs and
deltas; the layer's transposed view is built before, as a fit has it. Each
measurement runs in a fresh process, after a step on a 2000 x 2000 layer (or n x n,
if smaller) that loads the kernels, threaded ones included, or compiles them in a
revision's fresh worktree, and reports the process's peak resident memory, so a
dense gradient (4 n^2 bytes: 40 GB at n = 100 000) would show.

    python benchmarks/bench_growth.py [--n 100000] [--batch 8] [--rule exact]
    python benchmarks/bench_growth.py --against 3c233a8 --repeats 2

With ``--against``, a git revision checked out into a temporary worktree takes turns
with this checkout, and the ratio of the median seconds is printed.
"""

import argparse
import statistics
from contextlib import nullcontext

from bench_epoch import ROOT, python_on, revision_checkout  # this folder's, as scripts run from it

CHILD = """
import sys, time
import numpy as np
from sklearn_set._growth import sampled_gradient_growth, top_gradient_positions
from sklearn_set._network import SparseLayer
from sklearn_set._topology import erdos_renyi

def peak_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return float("nan")

def step(n, batch, rule, rng):
    topology = erdos_renyi(n, n, 20.0, rng)
    layer = SparseLayer(topology, np.zeros(topology.nnz, np.float32), np.zeros(n, np.float32))
    x = rng.standard_normal((n, batch)).astype(np.float32)
    delta = rng.standard_normal((n, batch)).astype(np.float32)
    count = int(0.3 * topology.nnz)
    topology.transposed()  # a fit's layer has it
    start = time.perf_counter()
    if rule == "exact":
        grown = top_gradient_positions(x, delta, topology, count)
    else:
        keep = np.ones(topology.nnz, dtype=bool)
        grown = sampled_gradient_growth(layer, keep, count, rng, (x, delta))
    return time.perf_counter() - start, topology.nnz, grown.shape[0]

n, batch, rule = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
step(min(n, 2000), batch, rule, rng)  # loads (or compiles) the kernels, threaded too
seconds, nnz, grown = step(n, batch, rule, rng)
print(seconds, nnz, grown, peak_mb())
"""


def run(tree, n, batch, rule):
    """``(seconds, nnz, grown, peak MB)`` of one step in a fresh process on ``tree``."""
    seconds, nnz, grown, peak = python_on(tree, ["-c", CHILD, str(n), str(batch), rule]).split()
    return float(seconds), int(nnz), int(grown), float(peak)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rule", choices=("exact", "sampled"), default="exact")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--against", help="git revision to take turns with")
    args = parser.parse_args()
    print(f"{args.rule} growth, {args.n} x {args.n} layer at epsilon 20, batch {args.batch}, "
          "30 % of the connections grown")
    print(f"{'tree':<14} {'connections':>12} {'grown':>10} {'seconds':>8} {'peak MB':>8}")
    seconds = {}
    with revision_checkout(args.against) if args.against else nullcontext() as old:
        trees = {"this checkout": ROOT, **({args.against: old} if old else {})}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                s, nnz, grown, peak = run(tree, args.n, args.batch, args.rule)
                seconds.setdefault(name, []).append(s)
                print(f"{name:<14} {nnz:>12} {grown:>10} {s:>8.2f} {peak:>8.0f}", flush=True)
    if args.against:
        ratio = statistics.median(seconds[args.against]) / statistics.median(
            seconds["this checkout"])
        print(f"{args.against} / this checkout: {ratio:.2f}x (median seconds)")


if __name__ == "__main__":
    main()
