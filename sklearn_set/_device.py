"""The CUDA backend: a network trained on the GPU with numba.cuda.

:class:`CUDABackend` mirrors :class:`._backend.HostBackend`. At the start of a fit it
copies the network (CSR indices, both views, weights, biases and momentum) and the
training samples to the device; from then on an epoch runs on the device: batches
are gathered there from a permutation uploaded once per epoch, the loss and the
count of correct predictions are summed there, and a loss that stops being finite
freezes the weights there (:func:`._cuda_kernels.finish_batch`). The host reads
four numbers per epoch. The fitted network comes back to the host when the fit loop
asks for it, so a model trained on a GPU is an ordinary host model: it pickles,
and predicts on a machine without one.

Dropout seeds come from the fit's random generator in the CPU's order, and the
kernels hash them the same way, so the GPU drops the same units as the CPU would.
"""

import time

import numpy as np
import scipy.sparse as sp
from numba import cuda

from . import _cuda_kernels as K
from ._cuda_evolution import REGROW_KINDS, evolve_layer
from ._draws import SEED_BOUND
from ._kernels import IDENTITY, LOGISTIC
from ._network import SIGMOID_OUTPUTS, SparseLayer, SparseMLP, samples_as_columns
from ._topology import Topology

__all__ = ["DeviceLayer", "CUDABackend", "cuda_available"]


def cuda_available():
    """Whether numba.cuda sees a GPU (or runs its simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver says so in many ways
        return False


class DeviceLayer:
    """A :class:`._network.SparseLayer`'s arrays on the device, in the same layout."""

    __slots__ = ("n_in", "n_out", "indptr", "indices", "t_indptr", "t_indices", "t_order",
                 "weights", "velocity", "bias", "bias_velocity")

    @classmethod
    def from_host(cls, layer):
        t = layer.topology
        device = cls()
        device.n_in, device.n_out = t.n_in, t.n_out
        for name, array in (("indptr", t.indptr), ("indices", t.indices),
                            ("t_indptr", t.t_indptr), ("t_indices", t.t_indices),
                            ("t_order", t.t_order), ("weights", layer.weights),
                            ("velocity", layer.velocity), ("bias", layer.bias),
                            ("bias_velocity", layer.bias_velocity)):
            setattr(device, name, cuda.to_device(np.ascontiguousarray(array)))
        return device

    @property
    def nnz(self):
        return self.indices.shape[0]

    def to_host(self):
        """The layer as a host :class:`SparseLayer`, its transposed view included."""
        topology = Topology.with_transposed(
            self.n_in, self.n_out, self.indptr.copy_to_host(), self.indices.copy_to_host(),
            (self.t_indptr.copy_to_host(), self.t_indices.copy_to_host(),
             self.t_order.copy_to_host()))
        return SparseLayer(topology, self.weights.copy_to_host(), self.bias.copy_to_host(),
                           self.velocity.copy_to_host(), self.bias_velocity.copy_to_host())


class _Buffers:
    """Activations, local gradients and deltas for one batch size, kept between
    batches so that a batch allocates nothing."""

    def __init__(self, layer_sizes, batch):
        def empty(n):
            return cuda.device_array((n, batch), dtype=np.float32)

        self.x = empty(layer_sizes[0])
        self.activations = [empty(n) for n in layer_sizes[1:]]
        self.local_gradients = [empty(n) for n in layer_sizes[1:-1]]
        self.deltas = [empty(n) for n in layer_sizes[1:]]


class CUDABackend:
    """Trains a :class:`SparseMLP` on the GPU; see the module docstring.

    Parameters
    ----------
    network : SparseMLP
        Copied to the device; the fit loop gets the trained one from :meth:`host`.
    data : tuple
        ``(X, y, sample_weight)``, as :class:`._backend.HostBackend` takes them. A
        dense ``X`` goes to the device whole; a sparse one stays on the host and each
        batch is densified there and copied over.
    batch_size : int
    """

    def __init__(self, network, data, batch_size):
        if not cuda_available():
            raise RuntimeError(
                "device='cuda' needs an NVIDIA GPU that numba.cuda can use, and none was "
                "found (numba.cuda.is_available() is False). Use device='cpu', or set "
                "NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernels in numba's simulator."
            )
        self.activation, self.dropout, self.output = (network.activation, network.dropout,
                                                      network.output)
        self._load(network)
        X, y, sample_weight = data
        self._X_host = X if sp.issparse(X) else None
        self._X = None if sp.issparse(X) else cuda.to_device(np.ascontiguousarray(X, np.float32))
        self._y = cuda.to_device(np.ascontiguousarray(
            y, dtype=np.float32 if self.output == "identity" else np.int64))
        self._sample_weight_host = sample_weight
        self._sample_weight = cuda.to_device(
            np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, float))
        self._buffers = {}
        self._stats = cuda.to_device(np.zeros(3))
        self._norm = cuda.to_device(np.zeros(1))
        self._epoch = cuda.to_device(np.zeros(4))
        self._no_gradient = cuda.device_array((0, 0), dtype=np.float32)
        self._order = None

    # -- moving the network -----------------------------------------------------------
    def _load(self, network):
        self.layers = [DeviceLayer.from_host(layer) for layer in network.layers]
        self._activations = [network._activation(k)[:2] for k in range(len(self.layers) - 1)]
        self._host = network
        self._fresh = True

    def host(self):
        """The network as trained so far, on the host (copied back when it changed)."""
        if not self._fresh:
            self._host = SparseMLP([layer.to_host() for layer in self.layers], self.activation,
                                   self.dropout, self.output)
            self._fresh = True
        return self._host

    def reload(self, network):
        """Continue with ``network``, which the fit loop changed on the host."""
        self.activation, self.dropout = network.activation, network.dropout
        self._load(network)
        self._buffers = {}

    # -- training -----------------------------------------------------------------------
    def _layer_sizes(self):
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    def _buffers_for(self, batch):
        if batch not in self._buffers:
            self._buffers[batch] = _Buffers(self._layer_sizes(), batch)
        return self._buffers[batch]

    def start_epoch(self, order):
        self._order = cuda.to_device(np.ascontiguousarray(order, dtype=np.int64))
        self._position = 0
        self._epoch.copy_to_device(np.zeros(4))

    def train_batch(self, rows, *, learning_rate, momentum, nesterov, alpha, rng, timer,
                    weight_decay=0.0, max_grad_norm=None):
        """One SGD step on ``rows``, the next ``len(rows)`` entries of the epoch's order,
        queued on the device without waiting for it."""
        start = time.perf_counter()
        batch = rows.shape[0]
        rows_device = self._order[self._position:self._position + batch]
        self._position += batch
        buffers = self._buffers_for(batch)
        x = buffers.x
        if self._X is not None:
            K.gather_columns[K.blocks(x.size), K.THREADS](self._X, rows_device, x)
        else:
            x.copy_to_device(samples_as_columns(self._X_host, rows, np.float32))
        if self._sample_weight_host is None:
            total_weight = float(batch)
        else:
            total_weight = float(np.sum(self._sample_weight_host[rows], dtype=np.float64))
        dropping = rng is not None and self.dropout > 0
        keep = 1.0 - self.dropout if dropping else 1.0
        inputs = [x]
        for k, layer in enumerate(self.layers[:-1]):
            seed = rng.integers(SEED_BOUND) if dropping else 0
            kind, slope = self._activations[k]
            out, local_gradient = buffers.activations[k], buffers.local_gradients[k]
            K.spmm_activate[K.blocks(out.size), K.THREADS](
                layer.t_indptr, layer.t_indices, layer.t_order, layer.weights, layer.bias,
                inputs[-1], kind, np.float32(slope), keep, np.uint64(seed), out, local_gradient)
            inputs.append(out)
        last = self.layers[-1]
        out = buffers.activations[-1]
        K.spmm_activate[K.blocks(out.size), K.THREADS](
            last.t_indptr, last.t_indices, last.t_order, last.weights, last.bias, inputs[-1],
            LOGISTIC if self.output in SIGMOID_OUTPUTS else IDENTITY, np.float32(0.0), 1.0,
            np.uint64(0), out, self._no_gradient)
        forward_done = time.perf_counter()
        delta = buffers.deltas[-1]
        inverse_total = 1.0 / total_weight if total_weight > 0 else 0.0
        if self.output == "softmax":
            K.softmax_cross_entropy[K.blocks(batch), K.THREADS](
                out, rows_device, self._y, self._sample_weight, inverse_total,
                float(np.finfo(np.float32).tiny), delta, self._stats)
        elif self.output in SIGMOID_OUTPUTS:
            K.sigmoid_squared_error[K.blocks(batch), K.THREADS](
                out, rows_device, self._y, self._sample_weight, inverse_total,
                self.output == "logistic_original", delta, self._stats)
        else:
            K.squared_error[K.blocks(batch), K.THREADS](
                out, rows_device, self._y, self._sample_weight, inverse_total, delta,
                self._stats)
        for layer in self.layers:
            K.squared_norm[K.blocks(min(layer.nnz, 1 << 16)), K.THREADS](layer.weights,
                                                                         self._norm)
        half_alpha = 0.5 * alpha * inverse_total
        K.finish_batch[1, 1](self._stats, self._norm, half_alpha, total_weight, self._epoch)
        if total_weight > 0:
            if max_grad_norm is not None:
                self._clip(buffers, inputs, delta, max_grad_norm)
            self._backward(buffers, inputs, delta, learning_rate, momentum, nesterov,
                           alpha * inverse_total, weight_decay)
        self._fresh = False
        if timer is not None:
            timer["forward"] += forward_done - start
            timer["backward"] += time.perf_counter() - forward_done

    def _clip(self, buffers, inputs, delta, max_grad_norm):
        """Global-norm clipping of the data loss's gradient, as on the CPU: one backward
        pass without updates sums the gradient's squared norm, then the output delta is
        scaled down to ``max_grad_norm`` when the norm is larger. The deltas below are
        written into the buffers that the update pass then overwrites."""
        output_delta = delta
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            K.squared_gradient_norm[K.blocks(layer.n_in + layer.n_out), K.THREADS](
                layer.indptr, layer.indices, inputs[k], delta, self._stats)
            if k > 0:
                below = buffers.deltas[k - 1]
                K.spmm_transposed[K.blocks(below.size), K.THREADS](
                    layer.indptr, layer.indices, layer.weights, delta,
                    buffers.local_gradients[k - 1], below)
                delta = below
        K.clip_delta[K.blocks(output_delta.size), K.THREADS](output_delta, self._stats,
                                                            np.float32(max_grad_norm))

    def _backward(self, buffers, inputs, delta, learning_rate, momentum, nesterov, decay,
                  shrink):
        lr, mom, decay = np.float32(learning_rate), np.float32(momentum), np.float32(decay)
        shrink = np.float32(shrink)
        for k in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[k]
            below, local = self._no_gradient, self._no_gradient  # the first layer: none
            if k > 0:
                below, local = buffers.deltas[k - 1], buffers.local_gradients[k - 1]
            K.backward_momentum_update[layer.n_in, K.LANES](
                layer.indptr, layer.indices, inputs[k], delta, layer.weights, layer.velocity,
                lr, mom, decay, nesterov, shrink, self._epoch, below, local)
            K.bias_momentum_update[K.blocks(layer.n_out), K.THREADS](
                layer.bias, layer.bias_velocity, delta, lr, mom, nesterov, self._epoch)
            delta = below

    def end_epoch(self):
        """Wait for the epoch, and return its ``(mean loss, correct predictions)``."""
        epoch = self._epoch.copy_to_host()
        if epoch[K.EPOCH_FAILED]:
            raise FloatingPointError("The training loss is not finite.")
        loss = epoch[K.EPOCH_LOSS] / epoch[K.EPOCH_WEIGHT] if epoch[K.EPOCH_WEIGHT] > 0 else 0.0
        return float(loss), int(epoch[K.EPOCH_CORRECT])

    # -- evolution ----------------------------------------------------------------------
    def evolves_on_device(self, growth, track_exploration):
        """SET's random regrowth runs on the device; gradient growth and exploration
        tracking need the host network."""
        return growth == "random" and not track_exploration

    def evolve(self, zeta, rng, regrow_init):
        if regrow_init not in REGROW_KINDS:
            raise ValueError(f"Unknown regrow_init {regrow_init!r}.")
        rewired = sum(evolve_layer(layer, zeta, np.uint64(rng.integers(SEED_BOUND)), regrow_init)
                      for layer in self.layers)
        self._fresh = False
        return rewired
