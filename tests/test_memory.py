"""Truly sparse: a layer far too large to hold densely trains in little memory."""

from sklearn_set._memory import _BASELINE_BYTES, estimate_fit_bytes

from .conftest import peak_memory_of

WORK = """
from sklearn_set._evolution import evolve_set
from sklearn_set._network import SparseMLP

def work(n, batch, max_grad_norm=None):
    rng = np.random.default_rng(0)
    network = SparseMLP.erdos_renyi([n, n, 2], 20.0, rng)  # an n x n hidden layer
    x = rng.standard_normal((n, batch), dtype=np.float32)
    y = rng.integers(0, 2, batch)
    loss, _ = network.train_batch(x, y, learning_rate=0.01, momentum=0.9, alpha=1e-4, rng=rng,
                                  max_grad_norm=max_grad_norm)
    evolve_set(network.layers[0], 0.3, rng)
    assert np.isfinite(loss)
    return network.nnz
"""


def test_200k_by_200k_layer_trains_and_evolves_in_memory_linear_in_connections():
    nnz, peak_mb = peak_memory_of(WORK, small=dict(n=100, batch=8),
                                  large=dict(n=200_000, batch=8))
    nnz = int(nnz)
    assert nnz == 8_000_000 + 400_000  # 20 * (200k + 200k), plus the 200k x 2 output
    # weights, momentum and 3 indices take 20 bytes a connection between steps; the
    # peak adds evolution's new topology and values (measured: 27 bytes). A
    # dense layer would need 4 * 200k * 200k bytes = 160 GB for its weights alone.
    bytes_per_connection = peak_mb * 2**20 / nnz
    assert bytes_per_connection < 48, f"peak {peak_mb:.0f} MiB = {bytes_per_connection:.1f} B/connection"
    # the estimate that guards fit (beyond its fixed baseline) does not undercount
    estimate = estimate_fit_bytes([200_000, 200_000, 2], 20.0, 8) - _BASELINE_BYTES
    assert peak_mb * 2**20 < estimate, f"peak {peak_mb:.0f} MiB, estimate {estimate / 2**20:.0f} MiB"


def test_clipping_keeps_one_gradient_per_connection_and_the_estimate_counts_it():
    # clipping holds every layer's gradient until it knows the norm: 4 more bytes a
    # connection, which the estimate that guards fit adds when max_grad_norm is set
    clip = dict(batch=8, max_grad_norm=1e-3)
    nnz, peak_mb = peak_memory_of(WORK, small=dict(n=100, **clip), large=dict(n=50_000, **clip))
    nnz = int(nnz)
    bytes_per_connection = peak_mb * 2**20 / nnz
    assert bytes_per_connection < 48 + 4, f"{bytes_per_connection:.1f} B/connection"
    sizes = [50_000, 50_000, 2]
    plain = estimate_fit_bytes(sizes, 20.0, 8)
    clipped = estimate_fit_bytes(sizes, 20.0, 8, clipping=True)
    assert clipped - plain == 4 * nnz
    assert peak_mb * 2**20 < clipped - _BASELINE_BYTES
