"""The evolve-and-prune schedule: a plain function of a clock that starts with each fit."""

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sklearn_set import SETMLPClassifier, _base
from sklearn_set._schedule import Schedule, zeta_at


def _data(n_samples=120):
    return make_classification(n_samples=n_samples, n_features=20, n_informative=6,
                               n_classes=3, class_sep=2.0, random_state=0)


def _model(**params):
    defaults = dict(hidden_layer_sizes=(30, 30), epsilon=3, max_iter=4, n_iter_no_change=100,
                    random_state=0)
    return SETMLPClassifier(**{**defaults, **params})


# -- the schedule on its own ----------------------------------------------------------
def test_epoch_evolution_runs_every_k_epochs_until_the_stop_and_never_after_the_last():
    schedule = Schedule(n_epochs=10, zeta=0.3, evolve_every=2, evolve_stop=0.8)
    assert [schedule.zeta_after_epoch(e) for e in range(1, 11)] == [
        0, 0.3, 0, 0.3, 0, 0.3, 0, 0, 0, 0]
    assert Schedule(n_epochs=4, zeta=0.3).zeta_after_epoch(4) == 0  # the last epoch
    assert all(Schedule(n_epochs=4, zeta=0.3).zeta_after_batch(1, b) == 0 for b in range(9))


def test_pruning_runs_from_its_start_every_k_epochs_but_not_after_the_last():
    schedule = Schedule(n_epochs=30, zeta=0.3, prune_start=9, prune_every=5)
    assert [e for e in range(1, 40) if schedule.prune_after_epoch(e)] == [9, 14, 19, 24, 29]
    assert not any(Schedule(n_epochs=30).prune_after_epoch(e) for e in range(1, 40))


def test_batch_clock_spans_the_fit_or_follows_the_epoch_without_a_fixed_epoch_size():
    fit = Schedule(n_epochs=4, batches_per_epoch=5, zeta=0.3, zeta_schedule="cosine",
                   evolve_unit="batch", evolve_every=2)
    assert fit.zeta_after_batch(1, 3) == 0  # not due
    assert fit.zeta_after_batch(2, 10) == pytest.approx(zeta_at(10, 20, 0.3, "cosine"))
    assert fit.zeta_after_epoch(2) == 0
    chunks = Schedule(n_epochs=4, zeta=0.3, zeta_schedule="cosine", evolve_unit="batch")
    assert chunks.zeta_after_batch(3, 1) == chunks.zeta_after_batch(3, 999)
    assert chunks.zeta_after_batch(3, 1) == pytest.approx(zeta_at(2, 4, 0.3, "cosine"))
    assert chunks.zeta_after_batch(5, 1) == 0


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="evolve_unit"):
        Schedule(n_epochs=3, evolve_unit="step")
    with pytest.raises(ValueError, match="zeta schedule"):
        Schedule(n_epochs=3, zeta_schedule="linear")


# -- the estimator follows it, fit after fit -------------------------------------------
def test_a_warm_started_fit_rewires_as_the_first_did():
    X, y = _data()
    clf = _model(warm_start=True).fit(X, y)
    first = [r["rewired"] for r in clf.history_]
    clf.fit(X, y)
    second = [r["rewired"] for r in clf.history_[4:]]
    assert first[:-1] and all(r > 0 for r in first[:-1]) and first[-1] == 0
    assert second[-1] == 0
    # the count differs by rounding only: each sign of each layer loses int(zeta * count)
    np.testing.assert_allclose(second[:-1], first[:-1], rtol=0.02)
    assert clf.n_iter_ == 8 and [r["epoch"] for r in clf.history_] == list(range(1, 9))


def test_pruning_follows_its_schedule_within_each_fit():
    X, y = _data()
    clf = _model(max_iter=6, warm_start=True, prune="importance", prune_start=0.3,
                 prune_every=2).fit(X, y)
    clf.fit(X, y)
    pruned = [r["pruned_neurons"] > 0 for r in clf.history_]
    # pruning after epochs 2 and 4 of each fit (round(0.3 * 6) = 2), never after the last
    assert pruned == [False, True, False, True, False, False] * 2
    rewired = [r["rewired"] > 0 for r in clf.history_]
    assert rewired == [True] * 5 + [False] + [True] * 5 + [False]


def _zetas_by_call(monkeypatch, clf, chunks):
    """The ζ of every evolution step, grouped by the partial_fit call it ran in."""
    seen = []
    evolve = _base.evolve_network
    monkeypatch.setattr(_base, "evolve_network",
                        lambda network, zeta, *args: seen.append(zeta) or evolve(network, zeta, *args))
    by_call = []
    for X, y in chunks:
        seen.clear()
        clf.partial_fit(X, y, classes=[0, 1, 2])
        by_call.append(sorted(set(seen)))
    return by_call


def test_partial_fit_with_uneven_chunks_follows_the_same_zeta_schedule(monkeypatch):
    X, y = _data(n_samples=300)
    params = dict(max_iter=5, evolve_unit="batch", zeta_schedule="cosine", batch_size=10)
    sizes = [30, 90, 50, 20, 70, 40]
    bounds = np.cumsum([0, *sizes])
    uneven = [(X[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    even = [(X[:50], y[:50])] * len(sizes)
    zetas_uneven = _zetas_by_call(monkeypatch, _model(**params), uneven)
    zetas_even = _zetas_by_call(monkeypatch, _model(**params), even)
    assert zetas_uneven == zetas_even
    expected = [[pytest.approx(zeta_at(k, 5, 0.3, "cosine"))] for k in range(5)] + [[]]
    assert zetas_even == expected  # one ζ per call, and none from call max_iter on


def test_partial_fit_prunes_on_its_own_clock_from_the_first_call():
    X, y = _data()
    clf = _model(max_iter=6, prune="importance", prune_start=0.3, prune_every=2)
    for _ in range(8):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert [r["pruned_neurons"] > 0 for r in clf.history_] == [
        False, True, False, True, False, False, False, False]


def test_pruning_steps_share_the_target_geometrically():
    schedule = Schedule(n_epochs=50, prune_start=20, prune_every=10, prune_target=0.5)
    assert schedule.n_prune_steps == 3  # after epochs 20, 30 and 40
    left = [1 - schedule.pruned_after_epoch(e) for e in (19, 20, 30, 40, 49)]
    assert left == pytest.approx([1, 0.5 ** (1 / 3), 0.5 ** (2 / 3), 0.5, 0.5])
    assert Schedule(n_epochs=5, prune_start=8).n_prune_steps == 0
