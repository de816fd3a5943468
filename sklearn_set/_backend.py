"""Where a fit's training steps run: the CPU backend, and the choice of a backend.

The fit loop (:class:`._base.BaseSETMLP`) talks to one backend object per fit, chosen
once by the ``device`` parameter. A backend trains the estimator's
:class:`._network.SparseMLP` batch by batch, evolves it with SET, and hands it back
(:meth:`host`) whenever the fit loop needs it whole: to validate, to prune, to grow
by gradient, to record exploration, and at the end, and it takes back the network
the fit loop changed there (:meth:`reload`). The CPU backend trains the host network
in place, so both cost nothing; the CUDA backend (:mod:`._device`) keeps its own copy
on the GPU, and evolves it there with SET.
"""

import numpy as np

from ._network import samples_as_columns

__all__ = ["DEVICES", "HostBackend", "make_backend"]

#: Values of the estimators' ``device`` parameter.
DEVICES = ("cpu", "cuda")


class HostBackend:
    """Trains the host network in place with the CPU kernels.

    Parameters
    ----------
    network : SparseMLP
    data : tuple
        ``(X, y, sample_weight)`` of the training samples; ``X`` as the estimator
        validated it (dense C-contiguous or CSR), ``y`` encoded for the output head.
    dtype : numpy dtype
        The dtype the network computes in.
    """

    def __init__(self, network, data, dtype):
        self.network = network
        self.X, self.y, self.sample_weight = data
        self.dtype = dtype
        self._loss = self._weight = 0.0
        self._correct = 0

    def start_epoch(self, order):
        """Begin an epoch whose batches are slices of ``order``."""
        self._loss = self._weight = 0.0
        self._correct = 0

    def train_batch(self, rows, *, learning_rate, momentum, nesterov, alpha, rng, timer,
                    weight_decay=0.0, max_grad_norm=None):
        """One SGD step on the samples ``rows``; raises FloatingPointError at once when
        its loss is not finite (the weights are those of the step before)."""
        weights = None if self.sample_weight is None else self.sample_weight[rows]
        loss, correct = self.network.train_batch(
            samples_as_columns(self.X, rows, self.dtype), self.y[rows],
            learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, alpha=alpha,
            rng=rng, sample_weight=weights, timer=timer, weight_decay=weight_decay,
            max_grad_norm=max_grad_norm,
        )
        batch_weight = rows.shape[0] if weights is None else float(weights.sum())
        self._loss += loss * batch_weight
        self._weight += batch_weight
        self._correct += correct

    def end_epoch(self):
        """``(mean training loss weighted by sample weight, correct predictions)``."""
        return (self._loss / self._weight if self._weight > 0 else 0.0), self._correct

    def evolves_on_device(self, growth, track_exploration):
        """Whether the backend has an ``evolve(zeta, rng, regrow_init)`` of its own for
        this growth rule; the CPU has none, as the fit loop evolves the host network
        in place with any rule (:func:`._evolution.evolve_network`)."""
        return False

    def host(self):
        """The network, up to date, on the host."""
        return self.network

    def reload(self, network):
        """Continue with ``network``, which the fit loop changed or replaced."""
        self.network = network


def make_backend(device, network, data, dtype, batch_size):
    """The backend for ``device``: ``"cpu"``, or ``"cuda"`` (which needs numba-cuda
    and a GPU; ImportError or RuntimeError otherwise, saying which is missing)."""
    if device == "cpu":
        return HostBackend(network, data, dtype)
    from ._device import CUDABackend

    if np.dtype(dtype) != np.float32:
        raise ValueError(f"device='cuda' trains in float32, not {np.dtype(dtype)}.")
    return CUDABackend(network, data, batch_size)
