"""Grid search on a Ray cluster through joblib, the way scikit-learn parallelises.

Without ``RAY_ADDRESS`` this starts a local Ray instance. On a real cluster, start the
head node with ``ray start --head`` (and ``ray start --address=HEAD:6379`` on the
others), install sklearn-set on every node, and run this with
``RAY_ADDRESS=HEAD:6379``. Needs Ray (``pip install -e '.[ray]'`` from the checkout).

    python examples/ray_search.py
"""

import os
import warnings

import joblib
import ray
from ray.util.joblib import register_ray
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier
from sklearn_set.datasets import load_dataset


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=None if "RAY_ADDRESS" in os.environ else 2,
             include_dashboard=False, log_to_driver=False)
    register_ray()
    X, y = load_dataset("digits")
    pipe = make_pipeline(StandardScaler(), SETMLPClassifier((200, 200), max_iter=10, random_state=0))
    grid = {"setmlpclassifier__epsilon": [5, 20], "setmlpclassifier__zeta": [0.1, 0.3]}
    with joblib.parallel_backend("ray"):
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
    print(f"Ray cluster resources: {ray.cluster_resources().get('CPU', 0):.0f} CPUs")
    print(f"best {search.best_params_}, cross-validated accuracy {search.best_score_:.4f}")
    ray.shutdown()


if __name__ == "__main__":
    main()
