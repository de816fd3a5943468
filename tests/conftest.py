import numpy as np
import pytest

from sklearn_set._topology import Topology


def random_topology(rng, n_in, n_out, nnz):
    """A uniformly random topology with exactly ``nnz`` connections."""
    keys = np.sort(rng.choice(n_in * n_out, size=nnz, replace=False)).astype(np.int64)
    return Topology.from_keys(keys, n_in, n_out)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
