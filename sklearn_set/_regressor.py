"""SETMLPRegressor: the scikit-learn regressor over the sparse network.

Everything but the targets is shared with the classifier in :mod:`._base`: here are
real-valued targets, an identity output trained on half squared error, and R².
"""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils.validation import column_or_1d

from ._base import DTYPE, BaseSETMLP, with_shared_docs

__all__ = ["SETMLPRegressor"]


@with_shared_docs
class SETMLPRegressor(RegressorMixin, BaseSETMLP):
    """Multilayer perceptron regressor with truly sparse, evolving connectivity (SET).

    The network of :class:`SETMLPClassifier`, with an identity output trained on half
    squared error, as :class:`~sklearn.neural_network.MLPRegressor` is: the same
    Erdős–Rényi layers stored and trained in sparse form, the same evolution (SET or
    RigL) and importance pruning, and one output neuron per target.

    Training is mini-batch SGD with momentum, in float32. As with any MLP, scale the
    features and, when they are large, the targets (for instance with
    :class:`~sklearn.compose.TransformedTargetRegressor`).

    [parameters]
    Attributes
    ----------
    [attributes]
    See Also
    --------
    sklearn.neural_network.MLPRegressor : The dense multilayer perceptron regressor.
    SETMLPClassifier : The same sparse network for classification.

    [notes]
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn_set import SETMLPRegressor
    >>> X, y = make_regression(n_samples=300, n_features=40, noise=1.0, random_state=0)
    >>> reg = SETMLPRegressor(hidden_layer_sizes=(64,), max_iter=200, random_state=0)
    >>> reg.fit(X, y / y.std()).score(X, y / y.std()) > 0.9
    True
    """

    _AUTO = {"learning_rate_init": 0.001, "dropout": 0.0, "loss": "squared_error"}
    _HEADS = {"squared_error": "identity"}
    _SCORE_NAME = "r2"
    _TARGET_CHECKS = {"multi_output": True, "y_numeric": True}

    def _encode_targets(self, y, classes, first_pass, incremental):
        """Targets as float32 rows of shape (n_samples, n_outputs), the layout the
        squared-error kernel reads; sets ``n_outputs_`` on a first pass."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        y = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=DTYPE)
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite targets.")
        if first_pass:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y.shape[1]} targets, but the fitted network has "
                f"{self.n_outputs_} outputs."
            )
        return y

    def _stratify(self, y):
        return None

    def _score_outputs(self, outputs, y, sample_weight):
        """R² and half mean squared error of ``outputs`` against targets ``y``."""
        loss = 0.5 * np.average(((outputs - y) ** 2).mean(axis=1), weights=sample_weight)
        return r2_score(y, outputs, sample_weight=sample_weight), loss

    def _constant_loss(self, y, sample_weight):
        """The loss of predicting 0, where an untrained network starts: targets far
        from 0 make a first epoch's loss large without it diverging."""
        return 0.5 * float(np.average((y.astype(np.float64) ** 2).mean(axis=1),
                                      weights=sample_weight)), "predicting 0"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the sparse network on ``(X, y)``.

        With ``warm_start``, training continues from the fitted network, and its
        evolve-and-prune schedule runs again from the start.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; converted to float32 (a sparse matrix to CSR, densified
            one batch at a time).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample's loss, as in
            :class:`~sklearn.neural_network.MLPRegressor`; see
            :meth:`SETMLPClassifier.fit`.

        Returns
        -------
        self : SETMLPRegressor
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, followed by the epoch's evolution and pruning.

        The schedule's clock is that of :meth:`SETMLPClassifier.partial_fit`: one call
        is one epoch, over a horizon of ``max_iter`` calls. ``early_stopping=True`` is
        refused.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss, as in :meth:`fit`.

        Returns
        -------
        self : SETMLPRegressor
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            One-dimensional when the network has one output.
        """
        outputs = self._predict_outputs(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs
