"""Seconds per epoch of a real ``fit``: this checkout against an earlier revision.

Both trees fit the same model on the same data (coil20, standardised, float32;
3 x 3000 hidden, batch 32, the estimator's defaults otherwise; ``--epsilon inf`` fits
the fully connected counterpart), in child processes
that alternate, A B A B, so that a busy machine weighs on both alike. Each child
compiles with a warm-up fit first, then times a fit of ``--epochs`` epochs
(evolution included). Prints the median seconds per epoch, their ratio, the ratio
within each round, and the ratio of each tree's fastest round.

    python benchmarks/bench_epoch.py --against 3915a5c [--rounds 3] [--epochs 5]
    python benchmarks/bench_epoch.py --against addf8f6 --epsilon inf --hidden 500,500,500
    python benchmarks/bench_epoch.py --against f901728 --max-grad-norm 1

The revision is checked out into a temporary git worktree, removed at the end.
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def revision_checkout(revision):
    """The path of a temporary git worktree of ``revision``, removed at the end."""
    with tempfile.TemporaryDirectory() as temporary:
        tree = Path(temporary) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                        revision], check=True, capture_output=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True, capture_output=True)


def measure(dataset, hidden, epochs, epsilon, max_grad_norm=None):
    """In a child: seconds per epoch of one timed fit, and its time shares."""
    import time
    import warnings

    import numba
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    from sklearn_set import SETMLPClassifier
    from sklearn_set.datasets import load_dataset

    warnings.simplefilter("ignore")
    X, y = load_dataset(dataset)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    params = dict(hidden_layer_sizes=hidden, batch_size=32, random_state=0,
                  n_iter_no_change=10**6, epsilon=epsilon)
    if max_grad_norm is not None:  # only then: revisions before clipping lack the option
        params["max_grad_norm"] = max_grad_norm
    SETMLPClassifier(**params, max_iter=2).fit(X, y)  # compile, or load from the cache
    clf = SETMLPClassifier(**params, max_iter=epochs)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = (time.perf_counter() - start) / clf.n_iter_
    history = clf.history_[1:]  # the first epoch pays for page faults of fresh buffers
    shares = {key: float(np.mean([r.get(key, np.nan) for r in history]))
              for key in ("seconds_train", "seconds_kernels", "seconds_evolve")}
    try:
        layer = numba.threading_layer()
    except ValueError:  # no threaded kernel ran
        layer = "none"
    return {"seconds_per_epoch": seconds, **shares, "layer": layer}


def python_on(tree, arguments, **environment):
    """The standard output of a fresh interpreter run with ``arguments`` on ``tree``'s
    code (its ``PYTHONPATH`` and working directory), ``environment`` added to its
    variables: how the benchmarks measure a revision apart from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(tree), **environment)
    return subprocess.run([sys.executable, *arguments], env=env, cwd=tree,
                          capture_output=True, text=True, check=True).stdout


def child(tree, args, **environment):
    """:func:`measure` of ``tree`` in a child process, with ``environment`` added to
    its variables."""
    from sklearn_set.datasets import search_paths  # this checkout's, for both trees

    data = next((p for p in search_paths() if (p / f"{args.dataset}.mat").is_file()), None)
    if data is not None:
        environment["SKLEARN_SET_DATA"] = str(data)
    arguments = [__file__, "--measure", "--dataset", args.dataset, "--hidden", args.hidden,
                 "--epochs", str(args.epochs), "--epsilon", str(args.epsilon)]
    if args.max_grad_norm is not None:
        arguments += ["--max-grad-norm", str(args.max_grad_norm)]
    return json.loads(python_on(tree, arguments, **environment).strip().splitlines()[-1])


def add_fit_arguments(parser):
    """The options of the timed fit that :func:`child` passes on to :func:`measure`,
    for this script and the others that time the same fit."""
    parser.add_argument("--dataset", default="coil20")
    parser.add_argument("--hidden", default="3000,3000,3000")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--epsilon", type=float, default=20.0,
                        help="the layers' epsilon; inf for fully connected layers")
    parser.add_argument("--max-grad-norm", type=float, default=None,
                        help="clip the gradient's global norm (the study's stable profiles)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="3915a5c", help="git revision to compare with")
    add_fit_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    if args.measure:
        print(json.dumps(measure(args.dataset, hidden, args.epochs, args.epsilon,
                                 args.max_grad_norm)))
        return
    with revision_checkout(args.against) as old:
        runs = {"this checkout": [], args.against: []}
        for _ in range(args.rounds):
            runs["this checkout"].append(child(ROOT, args))
            runs[args.against].append(child(old, args))
    clipping = "" if args.max_grad_norm is None else f", max_grad_norm {args.max_grad_norm}"
    layers = sorted({r.get("layer", "?") for results in runs.values() for r in results})
    print(f"{args.dataset}, hidden {hidden}, epsilon {args.epsilon}{clipping}, batch 32, "
          f"{args.epochs} epochs a fit, {args.rounds} rounds, {os.cpu_count()} cores, "
          f"threading layer {'/'.join(layers)}")
    print(f"{'tree':<16} {'s/epoch (median)':>17} {'all rounds':>24} {'outside kernels':>16}")
    medians = {}
    for name, results in runs.items():
        per_epoch = [r["seconds_per_epoch"] for r in results]
        medians[name] = statistics.median(per_epoch)
        outside = [(r["seconds_train"] - r["seconds_kernels"])
                   / (r["seconds_train"] + r["seconds_evolve"]) for r in results]
        outside_text = (f"{statistics.median(outside):.1%}"
                        if all(o == o for o in outside) else "not reported")
        print(f"{name:<16} {medians[name]:>17.3f} "
              f"{' '.join(f'{s:.3f}' for s in per_epoch):>24} {outside_text:>16}")
    # Each round's pair ran back to back, so its ratio cancels slow spells of the machine
    # that a ratio of the medians would mix in.
    paired = [old["seconds_per_epoch"] / new["seconds_per_epoch"]
              for new, old in zip(runs["this checkout"], runs[args.against], strict=True)]
    # A busy machine only ever adds time, so each tree's fastest round is the nearest
    # to its speed on a quiet one.
    fastest = {name: min(r["seconds_per_epoch"] for r in results)
               for name, results in runs.items()}
    print(f"speed-up: {medians[args.against] / medians['this checkout']:.2f}x "
          f"(ratio of medians); per round {' '.join(f'{r:.2f}' for r in paired)}, "
          f"median {statistics.median(paired):.2f}x; fastest rounds "
          f"{fastest[args.against] / fastest['this checkout']:.2f}x")


if __name__ == "__main__":
    main()
