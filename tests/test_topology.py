import numpy as np
import pytest

from sklearn_set._topology import (
    Topology,
    _merge_tail,
    _transpose,
    erdos_renyi,
    erdos_renyi_density,
    sample_free_positions,
)

from .conftest import random_topology


@pytest.mark.parametrize(
    "n_in, n_out, epsilon",
    [(1024, 3000, 20), (3000, 3000, 20), (500, 20, 2), (5000, 700, 5), (10, 10, 1)],
)
def test_erdos_renyi_density_within_one_percent(n_in, n_out, epsilon, rng):
    topology = erdos_renyi(n_in, n_out, epsilon, rng)
    expected = epsilon * (n_in + n_out) / (n_in * n_out)
    assert expected < 1
    assert abs(topology.density - expected) <= 0.01 * expected


def test_density_is_capped_at_one(rng):
    assert erdos_renyi_density(3, 4, 20) == 1.0
    topology = erdos_renyi(3, 4, 20, rng)
    assert topology.nnz == 12


def test_erdos_renyi_has_no_duplicates_and_valid_csr(rng):
    topology = erdos_renyi(300, 200, 20, rng)
    keys = topology.keys()
    assert np.all(np.diff(keys) > 0)  # sorted and unique
    assert topology.indptr[0] == 0 and topology.indptr[-1] == topology.nnz
    assert topology.indices.min() >= 0 and topology.indices.max() < 200


def test_transposed_view_lists_the_same_connections(rng):
    topology = random_topology(rng, 40, 30, 300)
    rows_t = topology.t_indices
    cols_t = np.repeat(np.arange(30), np.diff(topology.t_indptr))
    canonical = topology.t_order
    assert np.array_equal(topology.rows()[canonical], rows_t)
    assert np.array_equal(topology.indices[canonical], cols_t)
    assert np.array_equal(np.sort(canonical), np.arange(topology.nnz))


@pytest.mark.parametrize("n_chunks", [1, 2, 5])
@pytest.mark.parametrize("bucket_bits", [0, 1, 3, 16])
def test_transpose_is_the_stable_sort_by_output_neuron(n_chunks, bucket_bits, rng):
    # 37 outputs: the last bucket is partial for every bucket width; rows 0 and 5 and
    # some columns are empty
    topology = random_topology(rng, 50, 37, 400)
    keys = topology.keys()
    keys = keys[(keys // 37 != 0) & (keys // 37 != 5) & (keys % 37 % 11 != 4)]
    topology = Topology.from_keys(keys, 50, 37)
    t_indptr = np.empty(38, dtype=np.int64)
    t_indices = np.empty(topology.nnz, dtype=np.int32)
    t_order = np.empty(topology.nnz, dtype=np.int32)
    offsets = np.empty(topology.nnz if bucket_bits else 0, dtype=np.uint16)
    _transpose(topology.indptr, topology.indices, n_chunks, bucket_bits, t_indptr, t_indices,
               t_order, offsets)
    expected_order = np.argsort(topology.indices, kind="stable")
    assert np.array_equal(t_order, expected_order)
    assert np.array_equal(t_indices, topology.rows()[expected_order])
    assert np.array_equal(t_indptr, np.r_[0, np.cumsum(np.bincount(topology.indices,
                                                                   minlength=37))])


@pytest.mark.parametrize("n_old, n_new", [(0, 5), (5, 0), (40, 7), (7, 40), (1, 1)])
def test_merge_tail_is_the_sorted_union(n_old, n_new, rng):
    old = np.sort(rng.choice(100, n_old, replace=False))
    new = np.sort(rng.choice(100, n_new, replace=False))  # may repeat keys of old
    keys = np.concatenate([old, new, np.full(5, -7)]).astype(np.int64)
    n = _merge_tail(keys, n_old, n_new)
    assert np.array_equal(keys[:n], np.union1d(old, new))


def _occupied(keys, n_in, n_out):
    return Topology.from_keys(np.asarray(keys, dtype=np.int64), n_in, n_out)


def test_sample_free_positions_avoids_occupied(rng):
    occupied = np.sort(rng.choice(10_000, 3000, replace=False))
    drawn = sample_free_positions(_occupied(occupied, 100, 100), 2000, rng)
    assert drawn.shape == (2000,)
    assert np.all(np.diff(drawn) > 0)
    assert not np.isin(drawn, occupied).any()


def test_sample_free_positions_only_avoids_kept_connections(rng):
    topology = random_topology(rng, 200, 300, 3000)
    keep = rng.random(3000) < 0.5
    drawn = sample_free_positions(topology, 5000, rng, keep)
    assert np.all(np.diff(drawn) > 0)
    keys = topology.keys()
    assert not np.isin(drawn, keys[keep]).any()
    # removed connections are free again: with 5000 of 60000 positions drawn, about
    # 1 in 12 of the 1500 removed ones comes back
    assert 50 < np.isin(keys[~keep], drawn).sum() < 200


def test_sample_free_positions_fills_a_nearly_full_layer(rng):
    occupied = _occupied(np.sort(rng.choice(100, 95, replace=False)), 10, 10)
    drawn = sample_free_positions(occupied, 5, rng)
    assert np.array_equal(np.union1d(drawn, occupied.keys()), np.arange(100))
    with pytest.raises(ValueError, match="only 5"):
        sample_free_positions(occupied, 6, rng)


@pytest.mark.parametrize("n_in, n_out, count", [(5, 10, 5), (40, 50, 30)])
def test_sample_free_positions_is_uniform(n_in, n_out, count, rng):
    """Both branches: enumeration of a small layer, and drawing rounds in a large one."""
    occupied = _occupied([0, 1], n_in, n_out)
    n_free, trials = n_in * n_out - 2, 4000
    counts = np.zeros(n_in * n_out)
    for _ in range(trials):
        counts[sample_free_positions(occupied, count, rng)] += 1
    assert counts[:2].sum() == 0
    # each free position is drawn with probability count / n_free; 5 sd of a binomial
    p = count / n_free
    assert np.all(np.abs(counts[2:] / trials - p) < 5 * np.sqrt(p * (1 - p) / trials))


def test_rewire_reports_sources(rng):
    topology = random_topology(rng, 20, 20, 100)
    keep = rng.random(100) < 0.7
    added = sample_free_positions(topology, 100 - keep.sum(), rng, keep)
    new, source = topology.rewire(keep, added)
    assert new.nnz == 100
    old_keys = topology.keys()
    new_keys = new.keys()
    carried = source >= 0
    assert np.array_equal(old_keys[source[carried]], new_keys[carried])
    assert np.array_equal(new_keys[~carried], added)


def test_pickle_round_trip_rebuilds_transpose(rng):
    import pickle

    topology = random_topology(rng, 30, 20, 150)
    clone = pickle.loads(pickle.dumps(topology))
    for name in ("n_in", "n_out", "indptr", "indices", "t_indptr", "t_indices", "t_order"):
        value = getattr(topology, name)
        assert np.array_equal(getattr(clone, name), value)


@pytest.mark.parametrize("length", [0, 1, 5, 32, 33, 100, 1000])
def test_a_row_of_draws_sorts_like_numpy(length, rng):
    from sklearn_set._topology import _sort_short

    values = rng.integers(0, 50, length + 10).astype(np.int32)  # with repeats
    expected = values.copy()
    expected[5:5 + length] = np.sort(values[5:5 + length])
    _sort_short(values, 5, 5 + length)
    np.testing.assert_array_equal(values, expected)


def test_serial_and_threaded_versions_of_a_kernel_agree(rng):
    from sklearn_set._topology import _accept_free, _merge_rows

    topology = random_topology(rng, 300, 200, 6000)
    keep = rng.random(topology.nnz) < 0.7
    draws = np.bincount(rng.integers(0, 300, 2000), minlength=300)
    draw_indptr = np.concatenate([[0], np.cumsum(draws)]).astype(np.int64)
    columns = rng.integers(0, 200, 2000).astype(np.int32)
    results = []
    for kernel in (_accept_free.serial, _accept_free.parallel):
        out = np.zeros(2000, dtype=np.int64)
        n = kernel(topology.indptr, topology.indices, keep, draw_indptr, columns.copy(), 200,
                   np.empty(301, dtype=np.int64), out)
        results.append(out[:n])
    np.testing.assert_array_equal(*results)
    added = np.setdiff1d(results[0], topology.keys()[keep])
    added_indptr = np.searchsorted(added, np.arange(301, dtype=np.int64) * 200)
    n_new = int(np.count_nonzero(keep)) + added.shape[0]
    merged = []
    for kernel in (_merge_rows.serial, _merge_rows.parallel):
        out = (np.zeros(301, dtype=np.int64), np.empty(n_new, dtype=np.int32),
               np.empty(n_new, dtype=np.int32))
        kernel(topology.indptr, topology.indices, keep, added, added_indptr, 200, *out)
        merged.append(out)
    for a, b in zip(*merged, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threaded", [False, True])
def test_accepted_draws_are_the_distinct_ones_off_kept_connections(threaded, rng):
    # rows with no draws, rows drawing the same column twice, draws on kept and on
    # dropped connections
    from sklearn_set._topology import _accept_free

    n_in, n_out = 50, 130
    topology = random_topology(rng, n_in, n_out, 2000)
    keep = rng.random(topology.nnz) < 0.6
    draws = np.bincount(rng.integers(0, n_in - 10, 900), minlength=n_in)
    draw_indptr = np.concatenate([[0], np.cumsum(draws)]).astype(np.int64)
    columns = rng.integers(0, n_out, 900).astype(np.int32)
    rows = np.repeat(np.arange(n_in), draws)
    expected = np.setdiff1d(rows * n_out + columns, topology.keys()[keep])  # sorted, distinct
    out = np.zeros(900, dtype=np.int64)
    kernel = _accept_free.parallel if threaded else _accept_free.serial
    n = kernel(topology.indptr, topology.indices, keep, draw_indptr, columns, n_out,
               np.empty(n_in + 1, dtype=np.int64), out)
    np.testing.assert_array_equal(out[:n], expected)
