"""Scale: a million hidden neurons on a lung-shaped problem, on one small machine.

Builds ``SETMLPClassifier`` with ``--layers`` hidden layers of ``--hidden`` neurons at
epsilon 20 on random data shaped like the lung microarray dataset (3312 features, 200
samples, 5 classes), then times one epoch of training with its SET evolution
(``partial_fit``) and one evaluation pass (``predict`` on the 200 samples). Prints
neurons, connections, seconds, and the peak resident memory per connection of the
epoch and of the evaluation apart.

    python benchmarks/bench_scale.py                       # 3 x 350 000 hidden
    python benchmarks/bench_scale.py --hidden 3500000      # the 10M-neuron stretch goal
"""

import argparse
import ctypes
import resource
import time

import numpy as np

from sklearn_set import SETMLPClassifier


def rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def peak_rss_bytes():
    """This process's high-water mark; ``ru_maxrss`` would include a parent's size,
    since it survives ``exec``."""
    with open("/proc/self/status") as status:
        return 1024 * int(next(line for line in status if line.startswith("VmHWM:")).split()[1])


def reset_peak_rss():
    """Start a new high-water mark (Linux 4.0 and later)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=350_000)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--features", type=int, default=3312)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.samples, args.features)).astype(np.float32)
    y = np.arange(args.samples) % args.classes
    clf = SETMLPClassifier((args.hidden,) * args.layers, epsilon=args.epsilon,
                           batch_size=args.batch_size, random_state=0)
    # compile the kernels on a toy problem first, so that no timing includes it
    SETMLPClassifier((8,), max_iter=1, epsilon=1).partial_fit(X[:8, :4], y[:8], np.unique(y))
    baseline = rss_bytes()

    start = time.perf_counter()
    clf.partial_fit(X[: args.batch_size], y[: args.batch_size], classes=np.unique(y))
    first_call = time.perf_counter() - start  # builds the network, then one small epoch
    record = clf.history_[-1]
    build = first_call - record["seconds_train"] - record["seconds_evolve"]

    start = time.perf_counter()
    clf.partial_fit(X, y)
    epoch = time.perf_counter() - start
    record = clf.history_[-1]
    peak_epoch = peak_rss_bytes()
    reset_peak_rss()
    start = time.perf_counter()
    accuracy = clf.score(X, y)
    evaluation = time.perf_counter() - start
    peak_evaluation = peak_rss_bytes()

    connections = clf.network_.nnz
    neurons = sum(clf.hidden_layer_sizes_)
    # a batch's inputs, activations and gradients, 4 bytes each
    activations = 3 * args.batch_size * (args.features + neurons + args.classes) * 4
    print(f"hidden neurons          {neurons:,} ({args.layers} x {args.hidden:,})")
    print(f"connections             {connections:,}")
    print(f"build (ER init)         {build:.1f} s")
    print(f"epoch: train            {record['seconds_train']:.1f} s "
          f"(forward {record['seconds_forward']:.1f}, backward {record['seconds_backward']:.1f})")
    print(f"epoch: evolution        {record['seconds_evolve']:.1f} s")
    print(f"evaluation (predict)    {evaluation:.1f} s (training accuracy {accuracy:.3f})")
    print(f"epoch + evaluation      {epoch + evaluation:.1f} s")
    print(f"peak RSS, epoch         {peak_epoch / 2**30:.2f} GiB; above the start "
          f"{(peak_epoch - baseline) / 2**30:.2f} GiB = "
          f"{(peak_epoch - baseline) / connections:.1f} B/connection "
          f"({(peak_epoch - baseline - activations) / connections:.1f} without batch activations)")
    print(f"peak RSS, evaluation    {peak_evaluation / 2**30:.2f} GiB; above the start "
          f"{(peak_evaluation - baseline) / connections:.1f} B/connection "
          f"(prediction in chunks of at most "
          f"{clf.network_.prediction_chunk()} samples)")
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # count live memory, not the allocator's cache
    print(f"steady RSS after epoch  {(rss_bytes() - baseline) / connections:.1f} B/connection "
          "above the start (after malloc_trim)")


if __name__ == "__main__":
    main()
