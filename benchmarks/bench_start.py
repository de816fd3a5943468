"""Start-up: the first ``fit`` of the quickstart's model in a fresh process, with an
empty Numba cache (cold) and then with the cache it wrote (warm).

Each measurement runs in its own interpreter with ``NUMBA_CACHE_DIR`` pointing at a
temporary directory, so the cache of this checkout is neither used nor touched. The
fit is the quickstart's ``SETMLPClassifier((1000, 1000))`` on standardised digits,
cut to 2 epochs so that evolution runs (and compiles) once; everything after the
first batch is the same work as the quickstart's.

    python benchmarks/bench_start.py [--repeats 2]
    python benchmarks/bench_start.py --against 90a46f1 --repeats 3
    python benchmarks/bench_start.py --against 90a46f1 --growth sampled_gradient
    python benchmarks/bench_start.py --against 90a46f1 --grid 2

It measures the checkout it belongs to, whatever the working directory. With
``--against``, a git revision checked out into a temporary worktree takes turns with
it: cold and warm for one tree, then for the other.
"""

import argparse
import tempfile
from contextlib import nullcontext

from bench_epoch import ROOT, python_on, revision_checkout  # this folder's, as scripts run from it

CHILD = """
import sys, time, warnings
start = time.perf_counter()
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset
imported = time.perf_counter()
X, y = load_dataset("digits")
X, _, y, _ = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
X = StandardScaler().fit_transform(X)
warnings.simplefilter("ignore")
fit_start = time.perf_counter()
model = SETMLPClassifier((1000, 1000), max_iter=2, random_state=0, growth=sys.argv[1])
grid_jobs = int(sys.argv[2])
if grid_jobs:  # a grid search of 4 fits, its workers each starting cold
    from sklearn.model_selection import GridSearchCV
    model = GridSearchCV(model, {"zeta": [0.1, 0.3]}, cv=2, n_jobs=grid_jobs)
model.fit(X, y)
print(imported - start, time.perf_counter() - fit_start)
"""


def run(tree, cache, growth, grid_jobs):
    """Seconds to import and for the first fit, in a fresh process on ``tree``'s code."""
    out = python_on(tree, ["-c", CHILD, growth, str(grid_jobs)], NUMBA_CACHE_DIR=cache)
    return [float(v) for v in out.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--against", help="git revision to take turns with")
    parser.add_argument("--growth", default="random",
                        help="the model's growth rule (gradient growth compiles more)")
    parser.add_argument("--grid", type=int, default=0, metavar="N_JOBS",
                        help="time a GridSearchCV of 4 such fits on N_JOBS workers instead")
    args = parser.parse_args()
    what = f"grid search s (n_jobs={args.grid})" if args.grid else "first fit s (2 epochs)"
    with revision_checkout(args.against) if args.against else nullcontext() as old:
        trees = {"this checkout": ROOT, **({args.against: old} if old else {})}
        print(f"{'tree':<14} {'run':<6} {'import s':>9} {what:>23}")
        for _ in range(args.repeats):
            for name, tree in trees.items():
                with tempfile.TemporaryDirectory() as cache:
                    for kind in ("cold", "warm"):
                        imported, fit = run(tree, cache, args.growth, args.grid)
                        print(f"{name:<14} {kind:<6} {imported:>9.2f} {fit:>23.2f}", flush=True)


if __name__ == "__main__":
    main()
