"""Grid search over SET's two topology knobs, epsilon and zeta, in a Pipeline.

The search uses cross-validation on the training part only; the test part is scored
once, by the refitted best model.

    python examples/grid_search.py
"""

import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_dataset("digits")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    pipe = make_pipeline(
        StandardScaler(),
        SETMLPClassifier(hidden_layer_sizes=(300, 300), max_iter=20, random_state=0),
    )
    grid = {"setmlpclassifier__epsilon": [5, 20], "setmlpclassifier__zeta": [0.1, 0.3]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(X_train, y_train)
    results = search.cv_results_
    for params, score in zip(results["params"], results["mean_test_score"], strict=True):
        short = {k.split("__")[1]: v for k, v in params.items()}
        print(f"{short}: cross-validated accuracy {score:.4f}")
    print(f"best {search.best_params_}, test accuracy {search.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
