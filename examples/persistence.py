"""Saving a fitted model: pickle/joblib, skops (no code runs on load), and dense export.

    python examples/persistence.py
"""

import pickle
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_dataset("digits")
    X = StandardScaler().fit_transform(X)
    clf = SETMLPClassifier((300, 300), max_iter=10, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    folder = Path(tempfile.mkdtemp())

    with open(folder / "model.pkl", "wb") as f:
        pickle.dump(clf, f)
    with open(folder / "model.pkl", "rb") as f:
        same = np.array_equal(pickle.load(f).predict_proba(X), expected)
    print(f"pickle: {(folder / 'model.pkl').stat().st_size:,} bytes, identical predictions: {same}")

    joblib.dump(clf, folder / "model.joblib")
    same = np.array_equal(joblib.load(folder / "model.joblib").predict_proba(X), expected)
    print(f"joblib: {(folder / 'model.joblib').stat().st_size:,} bytes, identical predictions: {same}")

    try:
        import skops.io as sio
    except ImportError:
        print("skops: not installed (pip install -e '.[skops]' from the checkout)")
    else:
        sio.dump(clf, folder / "model.skops")
        untrusted = sio.get_untrusted_types(file=folder / "model.skops")
        print(f"skops: types to review before trusting them: {untrusted}")
        loaded = sio.load(folder / "model.skops", trusted=untrusted)
        print(f"skops: identical predictions: {np.array_equal(loaded.predict_proba(X), expected)}")

    dense = clf.to_mlpclassifier()
    gap = np.abs(dense.predict_proba(X) - expected).max()
    print(f"to_mlpclassifier: {type(dense).__name__} with {sum(c.size for c in dense.coefs_):,} "
          f"dense weights for {sum(c.nnz for c in clf.coefs_):,} sparse ones; "
          f"largest probability difference {gap:.1e}")


if __name__ == "__main__":
    main()
