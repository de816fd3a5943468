"""SETMLPRegressor: the MLPRegressor API over the same sparse engine."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_friedman1, make_regression
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_set import SETMLPRegressor

from ._checks import EXPECTED_FAILED_CHECKS

CHECKED = SETMLPRegressor(hidden_layer_sizes=(32,), max_iter=100, random_state=0)


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _data(n_targets=1, n_samples=300, seed=0):
    X, y = make_regression(n_samples=n_samples, n_features=40, n_informative=10,
                           n_targets=n_targets, noise=5.0, random_state=seed)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def _small(**params):
    # standardized features and targets take the classifier's step size; "auto" is
    # MLPRegressor's 0.001, which survives unscaled data but trains slowly
    defaults = dict(hidden_layer_sizes=(64, 64), max_iter=60, learning_rate_init=0.01,
                    random_state=0)
    return SETMLPRegressor(**{**defaults, **params})


def test_learns_like_mlpregressor_with_fewer_weights():
    X, y = make_friedman1(n_samples=600, n_features=20, noise=0.5, random_state=0)
    X, y = StandardScaler().fit_transform(X), (y - y.mean()) / y.std()
    X_test, y_test = X[400:], y[400:]
    reg = _small().fit(X[:400], y[:400])
    dense = MLPRegressor(hidden_layer_sizes=(64, 64), solver="sgd", learning_rate_init=0.01,
                         momentum=0.9, max_iter=60, random_state=0).fit(X[:400], y[:400])
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == 1
    assert reg.predict(X_test).shape == (200,)
    # the same SGD step, 60 epochs (MLPRegressor's has Nesterov momentum and batches
    # of 200). Measured: held-out R² 0.63 here, 0.69 for MLPRegressor
    assert reg.score(X_test, y_test) > 0.5, reg.score(X_test, y_test)
    assert reg.score(X_test, y_test) > dense.score(X_test, y_test) - 0.1
    assert reg.network_.nnz < sum(c.size for c in dense.coefs_)
    assert reg.history_[0]["rewired"] > 0 and "train_accuracy" not in reg.history_[0]


def test_multi_output_targets():
    X, y = _data(n_targets=3)
    reg = _small().fit(X, y)
    assert reg.n_outputs_ == 3 and reg.predict(X).shape == (300, 3)
    assert reg.score(X, y) > 0.8
    with pytest.raises(ValueError, match="y has 1 targets, but the fitted network has 3"):
        reg.set_params(warm_start=True).fit(X, y[:, 0])


@pytest.mark.parametrize("params", [
    dict(prune="importance", prune_start=0.2, prune_every=5),
    dict(growth="gradient"),
    dict(growth="sampled_gradient", evolve_unit="batch", evolve_every=5),
])
def test_pruning_and_rigl_train_a_regressor(params):
    X, y = _data()
    reg = _small(**params).fit(X, y)
    # training R²; measured 0.79 with pruning (half the neurons gone), 0.86-0.93 else
    assert reg.score(X, y) > 0.7
    if "prune" in params:
        removed = 1 - sum(reg.hidden_layer_sizes_) / 128
        assert abs(removed - 0.5) <= 0.05
    else:
        assert sum(r["rewired"] for r in reg.history_) > 0


def test_early_stopping_scores_r2_on_a_held_out_split():
    X, y = _data()
    reg = _small(early_stopping=True, max_iter=200, n_iter_no_change=5).fit(X, y)
    assert len(reg.validation_scores_) == reg.n_iter_
    assert "val_r2" in reg.history_[0] and "val_loss" in reg.history_[0]
    assert reg.best_validation_score_ == max(reg.validation_scores_) > 0.5
    assert reg.best_loss_ is None


def test_partial_fit_sparse_input_and_pickle():
    X, y = _data()
    reg = _small()
    for _ in range(10):
        reg.partial_fit(sp.csr_array(X), y)
    assert reg.n_iter_ == 10 and reg.loss_curve_[-1] < reg.loss_curve_[0]
    with pytest.raises(ValueError, match="early_stopping"):
        _small(early_stopping=True).partial_fit(X, y)
    loaded = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    np.testing.assert_array_equal(reg.predict(X), reg.predict(sp.csr_array(X)))


def test_sample_weight_equals_repeated_samples():
    rng = np.random.RandomState(42)
    X, y, sw = rng.rand(15, 30), rng.rand(15), rng.randint(0, 5, size=15)
    params = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0, batch_size=200,
                  dropout=0.0, zeta=0.0)
    with pytest.warns(UserWarning, match="clipped"):
        weighted = SETMLPRegressor(**params).fit(X, y, sample_weight=sw)
        repeated = SETMLPRegressor(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-5, atol=1e-6)


def test_in_a_pipeline_under_cross_validation():
    X, y = _data()
    scores = cross_val_score(make_pipeline(StandardScaler(), _small(max_iter=30)), X, y, cv=3)
    # out of sample on 200 training samples of 40 features; measured 0.48-0.59
    assert scores.shape == (3,) and scores.mean() > 0.35


def test_targets_far_from_zero_train_and_huge_steps_warn():
    X, y = _data()
    # at the "auto" settings (no dropout), MLPRegressor's SGD trains on targets near
    # 100, and so must this one; with dropout 0.3 it diverged at epoch 8
    reg = _small(max_iter=30, learning_rate_init="auto").fit(X, 100 + 3 * y)
    assert reg.loss_curve_[-1] < 0.05 * reg.loss_curve_[0]
    with pytest.warns(UserWarning, match=r"constant prediction \(predicting 0"):
        _small(learning_rate_init=0.05, max_iter=3).fit(3 * X, y)  # measured: loss 929


@pytest.mark.parametrize("loss", ["log_loss", "original"])
def test_the_regressor_refuses_the_classifiers_losses(loss):
    X, y = make_regression(n_samples=40, n_features=5, random_state=0)
    with pytest.raises(ValueError, match=f"SETMLPRegressor has no loss='{loss}'"):
        SETMLPRegressor(hidden_layer_sizes=(8,), loss=loss, max_iter=2).fit(X, y)
