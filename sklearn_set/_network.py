"""The sparse multilayer perceptron: layers over topologies, activations, dropout, and an
output head (softmax with cross-entropy, or identity with squared error).

Activations are batch-innermost, ``(n_neurons, batch)``; see :mod:`sklearn_set._kernels`.
The network knows nothing of epochs or evolution: the fit loop drives it one batch at a
time, and the evolve-and-prune rules replace a layer's topology between batches.
"""

import time

import numpy as np
import scipy.sparse as sp

from ._draws import SEED_BOUND
from ._jit import PARALLEL_MIN_WORK
from ._kernels import (
    IDENTITY,
    LOGISTIC,
    RELU,
    TANH,
    activate,
    backward_momentum_update,
    bias_momentum_update,
    carry,
    cross_entropy,
    gather_columns,
    momentum_update,
    sddmm,
    sddmm_momentum_update,
    sddmm_squared_norm,
    sigmoid_squared_error,
    softmax,
    spmm_activate,
    spmm_transposed,
    squared_error,
)
from ._topology import Topology, erdos_renyi

__all__ = [
    "ACTIVATIONS", "OUTPUTS", "SIGMOID_OUTPUTS", "WEIGHT_INITS", "REGROW_INITS",
    "SparseLayer", "SparseMLP", "draw_weights", "full_layer_for_blas", "samples_as_columns",
]

ACTIVATIONS = ("relu", "allrelu", "tanh", "logistic")
#: The kernels' code for each activation (All-ReLU is a ReLU with a negative slope).
_KERNEL_ACTIVATION = {"relu": RELU, "allrelu": RELU, "tanh": TANH, "logistic": LOGISTIC}
#: Output heads: softmax probabilities trained on cross-entropy (classification),
#: sigmoid outputs trained on half squared error against one-hot classes, the same
#: trained by the original SET-MLP code's rule (see
#: :func:`._kernels.sigmoid_squared_error`), or identity outputs trained on half
#: squared error (regression).
OUTPUTS = ("softmax", "logistic", "logistic_original", "identity")
#: The heads with sigmoid outputs.
SIGMOID_OUTPUTS = ("logistic", "logistic_original")
WEIGHT_INITS = ("he_uniform", "normal")
#: How regrown connections start: at zero, or drawn like the initial weights.
REGROW_INITS = ("zero", "init")

#: Magnitude of All-ReLU's negative slope (Curci, Mocanu and Pechenizkiy, 2021).
ALLRELU_SLOPE = 0.6

#: At prediction time, the most samples per forward pass, and the most activations
#: one layer may hold for a pass (128 MiB in float32): wide layers get smaller chunks,
#: so that evaluating a million-neuron network costs little beyond its connections.
#: But never fewer than PREDICT_MIN_CHUNK samples: a pass costs a sweep over every
#: connection whatever the chunk, so tiny chunks on huge layers repeat that sweep.
PREDICT_CHUNK = 2048
PREDICT_ACTIVATIONS = 1 << 25
PREDICT_MIN_CHUNK = 64

#: The fewest connections for which a full layer trains through BLAS. Each BLAS
#: product costs microseconds of fixed overhead in numpy and OpenBLAS whatever its
#: size, about three per layer and step: on a small layer that outweighs the index the
#: kernels follow, and the kernels take the layer instead. A 500 x 2 output layer, a
#: two-class study fit's, made a training step 1.11 times faster through the kernels
#: (80 us less); at 500 x 10 1.04 times, at 1000 x 10 and 500 x 20 even. Larger
#: full layers gain from BLAS: a fully connected network of 100, 200, 200 and 2
#: neurons took its training steps 1.5 times faster in BLAS than in the kernels.
BLAS_MIN_CONNECTIONS = 1 << 13


def full_layer_for_blas(n_in, n_out, nnz):
    """Whether a layer of ``n_in`` x ``n_out`` with ``nnz`` connections trains through
    BLAS: a full one of at least :data:`BLAS_MIN_CONNECTIONS` connections. The rule of
    :attr:`SparseLayer.trains_with_blas`, and of the compile plan, which has the
    shapes before there are layers."""
    return nnz == n_in * n_out and nnz >= BLAS_MIN_CONNECTIONS

#: A network's scratch arrays, kept between passes and never persisted: weights in
#: transposed order for the forward pass (then the gradients waiting for their step in
#: the backward pass), and every layer's gradient for clipping.
_SCRATCH = ("_t_weights", "_gradients")


def samples_as_columns(X, rows, dtype):
    """Samples ``X[rows]`` as a C-contiguous ``(n_features, n_rows)`` block.

    The kernels' batch-innermost layout, gathered by a kernel in one pass from a
    C-contiguous ``X`` of ``dtype`` (others are converted). A scipy.sparse ``X`` is
    densified one block at a time, so that a wide sparse input is never held densely
    as a whole, and
    straight into that layout: its nonzeros are scattered into zeros, with no dense
    transpose, which would touch every zero twice.
    """
    if not sp.issparse(X):
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(X.shape[0]))
        if X.dtype != dtype or not X.flags.c_contiguous:
            return np.ascontiguousarray(X[rows].T, dtype=dtype)
        columns = np.empty((X.shape[1], rows.shape[0]), dtype=dtype)
        gather_columns(X, rows, columns, parallel=columns.size >= PARALLEL_MIN_WORK)
        return columns
    block = sp.coo_array(X[rows])
    block.sum_duplicates()
    columns = np.zeros((block.shape[1], block.shape[0]), dtype=dtype)
    columns[block.col, block.row] = block.data
    return columns


def draw_weights(kind, size, fan_in, rng, dtype):
    """Initial values for ``size`` new connections into neurons with ``fan_in`` inputs.

    ``"he_uniform"`` draws from U(-sqrt(6 / fan_in), sqrt(6 / fan_in)), where
    ``fan_in`` is the mean number of *existing* incoming connections of a neuron, so
    the scale suits any density. ``"normal"`` draws from N(0, 0.1^2), as the original
    SET-MLP code does. ``"zero"`` gives zeros.
    """
    if kind == "zero":
        return np.zeros(size, dtype=dtype)
    if kind == "he_uniform":
        limit = np.sqrt(6.0 / max(fan_in, 1.0))
        values = rng.uniform(-limit, limit, size)
    elif kind == "normal":
        values = rng.standard_normal(size) / 10.0
    else:
        raise ValueError(f"Unknown weight_init {kind!r}; expected one of {WEIGHT_INITS}.")
    return values.astype(dtype, copy=False)


class SparseLayer:
    """Weights, bias and momentum buffers over one :class:`Topology`.

    ``weights`` and ``velocity`` are stored in the topology's canonical order.
    """

    __slots__ = ("topology", "weights", "bias", "velocity", "bias_velocity")

    def __init__(self, topology, weights, bias, velocity=None, bias_velocity=None):
        self.topology = topology
        self.weights = weights
        self.bias = bias
        self.velocity = np.zeros_like(weights) if velocity is None else velocity
        self.bias_velocity = np.zeros_like(bias) if bias_velocity is None else bias_velocity

    def __getstate__(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state):
        topology = state["topology"]
        for name, size in (("weights", topology.nnz), ("velocity", topology.nnz),
                           ("bias", topology.n_out), ("bias_velocity", topology.n_out)):
            value = state[name]
            if not (isinstance(value, np.ndarray) and value.shape == (size,)
                    and value.dtype.kind == "f"):
                raise ValueError(f"SparseLayer {name} must be a float array of length {size}.")
        for name in self.__slots__:
            setattr(self, name, state[name])

    @property
    def fan_in(self):
        """Mean number of incoming connections per output neuron."""
        return self.topology.nnz / self.topology.n_out

    def copy(self):
        return SparseLayer(
            self.topology.share(),  # same connections, but a view cache of its own
            self.weights.copy(),
            self.bias.copy(),
            self.velocity.copy(),
            self.bias_velocity.copy(),
        )

    def rewire(self, keep, added_keys, new_weights):
        """Keep the connections where ``keep`` is True and add those at ``added_keys``.

        Kept connections keep their weights and momentum; added ones take
        ``new_weights`` in order and start with zero momentum. See
        :meth:`Topology.rewire`.
        """
        self._move(Topology.rewire, (keep, added_keys), new_weights)

    def drop_neurons(self, keep_in, keep_out):
        """Remove input and output neurons; survivors keep weights and momentum."""
        self._move(Topology.drop_neurons, (keep_in, keep_out),
                   np.empty(0, dtype=self.weights.dtype))
        self.bias = self.bias[keep_out]
        self.bias_velocity = self.bias_velocity[keep_out]

    def _move(self, rebuild, args, new_weights):
        """Move to ``rebuild(self.topology, *args)``, which returns the new topology and,
        per new connection, its old position or -1 where added.

        Each new array is allocated right after an old one of the same size is let go.
        That keeps the peak low, and the new array takes memory the process has just
        touched: fresh pages cost a kernel fault and zeroing each, and on a VM that
        hands freed memory back to its host those faults dominate the move of a large
        layer. Hence ``rebuild`` comes unbound: nothing here holds the old topology
        once it is replaced, and the old transposed view, which nothing reads during
        the move, goes before anything is allocated. The layer owns its topology
        object (copies hold their own, see :meth:`Topology.share`), so releasing the
        view never takes it from a copy such as an early-stopping snapshot.
        """
        dtype = self.weights.dtype
        self.topology.release_transposed()
        topology, source = rebuild(self.topology, *args)
        self.topology = topology  # the old index arrays go
        weights = np.empty(source.shape[0], dtype=dtype)
        carry(source, self.weights, new_weights.astype(dtype, copy=False), weights)
        self.weights = weights
        velocity = np.empty_like(weights)
        carry(source, self.velocity, np.zeros(new_weights.shape[0], dtype=dtype), velocity)
        self.velocity = velocity
        del source
        # evolution pays for the new transposed view, not the next forward pass
        topology.transposed()

    @property
    def is_full(self):
        """Whether every input connects to every output (``epsilon=inf``, or an output
        layer capped at density 1). The weights in canonical order are then the dense
        ``(n_in, n_out)`` matrix, row-major."""
        t = self.topology
        return 0 < t.nnz == t.n_in * t.n_out

    @property
    def trains_with_blas(self):
        """Whether training multiplies by the layer's dense matrix with BLAS: a full
        layer of at least :data:`BLAS_MIN_CONNECTIONS` connections. The same products
        as the kernels' at full density, over the same memory, and faster, since there
        is no index to follow; a smaller full layer trains through the kernels, for
        which BLAS's fixed cost per product is too high a price."""
        t = self.topology
        return full_layer_for_blas(t.n_in, t.n_out, t.nnz)

    def _matrix(self, values):
        """``values`` in canonical order (the first ``nnz``) as the dense
        ``(n_in, n_out)`` matrix of a full layer: a view, nothing copied."""
        t = self.topology
        return values[:t.nnz].reshape(t.n_in, t.n_out)

    def forward(self, x, activation=(IDENTITY, 0.0, 1.0, 0), local_gradient=None,
                t_weights=None, timer=None, strict=True):
        """The layer's output on ``x`` of shape (n_in, batch).

        ``activation`` is ``(kind, slope, keep, seed)`` of :func:`spmm_activate`: the
        activation and dropout applied in the same pass, none by default. Its
        derivative goes into ``local_gradient`` when that is given. ``t_weights`` is a
        scratch array of at least ``nnz`` values (allocated when not given).
        ``strict`` keeps the kernel's fixed order of summation, so that a sample's
        output never depends on the other samples of its batch (predictions);
        otherwise a layer that :attr:`trains_with_blas` multiplies with BLAS
        (training).
        """
        t = self.topology
        kind, slope, keep, seed = activation
        dtype = self.weights.dtype
        out = np.empty((t.n_out, x.shape[1]), dtype=dtype)
        if local_gradient is None:
            local_gradient = np.empty((0, 0), dtype=dtype)
        rule = (dtype.type(slope), float(keep), np.uint64(seed))
        if not strict and self.trains_with_blas:
            _product(self._matrix(self.weights).T, x, out, timer)
            if kind == IDENTITY and keep >= 1 and local_gradient.size == 0:
                # an output head's logits: the bias alone, the same additions as the
                # kernel's, without compiling it on a first fit (0.7 s of a cold start)
                with np.errstate(over="ignore", invalid="ignore"):  # as the kernels
                    np.add(out, self.bias[:, None], out=out)
            else:
                _timed(timer, activate, out, self.bias, kind, *rule, local_gradient,
                       parallel=out.size >= PARALLEL_MIN_WORK)
            return out
        if t_weights is None:
            t_weights = np.empty_like(self.weights)
        t_indptr, t_indices, t_order = t.transposed()
        _timed(timer, spmm_activate, t_indptr, t_indices, t_order, self.weights, self.bias, x,
               kind, *rule, out, local_gradient, t_weights[:t_order.shape[0]])
        return out

    def input_gradient(self, delta):
        t = self.topology
        out = np.empty((t.n_in, delta.shape[1]), dtype=delta.dtype)
        if self.trains_with_blas:
            _product(self._matrix(self.weights), delta, out)
        else:
            spmm_transposed(t.indptr, t.indices, self.weights, delta, out)
        return out

    def squared_gradient_norm(self, x, delta, scratch=None):
        """Squared norm of the data loss's gradient w.r.t. weights and bias, never
        holding the weight gradient (a layer that trains with BLAS holds it in
        ``scratch``, at least ``nnz`` values, allocated when not given). The GPU's
        clipping computes it this way; the CPU's keeps the gradient instead
        (:meth:`SparseMLP._clipped_step`), which saves a pass, and this is the
        reference its device kernel is tested against."""
        t = self.topology
        if self.trains_with_blas:
            grad = self._weight_gradient(x, delta, scratch)
            with np.errstate(over="ignore", invalid="ignore"):  # inf: clipped to zero
                weight_part = float(np.dot(grad, grad))
        else:
            partial = np.empty(t.n_in, dtype=np.float64)
            sddmm_squared_norm(t.indptr, t.indices, x, delta, partial)
            weight_part = float(partial.sum())
        bias_gradient = delta.sum(axis=1, dtype=np.float64)
        return weight_part + float(bias_gradient @ bias_gradient)

    def gradient(self, x, delta):
        """Gradients of the data loss with respect to weights and bias."""
        return self._weight_gradient(x, delta), delta.sum(axis=1)

    def _weight_gradient(self, x, delta, out=None):
        """The weights' gradient, into the first ``nnz`` values of ``out`` when given."""
        t = self.topology
        grad = np.empty_like(self.weights) if out is None else out[:t.nnz]
        if self.trains_with_blas:
            _product(x, delta.T, self._matrix(grad))
        else:
            sddmm(t.indptr, t.indices, x, delta, grad)
        return grad

    def sgd_step(self, x, delta, learning_rate, momentum, decay, nesterov=False,
                 local_gradient=None, timer=None, shrink=0.0, scratch=None, gradient=None):
        """One SGD-with-momentum step, the weight gradient fused into the update.

        ``nesterov`` selects Nesterov's momentum, as in scikit-learn; ``shrink`` is
        the decoupled weight decay per step (weights only). With
        ``local_gradient`` (the derivative of the activation that produced ``x``),
        also returns the delta of the layer below: the gradient with respect to ``x``,
        computed in the same pass over the connections from the weights as they were
        before the step, times ``local_gradient``. The weight gradient waits in
        ``scratch`` (at least ``nnz`` values, allocated when not given): a row of it
        until the row steps, or, in a layer that trains with BLAS, whose products come
        from it instead, the whole of it.

        With ``gradient`` (``nnz`` values), no step is taken: the weight gradient is
        written there, in the same pass, for :meth:`momentum_step` to apply once
        clipping knows the norm; the delta below is returned all the same.
        """
        t = self.topology
        cast = self.weights.dtype.type
        lr, mom, decay, shrink = (cast(learning_rate), cast(momentum), cast(decay),
                                  cast(shrink))
        below = None
        if local_gradient is not None:
            below = np.empty((t.n_in, delta.shape[1]), dtype=delta.dtype)
        if self.trains_with_blas:
            if below is not None:  # from the weights before the step
                _product(self._matrix(self.weights), delta, below, timer)
                with np.errstate(invalid="ignore"):  # inf * 0
                    np.multiply(below, local_gradient, out=below)
            grad = _timed(timer, self._weight_gradient, x, delta,
                          scratch if gradient is None else gradient)
            if gradient is None:
                self.momentum_step(grad, delta, learning_rate, momentum, decay, nesterov,
                                   timer, shrink)
            return below
        if below is not None:
            _timed(timer, backward_momentum_update, t.indptr, t.indices, x, delta,
                   self.weights, self.velocity, lr, mom, decay, nesterov, below,
                   local_gradient, shrink, gradient, scratch)
        else:
            _timed(timer, sddmm_momentum_update, t.indptr, t.indices, x, delta, self.weights,
                   self.velocity, lr, mom, decay, nesterov, shrink, gradient, scratch)
        if gradient is None:
            self._bias_step(delta, lr, mom, nesterov, timer)
        return below

    def momentum_step(self, grad, delta, learning_rate, momentum, decay, nesterov=False,
                      timer=None, shrink=0.0, scale=1.0):
        """:meth:`sgd_step`'s update from a weight gradient already at hand: ``grad``,
        ``nnz`` values in canonical order, and ``delta``, the bias's, both counted
        ``scale`` times. What global-norm clipping applies once the norm is known, so
        that its gradients are computed once."""
        cast = self.weights.dtype.type
        _timed(timer, momentum_update, self.weights, self.velocity, grad, cast(learning_rate),
               cast(momentum), cast(decay), nesterov, cast(shrink), cast(scale),
               parallel=self.topology.nnz >= PARALLEL_MIN_WORK)
        # the bias has no L2 term, so its gradient's scale is the learning rate's
        self._bias_step(delta, cast(learning_rate * scale), cast(momentum), nesterov, timer)

    def _bias_step(self, delta, learning_rate, momentum, nesterov, timer):
        """The momentum step of the bias, whose gradient is ``delta`` summed over the
        batch; no L2 decay, coupled or decoupled, as in scikit-learn."""
        _timed(timer, bias_momentum_update, self.bias, self.bias_velocity, delta,
               learning_rate, momentum, nesterov, parallel=delta.size >= PARALLEL_MIN_WORK)


def _squared_norm(values):
    """``values @ values`` as a float, in float64 only where float32 would overflow (a
    gradient's norm can exceed float32 while the gradient does not)."""
    with np.errstate(over="ignore", invalid="ignore"):
        squared = float(np.dot(values, values))
        if np.isinf(squared):
            squared = float(np.sum(np.square(values, dtype=np.float64)))
    return squared


def _product(a, b, out, timer=None):
    """``out = a @ b`` by BLAS, timed like a kernel, and silent on overflow like the
    kernels: a diverging fit is reported once, by its loss."""
    with np.errstate(over="ignore", invalid="ignore"):
        _timed(timer, np.matmul, a, b, out=out)


def _timed(timer, kernel, *args, **kwargs):
    """``kernel(*args, **kwargs)``, adding its seconds to ``timer["kernels"]`` when there
    is a timer: what ``verbose=2`` reports as time in the kernels (Numba's, and BLAS's
    for the layers that train with it)."""
    if timer is None:
        return kernel(*args, **kwargs)
    start = time.perf_counter()
    result = kernel(*args, **kwargs)
    timer["kernels"] += time.perf_counter() - start
    return result


class _ForwardCache:
    """What the backward pass needs from the forward pass."""

    __slots__ = ("inputs", "local_gradients", "output")

    def __init__(self):
        self.inputs = []  # the input of each layer
        self.local_gradients = []  # d(hidden output)/d(pre-activation), dropout included
        self.output = None  # the output head's values, (n_outputs, batch)


class SparseMLP:
    """A feed-forward network of sparse layers and an output head.

    Parameters
    ----------
    layers : list of SparseLayer
    activation : {"relu", "allrelu", "tanh", "logistic"}
        Hidden activation. ``"allrelu"`` is All-ReLU: ``x`` for ``x > 0``, otherwise
        ``slope * x`` where the slope is ``ALLRELU_SLOPE`` on odd hidden layers (the
        first, third, ...) and ``-ALLRELU_SLOPE`` on even ones.
    dropout : float
        Probability of dropping a hidden activation while training (inverted dropout).
    output : {"softmax", "logistic", "logistic_original", "identity"}
        The output head and its loss: softmax with cross-entropy on class indices,
        sigmoid with half squared error on class indices (one-hot), the same trained
        by the original SET-MLP code's rule, or identity with half squared error on
        real targets.
    """

    def __init__(self, layers, activation="relu", dropout=0.0, output="softmax"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {activation!r}; expected one of {ACTIVATIONS}.")
        if output not in OUTPUTS:
            raise ValueError(f"Unknown output {output!r}; expected one of {OUTPUTS}.")
        self.layers = layers
        self.activation = activation
        self.dropout = dropout
        self.output = output
        self.release_scratch()

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in _SCRATCH:  # persisting scratch would cost 4 bytes a weight
            state[name] = None
        return state

    def __setstate__(self, state):
        state.setdefault("output", "softmax")  # saved before regression existed
        self.__dict__.update(state)
        self.release_scratch()

    def _kept(self, name, size):
        """The scratch array ``name`` of at least ``size`` values, kept between passes,
        so that no pass allocates per connection."""
        buffer = getattr(self, name)
        if buffer is None or buffer.shape[0] < size:
            setattr(self, name, None)  # let go of the old one before allocating
            buffer = np.empty(size, dtype=self.dtype)
            setattr(self, name, buffer)
        return buffer

    def _scratch(self):
        """The forward pass's scratch for weights in transposed order, shared by the
        layers (and, once the forward pass is done, the weight gradient that
        :meth:`SparseLayer.sgd_step` holds until it steps)."""
        return self._kept("_t_weights", max(layer.topology.nnz for layer in self.layers))

    def _gradient_views(self):
        """Every layer's weight gradient, ``nnz`` values each, in one kept array: what
        global-norm clipping holds until it knows the norm."""
        sizes = [layer.topology.nnz for layer in self.layers]
        buffer = self._kept("_gradients", sum(sizes))
        ends = np.cumsum(sizes)
        return {layer: buffer[end - size:end]
                for layer, size, end in zip(self.layers, sizes, ends, strict=True)}

    def release_scratch(self):
        """Let go of the scratch arrays, as rewiring does before it allocates."""
        for name in _SCRATCH:
            setattr(self, name, None)

    @classmethod
    def erdos_renyi(cls, layer_sizes, epsilon, rng, *, activation="relu", dropout=0.0,
                    output="softmax", weight_init="he_uniform", dtype=np.float32):
        """A network whose every layer has an Erdős–Rényi topology.

        Parameters
        ----------
        layer_sizes : sequence of int
            Input width, hidden widths, output width.
        epsilon : float
        rng : numpy.random.Generator
        """
        layers = []
        for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
            topology = erdos_renyi(n_in, n_out, epsilon, rng)
            fan_in = topology.nnz / n_out
            weights = draw_weights(weight_init, topology.nnz, fan_in, rng, dtype)
            layers.append(SparseLayer(topology, weights, np.zeros(n_out, dtype=dtype)))
        return cls(layers, activation=activation, dropout=dropout, output=output)

    @property
    def dtype(self):
        return self.layers[0].weights.dtype

    @property
    def hidden_layer_sizes(self):
        return tuple(layer.topology.n_out for layer in self.layers[:-1])

    @property
    def nnz(self):
        return sum(layer.topology.nnz for layer in self.layers)

    def copy(self):
        """An independent network (weights and momentum copied); the scratch is not."""
        return SparseMLP([layer.copy() for layer in self.layers], self.activation, self.dropout,
                         self.output)

    def _negative_slope(self, hidden_index):
        if self.activation == "allrelu":
            return ALLRELU_SLOPE if hidden_index % 2 == 0 else -ALLRELU_SLOPE
        return 0.0

    def _activation(self, hidden_index, keep=1.0, seed=0):
        """``(kind, slope, keep, seed)`` of hidden layer ``hidden_index`` for the kernels."""
        return _KERNEL_ACTIVATION[self.activation], self._negative_slope(hidden_index), keep, seed

    def _activate(self, z, hidden_index, keep_gradient):
        """Activation of ``z`` (in place) and, if asked, its derivative: the rule that
        the forward kernel applies, on its own, for inspection."""
        kind, slope, _, _ = self._activation(hidden_index)
        derivative = np.empty_like(z) if keep_gradient else np.empty((0, 0), dtype=z.dtype)
        activate(z, np.zeros(z.shape[0], dtype=z.dtype), kind, z.dtype.type(slope), 1.0,
                 np.uint64(0), derivative, parallel=False)
        return z, derivative if keep_gradient else None

    def forward(self, x, *, keep_gradient=False, rng=None, timer=None):
        """Forward pass on ``x`` of shape (n_features, batch).

        Parameters
        ----------
        keep_gradient : bool
            Keep what :meth:`_backward` needs: a training pass, in which the layers
            that :attr:`SparseLayer.trains_with_blas` multiply with BLAS. Without it,
            every layer sums in the kernels' fixed order, so that a prediction never
            depends on its batch.
        rng : numpy.random.Generator or None
            When given and ``self.dropout > 0``, hidden activations are dropped: each
            layer's mask is drawn inside the kernel from one seed taken from ``rng``.
        timer : dict or None
            Accumulates the seconds spent in kernels under ``"kernels"``.
        """
        cache = _ForwardCache()
        dropping = rng is not None and self.dropout > 0
        t_weights = self._scratch()
        for k, layer in enumerate(self.layers[:-1]):
            if keep_gradient:
                cache.inputs.append(x)
            seed = rng.integers(SEED_BOUND) if dropping else 0
            activation = self._activation(k, 1.0 - self.dropout if dropping else 1.0, seed)
            local_gradient = np.empty((layer.topology.n_out, x.shape[1]), dtype=x.dtype) \
                if keep_gradient else None
            x = layer.forward(x, activation, local_gradient, t_weights, timer,
                              strict=not keep_gradient)
            cache.local_gradients.append(local_gradient)
        if keep_gradient:
            cache.inputs.append(x)
        head = LOGISTIC if self.output in SIGMOID_OUTPUTS else IDENTITY  # softmax after
        output = self.layers[-1].forward(x, (head, 0.0, 1.0, 0), t_weights=t_weights,
                                         timer=timer, strict=not keep_gradient)
        if self.output == "softmax":
            _timed(timer, softmax, output)
        cache.output = output
        return cache

    def _backward(self, cache, delta, visit):
        """Walk the layers from the last to the first with the chain rule.

        ``visit(layer, layer_input, delta, local_gradient)`` is called once per layer.
        Every layer but the first gets the derivative of the activation that produced
        its input, and returns the delta of the layer below: the gradient with respect
        to ``layer_input`` times ``local_gradient``, computed with the weights as they
        were before the visit, so that a visit may update them in place.
        """
        for k in range(len(self.layers) - 1, -1, -1):
            local_gradient = cache.local_gradients[k - 1] if k > 0 else None
            delta = visit(self.layers[k], cache.inputs[k], delta, local_gradient)

    def _collect(self, cache, delta, record):
        """A backward pass without updates: ``record(layer, layer_input, delta)`` of
        every layer, first layer first."""
        records = []

        def visit(layer, layer_input, d, local_gradient):
            records.append(record(layer, layer_input, d))
            if local_gradient is None:
                return None
            below = layer.input_gradient(d)
            below *= local_gradient
            return below

        self._backward(cache, delta, visit)
        return records[::-1]

    def _output_delta(self, output, y, share, timer=None):
        """The output head's loss: its ``share``-weighted mean, its gradient w.r.t. the
        output layer's pre-activation, and, for a classifier's head, the number of
        samples whose largest output is the right class (0 for identity)."""
        delta = np.empty_like(output)
        if self.output == "softmax":
            loss, n_correct = _timed(timer, cross_entropy, output, y, share,
                                     float(np.finfo(output.dtype).tiny), delta)
        elif self.output in SIGMOID_OUTPUTS:
            loss, n_correct = _timed(timer, sigmoid_squared_error, output, y, share,
                                     self.output == "logistic_original", delta)
        else:
            loss, n_correct = _timed(timer, squared_error, output, y, share, delta), 0
        return float(loss), delta, int(n_correct)

    def _shares(self, batch, sample_weight):
        """Each sample's share of the batch loss, and the weight the L2 term is divided
        by: ``1 / batch`` and ``batch`` without weights, as in scikit-learn."""
        if sample_weight is None:
            return np.full(batch, 1.0 / batch, dtype=self.dtype), float(batch)
        total = float(np.sum(sample_weight, dtype=np.float64))
        if total <= 0:
            return np.zeros(batch, dtype=self.dtype), 0.0
        return (np.asarray(sample_weight, dtype=np.float64) / total).astype(self.dtype), total

    def squared_norm(self):
        """Sum of the squared weights; inf (without a warning) once it overflows, which
        the caller reports as a diverged loss."""
        with np.errstate(over="ignore"):
            return sum(float(np.dot(layer.weights, layer.weights)) for layer in self.layers)

    def train_batch(self, x, y, *, learning_rate, momentum, alpha, rng, nesterov=False,
                    sample_weight=None, timer=None, weight_decay=0.0, max_grad_norm=None):
        """One SGD step on a batch; returns ``(loss, n_correct)``.

        ``x`` has shape (n_features, batch); ``y`` holds class indices for a softmax
        output, and targets of shape (batch, n_outputs) for an identity output. The loss
        is scikit-learn's: the head's mean loss, weighted by ``sample_weight`` when
        given, plus ``0.5 * alpha * ||W||^2`` over the batch's total weight (its size
        without weights). A batch of zero total weight is not trained on: its loss is 0.
        ``nesterov`` selects Nesterov's momentum. ``weight_decay`` shrinks every weight by
        that fraction per step, outside the momentum (decoupled, as the original SET
        code and AdamW do). ``max_grad_norm`` scales the data loss's gradient down to
        that norm when it is larger (global-norm clipping; the L2 term and the weight
        decay are not clipped); the gradient is then kept until the norm is known, in
        an array of ``nnz`` values (see :meth:`_clipped_step`).

        ``timer``, a dict with keys ``"forward"``, ``"backward"`` and ``"kernels"``,
        accumulates the seconds spent in each pass (the backward pass includes the
        loss and the update) and, of those, in the Numba kernels.

        Raises
        ------
        FloatingPointError
            When the loss is not finite; the network is left as it was before the call.
        """
        share, total_weight = self._shares(x.shape[1], sample_weight)
        start = time.perf_counter()
        cache = self.forward(x, keep_gradient=True, rng=rng, timer=timer)
        forward_done = time.perf_counter()
        loss, delta, n_correct = self._output_delta(cache.output, y, share, timer)
        if total_weight == 0:
            return 0.0, n_correct
        loss += 0.5 * alpha * self.squared_norm() / total_weight
        if not np.isfinite(loss):
            # before any update, so that the weights stay those of the last good step
            raise FloatingPointError(f"The training loss is {loss}.")
        decay = alpha / total_weight
        scratch = self._scratch()  # free again once the forward pass is done

        def sgd_step(layer, layer_input, d, local_gradient, gradient=None):
            return layer.sgd_step(layer_input, d, learning_rate, momentum, decay, nesterov,
                                  local_gradient, timer, weight_decay, scratch, gradient)

        if max_grad_norm is None:
            self._backward(cache, delta, sgd_step)
        else:
            self._clipped_step(cache, delta, max_grad_norm, sgd_step,
                               lambda layer, grad, d, scale: layer.momentum_step(
                                   grad, d, learning_rate, momentum, decay, nesterov, timer,
                                   weight_decay, scale))
        if timer is not None:
            timer["forward"] += forward_done - start
            timer["backward"] += time.perf_counter() - forward_done
        return loss, n_correct

    def _clipped_step(self, cache, delta, max_grad_norm, sgd_step, step):
        """Global-norm clipping in one backward pass: ``sgd_step`` keeps every layer's
        gradient instead of stepping, then ``step(layer, grad, delta, scale)`` updates
        each layer with ``scale = min(1, max_grad_norm / norm)``.

        The gradient cannot be clipped before it is known, and recomputing it from a
        scaled output delta (backprop is linear in it) would cost a second backward
        pass; keeping it costs one array of ``nnz`` values, allocated once.
        """
        views = self._gradient_views()
        records = []

        def keep(layer, layer_input, d, local_gradient):
            records.append((views[layer], d))
            return sgd_step(layer, layer_input, d, local_gradient, gradient=views[layer])

        self._backward(cache, delta, keep)
        records.reverse()  # first layer first
        # the bias's gradient, a sum over the batch, by a matrix-vector product: 9 times
        # faster than d.sum(axis=1) at 3000 x 32
        norm = np.sqrt(sum(_squared_norm(grad) + _squared_norm(d @ np.ones(d.shape[1], d.dtype))
                           for grad, d in records))
        scale = 1.0
        if norm > max_grad_norm:
            scale = max_grad_norm / norm
        if np.isinf(norm):  # scaled to zero; inf * 0 would be nan
            for grad, d in records:
                grad.fill(0.0)
                d.fill(0.0)
        for layer, (grad, d) in zip(self.layers, records, strict=True):
            step(layer, grad, d, scale)

    def loss_and_gradients(self, x, y):
        """The head's mean loss and its gradients, without dropout or L2.

        Returns
        -------
        loss : float
        gradients : list of (weight_grad, bias_grad), one per layer, first layer first.
        """
        cache = self.forward(x, keep_gradient=True)
        loss, delta, _ = self._output_delta(cache.output, y, self._shares(x.shape[1], None)[0])
        return loss, self._collect(cache, delta, lambda layer, layer_input, d:
                                   layer.gradient(layer_input, d))

    def backward_signals(self, x, y, sample_weight=None):
        """Each layer's ``(input, delta)`` on a batch, without dropout or updates.

        What gradient-based growth needs: the weight gradient of layer ``k`` at any
        position ``(i, j)`` is ``input[i] . delta[j]``, of the loss that training
        minimises (``sample_weight`` weighs the samples, as in :meth:`train_batch`).
        """
        cache = self.forward(x, keep_gradient=True)
        share = self._shares(x.shape[1], sample_weight)[0]
        _, delta, _ = self._output_delta(cache.output, y, share)
        return self._collect(cache, delta, lambda layer, layer_input, d: (layer_input, d))

    def prediction_chunk(self):
        """Samples per forward pass in :meth:`predict` (see ``PREDICT_CHUNK``)."""
        widest = max(self.layers[0].topology.n_in,
                     *(layer.topology.n_out for layer in self.layers))
        step = max(PREDICT_MIN_CHUNK, min(PREDICT_CHUNK, PREDICT_ACTIVATIONS // widest))
        if step > 16:  # whole SIMD vectors along the batch: a ragged tail slows every row
            step -= step % 16
        return step

    def predict(self, X):
        """The output head's values for ``X`` of shape (n_samples, n_features): class
        probabilities for softmax, sigmoid outputs for logistic, shape
        (n_samples, n_outputs)."""
        outputs = np.empty((X.shape[0], self.layers[-1].topology.n_out), dtype=self.dtype)
        step = self.prediction_chunk()
        for start in range(0, X.shape[0], step):
            x = samples_as_columns(X, slice(start, start + step), self.dtype)
            outputs[start:start + step] = self.forward(x).output.T
        return outputs
