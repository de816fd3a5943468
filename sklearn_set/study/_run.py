"""The generalization study's run step: every method on every dataset over seeds, resumable.

    python -m sklearn_set.study run --datasets all --methods mlp,fc,static,set,set-ip \\
        --seeds 5 --out results/quick --profile quick --n-jobs 2

Each (dataset, method, seed) run

1. splits the dataset into training and test parts (stratified, by the seed); the test
   part is scored once at the end and never used to choose anything;
2. standardises the features on the training part;
3. fits the method with the profile's hyperparameters, which are the same for every
   dataset and method (fixed epochs, no early stopping, so there is no model
   selection to leak);
4. writes ``DIR/runs/<dataset>__<method>__<seed>.json`` atomically.

A run whose file exists is skipped, so a killed study resumes where it stopped.
``DIR/results.csv`` is rebuilt from the run files after every run; each process writes
only its own run files and replaces ``results.csv`` atomically, so two studies sharing
``DIR`` cannot corrupt it. ``python -m sklearn_set.study report DIR`` turns ``DIR``
into a report.
"""

import argparse
import csv
import io
import json
import os
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from .._estimator import SETMLPClassifier
from ..datasets import DATASETS, dataset_names, load_source, parse_source, source_name

__all__ = ["PROFILES", "METHODS", "COLUMNS", "run_one", "run_study", "load_runs", "main"]

#: The command that runs a study, as written into ``study.json`` and ``--help``.
PROG = "python -m sklearn_set.study run"

_QUICK = dict(
    hidden_layer_sizes=(500, 500, 500), max_iter=50, batch_size=32,
    learning_rate_init=0.01, momentum=0.9, alpha=1e-4,
    epsilon=20.0, zeta=0.3, dropout=0.3, prune_start=0.4, prune_every=10,
    prune_percentile=20, test_size=0.3,
)

_LONG = dict(
    hidden_layer_sizes=(1000, 1000, 1000), max_iter=200, batch_size=32,
    learning_rate_init=0.01, momentum=0.9, alpha=1e-4,
    epsilon=20.0, zeta=0.3, dropout=0.3, prune_start=0.4, prune_every=10,
    prune_target=0.5, test_size=0.3,
)

#: Hyperparameters shared by every method and dataset of a study.
PROFILES = {
    # Small and short enough that 15 datasets x 5 methods x 5 seeds take under
    # 45 minutes on 2 cores. Pruning at epochs 20, 30 and 40 removes about half of
    # the hidden neurons.
    "quick": _QUICK,
    # quick, with global gradient-norm clipping at 1 for every method of our engine
    # (MLPClassifier has none): benchmarks/dev_fc_stability.py found that it lets the
    # fully connected counterpart `fc` finish where it diverged (issue 14).
    "stable": dict(_QUICK, max_grad_norm=1.0),
    # quick, four times longer and twice as wide, so that "50 epochs is short for SET"
    # is a measurement. Pruning goes by prune_target (half of the hidden neurons by
    # the end), since 20 % per step would remove 93 % over 200 epochs.
    "long": _LONG,
    # long, with stable's clipping: without it, the sparse runs on GLIOMA diverged
    # late (14 of 15 in the long study); benchmarks/dev_fc_stability.py --profile long
    # found that clipping at 1 lets all of them finish.
    "long-stable": dict(_LONG, max_grad_norm=1.0),
    # The original SET-MLP code's settings (Mocanu et al., 2018): 3 x 1000 hidden,
    # batch 2, 100 epochs, squared error on sigmoid outputs trained by that code's rule
    # (loss="original"), decoupled weight decay 0.0002 per step instead of L2, no
    # dropout, N(0, 0.1^2) weights, regrown connections drawn like the initial ones.
    "original": dict(
        hidden_layer_sizes=(1000, 1000, 1000), max_iter=100, batch_size=2,
        loss="original",
        learning_rate_init=0.01, momentum=0.9, alpha=0.0, weight_decay=2e-4,
        epsilon=20.0, zeta=0.3, dropout=0.0, weight_init="normal", regrow_init="init",
        prune_start=0.4, prune_every=10, prune_target=0.5, test_size=0.3,
    ),
    # Seconds per run: checks that the harness works end to end. Not a study.
    "smoke": dict(
        hidden_layer_sizes=(16, 16), max_iter=6, batch_size=32,
        learning_rate_init=0.01, momentum=0.9, alpha=1e-4,
        epsilon=5.0, zeta=0.3, dropout=0.3, prune_start=0.4, prune_every=2,
        prune_percentile=20, test_size=0.3,
    ),
    # The SET papers' setting: 3 x 3000 hidden, epsilon 20, zeta 0.3, SGD with
    # momentum 0.9; pruning from epoch 200 every 10 epochs, as in Curci et al. (2021).
    "paper": dict(
        hidden_layer_sizes=(3000, 3000, 3000), max_iter=500, batch_size=32,
        learning_rate_init=0.01, momentum=0.9, alpha=1e-4,
        epsilon=20.0, zeta=0.3, dropout=0.3, prune_start=0.4, prune_every=10,
        prune_percentile=20, test_size=0.3,
    ),
}

#: Methods run by our engine, as overrides of :class:`SETMLPClassifier`'s settings.
#: ``mlp``, scikit-learn's dense :class:`~sklearn.neural_network.MLPClassifier`, and
#: ``logreg``, :class:`~sklearn.linear_model.LogisticRegression`, the reference a
#: practitioner tries first, are the methods outside it.
METHODS = {
    "logreg": None,
    "mlp": None,
    "fc": dict(epsilon=np.inf, zeta=0.0),  # dense counterpart: same engine and dropout
    "static": dict(zeta=0.0),  # sparse ER topology, never evolved
    "set": dict(),
    # differs from set only under a profile that sets regrow_init (original)
    "set-zero": dict(regrow_init="zero"),
    "set-ip": dict(prune="importance"),
    # RigL with the RigL paper's schedule: every 100 batches, cosine-decayed zeta,
    # evolution stopped at 75 % of training.
    "rigl": dict(growth="gradient", evolve_unit="batch", evolve_every=100,
                 zeta_schedule="cosine", evolve_stop=0.75),
    "rigl-ip": dict(growth="gradient", evolve_unit="batch", evolve_every=100,
                    zeta_schedule="cosine", evolve_stop=0.75, prune="importance"),
}

#: One line per method, for ``--help`` and the report.
METHOD_HELP = {
    "logreg": "scikit-learn's LogisticRegression (C=1), the linear reference",
    "mlp": "scikit-learn's dense MLPClassifier, same SGD",
    "fc": "our engine fully connected (epsilon=inf, zeta=0): the dense counterpart",
    "static": "sparse Erdos-Renyi topology, never evolved (zeta=0)",
    "set": "Sparse Evolutionary Training: remove zeta of the weights, regrow at random",
    "set-zero": "SET with regrown connections starting at zero (regrow_init='zero')",
    "set-ip": "SET with importance pruning of hidden neurons (prune='importance')",
    "rigl": "RigL: gradient growth every 100 batches, cosine zeta, stop at 75 %",
    "rigl-ip": "RigL with importance pruning",
}

#: ``--tune``: each method's search space, the same small budget for all (8 settings),
#: over its own regularization and its learning rate. Chosen by 3-fold
#: cross-validation on the training part only, then refit on all of it.
TUNING_GRIDS = {
    "logreg": {"C": [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4]},
    "mlp": {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "learning_rate_init": [0.001, 0.01]},
    **dict.fromkeys(("fc", "static", "set", "set-zero", "set-ip", "rigl", "rigl-ip"), {
        "alpha": [1e-4, 1e-2], "dropout": [0.0, 0.3], "learning_rate_init": [0.001, 0.01]}),
}

#: The columns of ``results.csv``, in order.
COLUMNS = (
    "dataset", "method", "seed", "test_acc", "train_acc", "gap_acc", "test_loss",
    "train_loss", "gap_loss", "params_start", "params_end", "hidden_neurons_start",
    "hidden_neurons_end", "epochs", "seconds",
)

_SPLIT_KEYS = ("test_size",)
_PRUNE_KEYS = ("prune_start", "prune_every", "prune_percentile", "prune_target")


def make_estimator(method, profile, seed):
    """The estimator for ``method`` under ``profile``'s hyperparameters."""
    settings = {k: v for k, v in PROFILES[profile].items() if k not in _SPLIT_KEYS}
    if method == "logreg":
        return LogisticRegression(C=1.0, max_iter=2000)
    if method == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=settings["hidden_layer_sizes"], activation="relu",
            solver="sgd", alpha=settings["alpha"], batch_size=settings["batch_size"],
            learning_rate="constant", learning_rate_init=settings["learning_rate_init"],
            momentum=settings["momentum"], nesterovs_momentum=False,
            max_iter=settings["max_iter"], n_iter_no_change=np.inf, random_state=seed,
        )
    overrides = METHODS[method]
    if "prune" not in overrides:
        settings = {k: v for k, v in settings.items() if k not in _PRUNE_KEYS}
    return SETMLPClassifier(
        **{**settings, **overrides}, n_iter_no_change=np.inf, random_state=seed
    )


def _count_parameters(estimator):
    """(parameters at the start of training, at the end, hidden neurons at each)."""
    if isinstance(estimator, LogisticRegression):
        params = estimator.coef_.size + estimator.intercept_.size
        return params, params, 0, 0
    if isinstance(estimator, MLPClassifier):
        params = sum(c.size for c in estimator.coefs_) + sum(b.size for b in estimator.intercepts_)
        hidden = sum(estimator.hidden_layer_sizes)
        return params, params, hidden, hidden
    start_hidden = int(np.sum(estimator.hidden_layer_sizes))
    end_hidden = sum(estimator.hidden_layer_sizes_)
    n_out = estimator.n_outputs_
    return (
        estimator.history_[0]["nnz_start"] + start_hidden + n_out,
        estimator.network_.nnz + end_hidden + n_out,
        start_hidden,
        end_hidden,
    )


def _curves(estimator):
    if isinstance(estimator, LogisticRegression):
        return {}
    if isinstance(estimator, MLPClassifier):
        hidden = sum(estimator.hidden_layer_sizes)
        return {"train_loss": list(estimator.loss_curve_),
                "hidden_neurons": [hidden] * len(estimator.loss_curve_)}
    return {
        "train_loss": list(estimator.loss_curve_),
        "hidden_neurons": [sum(r["hidden_neurons"]) for r in estimator.history_],
        "nnz": [r["nnz"] for r in estimator.history_],
    }


def run_one(dataset, method, seed, profile="quick", data_home=None, tune=False):
    """Fit and score one (dataset, method, seed); returns the run's record.

    ``dataset`` is any source :func:`sklearn_set.datasets.load_source` reads: a
    registered name, ``digits``, a ``.mat``/``.csv``/``.npz`` path or ``openml:<id>``;
    the record names it by :func:`~sklearn_set.datasets.source_name`. The record holds
    ``row``, the run's line of ``results.csv``; ``status``,
    ``"finished"`` or ``"diverged"`` (the training loss stopped being finite: the row's
    scores are NaN, ``epochs`` is the epoch it happened in, and ``error`` says more);
    and ``curves``, per-epoch training loss and hidden neurons alive.

    With ``tune``, the method's :data:`TUNING_GRIDS` setting is chosen by 3-fold
    stratified cross-validation on the training part (``GridSearchCV``; a setting
    whose fit diverges scores NaN and loses), refit on the whole training part, and
    the record's ``tuning`` holds the chosen setting and its cross-validation score.
    """
    X, y = load_source(dataset, data_home=data_home)
    X_train, X_test, y_train, y_test = _split(X, y, profile, seed)
    dataset = source_name(dataset)
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(np.float32)
    X_test = scaler.transform(X_test).astype(np.float32)
    estimator = make_estimator(method, profile, seed)
    tuning = None
    if tune:
        estimator = GridSearchCV(
            estimator, TUNING_GRIDS[method], error_score=np.nan,
            cv=StratifiedKFold(3, shuffle=True, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # diverged settings, when tuning
        start = time.perf_counter()
        try:
            estimator.fit(X_train, y_train)
            if tune:
                tuning = {"best_params": estimator.best_params_,
                          "cv_accuracy": float(estimator.best_score_)}
                estimator = estimator.best_estimator_
        except FloatingPointError as error:  # a result to report, not a crash
            row = dict.fromkeys(COLUMNS, float("nan"))
            row.update(dataset=dataset, method=method, seed=seed,
                       epochs=int(getattr(estimator, "n_iter_", 0)) + 1,
                       seconds=time.perf_counter() - start)
            return {"row": row, "status": "diverged", "error": str(error), "curves": {}}
        seconds = time.perf_counter() - start

    scores = {}
    for part, X_part, y_part in (("train", X_train, y_train), ("test", X_test, y_test)):
        proba = estimator.predict_proba(X_part)
        scores[f"{part}_acc"] = float(np.mean(estimator.classes_[proba.argmax(axis=1)] == y_part))
        scores[f"{part}_loss"] = float(log_loss(y_part, proba, labels=estimator.classes_))
    params_start, params_end, hidden_start, hidden_end = _count_parameters(estimator)
    row = dict(
        dataset=dataset, method=method, seed=seed,
        test_acc=scores["test_acc"], train_acc=scores["train_acc"],
        gap_acc=scores["train_acc"] - scores["test_acc"],
        test_loss=scores["test_loss"], train_loss=scores["train_loss"],
        gap_loss=scores["test_loss"] - scores["train_loss"],
        params_start=params_start, params_end=params_end,
        hidden_neurons_start=hidden_start, hidden_neurons_end=hidden_end,
        epochs=int(np.max(estimator.n_iter_)), seconds=seconds,
    )
    record = {"row": row, "status": "finished", "curves": _curves(estimator)}
    if tuning is not None:
        record["tuning"] = tuning
    return record


def _split(X, y, profile, seed):
    return train_test_split(
        X, y, test_size=PROFILES[profile]["test_size"], stratify=y, random_state=seed
    )


def check_sources(sources, profile="quick", data_home=None):
    """Load every source once and split it as its runs will, so that missing files,
    bad files and unsplittable labels fail before anything is written.

    Raises
    ------
    ValueError, FileNotFoundError, ConnectionError
        Naming the source, with the loader's whole message.
    """
    names = [source_name(s) for s in sources]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise ValueError(f"Two datasets share the name {', '.join(clashes)}; runs are saved "
                         "by name, so rename one of the files.")
    for source in sources:
        X, y = load_source(source, data_home=data_home)
        if np.unique(y).size < 2:
            raise ValueError(f"Dataset {source}: one class only; a classifier needs two.")
        try:
            _split(X, y, profile, 0)
        except ValueError as error:
            raise ValueError(f"Dataset {source} cannot be split {PROFILES[profile]['test_size']:g} "
                             f"for testing with every class on both sides: {error}") from None


# -- the output directory -------------------------------------------------------------
def _run_path(out, dataset, method, seed):
    return Path(out) / "runs" / f"{source_name(dataset)}__{method}__{seed}.json"


def _write_atomically(path, text):
    """Write ``text`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide results from other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_runs(out):
    """Every finished run's record in ``out``, in dataset, method, seed order.

    ``gap_loss`` is recomputed as test − train loss, the sense of ``gap_acc``: older
    run files stored train − test.
    """
    records = [json.loads(p.read_text()) for p in sorted((Path(out) / "runs").glob("*.json"))]
    for record in records:
        row = record["row"]
        row["gap_loss"] = float(row["test_loss"]) - float(row["train_loss"])
    datasets, methods = list(DATASETS), list(METHODS)

    def order(record):
        row = record["row"]
        return (
            datasets.index(row["dataset"]) if row["dataset"] in datasets else len(datasets),
            row["dataset"],
            methods.index(row["method"]) if row["method"] in methods else len(methods),
            row["method"],
            row["seed"],
        )

    return sorted(records, key=order)


def write_results(out):
    """Rebuild ``out/results.csv`` from the run files; returns the number of rows."""
    rows = [record["row"] for record in load_runs(out)]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_atomically(Path(out) / "results.csv", text.getvalue())
    return len(rows)


def _claim_study(out, profile, argv, tune=False):
    """Create ``out`` or check that it holds a study of the same profile (and the same
    choice of tuning)."""
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    study = out / "study.json"
    settings = json.loads(json.dumps(PROFILES[profile]))  # tuples become lists
    if tune:
        settings["tune"] = json.loads(json.dumps(TUNING_GRIDS))
    command = f"{PROG} " + " ".join(argv)
    existing = {"profile": profile, "settings": settings, "commands": []}
    if study.exists():
        existing = json.loads(study.read_text())
        if existing["profile"] != profile or not _same_settings(existing["settings"], settings):
            raise ValueError(
                f"{out} holds a study with profile {existing['profile']!r} and other "
                f"settings; use another --out for profile {profile!r}"
                + (" with --tune." if tune else " without --tune.")
            )
        existing.setdefault("commands", [existing.pop("command")] if "command" in existing else [])
    updated = {**existing, "settings": settings,  # with the grids of methods added since
               "commands": list(dict.fromkeys([*existing["commands"], command]))}
    if updated != existing:  # every command that added runs, in order
        _write_atomically(study, json.dumps(updated, indent=1))


def _same_settings(stored, settings):
    """Whether a study's stored settings are ``settings``: the same profile and, with
    ``--tune``, the same grid for every method it stored one for. A method whose grid
    was added since changes none of the runs already made."""
    def profile_part(d):
        return {k: v for k, v in d.items() if k != "tune"}

    if profile_part(stored) != profile_part(settings) or ("tune" in stored) != ("tune" in settings):
        return False
    return all(settings["tune"].get(m) == grid for m, grid in stored.get("tune", {}).items())


def _run_and_save(dataset, method, seed, profile, out, threads, data_home, tune=False):
    """Worker: limit threads, run, and save the record; returns the row."""
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    with threadpool_limits(limits=threads):
        record = run_one(dataset, method, seed, profile, data_home, tune)
    _write_atomically(_run_path(out, dataset, method, seed), json.dumps(record))
    return record["row"]


def run_study(datasets, methods, seeds, out, profile="quick", n_jobs=1, backend="loky",
              data_home=None, argv=(), log=print, tune=False):
    """Run every (dataset, method, seed) not yet finished in ``out``.

    ``datasets`` are sources as :func:`run_one` takes them; they are all loaded and
    checked (:func:`check_sources`) before ``out`` is created or touched. ``tune``
    chooses each method's setting by inner cross-validation (see :func:`run_one`).
    Returns the number of runs done by this call.
    """
    from joblib import Parallel, delayed, parallel_config

    check_sources(datasets, profile, data_home)
    _claim_study(out, profile, list(argv), tune)
    todo = [
        (d, m, s) for d in datasets for m in methods for s in seeds
        if not _run_path(out, d, m, s).exists()
    ]
    n_workers = len(todo) if n_jobs == -1 else min(n_jobs, max(len(todo), 1))
    cores = os.cpu_count() or 1
    threads = max(1, cores // max(1, min(n_workers, cores)))
    skipped = len(datasets) * len(methods) * len(seeds) - len(todo)
    log(f"{len(todo)} runs to do, {skipped} already in {out}; "
        f"{n_jobs} job(s) of {threads} thread(s)")
    started = time.perf_counter()
    with parallel_config(backend=backend, n_jobs=n_jobs):
        # Results in completion order where the backend can; Ray's returns them all at
        # the end. Either way each worker saves its own run the moment it finishes.
        tasks = [delayed(_run_and_save)(d, m, s, profile, out, threads, data_home, tune)
                 for d, m, s in todo]
        try:
            results = Parallel(return_as="generator_unordered")(tasks)
        except ValueError:
            results = Parallel(return_as="list")(tasks)
        for done, row in enumerate(results, 1):
            write_results(out)
            log(f"[{done}/{len(todo)} {time.perf_counter() - started:5.0f} s] "
                f"{row['dataset']} {row['method']} seed {row['seed']}: test accuracy "
                f"{row['test_acc']:.4f}, {row['hidden_neurons_end']} hidden neurons, "
                f"{row['seconds']:.1f} s")
    write_results(out)
    return len(todo)


# -- command line ---------------------------------------------------------------------
def _printable(text):
    """``text`` with control characters escaped, so that an error stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_printable(message)}\n")


def _sources(value):
    """Argument type: ``all`` (the registered datasets) or comma-separated sources."""
    if value == "all":
        return list(DATASETS)
    sources, unknown = [], []
    for source in (v.strip() for v in value.split(",")):
        if not source:
            continue
        try:
            kind, parsed = parse_source(source)
        except ValueError:
            unknown.append(source)
            continue
        sources.append(parsed if kind == "registered" else source)
    if unknown or not sources:
        raise argparse.ArgumentTypeError(
            f"unknown dataset {', '.join(unknown) or repr(value)}; give registered names "
            f"({', '.join(dataset_names())}), paths to .mat, .csv or .npz files, "
            "openml:<id>, or all"
        )
    return sources


def _names(value, known, what):
    if value == "all":
        return list(known)
    lookup = {k.lower(): k for k in known}
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n.lower() not in lookup]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or repr(value)}; "
            f"choose from {', '.join(known)} or all"
        )
    return [lookup[n.lower()] for n in names]


def _count(all_cores=False):
    """Argument type: a positive integer, or also -1 ("as many as cores") if asked."""
    expected = "a positive integer or -1" if all_cores else "a positive integer"

    def parse(value):
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1 and not (all_cores and number == -1):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value!r}")
        return number

    return parse


def _settings_text(settings):
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def _entry(name, text):
    """One ``--help`` entry: the name in a column of its own, the text wrapped after it."""
    return textwrap.fill(text, 79, initial_indent=f"  {name:<8} ", subsequent_indent=" " * 11)


def _epilog():
    """The profiles, methods and datasets, as ``--help`` lists them."""
    lines = ["profiles (the same hyperparameters for every dataset and method):"]
    lines += [_entry(name, _settings_text(settings)) for name, settings in PROFILES.items()]
    lines += ["", "methods:"]
    lines += [_entry(name, text) for name, text in METHOD_HELP.items()]
    lines += ["", "--tune grids (8 settings per method):"]
    lines += [_entry(name, ", ".join(f"{k} in {v}" for k, v in grid.items()))
              for name, grid in TUNING_GRIDS.items()]
    lines += ["", "datasets (all = the 15 registered benchmark files):",
              textwrap.fill(", ".join(DATASETS), 79, initial_indent="  ",
                            subsequent_indent="  "),
              "  also digits (bundled with scikit-learn), a path to a .mat (fea/gnd or X/Y),",
              "  .csv (last column the label) or .npz (X and y) file, and openml:<id>.",
              "  The registered files are searched for in --data-home, $SKLEARN_SET_DATA,",
              "  shared/datasets beside the checkout and the user cache; download them with",
              "  sklearn_set.datasets.fetch_dataset(name).",
              "", "Each run holds out the profile's test_size (stratified, by the seed),",
              "standardises on the training part, trains for the profile's fixed epochs and",
              "scores the test part once. Runs already in --out are skipped, so a killed",
              "study resumes. Then: python -m sklearn_set.study report OUT"]
    return "\n".join(lines) + "\n"


def build_parser():
    parser = _OneLineParser(
        prog=PROG,
        description="Fit and score every method on every dataset over seeds, each run saved "
                    "to OUT/runs as it ends.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--datasets", default="all", type=_sources,
                        help="comma-separated datasets (see below), or all (default)")
    parser.add_argument("--methods", default="all",
                        type=lambda v: _names(v, list(METHODS), "method"),
                        help=f"comma-separated among {', '.join(METHODS)}, or all (default)")
    parser.add_argument("--seeds", type=_count(), default=5,
                        help="seeds 0 .. N-1 (default 5; the report calls fewer than 5 "
                             "too few for its 'clear' verdicts)")
    parser.add_argument("--out", required=True, help="output directory (required)")
    parser.add_argument("--profile", choices=list(PROFILES), default="quick",
                        help="hyperparameters, listed below (default quick)")
    parser.add_argument("--n-jobs", type=_count(all_cores=True), default=1,
                        help="runs in parallel (default 1; -1: one per run), the cores "
                             "shared among them")
    parser.add_argument("--backend", default="loky",
                        help="joblib backend: loky (default), threading, ray, dask, ...")
    parser.add_argument("--tune", action="store_true",
                        help="choose each method's regularization and learning rate among "
                             "8 settings by 3-fold cross-validation on the training part, "
                             "then refit (about 25 fits per run; grids below)")
    parser.add_argument("--data-home", default=None,
                        help="directory searched first for the registered .mat files "
                             "(default: $SKLEARN_SET_DATA)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _register_backend(backend):
    if backend == "ray":
        try:
            from ray.util.joblib import register_ray
        except ImportError as exc:
            raise ImportError(
                "--backend ray needs Ray: pip install -e '.[ray]' from the checkout"
            ) from exc
        register_ray()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _register_backend(args.backend)
        run_study(args.datasets, args.methods, list(range(args.seeds)), args.out,
                  profile=args.profile, n_jobs=args.n_jobs, backend=args.backend,
                  data_home=args.data_home, argv=argv, log=lambda m: print(m, flush=True),
                  tune=args.tune)
    except (Exception, KeyboardInterrupt) as exc:  # one readable line, unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            lines = str(exc).splitlines() or [type(exc).__name__]
            print(f"{parser.prog}: error: " + "\n".join(_printable(line) for line in lines),
                  file=sys.stderr)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
