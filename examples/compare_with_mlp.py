"""Cross-validated comparison with scikit-learn's dense MLPClassifier.

Both models get the same hidden layers, epochs, optimiser (SGD, momentum 0.9, no
Nesterov) and L2 penalty; the sparse one also has SET's dropout. Prints mean ± sd
accuracy over 3 stratified folds, the number of weights and the fit time.

    python examples/compare_with_mlp.py [dataset]      # default: digits
"""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset

HIDDEN, EPOCHS = (256, 256), 20


def main(name="digits"):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_dataset(name)
    models = {
        "SETMLPClassifier": SETMLPClassifier(HIDDEN, max_iter=EPOCHS, random_state=0),
        "MLPClassifier": MLPClassifier(
            HIDDEN, solver="sgd", learning_rate_init=0.01, momentum=0.9,
            nesterovs_momentum=False, batch_size=32, max_iter=EPOCHS, random_state=0,
        ),
    }
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    print(f"{name}: {X.shape[0]} samples, {X.shape[1]} features, hidden {HIDDEN}, {EPOCHS} epochs")
    for label, model in models.items():
        result = cross_validate(make_pipeline(StandardScaler(), model), X, y, cv=folds,
                                return_estimator=True)
        fitted = result["estimator"][0][-1]
        weights = sum(int(getattr(c, "nnz", np.size(c))) for c in fitted.coefs_)
        print(f"{label:<17} accuracy {result['test_score'].mean():.4f} ± "
              f"{result['test_score'].std(ddof=1):.4f}   weights {weights:>9,}   "
              f"fit {result['fit_time'].mean():.1f} s")


if __name__ == "__main__":
    main(*sys.argv[1:])
