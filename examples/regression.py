"""Regression: SETMLPRegressor next to scikit-learn's dense MLPRegressor.

Friedman #1 with 5 informative features among 100: the high-dimensional, scarce
regime this package is for. Features and targets are standardized (targets through
TransformedTargetRegressor), and both models share hidden layers and epochs; the
dense one runs Adam, its default. Prints held-out R², the number of weights and the
fit time, over 3 seeds.

    python examples/regression.py
"""

import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPRegressor

HIDDEN = (500, 500)
EPOCHS = 100
SEEDS = (0, 1, 2)


def n_weights(model):
    return sum(int(c.nnz) if hasattr(c, "nnz") else c.size for c in model.coefs_)


def make_model(regressor):
    return TransformedTargetRegressor(make_pipeline(StandardScaler(), regressor),
                                      transformer=StandardScaler())


def main():
    X, y = make_friedman1(n_samples=600, n_features=100, noise=1.0, random_state=0)
    print(f"Friedman #1: 600 samples (400 train / 200 test), 100 features of which 5 "
          f"informative; hidden layers {HIDDEN}, {EPOCHS} epochs, seeds {SEEDS}")
    print(f"{'model':<17} {'test R2':>15} {'weights':>9} {'seconds':>8}")
    regressors = {
        "SETMLPRegressor": lambda seed: SETMLPRegressor(HIDDEN, max_iter=EPOCHS,
                                                        random_state=seed),
        "MLPRegressor": lambda seed: MLPRegressor(hidden_layer_sizes=HIDDEN, max_iter=EPOCHS,
                                                  random_state=seed),
    }
    for name, make_regressor in regressors.items():
        scores, seconds = [], []
        for seed in SEEDS:
            X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=200,
                                                                random_state=seed)
            model = make_model(make_regressor(seed))
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X_train, y_train)
            seconds.append(time.perf_counter() - start)
            scores.append(model.score(X_test, y_test))
        weights = n_weights(model.regressor_[-1])
        print(f"{name:<17} {np.mean(scores):>7.3f} ± {np.std(scores):.3f} {weights:>9} "
              f"{np.mean(seconds):>8.1f}")


if __name__ == "__main__":
    main()
