"""Quickstart: a sparse SET-MLP next to scikit-learn's dense MLPClassifier on digits.

Both sit in a Pipeline behind a StandardScaler and share hidden layers and epochs.
Prints test and train accuracy, their gap, the number of weights and the fit time.

    python examples/quickstart.py
"""

import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset

HIDDEN = (1000, 1000)
EPOCHS = 50


def n_weights(model):
    return sum(int(c.nnz) if hasattr(c, "nnz") else c.size for c in model.coefs_)


def main():
    X, y = load_dataset("digits")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    models = {
        "SETMLPClassifier": SETMLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=0),
        "MLPClassifier": MLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=0),
    }
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples, "
          f"hidden layers {HIDDEN}, {EPOCHS} epochs")
    print(f"{'model':<18} {'test acc':>8} {'train acc':>9} {'gap':>7} {'weights':>9} {'seconds':>8}")
    for name, model in models.items():
        pipeline = make_pipeline(StandardScaler(), model)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipeline.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        test, train = pipeline.score(X_test, y_test), pipeline.score(X_train, y_train)
        print(f"{name:<18} {test:>8.4f} {train:>9.4f} {train - test:>7.4f} "
              f"{n_weights(model):>9} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
