"""Seconds per epoch under each of Numba's threading layers, on an idle machine and
beside processes that keep cores busy.

A fit's threads meet at the end of every parallel loop, a dozen times per batch. How
the layer hands out a loop's iterations, and how its idle threads wait, decides what a
fit loses when something else runs on the machine: OpenMP gives each thread a fixed
share and spins while it waits, so one slowed thread holds the others back; TBB hands
out work as threads free up and its idle threads yield. Every layer computes the same
fit (each row of a kernel is summed by one thread, in a fixed order).

Each measurement is ``bench_epoch.py``'s timed fit (coil20, 3 x 3000 hidden, batch
32, by default; it takes the same options of the fit) in a child process with
``NUMBA_THREADING_LAYER`` set, idle and busy rounds alternating. Prints the median
seconds per epoch and the ratios within the run: busy over idle for each layer, and
each layer over OpenMP. A layer that is not installed
(TBB needs ``pip install tbb``) is reported as such.

    python benchmarks/bench_contention.py [--busy 1] [--rounds 3] [--epochs 5]
    python benchmarks/bench_contention.py --dataset madelon --hidden 500,500,500 --max-grad-norm 1
"""

import argparse
import os
import statistics
import subprocess
import sys

from bench_epoch import ROOT, add_fit_arguments, child  # this folder's, as scripts run from it

LAYERS = ("omp", "tbb", "workqueue")
SPIN = "while True: pass"


def available(layer):
    """Whether Numba can start ``layer`` in this environment."""
    probe = ("import numba, numpy\n"
             "@numba.njit(parallel=True)\n"
             "def f(a):\n"
             "    for i in numba.prange(a.shape[0]): a[i] += 1\n"
             "f(numpy.zeros(4)); print(numba.threading_layer())")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=dict(os.environ, NUMBA_THREADING_LAYER=layer))
    return result.returncode == 0 and result.stdout.strip() == layer


def seconds_per_epoch(layer, args):
    return child(ROOT, args, NUMBA_THREADING_LAYER=layer)["seconds_per_epoch"]


def spinning(n):
    """``n`` processes that each keep a core busy until killed."""
    return [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(n)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_fit_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1,
                        help="processes that spin beside the busy rounds' fits")
    args = parser.parse_args()
    if args.busy < 1:
        parser.error("--busy must be at least 1")
    layers = [layer for layer in LAYERS if available(layer)]
    missing = [layer for layer in LAYERS if layer not in layers]
    runs = {(layer, busy): [] for layer in layers for busy in (False, True)}
    for _ in range(args.rounds):
        for busy in (False, True):
            spinners = spinning(args.busy) if busy else []
            try:
                for layer in layers:
                    runs[layer, busy].append(seconds_per_epoch(layer, args))
            finally:
                for process in spinners:
                    process.kill()
                    process.wait()
    clipping = "" if args.max_grad_norm is None else f", max_grad_norm {args.max_grad_norm}"
    print(f"{args.dataset}, hidden ({args.hidden}), epsilon {args.epsilon}{clipping}, "
          f"batch 32, {args.epochs} epochs a fit, "
          f"{args.rounds} rounds; {os.cpu_count()} cores, busy rounds beside {args.busy} "
          f"spinning process{'es' if args.busy > 1 else ''}")
    if missing:
        print(f"not installed: {', '.join(missing)}")
    median = {key: statistics.median(values) for key, values in runs.items()}
    reference = layers[0]
    print(f"{'layer':<10} {'idle s/epoch':>13} {'busy s/epoch':>13} {'busy/idle':>10} "
          f"{'idle/' + reference:>10} {'busy/' + reference:>10}   rounds idle | busy")
    for layer in layers:
        idle, busy = median[layer, False], median[layer, True]
        rounds = (" ".join(f"{s:.3f}" for s in runs[layer, False]) + " | "
                  + " ".join(f"{s:.3f}" for s in runs[layer, True]))
        print(f"{layer:<10} {idle:>13.3f} {busy:>13.3f} {busy / idle:>9.2f}x "
              f"{idle / median[reference, False]:>9.2f}x "
              f"{busy / median[reference, True]:>9.2f}x   {rounds}")


if __name__ == "__main__":
    main()
