"""Why does ``fc`` (our engine, fully connected) diverge in the study's quick profile?

Fits a study method (``fc`` unless ``--method`` says otherwise) as the study does (a
profile's settings, ``quick`` unless ``--profile`` says otherwise; the study's 70/30
split by seed, standardised on the training part) under variants that each change
one suspect, and counts the fits that finish (training loss finite for every epoch)
and their highest epoch loss. Nothing is scored on the test part.

    python benchmarks/dev_fc_stability.py --datasets GLIOMA,arcene,lymphoma,tox171
    python benchmarks/dev_fc_stability.py --variants "he (default),clip 1,wd 2e-4,clip 1 + wd"
    python benchmarks/dev_fc_stability.py --method set --profile long --datasets GLIOMA \
        --variants "he (default),clip 1"

The ``glorot`` variant draws the initial weights from U(-a, a) with
``a = sqrt(6 / (fan_in + fan_out))``, as scikit-learn's MLP does, instead of He's
``sqrt(6 / fan_in)``; for these fully connected layers both fans are exact.
"""

import argparse
import warnings

import numpy as np
from dev_split_study import parse_variant_arguments
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_set import _network
from sklearn_set.datasets import load_dataset
from sklearn_set.study import METHODS, PROFILES, make_estimator

VARIANTS = {
    "he (default)": {},
    "glorot": {},
    "dropout 0": dict(dropout=0.0),
    "lr 0.001": dict(learning_rate_init=0.001),
    # the field's remedies, as estimator parameters (issue 14)
    "clip 1": dict(max_grad_norm=1.0),
    "wd 2e-4": dict(alpha=0.0, weight_decay=2e-4),  # the original SET's regulariser
    "clip 1 + wd": dict(alpha=0.0, weight_decay=2e-4, max_grad_norm=1.0),
}
_he = _network.draw_weights


def _glorot(kind, size, fan_in, rng, dtype):
    if kind != "he_uniform":
        return _he(kind, size, fan_in, rng, dtype)
    fan_out = size / max(fan_in, 1.0)  # the layer's width: it is fully connected
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size).astype(dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ours = [m for m in METHODS if m not in ("logreg", "mlp")]  # the variants set our params
    parser.add_argument("--method", default="fc", choices=ours)
    parser.add_argument("--profile", default="quick", choices=list(PROFILES))
    args, variants = parse_variant_arguments(None, VARIANTS, "GLIOMA,arcene,lymphoma,tox171",
                                             seeds=5, parser=parser)
    warnings.simplefilter("ignore")
    print(f"{args.method}, profile {args.profile}")
    print(f"{'dataset':<12} {'variant':<14} {'finished':>8} {'peak train loss':>16}")
    for dataset in args.datasets.split(","):
        X, y = load_dataset(dataset)
        for name, params in variants.items():
            _network.draw_weights = _glorot if name == "glorot" else _he
            finished, peaks = 0, []
            for seed in range(args.seeds):
                X_train, _, y_train, _ = train_test_split(
                    X, y, test_size=PROFILES[args.profile]["test_size"], stratify=y,
                    random_state=seed)
                X_train = StandardScaler().fit_transform(X_train).astype(np.float32)
                estimator = make_estimator(args.method, args.profile, seed).set_params(**params)
                try:
                    estimator.fit(X_train, y_train)
                except FloatingPointError:
                    continue
                finished += 1
                peaks.append(max(estimator.loss_curve_))
            peak = f"{max(peaks):.2f}" if peaks else "-"
            print(f"{dataset:<12} {name:<14} {finished:>5}/{args.seeds} {peak:>16}", flush=True)
    _network.draw_weights = _he


if __name__ == "__main__":
    main()
