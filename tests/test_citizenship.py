"""What MLPClassifier users rely on: feature selection, partial_fit, persistence, export."""

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.feature_selection import SelectFromModel
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_set import SETMLPClassifier


def _data(n_classes=3, n_samples=150, n_features=30, seed=0):
    X, y = make_classification(
        n_samples=n_samples, n_features=n_features, n_informative=6, n_redundant=0,
        n_classes=n_classes, class_sep=2.0, shuffle=False, random_state=seed,
    )
    return StandardScaler().fit_transform(X), y


def _model(**params):
    defaults = dict(hidden_layer_sizes=(40, 40), max_iter=20, random_state=0)
    return SETMLPClassifier(**{**defaults, **params})


# -- feature selection ---------------------------------------------------------------
def test_feature_importances_are_the_first_layer_magnitudes():
    X, y = _data()
    clf = _model().fit(X, y)
    first = clf.coefs_[0]
    expected = np.asarray(abs(first).sum(axis=1)).ravel()
    np.testing.assert_allclose(clf.feature_importances_, expected / expected.sum(), rtol=1e-6)
    assert clf.feature_importances_.shape == (X.shape[1],)


def test_select_from_model_in_a_pipeline_prefers_informative_features():
    # shuffle=False puts the 6 informative features first; the other 94 are noise
    X, y = _data(n_features=100, n_samples=200)
    model = _model(hidden_layer_sizes=(100,), max_iter=60, epsilon=10)
    selector = SelectFromModel(model, max_features=6, threshold=-np.inf)
    pipe = make_pipeline(selector, LogisticRegression(max_iter=500)).fit(X, y)
    chosen = np.flatnonzero(pipe[0].get_support())
    importance = pipe[0].estimator_.feature_importances_
    assert len(chosen) == 6
    # at random, 0.36 of 6 picks would be informative on average
    assert np.count_nonzero(chosen < 6) >= 3, chosen
    assert importance[:6].mean() > 1.3 * importance[6:].mean()
    # chance is 1/3; over random_state 0-23 this pipeline scored 0.58-0.89 (median
    # 0.76), depending on how many of the 6 picks are informative
    assert pipe.score(X, y) > 0.6


# -- partial_fit --------------------------------------------------------------------
def test_partial_fit_needs_classes_first_and_rejects_unknown_labels():
    X, y = _data()
    clf = _model()
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes"):
        clf.partial_fit(X[:5], np.full(5, 7))
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X[:5], y[:5], classes=[0, 1])


def test_partial_fit_epochs_learn_and_evolve():
    X, y = _data()
    clf = _model()
    for _ in range(15):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 15 and len(clf.history_) == 15
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert all(r["rewired"] > 0 for r in clf.history_)  # SET runs after each call
    assert clf.score(X, y) > 0.8
    # deterministic for a fixed seed
    other = _model()
    for _ in range(15):
        other.partial_fit(X, y, classes=np.unique(y))
    np.testing.assert_array_equal(clf.predict_proba(X), other.predict_proba(X))


def test_partial_fit_accepts_a_subset_of_classes_in_a_batch():
    X, y = _data()
    clf = _model()
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])
    assert clf.predict_proba(X).shape == (X.shape[0], 3)


# -- persistence --------------------------------------------------------------------
@pytest.mark.parametrize("dump, load", [
    (lambda m, f: pickle.dump(m, f), pickle.load),
    (lambda m, f: joblib.dump(m, f), joblib.load),
])
def test_pickle_and_joblib_round_trip(dump, load):
    X, y = _data()
    clf = _model(prune="importance", prune_start=0.3, prune_every=3).fit(X, y)
    buffer = io.BytesIO()
    dump(clf, buffer)
    buffer.seek(0)
    loaded = load(buffer)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    for a, b in zip(loaded.coefs_, clf.coefs_, strict=True):
        np.testing.assert_array_equal(a.indptr, b.indptr)
        np.testing.assert_array_equal(a.indices, b.indices)
    assert loaded.hidden_layer_sizes_ == clf.hidden_layer_sizes_
    # the loaded model trains on
    loaded.set_params(warm_start=True, max_iter=2).fit(X, y)


def test_skops_round_trip_without_executing_code():
    sio = pytest.importorskip("skops.io")
    X, y = _data()
    clf = _model().fit(X, y)
    data = sio.dumps(clf)
    untrusted = sio.get_untrusted_types(data=data)
    assert sorted(untrusted) == [
        "sklearn_set._estimator.SETMLPClassifier",
        "sklearn_set._network.SparseLayer",
        "sklearn_set._network.SparseMLP",
        "sklearn_set._topology.Topology",
    ]
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_a_corrupt_topology_is_refused_before_any_kernel_runs():
    X, y = _data()
    clf = _model().fit(X, y)
    state = clf.network_.layers[0].topology.__getstate__()
    bad = dict(state, indices=state["indices"].copy())
    bad["indices"][0] = 10**6
    topology = object.__new__(type(clf.network_.layers[0].topology))
    with pytest.raises(ValueError, match="indices must lie in"):
        topology.__setstate__(bad)
    layer_state = clf.network_.layers[0].__getstate__()
    layer = object.__new__(type(clf.network_.layers[0]))
    with pytest.raises(ValueError, match="weights must be a float array"):
        layer.__setstate__(dict(layer_state, weights=layer_state["weights"][:-1]))


# -- export -------------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_to_mlpclassifier_gives_the_same_probabilities(n_classes, activation):
    X, y = _data(n_classes=n_classes)
    clf = _model(activation=activation, prune="importance", prune_start=0.3,
                 prune_every=5).fit(X, y)
    mlp = clf.to_mlpclassifier()
    np.testing.assert_allclose(mlp.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(mlp.predict(X), clf.predict(X))
    assert mlp.hidden_layer_sizes == clf.hidden_layer_sizes_
    assert mlp.score(X, y) == clf.score(X, y)


@pytest.mark.parametrize("nesterovs_momentum", [False, True])
def test_sgd_steps_match_mlpclassifier(nesterovs_momentum):
    # From the same weights and zero momentum, two full-batch steps of a fully
    # connected network follow MLPClassifier(solver="sgd") step for step: the same
    # loss, L2 term, momentum and (optionally) Nesterov rule.
    X, y = _data(n_classes=3, n_samples=60)
    X = X.astype(np.float32)
    clf = _model(hidden_layer_sizes=(8,), epsilon=float("inf"), dropout=0.0, zeta=0.0,
                 batch_size=60, learning_rate_init=0.05, alpha=1e-2,
                 nesterovs_momentum=nesterovs_momentum)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    for layer in clf.network_.layers:
        layer.velocity[:] = 0
        layer.bias_velocity[:] = 0
    mlp = clf.to_mlpclassifier()
    for _ in range(2):
        clf.partial_fit(X, y)
        mlp.partial_fit(X, y)
    np.testing.assert_allclose(mlp.predict_proba(X), clf.predict_proba(X), rtol=1e-4,
                               atol=1e-5)
    for ours, theirs in zip(clf.coefs_, mlp.coefs_, strict=True):
        np.testing.assert_allclose(ours.toarray(), theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("batch_size, expected", [("auto", 32), (17, 17)])
def test_an_exported_model_keeps_the_batch_size(batch_size, expected):
    X, y = _data()
    mlp = _model(max_iter=2, batch_size=batch_size).fit(X, y).to_mlpclassifier()
    assert mlp.batch_size == expected  # "auto" is 200 in MLPClassifier, 32 here


def test_allrelu_cannot_be_exported():
    X, y = _data()
    clf = _model(activation="allrelu", max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="no activation 'allrelu'"):
        clf.to_mlpclassifier()


# -- progress -----------------------------------------------------------------------
def test_verbose_two_adds_timings(capsys):
    X, y = _data()
    _model(max_iter=2, verbose=1).fit(X, y)
    one = capsys.readouterr().out.strip().splitlines()[-1]
    _model(max_iter=2, verbose=2).fit(X, y)
    two = capsys.readouterr().out.strip().splitlines()[-1]
    assert one.startswith("Iteration 2, loss = ") and "nnz = " in one and "hidden neurons = 80" in one
    assert "forward" not in one
    assert "forward" in two and "evolution" in two
    assert "training outside the kernels" in two and "of the epoch)" in two


def test_verbose_two_names_the_threads_and_their_layer(capsys):
    import numba

    from sklearn_set._threads import thread_limit

    X, y = _data()
    _model(max_iter=2, verbose=2).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    threads = [line for line in lines if line.startswith("Numba kernels on ")]
    assert len(threads) == 1  # once per fit, before the first epoch's line
    assert lines.index(threads[0]) == lines.index(next(
        line for line in lines if line.startswith("Iteration 1,"))) - 1
    assert f"threading layer {numba.threading_layer()}" in threads[0]
    assert f"on {thread_limit()} threads" in threads[0]
    _model(max_iter=2, verbose=1).fit(X, y)
    assert "Numba kernels on" not in capsys.readouterr().out
