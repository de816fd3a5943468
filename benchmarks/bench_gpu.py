"""GPU: one sparse layer's training step, ours against CuPy's cuSPARSE, then a whole
epoch of the 1M-neuron model on the GPU against the CPU at 2 threads, in one run.

For each layer shape (Erdős–Rényi, epsilon 20, float32) it times, as the median of
``--repeats`` synchronised runs:

* ``forward``: :func:`sklearn_set._cuda_kernels.spmm_activate` (ReLU), against
  ``WT @ x`` with ``cupyx.scipy.sparse`` (cuSPARSE SpMM);
* ``input grad``: :func:`~sklearn_set._cuda_kernels.spmm_transposed`, against
  ``W @ delta``;
* ``SDDMM+update``: the weight gradient at the connections fused with the momentum
  update (:func:`~sklearn_set._cuda_kernels.backward_momentum_update` without an input
  gradient, as for a first layer), against CuPy's composite: the gradient gathered in chunks of connections
  (``(x[rows] * delta[cols]).sum(1)``; cuSPARSE's SDDMM is not exposed by CuPy), then
  the momentum update as array expressions;
* ``step``: the three together, and ``fused step``: the forward pass and
  :func:`~sklearn_set._cuda_kernels.backward_momentum_update` with the input gradient,
  as training runs.

Then ``SETMLPClassifier(device="cuda")`` trains one epoch (SET evolution included) of
``benchmarks/bench_scale.py``'s model (3 x 350 000 hidden on 200 lung-shaped samples),
after one epoch that compiles; the same epoch on the CPU kernels at 2 threads gives the
ratio. Prints one table. Needs a GPU (numba.cuda) and, for the reference column, CuPy.

    python benchmarks/bench_gpu.py                          # about 3 minutes on an H100
    python benchmarks/bench_gpu.py --layers 2000x2000x64 --no-epoch   # a quick look
"""

import argparse
import sys
import time

import numba
import numpy as np
from numba import cuda

from sklearn_set import SETMLPClassifier
from sklearn_set import _cuda_kernels as K
from sklearn_set._device import DeviceLayer, cuda_available
from sklearn_set._network import SparseLayer
from sklearn_set._topology import erdos_renyi


def _median_ms(run, repeats):
    run()  # compile or warm up
    cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - start))
    return float(np.median(times))


def ours(layer, x, delta, local, repeats):
    out = cuda.device_array((layer.n_out, x.shape[1]), np.float32)
    below = cuda.device_array(x.shape, np.float32)
    epoch = cuda.to_device(np.zeros(4))
    lr, momentum, decay = np.float32(1e-3), np.float32(0.9), np.float32(1e-6)

    def forward():
        K.spmm_activate[K.blocks(out.size), K.THREADS](
            layer.t_indptr, layer.t_indices, layer.t_order, layer.weights, layer.bias, x,
            1, np.float32(0), 1.0, np.uint64(0), out, local)

    def input_gradient():
        K.spmm_transposed[K.blocks(below.size), K.THREADS](
            layer.indptr, layer.indices, layer.weights, delta, local, below)

    def update():
        K.backward_momentum_update[layer.n_in, K.LANES](
            layer.indptr, layer.indices, x, delta, layer.weights, layer.velocity, lr,
            momentum, decay, False, np.float32(0), epoch, local, local)

    def step():
        forward()
        input_gradient()
        update()

    def fused_step():
        forward()
        K.backward_momentum_update[layer.n_in, K.LANES](
            layer.indptr, layer.indices, x, delta, layer.weights, layer.velocity, lr,
            momentum, decay, False, np.float32(0), epoch, below, local)

    return [_median_ms(f, repeats) for f in (forward, input_gradient, update, step,
                                             fused_step)]


def cupy_composite(topology, weights, x_host, delta_host, repeats, chunk=1 << 22):
    try:
        import cupy as cp
        import cupyx.scipy.sparse as cps
    except ImportError:
        return None
    rows = cp.asarray(np.repeat(np.arange(topology.n_in, dtype=np.int32),
                                np.diff(topology.indptr)))
    cols = cp.asarray(topology.indices)
    data = cp.asarray(weights)
    W = cps.csr_matrix((data, cols, cp.asarray(topology.indptr)), shape=topology.shape)
    WT = W.T.tocsr()
    x, delta = cp.asarray(x_host), cp.asarray(delta_host)
    velocity = cp.zeros_like(data)

    def sync_ms(run):
        run()
        cp.cuda.Device().synchronize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            cp.cuda.Device().synchronize()
            times.append(1e3 * (time.perf_counter() - start))
        return float(np.median(times))

    def forward():
        cp.maximum(WT @ x, 0)

    def input_gradient():
        W @ delta

    def update():
        grad = cp.empty_like(data)
        for start in range(0, grad.shape[0], chunk):
            stop = min(start + chunk, grad.shape[0])
            grad[start:stop] = (x[rows[start:stop]] * delta[cols[start:stop]]).sum(axis=1)
        velocity[...] = 0.9 * velocity - 1e-3 * (grad + 1e-6 * data)
        data[...] += velocity

    def step():
        forward()
        input_gradient()
        update()

    return [sync_ms(f) for f in (forward, input_gradient, update, step)]


def layer_rows(spec, repeats, rng):
    n_in, n_out, batch = spec
    topology = erdos_renyi(n_in, n_out, 20.0, rng)
    weights = rng.standard_normal(topology.nnz).astype(np.float32) * 0.01
    layer = DeviceLayer.from_host(SparseLayer(topology, weights, np.zeros(n_out, np.float32)))
    x_host = rng.standard_normal((n_in, batch)).astype(np.float32)
    delta_host = rng.standard_normal((n_out, batch)).astype(np.float32)
    x, delta = cuda.to_device(x_host), cuda.to_device(delta_host)
    mine = ours(layer, x, delta, cuda.device_array((0, 0), np.float32), repeats)
    theirs = cupy_composite(topology, weights, x_host, delta_host, repeats)
    return topology.nnz, mine, theirs


def epoch_seconds(device, threads=None):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3312)).astype(np.float32)
    y = np.arange(200) % 5
    if threads:
        numba.set_num_threads(threads)
    clf = SETMLPClassifier((350_000,) * 3, epsilon=20.0, batch_size=32, random_state=0,
                           device=device)
    clf.partial_fit(X, y, np.unique(y))  # builds and, on the GPU, compiles
    start = time.perf_counter()
    clf.partial_fit(X, y)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="1000000x1000000x128,20000x20000x1024",
                        help="comma-separated n_in x n_out x batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-epoch", action="store_true", help="skip the whole epoch")
    args = parser.parse_args(argv)
    if not cuda_available():
        print("bench_gpu: no GPU that numba.cuda can use here: nothing measured.",
              file=sys.stderr)
        return 1
    if numba.config.ENABLE_CUDASIM:
        print("numba's CUDA simulator: the figures below say nothing about speed")
    else:
        print(f"GPU: {cuda.get_current_device().name.decode()}, float32, epsilon 20; "
              f"milliseconds, median of {args.repeats}")
    print(f"{'layer x batch':<24} {'nnz':>11} {'part':<13} {'ours':>9} {'CuPy':>9} "
          f"{'CuPy/ours':>9}")
    rng = np.random.default_rng(0)
    for spec in args.layers.split(","):
        n_in, n_out, batch = (int(v) for v in spec.lower().split("x"))
        nnz, mine, theirs = layer_rows((n_in, n_out, batch), args.repeats, rng)
        reference = theirs + [theirs[3]] if theirs else [None] * 5  # CuPy has no fusion
        for part, m, t in zip(("forward", "input grad", "SDDMM+update", "step",
                               "fused step"), mine, reference, strict=False):
            t_text = f"{t:9.2f}" if t is not None else f"{'n/a':>9}"
            ratio = f"{t / m:9.1f}" if t is not None else f"{'':>9}"
            print(f"{spec:<24} {nnz:>11,} {part:<13} {m:9.2f} {t_text} {ratio}")
        print(f"{'':<24} {'':>11} SDDMM/forward {mine[2] / mine[0]:9.2f}")
    if not args.no_epoch:
        gpu = epoch_seconds("cuda")
        cpu = epoch_seconds("cpu", threads=2)
        print(f"1M-neuron epoch (3 x 350 000 hidden, bench_scale's model): GPU {gpu:.2f} s, "
              f"CPU at 2 threads {cpu:.2f} s, CPU/GPU {cpu / gpu:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
