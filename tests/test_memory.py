"""Truly sparse: a layer far too large to hold densely trains in little memory."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import resource
    import numpy as np
    from sklearn_set._evolution import evolve_set
    from sklearn_set._network import SparseMLP

    rng = np.random.default_rng(0)
    n, batch = 200_000, 8
    network = SparseMLP.erdos_renyi([n, n, 2], 20.0, rng)  # 200k x 200k hidden layer
    layer = network.layers[0]
    x = rng.standard_normal((n, batch), dtype=np.float32)
    y = rng.integers(0, 2, batch)
    loss, _ = network.train_batch(x, y, learning_rate=0.01, momentum=0.9, alpha=1e-4, rng=rng)
    evolve_set(layer, 0.3, rng)
    assert np.isfinite(loss)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(layer.topology.nnz, peak_mb)
    """
)


def test_200k_by_200k_layer_trains_and_evolves_under_1gb():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    nnz, peak_mb = result.stdout.split()
    assert int(nnz) == 8_000_000  # 20 * (200k + 200k); a dense layer would be 4e10
    dense_gb = 200_000 * 200_000 * 4 / 1e9
    assert float(peak_mb) < 1024, f"peak RSS {peak_mb} MB (dense weights alone: {dense_gb:.0f} GB)"
