"""SETMLPClassifier: the scikit-learn face of the sparse network.

The estimator validates and stores parameters, builds the network, runs the fit loop
(batches, then the evolve-and-prune schedule) and exposes fitted attributes. The
numerics live in :mod:`._network` and :mod:`._kernels`; the evolution rules in
:mod:`._evolution`.
"""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _kernels
from ._evolution import (
    PRUNE_CRITERIA,
    evolve_network,
    importance_keep_mask,
    most_important_mask,
    neuron_importance,
    prune_neurons,
)
from ._export import to_mlpclassifier
from ._growth import GROWTH_RULES
from ._memory import check_fit_memory
from ._network import ACTIVATIONS, REGROW_INITS, WEIGHT_INITS, SparseMLP, samples_as_columns
from ._schedule import EVOLVE_UNITS, ZETA_SCHEDULES, Schedule
from ._threads import kernel_threads
from ._topology import erdos_renyi_density

__all__ = ["SETMLPClassifier"]

_DTYPE = np.float32
#: The mini-batch size that ``batch_size="auto"`` means (clipped to the sample count).
AUTO_BATCH_SIZE = 32
_kernels_ready = False


def _warm_up():
    """Compile (or load) the training and SET evolution kernels; returns the seconds."""
    start = time.perf_counter()
    _kernels.warm_up(_DTYPE)
    rng = np.random.default_rng(0)
    # large enough that ER init and regrowth take the drawing path, not enumeration
    network = SparseMLP.erdos_renyi([200, 200, 2], 1.0, rng, dtype=_DTYPE)
    evolve_network(network, 0.3, rng)
    return time.perf_counter() - start


def _generator_from(random_state):
    """A numpy Generator seeded by one draw of a ``RandomState``."""
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))


class SETMLPClassifier(ClassifierMixin, BaseEstimator):
    """Multilayer perceptron with truly sparse, evolving connectivity (SET).

    Every layer starts from an Erdős–Rényi random topology with density
    ``epsilon * (n_in + n_out) / (n_in * n_out)`` and is stored and trained in sparse
    form: memory and compute grow with the number of connections, never with
    ``n_in * n_out``. After each epoch but the last, Sparse Evolutionary Training
    removes the fraction ``zeta`` of each layer's weights closest to zero (separately
    among positive and negative weights) and regrows as many at random free
    positions, so the number of connections stays constant while the topology adapts.

    Training is mini-batch SGD with momentum on softmax cross-entropy, in float32.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default=(1000, 1000, 1000)
        Width of each hidden layer.
    activation : {"relu", "allrelu", "tanh", "logistic"}, default="relu"
        Hidden activation. ``"allrelu"`` is All-ReLU (Curci et al., 2021): identity for
        positive inputs, and a negative-side slope of 0.6 whose sign alternates from
        one hidden layer to the next.
    epsilon : float, default=20.0
        Erdős–Rényi parameter; larger means denser. A layer whose density would
        exceed 1 is made fully connected, with a warning for hidden layers (the output
        layer is usually fully connected when there are few classes);
        ``float("inf")`` asks for fully connected layers without one (the dense
        counterpart, trained by the same sparse engine).
    zeta : float in [0, 1), default=0.3
        Fraction of each layer's connections removed and regrown at each evolution
        step (after each epoch, by default).
        ``0`` keeps the initial topology for the whole fit (static sparse training).
    dropout : float in [0, 1), default=0.3
        Probability of dropping each hidden activation during training.
    alpha : float, default=1e-4
        L2 penalty, with the same meaning as in :class:`~sklearn.neural_network.MLPClassifier`:
        each batch minimises ``loss + 0.5 * alpha * ||W||^2 / batch_size``.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(32, n_samples)``. Smaller than
        :class:`~sklearn.neural_network.MLPClassifier`'s ``min(200, n_samples)``
        because evolution runs once per epoch: on the small datasets this estimator
        is for, an epoch must hold enough SGD steps for regrown connections to learn.
    learning_rate_init : float, default=0.01
        Constant SGD step size.
    momentum : float in [0, 1], default=0.9
        Momentum of the SGD update.
    nesterovs_momentum : bool, default=False
        Whether to use Nesterov's momentum, as in
        :class:`~sklearn.neural_network.MLPClassifier`. Off by default, unlike there:
        the original SET uses plain momentum, and so do this package's study and
        figures.
    max_iter : int, default=200
        Maximum number of epochs.
    weight_init : {"he_uniform", "normal"}, default="he_uniform"
        Distribution of the initial weights. ``"he_uniform"`` is
        U(-sqrt(6 / f), sqrt(6 / f)) with ``f`` the mean number of incoming connections
        of a neuron in the layer; ``"normal"`` is N(0, 0.1^2), as in the original
        SET-MLP code.
    regrow_init : {"zero", "init"}, default="zero"
        Value of connections regrown by evolution. ``"init"`` draws them like the
        initial weights, as the original SET does; ``"zero"`` starts them at zero, so
        that regrowth leaves the network's function unchanged and only gradient
        descent gives them weight. On a validation split of isolet (3 x 1000 hidden,
        60 epochs) ``"zero"`` reached 0.905 accuracy against 0.863 for ``"init"``;
        on coil20 they tie (0.977, 0.974). See ``benchmarks/dev_split_study.py``.
    growth : {"random", "gradient", "sampled_gradient"}, default="random"
        Where evolution regrows connections. ``"random"`` is SET. ``"gradient"`` is
        RigL (Evci et al., 2020): the free positions with the largest gradient
        magnitude on one training batch, found exactly by streaming over blocks of
        output neurons, without ever forming the dense gradient. ``"sampled_gradient"``
        scores only ``10 * count`` random free positions (Heddes et al., 2024),
        O(connections) in time and memory. For RigL's own schedule, also set
        ``evolve_unit="batch"``, ``evolve_every=100``, ``zeta_schedule="cosine"`` and
        ``evolve_stop=0.75``.
    evolve_every : int, default=1
        Evolve every ``evolve_every`` epochs or batches (see ``evolve_unit``).
    evolve_unit : {"epoch", "batch"}, default="epoch"
        The unit of ``evolve_every`` and of the schedule's clock. The clock starts
        with each ``fit``, warm-started or not; ``partial_fit`` keeps one of its own
        (see :meth:`partial_fit`).
    zeta_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` decays the rewired fraction from ``zeta`` towards 0 at
        ``evolve_stop``.
    evolve_stop : float in (0, 1], default=1.0
        Evolution stops after this fraction of ``max_iter`` (counted in
        ``evolve_unit``).
    track_exploration : bool, default=False
        Record in ``history_`` the fraction of each layer's positions ever held by a
        connection (the in-time over-parameterisation rate, Liu et al., 2021). Costs
        memory that grows with the positions explored; pruning restarts the count.
    prune : {"importance"} or None, default=None
        ``"importance"`` removes hidden neurons during training (importance pruning):
        from epoch ``prune_start * max_iter`` of each fit on (but not after its last
        epoch), every ``prune_every`` epochs, each hidden layer loses its least
        important neurons, with all their connections and their bias, until the fit
        has removed ``prune_target`` of them. Input and output neurons are never
        pruned.
    prune_criterion : {"incoming", "outgoing", "both"}, default="incoming"
        A neuron's importance: the sum of the absolute values of these weights.
    prune_target : float in (0, 1), default=0.5
        Fraction of each hidden layer's neurons removed by the end of a fit (of its
        width when the fit started; "about half" in the importance-pruning paper).
        Each pruning step keeps the same share of the neurons left, so the result
        does not depend on ``max_iter``: with ``k`` steps, step ``m`` leaves
        ``(1 - prune_target) ** (m / k)`` of the starting width.
    prune_percentile : float in [0, 100) or None, default=None
        Advanced override of ``prune_target``: each step removes the neurons whose
        importance is at or below this percentile of the layer's, however many
        steps there are (``0.8 ** k`` of the neurons are left after ``k`` steps at
        20).
    prune_start : float in [0, 1], default=0.4
        First pruning epoch, as a fraction of ``max_iter``.
    prune_every : int, default=10
        Epochs between two pruning steps.
    prune_min_width : float in (0, 1], default=0.01
        A hidden layer never shrinks below this fraction of its starting width (and
        never below one neuron).
    prune_regrow : bool, default=False
        Keep the connection budget constant: regrow the connections lost with pruned
        neurons at random among the survivors, instead of letting the number of
        weights fall.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified), stop when
        its accuracy has not improved by ``tol`` for ``n_iter_no_change`` epochs, and
        keep the network of the best epoch.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Epochs without improvement of at least ``tol`` before training stops: of the
        validation accuracy with ``early_stopping``, else of the training loss.
    tol : float, default=1e-4
        Minimum improvement that counts.
    random_state : int, RandomState instance or None, default=None
        Seeds topology, weights, batches, dropout and evolution. Fits are
        deterministic for a fixed seed, whatever the number of threads.
    verbose : int, default=0
        ``1`` prints one line per epoch (loss, accuracy, connections, hidden neurons
        alive) and, once per process, how long the Numba kernels took to compile or
        load from cache. ``2`` adds the seconds spent in the forward pass, in the
        backward pass with the update, and in evolution, and how much of the
        training ran outside the Numba kernels.
    warm_start : bool, default=False
        Continue from the previous fit's network instead of starting anew.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string feature names.
    network_ : SparseMLP
        The fitted network: topologies, weights and momentum.
    coefs_ : list of scipy.sparse.csr_array
        Weight matrix of each layer, shape (n_in, n_out). Views of ``network_``.
    intercepts_ : list of ndarray
        Bias vector of each layer.
    hidden_layer_sizes_ : tuple of int
        Width of each hidden layer of the fitted network.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of output neurons (``n_classes``).
    n_iter_ : int
        Epochs run, summed over warm starts and ``partial_fit`` calls, as in
        :class:`~sklearn.neural_network.MLPClassifier`. The evolve-and-prune schedule
        does not read it: its clock starts with each fit.
    loss_ : float
        Training loss of the last epoch.
    best_loss_ : float or None
        Lowest training loss of an epoch, as in
        :class:`~sklearn.neural_network.MLPClassifier`; None with ``early_stopping``.
    t_ : int
        Training samples seen, summed over epochs, warm starts and ``partial_fit``.
    out_activation_ : str
        ``"softmax"``: the output activation, for every number of classes.
    loss_curve_ : list of float
        Training loss of each epoch: the sample-weighted mean of the batch losses.
    validation_scores_ : list of float or None
        Validation accuracy of each epoch with ``early_stopping``, else None.
    best_validation_score_ : float or None
        Best validation accuracy with ``early_stopping``, else None.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``samples`` (trained on), ``train_loss``,
        ``train_accuracy`` (on the training batches as they were seen, dropout on),
        ``val_loss`` and
        ``val_accuracy`` (with ``early_stopping``), ``nnz_start`` and ``nnz``
        (connections before and after the epoch's evolution and pruning), ``hidden_neurons`` (width of each hidden layer after it),
        ``rewired`` (connections moved by evolution), ``pruned_neurons``,
        ``seconds_train`` (the epoch's SGD, of which ``seconds_forward`` in forward
        passes, ``seconds_backward`` in backward passes and updates, and
        ``seconds_kernels`` inside the Numba kernels of both) and
        ``seconds_evolve`` (evolution and pruning), and ``explored_fraction`` per
        layer with ``track_exploration``.
    feature_importances_ : ndarray of shape (n_features_in_,)
        Summed magnitude of each input feature's surviving connections into the
        first hidden layer, normalised to sum to 1. Lets
        :class:`~sklearn.feature_selection.SelectFromModel` select features by the
        connectivity that training kept.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : The dense multilayer perceptron.

    References
    ----------
    D. C. Mocanu et al., "Scalable training of artificial neural networks with adaptive
    sparse connectivity inspired by network science", Nature Communications 9, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_set import SETMLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = SETMLPClassifier(hidden_layer_sizes=(100,), max_iter=20, random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "epsilon": [Interval(Real, 0, None, closed="neither"), Options(Real, {np.inf})],
        "zeta": [Interval(Real, 0, 1, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "weight_init": [StrOptions(set(WEIGHT_INITS))],
        "regrow_init": [StrOptions(set(REGROW_INITS))],
        "growth": [StrOptions(set(GROWTH_RULES))],
        "evolve_every": [Interval(Integral, 1, None, closed="left")],
        "evolve_unit": [StrOptions(set(EVOLVE_UNITS))],
        "zeta_schedule": [StrOptions(set(ZETA_SCHEDULES))],
        "evolve_stop": [Interval(Real, 0, 1, closed="right")],
        "track_exploration": ["boolean"],
        "prune": [StrOptions({"importance"}), None],
        "prune_criterion": [StrOptions(set(PRUNE_CRITERIA))],
        "prune_target": [Interval(Real, 0, 1, closed="neither")],
        "prune_percentile": [Interval(Real, 0, 100, closed="left"), None],
        "prune_start": [Interval(Real, 0, 1, closed="both")],
        "prune_every": [Interval(Integral, 1, None, closed="left")],
        "prune_min_width": [Interval(Real, 0, 1, closed="right")],
        "prune_regrow": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        hidden_layer_sizes=(1000, 1000, 1000),
        activation="relu",
        *,
        epsilon=20.0,
        zeta=0.3,
        dropout=0.3,
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=0.01,
        momentum=0.9,
        nesterovs_momentum=False,
        max_iter=200,
        weight_init="he_uniform",
        regrow_init="zero",
        growth="random",
        evolve_every=1,
        evolve_unit="epoch",
        zeta_schedule="constant",
        evolve_stop=1.0,
        track_exploration=False,
        prune=None,
        prune_criterion="incoming",
        prune_target=0.5,
        prune_percentile=None,
        prune_start=0.4,
        prune_every=10,
        prune_min_width=0.01,
        prune_regrow=False,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epsilon = epsilon
        self.zeta = zeta
        self.dropout = dropout
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.max_iter = max_iter
        self.weight_init = weight_init
        self.regrow_init = regrow_init
        self.growth = growth
        self.evolve_every = evolve_every
        self.evolve_unit = evolve_unit
        self.zeta_schedule = zeta_schedule
        self.evolve_stop = evolve_stop
        self.track_exploration = track_exploration
        self.prune = prune
        self.prune_criterion = prune_criterion
        self.prune_target = prune_target
        self.prune_percentile = prune_percentile
        self.prune_start = prune_start
        self.prune_every = prune_every
        self.prune_min_width = prune_min_width
        self.prune_regrow = prune_regrow
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # -- fitted views ------------------------------------------------------------
    @property
    def coefs_(self):
        check_is_fitted(self)
        return [
            sp.csr_array(
                (layer.weights, layer.topology.indices, layer.topology.indptr),
                shape=layer.topology.shape,
                copy=False,
            )
            for layer in self.network_.layers
        ]

    @property
    def intercepts_(self):
        check_is_fitted(self)
        return [layer.bias for layer in self.network_.layers]

    @property
    def feature_importances_(self):
        check_is_fitted(self)
        first = self.network_.layers[0]
        importance = np.bincount(
            first.topology.rows(), np.abs(first.weights).astype(np.float64),
            minlength=first.topology.n_in,
        )
        total = importance.sum()
        return importance / total if total > 0 else importance

    @property
    def out_activation_(self):
        check_is_fitted(self)
        return "softmax"

    @property
    def hidden_layer_sizes_(self):
        check_is_fitted(self)
        return self.network_.hidden_layer_sizes

    # -- fitting -----------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if any(not isinstance(s, Integral) or s <= 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}."
            )
        return [int(s) for s in sizes]

    @staticmethod
    def _check_targets(y, name="y"):
        """check_classification_targets, after a readable refusal of mixed label types
        (scikit-learn's own check fails on them with a bare comparison TypeError)."""
        y = np.asarray(y)
        if y.dtype == object and y.size:
            is_text = np.fromiter((isinstance(v, str) for v in y.ravel()), bool, y.size)
            if is_text.any() and not is_text.all():
                example = (y.ravel()[np.argmax(is_text)], y.ravel()[np.argmin(is_text)])
                raise ValueError(
                    f"{name} mixes strings and numbers, e.g. {example[0]!r} and "
                    f"{example[1]!r}; use labels of one type."
                )
        check_classification_targets(y)

    def _encode_targets(self, y, classes, first_pass, incremental):
        """Class indices of ``y``; sets ``classes_`` on a first pass.

        ``fit`` takes its classes from ``y``; ``partial_fit`` from ``classes`` on its
        first call. Later calls must agree with the classes already fitted.
        """
        self._check_targets(y)
        if first_pass:
            if incremental:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit.")
                self._check_targets(classes, "classes")
                self.classes_ = unique_labels(classes)
                if self.classes_.shape[0] < 2:
                    raise ValueError(
                        f"classes must hold at least 2 classes, got {self.classes_.tolist()}."
                    )
            else:
                self.classes_ = unique_labels(y)
                if self.classes_.shape[0] < 2:
                    raise ValueError(
                        "SETMLPClassifier needs samples of at least 2 classes in the data, "
                        f"but the data contains only 1 class: {self.classes_.tolist()}."
                    )
        elif not incremental:
            seen = unique_labels(y)
            if not np.array_equal(seen, self.classes_):
                raise ValueError(
                    "warm_start can only be used where y has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, y has {seen}."
                )
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(
                f"classes={classes!r} is not the same as on the first call to partial_fit, "
                f"{self.classes_!r}."
            )
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes {self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified one batch at a time
        return tags

    def _batch_size(self, n_samples, warn=True):
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_samples)
        if self.batch_size > n_samples and warn:
            warnings.warn(
                f"Got batch_size={self.batch_size} larger than the {n_samples} training "
                "samples; it is clipped to the sample count."
            )
        return min(self.batch_size, n_samples)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the sparse network on ``(X, y)``.

        With ``warm_start``, training continues from the fitted network, and its
        evolve-and-prune schedule runs again from the start: each fit of
        ``max_iter`` epochs evolves and prunes as the first one did.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; converted to float32 (a sparse matrix to CSR, densified
            one batch at a time).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : SETMLPClassifier
        """
        with kernel_threads():
            return self._fit(X, y, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """One epoch over ``(X, y)``, followed by the epoch's evolution and pruning.

        As in :class:`~sklearn.neural_network.MLPClassifier`, the first call needs
        ``classes``, every class that will ever appear, and ``early_stopping=True`` is
        refused: there is no held-out split to stop on.

        ``partial_fit`` has a schedule clock of its own: one call is one epoch, and
        the horizon is ``max_iter`` calls, counted from the first call on this
        network. So evolution stops after ``evolve_stop * max_iter`` calls, pruning
        runs at the epochs a ``fit`` of ``max_iter`` epochs would prune at, and
        neither runs from call ``max_iter`` on. With ``evolve_unit="batch"``,
        evolution still runs every ``evolve_every`` batches, at the ζ of the call it
        falls in, so that chunks of any size follow the same schedule.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            Required on the first call, ignored afterwards.

        Returns
        -------
        self : SETMLPClassifier
        """
        with kernel_threads():
            return self._fit(X, y, incremental=True, classes=classes)

    def _fit(self, X, y, incremental, classes=None):
        """The one training path of ``fit``, warm start and ``partial_fit``."""
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True.")
        first_pass = not hasattr(self, "network_") or not (self.warm_start or incremental)
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_DTYPE, order="C",
                            reset=first_pass)
        y = self._encode_targets(y, classes, first_pass, incremental)
        if incremental and not first_pass:
            rng = self._rng
        else:
            random_state = check_random_state(self.random_state)
            rng = _generator_from(random_state)
        self._report_kernel_start_up()

        X_val = y_val = None
        if self.early_stopping and not incremental:
            X, X_val, y, y_val = self._validation_split(X, y, random_state)
        if first_pass:
            self._initialize(X.shape, rng)
        elif not incremental:
            self._check_warm_start()
        self._rng = rng
        batch_size = self._batch_size(X.shape[0])
        if incremental:
            # a model saved before partial_fit kept a clock starts one now
            clock = getattr(self, "_partial_fit_clock",
                            (0, 0, tuple(self.network_.hidden_layer_sizes)))
            schedule = self._schedule(None)
            self._partial_fit_clock = self._run_epochs(X, y, batch_size, rng, schedule, clock,
                                                       incremental=True)
        else:
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = None
            schedule = self._schedule(-(-X.shape[0] // batch_size))
            clock = (0, 0, tuple(self.network_.hidden_layer_sizes))
            self._run_epochs(X, y, batch_size, rng, schedule, clock, incremental=False,
                             validation=(X_val, y_val) if self.early_stopping else None)
        return self

    def _validation_split(self, X, y, random_state):
        """The stratified split that ``early_stopping`` holds out, or a clear refusal
        that names the user's labels (``y`` holds class indices here)."""
        counts = np.bincount(y, minlength=self.classes_.shape[0])
        scarce = self.classes_[(counts > 0) & (counts < 2)]
        if scarce.size:
            raise ValueError(
                "early_stopping holds out a stratified validation split, which needs at "
                f"least 2 samples of each class; class(es) {scarce.tolist()} have 1. Pass "
                "early_stopping=False, or more samples of those classes."
            )
        return train_test_split(X, y, test_size=self.validation_fraction,
                                random_state=random_state.randint(np.iinfo(np.int32).max),
                                stratify=y)

    def _schedule(self, batches_per_epoch):
        """This fit's evolve-and-prune :class:`Schedule`, over ``max_iter`` epochs."""
        return Schedule(
            n_epochs=self.max_iter, batches_per_epoch=batches_per_epoch, zeta=self.zeta,
            zeta_schedule=self.zeta_schedule, evolve_unit=self.evolve_unit,
            evolve_every=self.evolve_every, evolve_stop=self.evolve_stop,
            prune_start=(None if self.prune is None
                         else max(1, int(round(self.prune_start * self.max_iter)))),
            prune_every=self.prune_every, prune_target=self.prune_target,
        )

    def _check_warm_start(self):
        """Refuse another number of hidden layers; warn that other widths or another
        ``epsilon`` do not apply to the network that warm start continues."""
        # models saved before this attribute existed warn about nothing
        built_sizes, built_epsilon = getattr(self, "_built_with",
                                             (tuple(self._hidden_sizes()), self.epsilon))
        if len(self._hidden_sizes()) != len(built_sizes):
            raise ValueError(
                f"warm_start continues the fitted network of {len(built_sizes)} hidden "
                f"layers, but hidden_layer_sizes={self.hidden_layer_sizes!r} asks for "
                f"{len(self._hidden_sizes())}; set warm_start=False to start anew."
            )
        if tuple(self._hidden_sizes()) != built_sizes or self.epsilon != built_epsilon:
            warnings.warn(
                f"warm_start continues the network built with hidden_layer_sizes="
                f"{built_sizes} and epsilon={built_epsilon}; the new "
                f"hidden_layer_sizes={self.hidden_layer_sizes!r} and epsilon={self.epsilon} "
                "do not apply to it. Set warm_start=False to build a new network.",
                UserWarning,
            )

    def _initialize(self, data_shape, rng):
        """A fresh Erdős–Rényi network and empty training records.

        Refuses, before allocating, a network that would not fit in memory.
        """
        n_samples, n_features = data_shape
        layer_sizes = [n_features, *self._hidden_sizes(), self.classes_.shape[0]]
        self._warn_dense_layers(layer_sizes)
        check_fit_memory(layer_sizes, self.epsilon, self._batch_size(n_samples, warn=False),
                         np.dtype(_DTYPE).itemsize)
        self.network_ = SparseMLP.erdos_renyi(
            layer_sizes, self.epsilon, rng,
            activation=self.activation, dropout=self.dropout,
            weight_init=self.weight_init, dtype=_DTYPE,
        )
        self.n_layers_ = len(layer_sizes)
        self.n_outputs_ = self.classes_.shape[0]
        self._built_with = (tuple(self._hidden_sizes()), self.epsilon)
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self.history_ = []
        self.validation_scores_ = None
        self.best_validation_score_ = None
        # partial_fit's schedule clock: (epochs, batches, hidden widths at its start)
        self._partial_fit_clock = (0, 0, tuple(self.network_.hidden_layer_sizes))
        self._explored = None
        self._record_exploration()

    def _warn_dense_layers(self, layer_sizes):
        """Say which layers ``epsilon`` asks to be denser than fully connected.

        The output layer is left out: with few classes it is fully connected at any
        usual ``epsilon``, as in the original SET, and that is no surprise.
        """
        if np.isinf(self.epsilon):
            return
        densities = [(n_in, n_out, erdos_renyi_density(n_in, n_out, self.epsilon, capped=False))
                     for n_in, n_out in zip(layer_sizes[:-2], layer_sizes[1:-1])]
        capped = [f"{n_in}x{n_out} (density {density:.2f})"
                  for n_in, n_out, density in densities if density > 1]
        if capped:
            warnings.warn(
                f"epsilon={self.epsilon} gives a density above 1 for layers "
                f"{', '.join(capped)}; they are fully connected instead. Pass "
                "epsilon=float('inf') to ask for fully connected layers.",
                UserWarning,
            )

    def _run_epochs(self, X, y, batch_size, rng, schedule, clock, incremental,
                    validation=None):
        """Epochs, each followed by what ``schedule`` asks for: one for ``partial_fit``
        (``incremental``), else up to ``max_iter``, stopping early as
        ``early_stopping`` and ``n_iter_no_change`` say.

        ``clock`` is ``(epochs, batches, widths)``: the epochs and batches done on
        ``schedule`` before this call, and the hidden widths when it started, which
        pruning targets are fractions of; the clock after the call is returned.
        ``validation`` holds the held-out ``(X_val, y_val)`` with ``early_stopping``.
        """
        epoch, batch, widths = clock
        best_loss, best_score, best_network = np.inf, -np.inf, None
        no_improvement = 0
        stopped = False
        for _ in range(1 if incremental else self.max_iter):
            epoch += 1
            record, batch = self._train_epoch(X, y, batch_size, rng, schedule, epoch, batch)
            if not incremental:
                if validation is not None:
                    score = self._validate(record, *validation)
                    no_improvement = 0 if score >= best_score + self.tol else no_improvement + 1
                    if score > best_score:
                        best_score, best_network = score, self.network_.copy()
                        self.best_validation_score_ = score
                else:
                    loss = record["train_loss"]
                    no_improvement = 0 if loss <= best_loss - self.tol else no_improvement + 1
                    best_loss = min(best_loss, loss)
                stopped = no_improvement > self.n_iter_no_change
            pruned = 0
            if not stopped:
                rewired, pruned, seconds = self._change_topology(rng, X, y, schedule, epoch,
                                                                 widths)
                record["rewired"] += rewired
                record["seconds_evolve"] += seconds
            self._finish_epoch(record, pruned)
            if stopped:
                break

        if best_network is not None:
            self.network_ = best_network
        if not incremental and not stopped:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return epoch, batch, widths

    def _validate(self, record, X_val, y_val):
        """Score the held-out split into ``record``; returns its accuracy."""
        proba = self.network_.predict_proba(X_val)
        score = float(np.mean(proba.argmax(axis=1) == y_val))
        picked = proba[np.arange(y_val.shape[0]), y_val]
        record["val_loss"] = float(-np.log(np.maximum(picked, 1e-12)).mean())
        record["val_accuracy"] = score
        self.validation_scores_.append(score)
        return score

    def _train_epoch(self, X, y, batch_size, rng, schedule, epoch, batch):
        """One pass of mini-batch SGD, with the batch-level evolution ``schedule`` asks
        for; returns the epoch's record for ``history_`` and the batches done."""
        network = self.network_
        network.dropout = self.dropout
        n_samples = X.shape[0]
        timer = {"forward": 0.0, "backward": 0.0, "kernels": 0.0}
        rewired, seconds_evolve = 0, 0.0
        start = time.perf_counter()
        order = rng.permutation(n_samples)
        total_loss = 0.0
        n_correct = 0
        for first in range(0, n_samples, batch_size):
            rows = order[first:first + batch_size]
            try:
                loss, correct = network.train_batch(
                    samples_as_columns(X, rows, _DTYPE), y[rows],
                    learning_rate=self.learning_rate_init, momentum=self.momentum,
                    nesterov=self.nesterovs_momentum,
                    alpha=self.alpha, rng=rng, timer=timer,
                )
            except FloatingPointError as error:
                raise FloatingPointError(
                    f"{error} Training diverged at epoch {self.n_iter_ + 1}; try a "
                    f"smaller learning_rate_init (now {self.learning_rate_init}). The "
                    "model keeps its last finite weights, from before that batch."
                ) from None
            total_loss += loss * rows.shape[0]
            n_correct += correct
            batch += 1
            zeta = schedule.zeta_after_batch(epoch, batch)
            if zeta > 0:
                start_evolve = time.perf_counter()
                rewired += self._evolve(
                    zeta, rng, lambda: (samples_as_columns(X, rows, _DTYPE), y[rows]))
                seconds_evolve += time.perf_counter() - start_evolve
        self.n_iter_ += 1
        record = {
            "epoch": self.n_iter_,
            "samples": n_samples,
            "train_loss": total_loss / n_samples,
            "train_accuracy": n_correct / n_samples,
            "nnz_start": network.nnz,
            "seconds_train": time.perf_counter() - start - seconds_evolve,
            "seconds_forward": timer["forward"],
            "seconds_backward": timer["backward"],
            "seconds_kernels": timer["kernels"],
            "rewired": rewired,
            "seconds_evolve": seconds_evolve,
        }
        return record, batch

    def _change_topology(self, rng, X, y, schedule, epoch, widths):
        """The pruning and evolution ``schedule`` asks for after ``epoch``; ``widths``
        are the hidden widths when the schedule started.

        Returns the connections rewired, the neurons pruned and the seconds taken.
        """
        start = time.perf_counter()
        pruned = rewired = 0
        if schedule.prune_after_epoch(epoch):
            pruned = self._prune(self.network_, rng, schedule.pruned_after_epoch(epoch), widths)
            self._record_exploration(reset=True)  # neurons renumbered
        zeta = schedule.zeta_after_epoch(epoch)
        if zeta > 0:

            def random_batch():
                rows = rng.choice(X.shape[0], self._batch_size(X.shape[0], warn=False),
                                  replace=False)
                return samples_as_columns(X, rows, _DTYPE), y[rows]

            rewired = self._evolve(zeta, rng, random_batch)
        return rewired, pruned, time.perf_counter() - start

    def _regrow_init(self):
        """How regrown connections start: see ``regrow_init``."""
        return self.weight_init if self.regrow_init == "init" else "zero"

    def _evolve(self, zeta, rng, signal_batch):
        """Rewire the fraction ``zeta`` of every layer by the growth rule; returns the
        number of connections rewired.

        ``signal_batch`` returns ``(x, y)`` for gradient growth: a training batch,
        features by samples.
        """
        signals = None
        if self.growth != "random":
            x, y = signal_batch()
            signals = self.network_.backward_signals(x, y)
        rewired = evolve_network(self.network_, zeta, rng, self._regrow_init(),
                                 GROWTH_RULES[self.growth], signals)
        self._record_exploration()
        return rewired

    def _record_exploration(self, reset=False):
        """Union of every position each layer has held (for ``explored_fraction``)."""
        if not self.track_exploration:
            return
        keys = [layer.topology.keys() for layer in self.network_.layers]
        if reset or not getattr(self, "_explored", None):
            self._explored = keys
        else:
            self._explored = [np.union1d(e, k) for e, k in zip(self._explored, keys)]

    def _finish_epoch(self, record, pruned):
        """Complete ``record`` with the network's state after the epoch, and keep it."""
        network = self.network_
        record.update(nnz=network.nnz, hidden_neurons=list(network.hidden_layer_sizes),
                      pruned_neurons=pruned)
        if self.track_exploration:
            record["explored_fraction"] = [
                e.shape[0] / (layer.topology.n_in * layer.topology.n_out)
                for e, layer in zip(self._explored, network.layers)
            ]
        self.loss_curve_.append(record["train_loss"])
        self.loss_ = record["train_loss"]
        self.best_loss_ = None if self.early_stopping else min(self.loss_curve_)
        self.t_ += record["samples"]
        self.history_.append(record)
        if self.verbose:
            self._print_epoch(record, timings=self.verbose >= 2)

    def _prune(self, network, rng, pruned_fraction, widths):
        """One importance-pruning step; returns the number of neurons removed.

        Each hidden layer keeps ``1 - pruned_fraction`` of its width in ``widths``, or
        with ``prune_percentile`` the neurons above that percentile; never fewer than
        ``prune_min_width`` of the width it was built with.
        """
        before = sum(network.hidden_layer_sizes)
        keep_masks = []
        for h, (built, start) in enumerate(zip(self._hidden_sizes(), widths)):
            floor = max(1, int(np.ceil(self.prune_min_width * built)))
            importance = neuron_importance(network, h, self.prune_criterion)
            if self.prune_percentile is not None:
                keep_masks.append(importance_keep_mask(importance, self.prune_percentile, floor))
                continue
            n_keep = max(floor, int(round(start * (1.0 - pruned_fraction))))
            keep_masks.append(most_important_mask(importance, min(n_keep, importance.shape[0])))
        prune_neurons(network, keep_masks, rng if self.prune_regrow else None,
                      self._regrow_init())
        return before - sum(network.hidden_layer_sizes)

    def _report_kernel_start_up(self):
        global _kernels_ready
        if self.verbose and not _kernels_ready:
            seconds = _warm_up()
            print(f"Numba kernels compiled or loaded from cache in {seconds:.2f} s")
        _kernels_ready = True

    @staticmethod
    def _print_epoch(record, timings=False):
        line = (
            f"Iteration {record['epoch']}, loss = {record['train_loss']:.8f}, "
            f"train accuracy = {record['train_accuracy']:.4f}"
        )
        if "val_accuracy" in record:
            line += f", validation accuracy = {record['val_accuracy']:.4f}"
        line += f", nnz = {record['nnz']}, hidden neurons = {sum(record['hidden_neurons'])}"
        if timings:
            epoch = record["seconds_train"] + record["seconds_evolve"]
            outside = record["seconds_train"] - record["seconds_kernels"]
            line += (
                f", forward {record['seconds_forward']:.3f} s, backward and update "
                f"{record['seconds_backward']:.3f} s, evolution {record['seconds_evolve']:.3f} s; "
                f"training outside the kernels {outside:.3f} s "
                f"({outside / epoch if epoch > 0 else 0.0:.0%} of the epoch)"
            )
        print(line)

    def to_mlpclassifier(self):
        """A fitted dense :class:`~sklearn.neural_network.MLPClassifier` with the same function.

        For tools that only understand the dense model (ONNX exporters, for
        instance). Missing connections become zeros, so the result holds
        ``n_in * n_out`` weights per layer. ``predict_proba`` agrees to float32
        precision. Models with ``activation="allrelu"`` cannot be converted.

        Returns
        -------
        mlp : MLPClassifier
        """
        check_is_fitted(self)
        batch_size = AUTO_BATCH_SIZE if self.batch_size == "auto" else self.batch_size
        return to_mlpclassifier(self, batch_size)

    # -- prediction --------------------------------------------------------------
    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=_DTYPE, reset=False)
        with kernel_threads():
            proba = self.network_.predict_proba(X).astype(np.float64)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
