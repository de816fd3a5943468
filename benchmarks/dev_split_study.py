"""Compare estimator settings on a validation split carved from the training data.

The test split (30 %, stratified, seed 0) is set aside and never scored; the remaining
training part is split again (30 % validation, seed 1), scaled on its own training
share, and every setting is scored on that validation split. Prints mean ± sd over
seeds of validation accuracy, and the fractions of hidden neurons and weights kept.

    python benchmarks/dev_split_study.py --compare regrow_init --batch-size 200 --seeds 2
    python benchmarks/dev_split_study.py --compare prune --seeds 3
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset

SETTINGS = {
    "regrow_init": [dict(regrow_init="zero"), dict(regrow_init="init")],
    "prune": [dict(prune=None), dict(prune="importance")],
}


def validation_split(name):
    X, y = load_dataset(name)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_train, y_train, test_size=0.3, random_state=1, stratify=y_train
    )
    scaler = StandardScaler().fit(X_fit)
    return scaler.transform(X_fit), y_fit, scaler.transform(X_val), y_val


def parse_variant_arguments(description, variants, datasets, seeds, parser=None):
    """``--datasets``, ``--seeds`` and ``--variants`` (names among ``variants``) of a
    script that compares named variants, added to ``parser`` (which may hold the
    script's own options) or to a new one; returns the arguments and the chosen
    variants, in the order given."""
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--datasets", default=datasets)
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--variants", default=",".join(variants),
                        help=f"comma-separated among: {', '.join(variants)}")
    args = parser.parse_args()
    unknown = [name for name in args.variants.split(",") if name not in variants]
    if unknown:
        parser.error(f"unknown variants {unknown}; expected among {list(variants)}")
    return args, {name: variants[name] for name in args.variants.split(",")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", choices=sorted(SETTINGS), required=True)
    parser.add_argument("--datasets", default="coil20,isolet")
    parser.add_argument("--hidden", default="1000,1000,1000")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", default="auto")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    batch = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name in args.datasets.split(","):
        X_fit, y_fit, X_val, y_val = validation_split(name)
        for setting in SETTINGS[args.compare]:
            scores, neurons, weights = [], [], []
            for seed in range(args.seeds):
                clf = SETMLPClassifier(hidden, max_iter=args.epochs, batch_size=batch,
                                       n_iter_no_change=10**6, random_state=seed, **setting)
                clf.fit(X_fit, y_fit)
                scores.append(clf.score(X_val, y_val))
                neurons.append(sum(clf.hidden_layer_sizes_) / sum(hidden))
                weights.append(clf.history_[-1]["nnz"] / clf.history_[0]["nnz"])
            print(f"{name:<8} {setting}: validation accuracy {np.mean(scores):.3f} ± "
                  f"{np.std(scores):.3f} {np.round(scores, 3).tolist()}, hidden neurons kept "
                  f"{np.mean(neurons):.3f}, weights kept {np.mean(weights):.3f}", flush=True)


if __name__ == "__main__":
    main()
