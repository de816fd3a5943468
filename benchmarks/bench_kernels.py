"""One sparse layer's training step: our Numba kernels against references.

A step is forward SpMM + input-gradient SpMM + weight gradient at existing connections
(ours: the forward kernel, then one fused pass for the input gradient, the weight
gradient and the momentum update, as training runs it). Compared, in the same
run and on the same data: scipy.sparse (CSR products, the weight gradient gathered
from a dense product of row slices), dense numpy GEMM (the same layer stored densely),
and SparseLab's ``SparseLinear`` (forward + autograd backward, same shape and density)
when it is importable. Installs nothing. Prints medians and ratios.

    python benchmarks/bench_kernels.py [--batch 128] [--repeats 7]
"""

import argparse
import time

import numba
import numpy as np
import scipy.sparse as sp

from sklearn_set._compile import warm_up
from sklearn_set._kernels import backward_momentum_update, spmm
from sklearn_set._topology import erdos_renyi

SHAPES = [(3312, 3000), (20000, 20000)]
DENSE_LIMIT = 20000 * 20000  # dense GEMM is still feasible at this size (1.6 GB)


def median_seconds(step, repeats):
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ours(topology, weights, bias, x, delta):
    velocity = np.zeros_like(weights)
    out = np.empty((topology.n_out, x.shape[1]), dtype=x.dtype)
    grad_in = np.empty_like(x)
    t_weights = np.empty_like(weights)
    lr, mom, decay = np.float32(1e-9), np.float32(0.9), np.float32(0.0)
    no_activation = np.empty((0, 0), dtype=x.dtype)  # the references apply none either

    def step():
        spmm(topology.t_indptr, topology.t_indices, topology.t_order, weights, bias, x, out,
             t_weights)
        backward_momentum_update(topology.indptr, topology.indices, x, delta, weights,
                                 velocity, lr, mom, decay, False, grad_in, no_activation,
                                 scratch=t_weights)  # free again, as in training
    return step


def scipy_reference(topology, weights, bias, x, delta):
    W = sp.csr_array((weights, topology.indices, topology.indptr), shape=topology.shape)
    WT = W.T.tocsr()
    rows = topology.rows()
    cols = topology.indices
    x_samples, delta_samples = np.ascontiguousarray(x.T), np.ascontiguousarray(delta.T)

    def step():
        WT @ x + bias[:, None]
        W @ delta
        # sampled product, chunked to bound memory: sum_b x[i, b] * delta[j, b]
        for start in range(0, rows.shape[0], 1 << 18):
            r, c = rows[start:start + (1 << 18)], cols[start:start + (1 << 18)]
            np.einsum("bp,bp->p", x_samples[:, r], delta_samples[:, c])
    return step


def dense_numpy(topology, weights, bias, x, delta):
    W = sp.csr_array((weights, topology.indices, topology.indptr), shape=topology.shape).toarray()

    def step():
        W.T @ x + bias[:, None]
        W @ delta
        x @ delta.T
    return step


def sparselab_step(topology, x, delta):
    """SparseLab's SparseLinear at the same shape and density: forward + backward.

    Its layout and topology are its own (same nnz, random positions); the input and
    the output gradient are ours, transposed to its (batch, features) convention.
    """
    import sparselab
    import torch

    torch.set_num_threads(numba.get_num_threads())
    density = topology.nnz / (topology.n_in * topology.n_out)
    layer = sparselab.SparseLinear(topology.n_in, topology.n_out, sparsity=1.0 - density)
    inputs = torch.from_numpy(np.ascontiguousarray(x.T)).requires_grad_(True)
    grad_out = torch.from_numpy(np.ascontiguousarray(delta.T))

    def step():
        layer.zero_grad(set_to_none=True)
        inputs.grad = None
        layer(inputs).backward(grad_out)
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epsilon", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    warm_up()
    rng = np.random.default_rng(0)
    try:
        import sparselab  # noqa: F401
        have_sparselab = True
        print(f"SparseLab {sparselab.__version__}: measured, {numba.get_num_threads()} threads")
    except ImportError:
        have_sparselab = False
        print("SparseLab not importable: not measured")
    print(f"float32, epsilon {args.epsilon}, batch {args.batch}, median of {args.repeats}")
    print(f"{'layer':<14} {'nnz':>9} {'ours ms':>9} {'SpLab ms':>9} {'scipy ms':>9} "
          f"{'dense ms':>9} {'SpLab/ours':>10} {'scipy/ours':>10} {'dense/ours':>10}")
    for n_in, n_out in SHAPES:
        topology = erdos_renyi(n_in, n_out, args.epsilon, rng)
        weights = rng.standard_normal(topology.nnz).astype(np.float32) * 0.1
        bias = np.zeros(n_out, dtype=np.float32)
        x = rng.standard_normal((n_in, args.batch)).astype(np.float32)
        delta = rng.standard_normal((n_out, args.batch)).astype(np.float32)
        t_ours = median_seconds(ours(topology, weights, bias, x, delta), args.repeats)
        t_scipy = median_seconds(scipy_reference(topology, weights, bias, x, delta), args.repeats)
        t_dense = (median_seconds(dense_numpy(topology, weights, bias, x, delta), 3)
                   if n_in * n_out <= DENSE_LIMIT else float("nan"))
        t_lab = (median_seconds(sparselab_step(topology, x, delta), args.repeats)
                 if have_sparselab else float("nan"))
        print(f"{n_in}x{n_out:<8} {topology.nnz:>9} {1e3 * t_ours:>9.2f} {1e3 * t_lab:>9.2f} "
              f"{1e3 * t_scipy:>9.2f} {1e3 * t_dense:>9.1f} {t_lab / t_ours:>10.2f} "
              f"{t_scipy / t_ours:>10.1f} {t_dense / t_ours:>10.1f}")


if __name__ == "__main__":
    main()
