"""What the sparse classifier and regressor share: parameters, the fit loop with its
evolve-and-prune schedule, and the fitted views of the network.

The estimators validate and store parameters, build the network, run the fit loop
(batches, then the evolve-and-prune schedule) and expose fitted attributes. The
numerics live in :mod:`._network` and :mod:`._kernels`; the evolution rules in
:mod:`._evolution`; the clock in :mod:`._schedule`. A subclass says what its targets
are: how they are encoded, how a held-out split is scored, and which output head the
network has.
"""

import sys
import time
from numbers import Integral, Real

import numba
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._backend import DEVICES, make_backend
from ._compile import (
    KernelPlan,
    compile_kernels,
    compile_processes,
    kernels_cached,
    run_tasks,
)
from ._evolution import (
    PRUNE_CRITERIA,
    evolve_network,
    importance_keep_mask,
    most_important_mask,
    neuron_importance,
    prune_neurons,
)
from ._growth import GROWTH_RULES
from ._memory import check_fit_memory
from ._network import (
    ACTIVATIONS,
    REGROW_INITS,
    SIGMOID_OUTPUTS,
    WEIGHT_INITS,
    SparseMLP,
    samples_as_columns,
)
from ._schedule import EVOLVE_UNITS, ZETA_SCHEDULES, Schedule
from ._threads import kernel_threads, threading_layer
from ._topology import erdos_renyi_density
from ._warn import warn

__all__ = ["BaseSETMLP", "AUTO_BATCH_SIZE"]

DTYPE = np.float32
#: The mini-batch size that ``batch_size="auto"`` means (clipped to the sample count).
AUTO_BATCH_SIZE = 32
#: An epoch whose mean training loss exceeds this many times the loss of a constant
#: prediction (uniform probabilities, or the targets' mean) is taken to be diverging.
DIVERGING_LOSS_RATIO = 100.0
#: The largest input magnitude fit and predict accept. Beyond the square root of
#: float32's largest value an input's square overflows, and an SGD step grows the first
#: layer's weights in proportion to the inputs, so that the next products of weights
#: and inputs overflow: the fit would end with a network whose outputs are not finite.
#: A trained network's products of such inputs overflow all the same, into NaN
#: probabilities.
MAX_INPUT = float(np.sqrt(np.finfo(DTYPE).max))
#: The largest learning rate and L2 coefficient: the kernels take them in float32,
#: where larger values would be infinite (and numpy would warn at every cast).
MAX_COEFFICIENT = float(np.finfo(DTYPE).max)
_kernels_ready = False


def _generator_from(random_state):
    """A numpy Generator seeded by one draw of a ``RandomState``."""
    return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))


def _check_input_scale(X):
    """Refuse inputs too large for the network's float32 (see :data:`MAX_INPUT`), in
    two passes over the stored values and no copy."""
    values = X.data if sp.issparse(X) else X
    if values.size == 0:
        return
    largest = max(float(values.max()), -float(values.min()))
    if largest > MAX_INPUT:
        raise ValueError(
            f"Input X holds values up to {largest:.3g} in magnitude. The network computes "
            f"in float32, where inputs beyond {MAX_INPUT:.3g} make the products of "
            "weights and inputs overflow; scale the features, for instance with "
            "StandardScaler.")


def _print_threads():
    """``verbose=2``'s line on how the kernels ran: on how many threads, and under
    which of Numba's threading layers, which decides how much a fit loses when other
    programs share the cores (README, "On a busy machine")."""
    layer = threading_layer()
    if layer is None:  # no threaded kernel has run
        return
    line = f"Numba kernels on {numba.get_num_threads()} threads, threading layer {layer}"
    if layer == "omp":
        line += " (with tbb installed, Numba takes TBB, which keeps its speed when other " \
                "programs share the cores)"
    print(line)


def _batch(X, y, sample_weight, rows):
    """The samples ``rows`` as a batch: features by samples, targets, weights."""
    weights = None if sample_weight is None else sample_weight[rows]
    return samples_as_columns(X, rows, DTYPE), y[rows], weights


def with_shared_docs(cls):
    """Put the parameters, fitted attributes and notes both estimators share into
    ``cls``'s docstring, at its ``[parameters]``, ``[attributes]`` and ``[notes]``
    lines."""
    cls.__doc__ = (cls.__doc__.replace("    [parameters]\n", PARAMETERS_DOC)
                   .replace("    [attributes]\n", ATTRIBUTES_DOC)
                   .replace("    [notes]\n", NOTES_DOC))
    return cls


NOTES_DOC = """    Notes
    -----
    The first fit in an environment compiles the Numba kernels it runs, and Numba keeps
    them in its on-disk cache for later processes. On an empty cache that fit compiles
    in parallel processes, as many as the kernels have threads; set the environment
    variable ``SKLEARN_SET_COMPILE_JOBS=1`` to compile in the fitting process alone.

"""

PARAMETERS_DOC = """    Parameters
    ----------
    hidden_layer_sizes : array-like of int or int, default=(500, 500, 500)
        Width of each hidden layer. The default is the study's ``quick`` profile, where
        sparse networks matched scikit-learn's dense MLP over 15 datasets; on digits it
        fits in about a second and scores as 3 x 1000 does.
    activation : {"relu", "allrelu", "tanh", "logistic"}, default="relu"
        Hidden activation. ``"allrelu"`` is All-ReLU (Curci et al., 2021): identity for
        positive inputs, and a negative-side slope of 0.6 whose sign alternates from
        one hidden layer to the next.
    epsilon : float, default=20.0
        Erdős–Rényi parameter; larger means denser. A layer whose density would
        exceed 1 is made fully connected, with a warning for layers between two
        hidden layers (the first and the last layer are, as expected, when there are
        few features, classes or targets);
        ``float("inf")`` asks for fully connected layers without one (the dense
        counterpart, trained by the same sparse engine).
    zeta : float in [0, 1), default=0.3
        Fraction of each layer's connections removed and regrown at each evolution
        step (after each epoch, by default).
        ``0`` keeps the initial topology for the whole fit (static sparse training).
    dropout : float in [0, 1) or "auto", default="auto"
        Probability of dropping each hidden activation during training. ``"auto"`` is
        0.3 for the classifier, or 0 when it prunes neurons (``prune`` set): in the
        study's tuned comparison, cross-validation on the training parts chose no
        dropout for pruned SET on 13 of 15 datasets, and was split 8 to 7 for SET
        without pruning. For the regressor it is 0: the noise of dropped
        activations reaches its outputs unsquashed, and made its SGD diverge on
        targets far from 0 where ``MLPRegressor``'s did not.
    loss : {"auto", "log_loss", "squared_error", "original"}, default="auto"
        What training minimises. ``"auto"`` is ``"log_loss"`` for the classifier
        (softmax outputs, cross-entropy) and ``"squared_error"`` for the regressor
        (identity outputs). For the classifier, ``"squared_error"`` puts a sigmoid on
        each output and minimises half the squared error against the one-hot classes.
        Its gradient vanishes as outputs saturate, and it can stall with many classes.
        ``"original"`` trains the same outputs as the original SET-MLP code does: its
        update takes the sigmoid's derivative at the output instead of at the
        pre-activation, a factor between 0.20 and 0.25 that never vanishes. That is
        not the gradient of any standard loss, but it is what that code's published
        results were trained with. Run side by side with that code at its settings,
        the two agree within seed-to-seed spread (orl, 40 classes: 0.88 to 0.91
        validation accuracy), where ``"squared_error"`` stalled at 0.35
        (``benchmarks/dev_original_side_by_side.py``). Classifier only.
    alpha : float, default=1e-4
        L2 penalty, with the same meaning as in :class:`~sklearn.neural_network.MLPClassifier`:
        each batch minimises ``loss + 0.5 * alpha * ||W||^2 / batch_weight``, where
        ``batch_weight`` is the batch's total ``sample_weight`` (its size without).
        Its gradient goes through the momentum, so with momentum 0.9 it acts ten
        times as strongly as its coefficient says.
    weight_decay : float, default=0.0
        Decoupled weight decay: each SGD step also removes ``weight_decay * w`` from
        every weight, outside the momentum, as the original SET code does (it used
        0.0002 per step) and as AdamW does. Biases are not decayed.
    max_grad_norm : float or None, default=None
        Global gradient-norm clipping: when the data loss's gradient over all weights
        and biases is longer than this, the step uses it scaled down to this length.
        The gradient is computed once and kept until its norm is known, which costs
        4 bytes per connection and a separate sweep for the update.
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(32, n_samples)``. Smaller than
        :class:`~sklearn.neural_network.MLPClassifier`'s ``min(200, n_samples)``
        because evolution runs once per epoch: on the small datasets this estimator
        is for, an epoch must hold enough SGD steps for regrown connections to learn.
    learning_rate_init : float or "auto", default="auto"
        Constant SGD step size, at most float32's largest value (3.4e38), as is
        ``alpha``. ``"auto"`` is 0.01 for the classifier, whose
        cross-entropy gradients are bounded, and 0.001 for the regressor, as in
        :class:`~sklearn.neural_network.MLPRegressor`: squared-error gradients grow
        with the residuals, and the larger step diverges on unscaled features.
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
        Hold out ``validation_fraction`` of the training data (stratified for the
        classifier), stop when its score (accuracy, or R² for the regressor) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs, and keep the network of
        the best epoch.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping`` is True.
    n_iter_no_change : int, default=10
        Epochs without improvement of at least ``tol`` before training stops: of the
        validation score with ``early_stopping``, else of the training loss.
    tol : float, default=1e-4
        Minimum improvement that counts.
    random_state : int, RandomState instance or None, default=None
        Seeds topology, weights, batches, dropout and evolution. Fits are
        deterministic for a fixed seed, whatever the number of threads.
    verbose : int, default=0
        ``1`` prints one line per epoch (loss, training accuracy for the classifier,
        connections, hidden neurons alive) and, once per process, how long the Numba
        kernels took to compile or load from cache. ``2`` adds the seconds spent in
        the forward pass, in the backward pass with the update, and in evolution, and
        how much of the training ran outside the kernels (Numba's, and BLAS's for
        large full layers).
    warm_start : bool, default=False
        Continue from the previous fit's network instead of starting anew.
    device : {"cpu", "cuda"}, default="cpu"
        Where training runs. ``"cuda"`` trains on an NVIDIA GPU with numba.cuda
        kernels (the network and the samples are copied there once per fit; SET's
        evolution runs there too, while pruning and gradient growth run on the host
        between epochs). The fitted model is the same host model either way: it
        pickles, and predicts with the CPU kernels, on any machine.

"""

ATTRIBUTES_DOC = """    n_features_in_ : int
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
        Number of output neurons: classes, or regression targets.
    out_activation_ : str
        ``"softmax"`` for the classifier (for every number of classes; ``"logistic"``
        with ``loss="squared_error"`` or ``"original"``), ``"identity"`` for the
        regressor.
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
    loss_curve_ : list of float
        Training loss of each epoch: the mean of the batch losses, weighted by each
        batch's total sample weight (its size without ``sample_weight``).
    validation_scores_ : list of float or None
        Validation score (accuracy, or R²) of each epoch with ``early_stopping``,
        else None.
    best_validation_score_ : float or None
        Best validation score with ``early_stopping``, else None.
    history_ : list of dict
        One dict per epoch: ``epoch``, ``samples`` (trained on), ``train_loss``,
        ``train_accuracy`` (classifier only: on the training batches as they were
        seen, dropout on), ``val_loss`` and ``val_accuracy`` (``val_r2`` for the
        regressor) with ``early_stopping``, ``nnz_start`` and
        ``nnz`` (connections before and after the epoch's evolution and pruning),
        ``hidden_neurons`` (width of each hidden layer after it), ``rewired``
        (connections moved by evolution), ``pruned_neurons``, ``seconds_train`` (the
        epoch's SGD, of which ``seconds_forward`` in forward passes,
        ``seconds_backward`` in backward passes and updates, and ``seconds_kernels``
        inside the kernels of both, Numba's and, for large full layers, BLAS's) and
        ``seconds_evolve`` (evolution and pruning), and ``explored_fraction`` per
        layer with ``track_exploration``.
    feature_importances_ : ndarray of shape (n_features_in_,)
        Summed magnitude of each input feature's surviving connections into the
        first hidden layer, normalised to sum to 1. Lets
        :class:`~sklearn.feature_selection.SelectFromModel` select features by the
        connectivity that training kept.
"""


class BaseSETMLP(BaseEstimator):
    """The sparse network and its fit loop, for a subclass that defines its targets.

    A subclass sets ``_HEADS`` (the network's output head for each ``loss``),
    ``_SCORE_NAME`` and ``_TARGET_CHECKS``, and implements ``_encode_targets``,
    ``_stratify``, ``_score_outputs`` and ``_constant_loss``; it may refuse kinds of
    targets it cannot learn, with a message of its own, in ``_check_target_kind``.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "epsilon": [Interval(Real, 0, None, closed="neither"), Options(Real, {np.inf})],
        "zeta": [Interval(Real, 0, 1, closed="left")],
        "dropout": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="left")],
        "loss": [StrOptions({"auto", "log_loss", "squared_error", "original"})],
        "alpha": [Interval(Real, 0, MAX_COEFFICIENT, closed="both")],
        "weight_decay": [Interval(Real, 0, 1, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [StrOptions({"auto"}),
                               Interval(Real, 0, MAX_COEFFICIENT, closed="right")],
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
        "device": [StrOptions(set(DEVICES))],
    }

    def __init__(
        self,
        hidden_layer_sizes=(500, 500, 500),
        activation="relu",
        *,
        epsilon=20.0,
        zeta=0.3,
        dropout="auto",
        loss="auto",
        alpha=1e-4,
        weight_decay=0.0,
        max_grad_norm=None,
        batch_size="auto",
        learning_rate_init="auto",
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
        device="cpu",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epsilon = epsilon
        self.zeta = zeta
        self.dropout = dropout
        self.loss = loss
        self.alpha = alpha
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
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
        self.device = device

    #: the network's output head (see :data:`._network.OUTPUTS`) for each loss
    _HEADS = {}
    _SCORE_NAME = None
    #: what ``"auto"`` means, for each parameter that accepts it: a value, or a function
    #: of the estimator's parameters
    _AUTO = {}
    #: keyword arguments of ``validate_data`` that say what ``y`` may be
    _TARGET_CHECKS = {}

    def _check_target_kind(self, y):
        """Raise a ValueError that names the problem if ``y`` is a kind of target the
        estimator cannot learn; before ``validate_data``, whose message would not."""

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
        return "logistic" if self.network_.output in SIGMOID_OUTPUTS else self.network_.output

    @property
    def hidden_layer_sizes_(self):
        check_is_fitted(self)
        return self.network_.hidden_layer_sizes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # densified one batch at a time
        return tags

    # -- what a subclass defines -------------------------------------------------
    def _encode_targets(self, y, classes, first_pass, incremental):
        """``y`` as the network trains on it; sets ``n_outputs_`` (and, for the
        classifier, ``classes_``) on a first pass, else checks ``y`` against them."""
        raise NotImplementedError

    def _stratify(self, y):
        """What the early-stopping split is stratified by (None: not stratified)."""
        raise NotImplementedError

    def _score_outputs(self, outputs, y, sample_weight):
        """``(score, loss)`` of the network's ``outputs`` on encoded targets ``y``."""
        raise NotImplementedError

    def _constant_loss(self, y, sample_weight):
        """The training loss of a constant prediction, which a diverging fit exceeds
        many times over (see :data:`DIVERGING_LOSS_RATIO`), and what that prediction
        is, in words."""
        raise NotImplementedError

    # -- fitting -----------------------------------------------------------------
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if any(not isinstance(s, Integral) or s <= 0 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}."
            )
        return [int(s) for s in sizes]

    def _resolved(self, name):
        """Parameter ``name``, with ``"auto"`` resolved for this estimator."""
        value = getattr(self, name)
        if not (isinstance(value, str) and value == "auto"):
            return value
        auto = self._AUTO[name]
        return auto(self) if callable(auto) else auto

    def _output_head(self):
        """The network's output head for ``loss``; refuses a loss this estimator lacks."""
        loss = self._resolved("loss")
        if loss not in self._HEADS:
            raise ValueError(f"{type(self).__name__} has no loss={loss!r}; expected one "
                             f"of {sorted(self._HEADS)} or 'auto'.")
        return self._HEADS[loss]

    def _learning_rate(self):
        return self._resolved("learning_rate_init")

    def _batch_size(self, n_samples, warn_if_clipped=True):
        if self.batch_size == "auto":
            return min(AUTO_BATCH_SIZE, n_samples)
        if self.batch_size > n_samples and warn_if_clipped:
            warn(
                f"Got batch_size={self.batch_size} larger than the {n_samples} training "
                "samples; it is clipped to the sample count."
            )
        return min(self.batch_size, n_samples)

    @kernel_threads()
    def _fit(self, X, y, incremental, sample_weight=None, classes=None):
        """The one training path of ``fit``, warm start and ``partial_fit``, its kernels
        within the thread limit joblib sets (see :func:`._threads.kernel_threads`)."""
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True.")
        first_pass = not hasattr(self, "network_") or not (self.warm_start or incremental)
        self._check_target_kind(y)
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=DTYPE, order="C",
                            reset=first_pass, **self._TARGET_CHECKS)
        _check_input_scale(X)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        y = self._encode_targets(y, classes, first_pass, incremental)
        if incremental and not first_pass:
            rng = self._rng
        else:
            random_state = check_random_state(self.random_state)
            rng = _generator_from(random_state)
        self._prepare_kernels(*X.shape)

        validation = None
        if self.early_stopping and not incremental:
            X, y, sample_weight, validation = self._validation_split(X, y, sample_weight,
                                                                     random_state)
        if first_pass:
            self._initialize(X.shape, rng)
        elif not incremental:
            self._check_warm_start()
        self._rng = rng
        batch_size = self._batch_size(X.shape[0])
        data = (X, y, sample_weight)
        if incremental:
            # a model saved before partial_fit kept a clock starts one now
            clock = getattr(self, "_partial_fit_clock",
                            (0, 0, tuple(self.network_.hidden_layer_sizes)))
            schedule = self._schedule(None)
            self._partial_fit_clock = self._run_epochs(data, batch_size, rng, schedule, clock,
                                                       incremental=True)
        else:
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = None
            schedule = self._schedule(-(-X.shape[0] // batch_size))
            clock = (0, 0, tuple(self.network_.hidden_layer_sizes))
            self._run_epochs(data, batch_size, rng, schedule, clock, incremental=False,
                             validation=validation)
        return self

    def _validation_split(self, X, y, sample_weight, random_state):
        """Hold out ``validation_fraction`` for early stopping.

        Returns the training ``X, y, sample_weight`` and the held-out triple.
        """
        arrays = (X, y) if sample_weight is None else (X, y, sample_weight)
        split = train_test_split(*arrays, test_size=self.validation_fraction,
                                 random_state=random_state.randint(np.iinfo(np.int32).max),
                                 stratify=self._stratify(y))
        train, held_out = split[0::2], split[1::2]
        if sample_weight is None:
            train, held_out = (*train, None), (*held_out, None)
        return (*train, held_out)

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
            warn(
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
        layer_sizes = [n_features, *self._hidden_sizes(), self.n_outputs_]
        self._warn_dense_layers(layer_sizes)
        check_fit_memory(layer_sizes, self.epsilon,
                         self._batch_size(n_samples, warn_if_clipped=False),
                         np.dtype(DTYPE).itemsize, clipping=self.max_grad_norm is not None)
        self.network_ = SparseMLP.erdos_renyi(
            layer_sizes, self.epsilon, rng,
            activation=self.activation, dropout=self._resolved("dropout"),
            output=self._output_head(), weight_init=self.weight_init, dtype=DTYPE,
        )
        self.n_layers_ = len(layer_sizes)
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
        """Say which layers between two hidden layers ``epsilon`` asks to be denser
        than fully connected.

        Only those are sized by hand on both sides. The first layer's input is the
        data's features, and the last layer's output the classes or targets: with few
        of either, an Erdős–Rényi layer is fully connected at any usual ``epsilon``, as
        in the original SET, and that is no surprise.
        """
        if np.isinf(self.epsilon):
            return
        capped = [
            f"{n_in}x{n_out}: epsilon*(n_in+n_out) = {self.epsilon * (n_in + n_out):g} "
            f"connections exceed the n_in*n_out = {n_in * n_out} positions"
            for n_in, n_out in zip(layer_sizes[1:-2], layer_sizes[2:-1], strict=True)
            if erdos_renyi_density(n_in, n_out, self.epsilon, capped=False) > 1
        ]
        if capped:
            warn(
                f"epsilon={self.epsilon} asks for more connections than there are in "
                f"hidden layers {'; '.join(capped)}. They are fully connected instead; "
                "pass epsilon=float('inf') to ask for fully connected layers.",
                UserWarning,
            )

    def _run_epochs(self, data, batch_size, rng, schedule, clock, incremental,
                    validation=None):
        """Epochs, each followed by what ``schedule`` asks for: one for ``partial_fit``
        (``incremental``), else up to ``max_iter``, stopping early as
        ``early_stopping`` and ``n_iter_no_change`` say.

        ``data`` is ``(X, y, sample_weight)``. ``clock`` is ``(epochs, batches,
        widths)``: the epochs and batches done on ``schedule`` before this call, and
        the hidden widths when it started, which pruning targets are fractions of; the
        clock after the call is returned. ``validation`` holds the held-out ``(X, y,
        sample_weight)`` with ``early_stopping``.
        """
        self.network_.dropout = self._resolved("dropout")
        self.network_.output = self._output_head()  # a warm start may change the loss
        self._backend = make_backend(self.device, self.network_, data, DTYPE, batch_size)
        try:
            clock = self._run_epochs_on_backend(data, batch_size, rng, schedule, clock,
                                                incremental, validation)
        finally:  # the fitted network, up to date, on the host, even after an error
            self.network_ = self._backend.host()
            del self._backend
        self._check_last_update()
        return clock

    def _check_last_update(self):
        """Raise if the last update diverged. Each batch's loss, L2 term included,
        catches the update before it; nothing comes after the last one but this
        check, the same L2 term: without it a fit could end with weights whose
        products overflow, and predict NaN."""
        if np.isfinite(self.network_.squared_norm()):
            return
        raise FloatingPointError(
            f"The weights' squared norm overflows after the last update of epoch "
            f"{self.n_iter_}: training diverged in that update; try a smaller "
            f"learning_rate_init (now {self._learning_rate()}). The model keeps those "
            "weights, and predicts NaN."
        )

    def _host_network(self):
        """The network as trained so far, on the host (a no-op on the CPU backend)."""
        self.network_ = self._backend.host()
        return self.network_

    def _run_epochs_on_backend(self, data, batch_size, rng, schedule, clock, incremental,
                               validation):
        """:meth:`_run_epochs`' loop, training on ``self._backend``."""
        epoch, batch, widths = clock
        best_loss, best_score, best_network = np.inf, -np.inf, None
        no_improvement = 0
        stopped = False
        warned_diverging = False
        for index in range(1 if incremental else self.max_iter):
            epoch += 1
            record, batch = self._train_epoch(data, batch_size, rng, schedule, epoch, batch)
            if not warned_diverging:
                warned_diverging = self._warn_if_diverging(record["train_loss"], data)
            if not incremental:
                if validation is not None:
                    score = self._validate(record, *validation)
                    no_improvement = 0 if score >= best_score + self.tol else no_improvement + 1
                    if score > best_score:
                        best_score, best_network = score, self._host_network().copy()
                        self.best_validation_score_ = score
                else:
                    loss = record["train_loss"]
                    no_improvement = 0 if loss <= best_loss - self.tol else no_improvement + 1
                    best_loss = min(best_loss, loss)
                stopped = no_improvement > self.n_iter_no_change
            pruned = 0
            if not stopped:
                rewired, pruned, seconds = self._change_topology(rng, data, schedule, epoch,
                                                                 widths)
                record["rewired"] += rewired
                record["seconds_evolve"] += seconds
            if index == 0 and self.verbose >= 2 and self.device == "cpu":
                _print_threads()  # known once a threaded kernel has run
            self._finish_epoch(record, pruned)
            if stopped:
                break

        if best_network is not None:
            self._backend.reload(best_network)
        if not incremental and not stopped:
            warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and "
                "the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return epoch, batch, widths

    def _warn_if_diverging(self, loss, data):
        """Warn when an epoch's loss is many times that of a constant prediction;
        returns whether it warned."""
        _, y, sample_weight = data
        baseline, prediction = self._constant_loss(y, sample_weight)
        if not (baseline > 0 and loss > DIVERGING_LOSS_RATIO * baseline):
            return False
        warn(
            f"The training loss of epoch {self.n_iter_} is {loss:.4g}, "
            f"{loss / baseline:.0f} times that of a constant prediction ({prediction}: "
            f"{baseline:.4g}): training is diverging. Try a smaller learning_rate_init "
            f"(now {self._learning_rate()}), or scale the features.",
            UserWarning,
        )
        return True

    def _validate(self, record, X_val, y_val, sample_weight_val):
        """Score the held-out split into ``record``; returns the score."""
        outputs = self._host_network().predict(X_val)
        score, loss = self._score_outputs(outputs, y_val, sample_weight_val)
        record["val_loss"] = float(loss)
        record[f"val_{self._SCORE_NAME}"] = float(score)
        self.validation_scores_.append(float(score))
        return score

    def _train_epoch(self, data, batch_size, rng, schedule, epoch, batch):
        """One pass of mini-batch SGD, with the batch-level evolution ``schedule`` asks
        for; returns the epoch's record for ``history_`` and the batches done."""
        X, y, sample_weight = data
        backend = self._backend
        n_samples = X.shape[0]
        timer = {"forward": 0.0, "backward": 0.0, "kernels": 0.0}
        rewired, seconds_evolve = 0, 0.0
        start = time.perf_counter()
        order = rng.permutation(n_samples)
        backend.start_epoch(order)
        try:
            for first in range(0, n_samples, batch_size):
                rows = order[first:first + batch_size]
                backend.train_batch(
                    rows, learning_rate=self._learning_rate(), momentum=self.momentum,
                    nesterov=self.nesterovs_momentum, alpha=self.alpha, rng=rng, timer=timer,
                    weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm,
                )
                batch += 1
                zeta = schedule.zeta_after_batch(epoch, batch)
                if zeta > 0:
                    start_evolve = time.perf_counter()
                    rewired += self._evolve(zeta, rng,
                                           lambda rows=rows: _batch(X, y, sample_weight, rows))
                    seconds_evolve += time.perf_counter() - start_evolve
            train_loss, n_correct = backend.end_epoch()
        except FloatingPointError as error:
            raise FloatingPointError(
                f"{error} Training diverged at epoch {self.n_iter_ + 1}; try a "
                f"smaller learning_rate_init (now {self._learning_rate()}). The "
                "model keeps its last finite weights, from before that batch."
            ) from None
        network = self.network_
        self.n_iter_ += 1
        record = {
            "epoch": self.n_iter_,
            "samples": n_samples,
            "train_loss": train_loss,
        }
        if is_classifier(self):
            record["train_accuracy"] = n_correct / n_samples
        record.update({
            "nnz_start": network.nnz,
            "seconds_train": time.perf_counter() - start - seconds_evolve,
            "seconds_forward": timer["forward"],
            "seconds_backward": timer["backward"],
            "seconds_kernels": timer["kernels"],
            "rewired": rewired,
            "seconds_evolve": seconds_evolve,
        })
        return record, batch

    def _change_topology(self, rng, data, schedule, epoch, widths):
        """The pruning and evolution ``schedule`` asks for after ``epoch``; ``widths``
        are the hidden widths when the schedule started.

        Returns the connections rewired, the neurons pruned and the seconds taken.
        """
        X, y, sample_weight = data
        start = time.perf_counter()
        pruned = rewired = 0
        if schedule.prune_after_epoch(epoch):
            pruned = self._prune(self._host_network(), rng, schedule.pruned_after_epoch(epoch),
                                 widths)
            self._backend.reload(self.network_)
            self._record_exploration(reset=True)  # neurons renumbered
        zeta = schedule.zeta_after_epoch(epoch)
        if zeta > 0:

            def random_batch():
                rows = rng.choice(X.shape[0], self._batch_size(X.shape[0], warn_if_clipped=False),
                                  replace=False)
                return _batch(X, y, sample_weight, rows)

            rewired = self._evolve(zeta, rng, random_batch)
        return rewired, pruned, time.perf_counter() - start

    def _regrow_init(self):
        """How regrown connections start: see ``regrow_init``."""
        return self.weight_init if self.regrow_init == "init" else "zero"

    def _evolve(self, zeta, rng, signal_batch):
        """Rewire the fraction ``zeta`` of every layer by the growth rule; returns the
        number of connections rewired.

        ``signal_batch`` returns ``(x, y, sample_weight)`` for gradient growth: a
        training batch, features by samples, and its weights (None without).
        """
        if self._backend.evolves_on_device(self.growth, self.track_exploration):
            return self._backend.evolve(zeta, rng, self._regrow_init())
        network = self._host_network()
        signals = None
        if self.growth != "random":
            signals = network.backward_signals(*signal_batch())
        rewired = evolve_network(network, zeta, rng, self._regrow_init(),
                                 GROWTH_RULES[self.growth], signals)
        self._backend.reload(network)
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
            self._explored = [np.union1d(e, k) for e, k in zip(self._explored, keys, strict=True)]

    def _finish_epoch(self, record, pruned):
        """Complete ``record`` with the network's state after the epoch, and keep it."""
        network = self.network_
        record.update(nnz=network.nnz, hidden_neurons=list(network.hidden_layer_sizes),
                      pruned_neurons=pruned)
        if self.track_exploration:
            record["explored_fraction"] = [
                e.shape[0] / (layer.topology.n_in * layer.topology.n_out)
                for e, layer in zip(self._explored, network.layers, strict=True)
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
        for h, (built, start) in enumerate(zip(self._hidden_sizes(), widths, strict=True)):
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

    def _kernel_plan(self, n_samples, n_features, n_outputs):
        """The :class:`._compile.KernelPlan` of a fit of these parameters on data of
        this shape: which kernels it runs."""
        return KernelPlan.for_layers(
            [n_features, *self._hidden_sizes(), n_outputs], self.epsilon,
            self._batch_size(n_samples, warn_if_clipped=False), self.zeta,
            dtype=np.dtype(DTYPE).name,
            clipping=self.max_grad_norm is not None, output=self._output_head(),
            activation=self.activation, growth=self.growth)

    def _prepare_kernels(self, n_samples, n_features):
        """Once per process: on a cold Numba cache, say so and compile the kernels a
        CPU fit runs, in parallel processes (see :mod:`._compile`); with ``verbose``,
        load them and say how long it all took."""
        global _kernels_ready
        if _kernels_ready:
            return
        start = time.perf_counter()
        plan = self._kernel_plan(n_samples, n_features, self.n_outputs_)
        on_cpu = self.device == "cpu"
        if not kernels_cached():
            n_jobs = compile_processes(plan) if on_cpu else 1
            print("sklearn_set: compiling the Numba kernels for this environment"
                  f"{f' in {n_jobs} processes' if n_jobs > 1 else ''} (5 to 20 s, once: later "
                  "fits load them from Numba's on-disk cache).", file=sys.stderr, flush=True)
            if on_cpu:
                compile_kernels(plan, n_jobs)
        if self.verbose and on_cpu:
            run_tasks(plan)
            print("Numba kernels compiled or loaded from cache in "
                  f"{time.perf_counter() - start:.2f} s")
        _kernels_ready = True

    def _print_epoch(self, record, timings=False):
        line = f"Iteration {record['epoch']}, loss = {record['train_loss']:.8f}"
        if "train_accuracy" in record:
            line += f", train accuracy = {record['train_accuracy']:.4f}"
        score_key = f"val_{self._SCORE_NAME}"
        if score_key in record:
            line += f", validation {self._SCORE_NAME} = {record[score_key]:.4f}"
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

    def _predict_outputs(self, X):
        """The output head's values on ``X``, in float64: shape (n_samples, n_outputs_)."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=DTYPE, reset=False)
        _check_input_scale(X)
        with kernel_threads():
            return self.network_.predict(X).astype(np.float64)
