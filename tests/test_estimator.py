import os

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_set import SETMLPClassifier

from ._checks import EXPECTED_FAILED_CHECKS

# Small enough that the whole check suite runs in seconds.
CHECKED = SETMLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0)


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _blobs(n_samples=120, n_features=20, n_classes=3, seed=0):
    return make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=8,
        n_classes=n_classes, class_sep=2.0, random_state=seed,
    )


def _small(**params):
    defaults = dict(hidden_layer_sizes=(32, 32), max_iter=30, random_state=0)
    return SETMLPClassifier(**{**defaults, **params})


def test_grid_search_and_cross_validation_run():
    X, y = _blobs()
    search = GridSearchCV(_small(max_iter=10), {"epsilon": [5, 20]}, cv=3).fit(X, y)
    assert search.best_params_["epsilon"] in (5, 20)
    assert len(search.cv_results_["mean_test_score"]) == 2
    scores = cross_val_score(make_pipeline(StandardScaler(), _small()), X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_fit_is_deterministic_under_random_state():
    X, y = _blobs()
    first, second = _small().fit(X, y), _small().fit(X, y)
    assert first.loss_curve_ == second.loss_curve_
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        assert np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data)
    third = _small(random_state=1).fit(X, y)
    assert first.loss_curve_ != third.loss_curve_


@pytest.mark.parametrize("sparse_format, params", [
    ("csr", {}),
    ("csc", {}),
    ("coo", dict(early_stopping=True, n_iter_no_change=3)),
    ("csr", dict(growth="gradient")),  # evolution draws a batch of its own
])
def test_sparse_input_trains_and_predicts_as_dense(sparse_format, params):
    # Each batch is densified on its own, so the fit sees the very same numbers.
    X, y = _blobs()
    X[np.abs(X) < 1.0] = 0.0  # about two thirds zeros
    X_sparse = {"csr": sp.csr_array, "csc": sp.csc_array, "coo": sp.coo_array}[sparse_format](X)
    dense, sparse = _small(**params).fit(X, y), _small(**params).fit(X_sparse, y)
    assert dense.loss_curve_ == sparse.loss_curve_
    assert np.array_equal(dense.predict_proba(X), sparse.predict_proba(X_sparse))
    assert np.array_equal(dense.predict_proba(X), dense.predict_proba(X_sparse))


def test_wide_sparse_input_is_never_densified_whole(monkeypatch):
    # 5000 samples x 200 000 features would take 4 GB dense; batches and prediction
    # chunks densify at most a bounded block of rows at a time.
    from sklearn_set import _network

    rng = np.random.default_rng(0)
    X = sp.csr_array((rng.random(50_000, dtype=np.float32),
                      (rng.integers(0, 5000, 50_000), rng.integers(0, 200_000, 50_000))),
                     shape=(5000, 200_000))
    y = np.arange(5000) % 2
    widest = []
    densify = _network.samples_as_columns

    def spy(X, rows, dtype):
        block = densify(X, rows, dtype)
        widest.append(block.size)
        return block

    monkeypatch.setattr(_network, "samples_as_columns", spy)
    import sklearn_set._base as estimator_module
    monkeypatch.setattr(estimator_module, "samples_as_columns", spy)
    clf = SETMLPClassifier((16,), epsilon=1, max_iter=1, batch_size=64, random_state=0)
    clf.fit(X, y).predict(X)
    assert max(widest) <= _network.PREDICT_ACTIVATIONS


def test_fitted_attributes():
    X, y = _blobs()
    clf = _small(hidden_layer_sizes=(40, 30)).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(20, 40), (40, 30), (30, 3)]
    assert all(type(c).__name__ == "csr_array" for c in clf.coefs_)
    assert [b.shape for b in clf.intercepts_] == [(40,), (30,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.n_features_in_ == 20
    assert clf.hidden_layer_sizes_ == (40, 30)
    assert clf.n_iter_ == len(clf.loss_curve_) == len(clf.history_)
    assert clf.validation_scores_ is None
    record = clf.history_[0]
    for key in ("train_loss", "train_accuracy", "nnz", "hidden_neurons", "rewired",
                "seconds_train", "seconds_evolve"):
        assert key in record
    assert record["nnz"] == sum(c.nnz for c in clf.coefs_)
    assert record["hidden_neurons"] == [40, 30]
    assert clf.history_[-1]["rewired"] == 0  # no evolution after the last epoch
    assert clf.history_[0]["rewired"] > 0
    # coefs_ are views of the trained weights: predicting from them gives the same
    h = np.maximum(X.astype(np.float32) @ clf.coefs_[0] + clf.intercepts_[0], 0)
    h = np.maximum(h @ clf.coefs_[1] + clf.intercepts_[1], 0)
    logits = h @ clf.coefs_[2] + clf.intercepts_[2]
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[logits.argmax(axis=1)])


def test_early_stopping_uses_a_validation_split_and_keeps_the_best():
    X, y = _blobs(n_samples=300)
    clf = _small(early_stopping=True, max_iter=200, n_iter_no_change=5).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert "val_accuracy" in clf.history_[0] and "val_loss" in clf.history_[0]


def test_warm_start_continues_training():
    X, y = _blobs()
    clf = _small(max_iter=5, warm_start=True).fit(X, y)
    network = clf.network_
    clf.fit(X, y)
    assert clf.network_ is network and clf.n_iter_ == 10 and len(clf.history_) == 10
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])


def test_string_labels_and_pipeline():
    X, y = _blobs()
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = make_pipeline(StandardScaler(), _small()).fit(X, labels)
    assert set(clf.predict(X)) <= set(labels)
    assert clf.score(X, labels) > 0.8


def test_verbose_reports_compile_time_and_epochs(capsys, monkeypatch):
    import sklearn_set._base as module

    monkeypatch.setattr(module, "_kernels_ready", False)
    X, y = _blobs()
    _small(verbose=1, max_iter=2).fit(X, y)
    out = capsys.readouterr().out
    assert "Numba kernels compiled or loaded from cache in" in out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out
    assert "nnz = " in out


@pytest.mark.parametrize(
    "X_change, y_change, error, match",
    [
        (lambda X: np.where(X > 1, np.nan, X), None, ValueError, "NaN"),
        (lambda X: np.where(X > 1, np.inf, X), None, ValueError, "infinity"),
        (lambda X: X[:-1], None, ValueError, "inconsistent numbers of samples"),
        (None, lambda y: np.zeros_like(y), ValueError, "at least 2 classes"),
        (None, lambda y: y + 0.5, ValueError, "Unknown label type"),
    ],
)
def test_bad_data_gets_clear_errors(X_change, y_change, error, match):
    X, y = _blobs()
    X = X_change(X) if X_change else X
    y = y_change(y) if y_change else y
    with pytest.raises(error, match=match):
        _small().fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(epsilon=0), "epsilon"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(zeta=-0.1), "zeta"),
        (dict(zeta=1.0), "zeta"),
        (dict(zeta=1.5), "zeta"),
        (dict(dropout=1.0), "dropout"),
        (dict(activation="gelu"), "activation"),
        (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes"),
        (dict(hidden_layer_sizes=0), "hidden_layer_sizes"),
        (dict(loss="hinge"), "loss"),
    ],
)
def test_bad_parameters_get_clear_errors(params, match):
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        _small(**params).fit(X, y)


def test_predict_checks_feature_count():
    X, y = _blobs()
    clf = _small(max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])


@pytest.mark.skipif(
    not any((p / "coil20.mat").is_file() for p in __import__("sklearn_set").datasets.search_paths()),
    reason="coil20.mat not found",
)
def test_coil20_beats_chance_by_far():
    from sklearn.model_selection import train_test_split

    from sklearn_set.datasets import load_dataset

    X, y = load_dataset("coil20")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    clf = make_pipeline(
        StandardScaler(),
        SETMLPClassifier(hidden_layer_sizes=(300, 300), max_iter=15, random_state=0),
    ).fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    assert accuracy > 0.85, accuracy  # chance is 1/20


def test_zero_zeta_keeps_the_topology():
    X, y = _blobs()
    clf = _small(zeta=0.0, max_iter=5).fit(X, y)
    reference = _small(zeta=0.0, max_iter=1).fit(X, y)
    for fitted, start in zip(clf.coefs_, reference.coefs_, strict=True):
        np.testing.assert_array_equal(fitted.indptr, start.indptr)
        np.testing.assert_array_equal(fitted.indices, start.indices)
    assert all(record["rewired"] == 0 for record in clf.history_)


def test_infinite_epsilon_is_fully_connected_without_warning():
    import warnings

    X, y = _blobs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = _small(epsilon=float("inf"), zeta=0.0, max_iter=2).fit(X, y)
    assert not [w for w in caught if "density" in str(w.message)]
    sizes = [X.shape[1], 32, 32, 3]
    assert [c.nnz for c in clf.coefs_] == [a * b for a, b
                                           in zip(sizes[:-1], sizes[1:], strict=True)]


def test_too_large_epsilon_is_capped_with_a_warning():
    # issue 16 reworded the warning ("density above 1 for layers 20x32" before): it
    # counts connections against positions, and names only layers between two hidden
    # layers, whose both sides the user sized
    X, y = _blobs()
    with pytest.warns(UserWarning) as caught:
        clf = _small(epsilon=50, max_iter=2).fit(X, y)
    messages = [str(w.message) for w in caught if "epsilon" in str(w.message)]
    assert len(messages) == 1
    assert ("32x32: epsilon*(n_in+n_out) = 3200 connections exceed the n_in*n_out = 1024 "
            "positions") in messages[0]
    assert "20x32" not in messages[0]  # the input layer: 20 features are the data's
    assert clf.coefs_[0].nnz == 20 * 32 and clf.coefs_[1].nnz == 32 * 32


def test_few_features_fit_without_a_density_warning():
    import warnings

    X, y = _blobs()
    X = X[:, :2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _small(hidden_layer_sizes=(32,), max_iter=2).fit(X, y)
    assert not [w for w in caught if "epsilon" in str(w.message)]


def test_a_diverging_fit_warns_once():
    # issue 16: at learning_rate_init=100 on digits, losses of ~4e7 went unreported
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16
    y = y[:600]
    model = SETMLPClassifier((64,), max_iter=4, random_state=0)
    with pytest.warns(UserWarning, match="times that of a constant prediction") as caught:
        clf = clone(model).set_params(learning_rate_init=100).fit(X, y)
    assert len([w for w in caught if "constant prediction" in str(w.message)]) == 1
    assert min(clf.loss_curve_) > 100 * np.log(10)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clone(model).fit(X, y)
    assert not [w for w in caught if "constant prediction" in str(w.message)]



def test_few_classes_output_layer_is_dense_without_warning():
    import warnings

    X, y = _blobs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = _small(hidden_layer_sizes=(200,), epsilon=5, max_iter=2).fit(X, y)
    assert not [w for w in caught if "density" in str(w.message)]
    assert clf.coefs_[-1].nnz == 200 * 3


def test_divergence_stops_at_once_and_keeps_finite_weights():
    X, y = _blobs()
    clf = _small(learning_rate_init=1e4, max_iter=50)
    with pytest.raises(FloatingPointError, match=r"epoch \d+.*smaller learning_rate_init"):
        clf.fit(X * 100, y)
    assert clf.n_iter_ < 50
    assert all(np.isfinite(c.data).all() for c in clf.coefs_)
    assert all(np.isfinite(b).all() for b in clf.intercepts_)


@pytest.mark.parametrize("learning_rate_init", [1e30, float(np.finfo(np.float32).max)])
def test_a_divergence_in_the_last_update_raises(learning_rate_init):
    """Each batch's loss catches the update before it, and the last update is checked
    after it: one batch of one epoch at 1e30 leaves finite weights whose products
    overflow (NaN probabilities), at float32's largest value infinite ones.
    ``partial_fit`` too."""
    import warnings

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 2, 40)
    params = dict(hidden_layer_sizes=(8,), batch_size=40, random_state=0,
                  learning_rate_init=learning_rate_init)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FloatingPointError, match="last update of epoch 1.*smaller "
                                                     "learning_rate_init"):
            SETMLPClassifier(**params, max_iter=1).fit(X, y)
        with pytest.raises(FloatingPointError, match="last update of epoch 1"):
            SETMLPClassifier(**params).partial_fit(X, y, classes=[0, 1])
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], \
        [str(w.message) for w in caught]
    # a step that stays finite passes the check
    assert np.isfinite(SETMLPClassifier(**dict(params, learning_rate_init=1e-3), max_iter=1)
                       .fit(X, y).predict_proba(X)).all()


@pytest.mark.parametrize("param", ["learning_rate_init", "alpha"])
def test_coefficients_beyond_float32_are_refused(param):
    """The kernels take them in float32, where they would be infinite: refused before
    training, rather than a warning from numpy's cast at every batch."""
    X, y = _blobs()
    with pytest.raises(ValueError, match=f"'{param}' parameter"):
        _small(**{param: 1e39}).fit(X, y)
    _small(**{param: float(np.finfo(np.float32).max)})._validate_params()  # the largest


def test_warm_start_refuses_a_different_number_of_hidden_layers():
    X, y = _blobs()
    clf = _small(max_iter=2, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="2 hidden layers, but hidden_layer_sizes=\\(32,\\)"):
        clf.set_params(hidden_layer_sizes=(32,)).fit(X, y)


def test_fitted_attributes_of_mlpclassifier():
    X, y = _blobs()
    clf = _small(max_iter=4).fit(X, y)
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.t_ == 4 * X.shape[0] and clf.out_activation_ == "softmax"
    clf.partial_fit(X[:50], y[:50])
    assert clf.t_ == 4 * X.shape[0] + 50
    stopped = _small(max_iter=4, early_stopping=True).fit(X, y)
    assert stopped.best_loss_ is None


def test_partial_fit_refuses_early_stopping():
    X, y = _blobs()
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        _small(early_stopping=True).partial_fit(X, y, classes=np.unique(y))


def test_early_stopping_names_the_label_with_too_few_samples():
    X, y = _blobs()
    labels = np.where(y == 0, 7, 42)
    labels[0] = 99  # a class of one sample
    with pytest.raises(ValueError, match=r"class\(es\) \[99\] have 1"):
        _small(early_stopping=True, max_iter=2).fit(X, labels)


def test_warm_start_warns_that_new_widths_do_not_apply():
    X, y = _blobs()
    clf = _small(max_iter=2, warm_start=True).fit(X, y)
    widths = clf.hidden_layer_sizes_
    clf.set_params(hidden_layer_sizes=(64, 64))
    with pytest.warns(UserWarning, match="do not apply to it"):
        clf.fit(X, y)
    assert clf.hidden_layer_sizes_ == widths
    clf.set_params(hidden_layer_sizes=_small().hidden_layer_sizes, epsilon=3.0)
    with pytest.warns(UserWarning, match="epsilon=3.0 do not apply"):
        clf.fit(X, y)


def test_a_diverging_fit_raises_without_numpy_overflow_warnings():
    import warnings

    X, y = _blobs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FloatingPointError, match="diverged"):
            _small(learning_rate_init=1e4, max_iter=20).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], \
        [str(w.message) for w in caught]


def test_a_one_epoch_fit_validates_and_warns_like_a_longer_one():
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning):
        clf = _small(max_iter=1, early_stopping=True).fit(X, y)
    assert len(clf.validation_scores_) == 1
    assert clf.best_validation_score_ == clf.validation_scores_[0]


def test_warnings_point_at_the_line_that_called_the_estimator():
    # a fixed stacklevel suits one call path; fit, partial_fit and warm starts reach
    # these warnings through different depths of the package, and through decorators
    import warnings

    from sklearn.datasets import load_digits

    X, y = _blobs()
    digits, digit_labels = load_digits(return_X_y=True)
    digits, digit_labels = digits[:600], digit_labels[:600]  # as the diverging-fit test
    calls = {
        "maximum iterations": lambda: _small(max_iter=1).fit(X, y),
        "clipped to the sample count": lambda: _small(batch_size=1000, max_iter=1).fit(X, y),
        "connections exceed": lambda: _small(epsilon=50, max_iter=1).fit(X, y),
        "constant prediction": lambda: SETMLPClassifier(
            (64,), random_state=0, learning_rate_init=100).partial_fit(
                digits / 16, digit_labels, classes=np.arange(10)),
    }
    for expected, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        ours = [w for w in caught if expected in str(w.message)]
        assert ours, (expected, [str(w.message) for w in caught])
        assert [w.filename for w in ours] == [__file__] * len(ours), expected

    # within a scikit-learn search, the line is scikit-learn's call of fit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GridSearchCV(_small(max_iter=1), {"alpha": [1e-4]}, cv=2).fit(X, y)
    ours = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert ours
    assert all(f"{os.sep}sklearn{os.sep}" in w.filename and "sklearn_set" not in w.filename
               for w in ours), [w.filename for w in ours]


# -- sample_weight -------------------------------------------------------------------
def _weighted_and_repeated(sparse):
    """scikit-learn's sample_weight equivalence data: integer weights (zeros included)
    against the samples repeated that many times."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    X_repeated, y_repeated = X.repeat(sw, axis=0), y.repeat(sw)
    if sparse:
        X, X_repeated = sp.csr_array(X), sp.csr_array(X_repeated)
    return X, y, sw, X_repeated, y_repeated


@pytest.mark.parametrize("sparse", [False, True])
def test_sample_weight_equals_repeated_samples(sparse):
    # as scikit-learn's check_sample_weight_equivalence, up to float32 rounding: one
    # batch per epoch (the batch sums do not depend on order beyond rounding), no
    # dropout and no rewiring (both draw as many numbers as there are samples)
    X, y, sw, X_repeated, y_repeated = _weighted_and_repeated(sparse)
    params = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0, batch_size=200,
                  dropout=0.0, zeta=0.0)
    with pytest.warns(UserWarning, match="clipped"):
        weighted = SETMLPClassifier(**params).fit(X, y, sample_weight=sw)
        repeated = SETMLPClassifier(**params).fit(X_repeated, y_repeated)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-5)


def test_sample_weight_in_partial_fit_and_against_none():
    X, y = _blobs()
    ones = _small(max_iter=5).fit(X, y, sample_weight=np.ones(len(y)))
    plain = _small(max_iter=5).fit(X, y)
    np.testing.assert_array_equal(ones.predict_proba(X), plain.predict_proba(X))
    skewed = np.where(y == 0, 5.0, 1.0)
    weighted = _small(max_iter=5).fit(X, y, sample_weight=skewed)
    assert not np.allclose(weighted.predict_proba(X), plain.predict_proba(X))
    # more weight on class 0 moves probability towards it
    assert weighted.predict_proba(X)[:, 0].mean() > plain.predict_proba(X)[:, 0].mean()
    clf = _small()
    for _ in range(3):
        clf.partial_fit(X, y, sample_weight=skewed, classes=[0, 1, 2])
    assert clf.n_iter_ == 3
    early = _small(early_stopping=True, max_iter=5).fit(X, y, sample_weight=skewed)
    assert len(early.validation_scores_) == 5


@pytest.mark.parametrize("weights, match", [
    (-np.ones(120), "Negative values"),
    (np.zeros(120), "at least one non-zero"),
    (np.ones(7), "sample_weight.shape"),
])
def test_bad_sample_weight_is_refused(weights, match):
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        _small(max_iter=1).fit(X, y, sample_weight=weights)


def test_squared_error_loss_trains_sigmoid_outputs_like_the_original_set():
    X, y = _blobs()
    clf = _small(loss="squared_error", max_iter=40).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.network_.output == "logistic"
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.8  # chance is 1/3; its gradients are at most 1/4 of log loss's
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] < 0.5  # squared error of (0, 1) outputs
    assert "train_accuracy" in clf.history_[-1]
    with pytest.raises(ValueError, match="loss='squared_error'"):
        clf.to_mlpclassifier()
    stopped = _small(loss="squared_error", early_stopping=True, max_iter=10).fit(X, y)
    assert 0 <= stopped.best_validation_score_ <= 1
    assert all(np.isfinite(r["val_loss"]) for r in stopped.history_)


def test_original_loss_trains_sigmoid_outputs_by_the_original_codes_rule():
    X, y = _blobs()
    clf = _small(loss="original", max_iter=40).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.network_.output == "logistic_original"
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="loss='original'"):
        clf.to_mlpclassifier()


def test_a_warm_start_may_change_the_loss():
    X, y = _blobs()
    clf = _small(max_iter=5, warm_start=True).fit(X, y)
    clf.set_params(loss="squared_error").fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.n_iter_ == 10


def test_auto_dropout_is_off_when_pruning():
    # the tuned study's inner cross-validation chose no dropout for pruned SET on
    # 13 of 15 datasets, and was split for SET without pruning (README, defaults)
    X, y = _blobs()
    assert _small(max_iter=2).fit(X, y).network_.dropout == 0.3
    pruned = _small(max_iter=4, prune="importance", prune_start=0.5, prune_every=1)
    assert pruned.fit(X, y).network_.dropout == 0.0
    assert pruned.set_params(dropout=0.2).fit(X, y).network_.dropout == 0.2
