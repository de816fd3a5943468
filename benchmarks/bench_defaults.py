"""Defaults: what a first ``fit`` with default settings costs and scores on digits.

Fits ``SETMLPClassifier()`` at its default width (3 x 500), at the former default
(3 x 1000) and scikit-learn's ``MLPClassifier()`` on standardised digits: seconds and
epochs of one fit on all samples (kernels compiled or loaded beforehand, by a 2-epoch
fit of each model, so that none compiles inside the timing whatever the cache holds;
with a warm cache, the former toy warm-up made no measurable difference), then the 5-fold
stratified cross-validation accuracy (mean ± sd over folds). The test folds are only
scored, never used to choose anything.

    python benchmarks/bench_defaults.py [--seed 0]
"""

import argparse
import time
import warnings

from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_dataset("digits")
    models = {
        "SETMLPClassifier() (3 x 500)": SETMLPClassifier(random_state=args.seed),
        "SETMLPClassifier((1000,) * 3)": SETMLPClassifier((1000,) * 3, random_state=args.seed),
        "MLPClassifier()": MLPClassifier(random_state=args.seed),
    }
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    print(f"digits {X.shape}, seed {args.seed}")
    print(f"{'model':<32} {'fit s':>6} {'epochs':>6} {'5-fold accuracy':>16}")
    for name, model in models.items():
        pipeline = make_pipeline(StandardScaler(), model)
        if isinstance(model, SETMLPClassifier):  # compile or load its kernels untimed
            make_pipeline(StandardScaler(), clone(model).set_params(max_iter=2)).fit(X, y)
        start = time.perf_counter()
        pipeline.fit(X, y)
        seconds = time.perf_counter() - start
        scores = cross_val_score(pipeline, X, y, cv=folds)
        print(f"{name:<32} {seconds:6.1f} {pipeline[-1].n_iter_:6d} "
              f"{scores.mean():8.4f} ± {scores.std(ddof=1):.4f}", flush=True)


if __name__ == "__main__":
    main()
