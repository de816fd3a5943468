import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_set._evolution import evolve_set, set_keep_mask
from sklearn_set._network import SparseLayer

from .conftest import random_topology


def _layer(rng, n_in=60, n_out=50, nnz=600):
    topology = random_topology(rng, n_in, n_out, nnz)
    weights = rng.standard_normal(nnz).astype(np.float32)
    layer = SparseLayer(topology, weights, np.zeros(n_out, dtype=np.float32))
    layer.velocity = rng.standard_normal(nnz).astype(np.float32)
    return layer


@pytest.mark.parametrize("zeta", [0.1, 0.3, 0.5, 0.9])
def test_keep_mask_removes_the_fraction_closest_to_zero_by_sign(zeta, rng):
    weights = rng.standard_normal(1001)
    keep = set_keep_mask(weights, zeta)
    neg, pos = weights < 0, weights >= 0
    removed_neg, removed_pos = neg & ~keep, pos & ~keep
    assert removed_neg.sum() == int(zeta * neg.sum())
    assert removed_pos.sum() == int(zeta * pos.sum())
    # removed negatives are the largest negatives, removed positives the smallest
    assert weights[removed_neg].min() >= weights[neg & keep].max()
    assert weights[removed_pos].max() <= weights[pos & keep].min()


def test_evolution_keeps_nnz_and_never_duplicates(rng):
    layer = _layer(rng)
    for _ in range(20):
        expected = int(0.3 * (layer.weights < 0).sum()) + int(0.3 * (layer.weights >= 0).sum())
        assert evolve_set(layer, 0.3, rng, "he_uniform") == expected
        keys = layer.topology.keys()
        assert layer.topology.nnz == 600
        assert np.all(np.diff(keys) > 0)
        assert layer.weights.shape == layer.velocity.shape == (600,)


def test_momentum_and_weights_follow_their_connection(rng):
    layer = _layer(rng)
    before = dict(zip(layer.topology.keys(),
                      zip(layer.weights, layer.velocity, strict=True), strict=True))
    keep = set_keep_mask(layer.weights, 0.3)
    kept_keys = set(layer.topology.keys()[keep])
    removed_keys = set(layer.topology.keys()[~keep])
    evolve_set(layer, 0.3, rng, "he_uniform")
    after_keys = layer.topology.keys()
    for key, w, v in zip(after_keys, layer.weights, layer.velocity, strict=True):
        if key in kept_keys:
            assert (w, v) == before[key]
        else:  # regrown, possibly at a just-removed position
            assert v == 0
            assert key in removed_keys or key not in before
    assert kept_keys <= set(after_keys)


def test_evolution_on_a_full_layer_reinitialises_in_place(rng):
    layer = _layer(rng, 10, 8, 80)
    keys = layer.topology.keys().copy()
    evolve_set(layer, 0.5, rng, "he_uniform")
    assert np.array_equal(layer.topology.keys(), keys)
    assert np.count_nonzero(layer.velocity == 0) >= 39


def test_transpose_is_consistent_after_evolution(rng):
    layer = _layer(rng)
    evolve_set(layer, 0.3, rng, "he_uniform")
    t = layer.topology
    cols = np.repeat(np.arange(t.n_out), np.diff(t.t_indptr))
    assert_allclose(t.indices[t.t_order], cols)
    assert_allclose(t.rows()[t.t_order], t.t_indices)


def _keep_mask_reference(weights, zeta):
    """SET's removal by stable sort: the closest to zero of each sign, ties by position."""
    keep = np.ones(weights.shape[0], dtype=bool)
    negative = weights < 0
    for side in (np.flatnonzero(negative), np.flatnonzero(~negative)):
        order = np.argsort(np.abs(weights[side]), kind="stable")
        keep[side[order[:int(zeta * side.shape[0])]]] = False
    return keep


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zeros", [0, 5, 400])
def test_keep_mask_breaks_ties_by_position_and_takes_zeros_first(zeros, dtype):
    rng = np.random.default_rng(zeros)
    values = np.round(rng.standard_normal(1000), 1).astype(dtype)  # many ties
    values[rng.choice(1000, zeros, replace=False)] = rng.choice([0.0, -0.0], zeros)
    values[:3] = [np.finfo(dtype).tiny / 4, -np.finfo(dtype).max, np.inf]  # subnormal, extremes
    for zeta in (0.0, 0.001, 0.3, 0.5, 0.999):
        np.testing.assert_array_equal(set_keep_mask(values, zeta),
                                      _keep_mask_reference(values, zeta))


@pytest.mark.parametrize("n_chunks", [2, 3, 7])
def test_keep_mask_is_the_same_however_the_weights_are_split(n_chunks):
    """The parallel chunks share the ties at the threshold in position order."""
    from sklearn_set._evolution import _keep_mask_in_chunks

    rng = np.random.default_rng(n_chunks)
    weights = np.round(rng.standard_normal(5000), 1).astype(np.float32)
    weights[rng.random(5000) < 0.3] = 0.0
    for zeta in (0.1, 0.3, 0.9):
        keep = _keep_mask_in_chunks(weights, zeta, n_chunks)
        np.testing.assert_array_equal(keep, _keep_mask_reference(weights, zeta))


@pytest.mark.parametrize("radix_bits", [7, 11, 16])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keep_mask_is_the_same_at_any_radix_width(radix_bits, dtype, monkeypatch):
    """Small chunks resolve fewer bits per pass than large ones; the selection is exact
    either way."""
    from sklearn_set import _evolution

    monkeypatch.setattr(_evolution, "_radix_bits", lambda chunk_size: radix_bits)
    rng = np.random.default_rng(radix_bits)
    weights = np.round(rng.standard_normal(3000), 2).astype(dtype)
    weights[rng.random(3000) < 0.2] = 0.0
    for n_chunks in (1, 3):
        for zeta in (0.05, 0.3, 0.9):
            np.testing.assert_array_equal(_evolution._keep_mask_in_chunks(weights, zeta, n_chunks),
                                          _keep_mask_reference(weights, zeta))
