"""Feature selection from learned connectivity on a microarray dataset.

SET keeps the connections that matter, so the summed magnitude of an input feature's
surviving connections (``feature_importances_``) ranks features. The selector is fitted
inside each cross-validation fold, on training data only, and a logistic regression is
scored on the features it keeps, against the same classifier on all features and on as
many features picked at random.

    python examples/feature_selection.py [dataset]     # default: lymphoma
"""

import sys
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset

N_FEATURES = 50


class RandomFeatures(TransformerMixin, BaseEstimator):
    """The baseline: keep ``k`` features drawn at random."""

    def __init__(self, k=N_FEATURES, random_state=0):
        self.k = k
        self.random_state = random_state

    def fit(self, X, y=None):
        self.columns_ = np.random.default_rng(self.random_state).choice(X.shape[1], self.k, replace=False)
        return self

    def transform(self, X):
        return X[:, self.columns_]


def main(name="lymphoma"):
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message="The least populated class")  # 2-sample classes
    X, y = load_dataset(name)
    sparse_mlp = SETMLPClassifier((500,), max_iter=40, random_state=0)
    classifier = LogisticRegression(max_iter=2000)
    pipelines = {
        f"top {N_FEATURES} by SET connectivity": make_pipeline(
            StandardScaler(),
            SelectFromModel(sparse_mlp, max_features=N_FEATURES, threshold=-np.inf),
            classifier),
        f"{N_FEATURES} random features": make_pipeline(StandardScaler(), RandomFeatures(), classifier),
        f"all {X.shape[1]} features": make_pipeline(StandardScaler(), classifier),
    }
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    print(f"{name}: {X.shape[0]} samples, {X.shape[1]} features, {len(np.unique(y))} classes")
    for label, pipe in pipelines.items():
        scores = cross_val_score(pipe, X, y, cv=folds)
        print(f"{label:<32} logistic regression accuracy {scores.mean():.3f} ± {scores.std(ddof=1):.3f}")

    selector = pipelines[f"top {N_FEATURES} by SET connectivity"][:2].fit(X, y)
    importance = selector[-1].estimator_.feature_importances_
    top = np.argsort(-importance)[:10]
    print("ten most connected features (column: share of first-layer magnitude):")
    print("  " + ", ".join(f"{j}: {importance[j]:.4f}" for j in top))


if __name__ == "__main__":
    main(*sys.argv[1:])
