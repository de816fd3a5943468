"""Run the original SET-MLP code and ours side by side on the same data.

Settles questions of fidelity by measurement: both implementations get the same
standardized validation split (``dev_split_study.validation_split``: carved from the
training part, so the test part is never scored) and the original code's settings
(3 x 1000 ReLU, epsilon 20, batch 2, lr 0.01, momentum 0.9, weight decay 2e-4,
100 epochs, squared error on sigmoid outputs). Ours runs the study's ``original``
profile; the original runs unchanged, imported from its own folder by a second Python
that has NumPy < 2 and its compiled ``sparseoperations`` Cython module::

    python -m venv /tmp/origvenv
    /tmp/origvenv/bin/pip install "numpy<2" "scipy<1.14" "cython<3" setuptools
    # in SET-MLP-Sparse-Python-Data-Structures/ of a checkout of
    # dcmocanu/sparse-evolutionary-artificial-neural-networks:
    CFLAGS="-I$(/tmp/origvenv/bin/python -c 'import numpy; print(numpy.get_include())')" \\
        /tmp/origvenv/bin/cythonize -i sparseoperations.pyx
    python benchmarks/dev_original_side_by_side.py --python /tmp/origvenv/bin/python \\
        --original /path/to/SET-MLP-Sparse-Python-Data-Structures --datasets Prostate_GE

"static" is ``zeta=0`` for the original (its evolution then swaps at most the one or
two weights nearest zero per layer) and the ``static`` method for ours. Prints per
dataset, implementation and method the validation accuracy, mean ± sd over seeds, the
fits that diverged and the seconds per fit.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

#: The original code's settings, as its own ``__main__`` uses them.
ORIGINAL_SETTINGS = dict(epochs=100, batch_size=2, learning_rate=0.01, momentum=0.9,
                         weight_decay=0.0002)
HIDDEN = (1000, 1000, 1000)
ZETA = {"set": 0.3, "static": 0.0}


def run_original(split_file, zeta, seed):
    """Fit the original code (imported from ``sys.path``) and return its accuracy.

    Runs in the original's own Python; only NumPy and the original module are used.
    """
    import set_mlp_sparse_data_structures as original

    data = np.load(split_file)
    classes = np.unique(data["y_fit"])
    one_hot = {part: (data[f"y_{part}"][:, None] == classes).astype(np.float64)
               for part in ("fit", "val")}
    np.random.seed(seed)
    model = original.SET_MLP((data["X_fit"].shape[1], *HIDDEN, len(classes)),
                             (original.Relu,) * len(HIDDEN) + (original.Sigmoid,),
                             epsilon=20)
    with open(os.devnull, "w") as quiet, np.errstate(all="ignore"):
        stdout, sys.stdout = sys.stdout, quiet  # it prints every epoch
        start = time.perf_counter()
        try:
            metrics = model.fit(data["X_fit"], one_hot["fit"], None, None,
                                loss=original.MSE, zeta=zeta, testing=False,
                                **ORIGINAL_SETTINGS)
            accuracy, _ = model.predict(data["X_val"], one_hot["val"], batch_size=1)
        finally:
            sys.stdout = stdout
    finite = bool(np.all(np.isfinite(metrics[:, 0])))
    return {"accuracy": accuracy if finite else None, "seconds": time.perf_counter() - start}


def run_ours(X_fit, y_fit, X_val, y_val, method, seed):
    from sklearn_set.study import make_estimator

    model = make_estimator(method, "original", seed)
    start = time.perf_counter()
    try:
        accuracy = model.fit(X_fit, y_fit).score(X_val, y_val)
    except FloatingPointError:
        accuracy = None
    return {"accuracy": accuracy, "seconds": time.perf_counter() - start}


def _summary(results):
    finished = [r["accuracy"] for r in results if r["accuracy"] is not None]
    text = f"{np.mean(finished):.3f} ± {np.std(finished):.3f}" if finished else "-"
    seconds = np.mean([r["seconds"] for r in results])
    return (f"{text}  {np.round(finished, 3).tolist()}  diverged "
            f"{len(results) - len(finished)}, {seconds:.0f} s per fit")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="the original code's Python")
    parser.add_argument("--original", required=True,
                        help="folder holding set_mlp_sparse_data_structures.py and the "
                             "compiled sparseoperations module")
    parser.add_argument("--datasets", default="tox171,GLIOMA,arcene,Prostate_GE")
    parser.add_argument("--methods", default="static,set")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("SPLIT", "ZETA", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        split_file, zeta, seed = args.worker
        print(json.dumps(run_original(split_file, float(zeta), int(seed))))
        return

    import warnings

    from dev_split_study import validation_split

    warnings.simplefilter("ignore")
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.original))
    print(f"{'dataset':<12} {'code':<9} {'method':<7} validation accuracy (mean ± sd, per seed)")
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets.split(","):
            X_fit, y_fit, X_val, y_val = validation_split(dataset)
            split_file = os.path.join(tmp, f"{dataset}.npz")
            np.savez(split_file, X_fit=X_fit, y_fit=y_fit, X_val=X_val, y_val=y_val)
            for method in args.methods.split(","):
                original = []
                for seed in range(args.seeds):
                    result = subprocess.run(
                        [args.python, os.path.abspath(__file__), "--python", args.python,
                         "--original", args.original, "--worker", split_file,
                         str(ZETA[method]), str(seed)],
                        env=env, capture_output=True, text=True, check=True)
                    original.append(json.loads(result.stdout.splitlines()[-1]))
                ours = [run_ours(X_fit, y_fit, X_val, y_val, method, seed)
                        for seed in range(args.seeds)]
                for code, results in (("original", original), ("ours", ours)):
                    print(f"{dataset:<12} {code:<9} {method:<7} {_summary(results)}",
                          flush=True)


if __name__ == "__main__":
    main()
