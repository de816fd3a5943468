"""SETMLPClassifier: the scikit-learn classifier over the sparse network.

Everything but the targets is shared with the regressor in :mod:`._base`: here are
class labels, softmax probabilities and accuracy.
"""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils.multiclass import (
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import check_is_fitted

from ._base import AUTO_BATCH_SIZE, BaseSETMLP, with_shared_docs
from ._export import to_mlpclassifier
from ._network import SIGMOID_OUTPUTS

__all__ = ["SETMLPClassifier"]


@with_shared_docs
class SETMLPClassifier(ClassifierMixin, BaseSETMLP):
    """Multilayer perceptron with truly sparse, evolving connectivity (SET).

    Every layer starts from an Erdős–Rényi random topology with density
    ``epsilon * (n_in + n_out) / (n_in * n_out)`` and is stored and trained in sparse
    form: memory and compute grow with the number of connections, never with
    ``n_in * n_out``. After each epoch but the last, Sparse Evolutionary Training
    removes the fraction ``zeta`` of each layer's weights closest to zero (separately
    among positive and negative weights) and regrows as many at random free
    positions, so the number of connections stays constant while the topology adapts.

    Training is mini-batch SGD with momentum on softmax cross-entropy (or, with
    ``loss="squared_error"``, on the squared error of sigmoid outputs), in float32.
    :class:`SETMLPRegressor` is the same network with an identity output trained on
    squared error.

    [parameters]
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    [attributes]
    See Also
    --------
    sklearn.neural_network.MLPClassifier : The dense multilayer perceptron.
    SETMLPRegressor : The same sparse network for regression.

    [notes]
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

    _AUTO = {"learning_rate_init": 0.01, "loss": "log_loss",
             "dropout": lambda clf: 0.3 if clf.prune is None else 0.0}
    _HEADS = {"log_loss": "softmax", "squared_error": "logistic",
              "original": "logistic_original"}
    _SCORE_NAME = "accuracy"
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

    def _check_target_kind(self, y):
        """Refuse multilabel and multi-output ``y``, saying so: the softmax head picks
        one class per sample (scikit-learn's check would only say "y should be a 1d
        array"), and say how to fit one network per output instead."""
        try:
            kind = type_of_target(y, input_name="y")
        except (TypeError, ValueError):
            return  # validate_data's message is the better one
        if kind in ("multilabel-indicator", "multiclass-multioutput"):
            raise ValueError(
                f"SETMLPClassifier learns one label per sample, but y is {kind} of shape "
                f"{np.shape(y)}: its softmax output picks a single class. To fit one "
                "network per column of y, wrap the estimator in "
                "sklearn.multioutput.MultiOutputClassifier."
            )

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
        if first_pass:
            self.n_outputs_ = self.classes_.shape[0]
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes "
                f"{self.classes_.tolist()}."
            )
        return np.searchsorted(self.classes_, y)

    def _stratify(self, y):
        """Class indices, once each class is known to hold the two samples a
        stratified split needs; the refusal names the user's labels."""
        counts = np.bincount(y, minlength=self.classes_.shape[0])
        scarce = self.classes_[(counts > 0) & (counts < 2)]
        if scarce.size:
            raise ValueError(
                "early_stopping holds out a stratified validation split, which needs at "
                f"least 2 samples of each class; class(es) {scarce.tolist()} have 1. Pass "
                "early_stopping=False, or more samples of those classes."
            )
        return y

    def _score_outputs(self, proba, y, sample_weight):
        """Accuracy and mean cross-entropy of ``proba`` on class indices ``y`` (sigmoid
        outputs are normalised first, as :meth:`predict_proba` does)."""
        if self.network_.output in SIGMOID_OUTPUTS:
            proba = proba / proba.sum(axis=1, keepdims=True)
        picked = proba[np.arange(y.shape[0]), y]
        correct = proba.argmax(axis=1) == y
        log_loss = -np.log(np.maximum(picked, 1e-12))
        return (np.average(correct, weights=sample_weight),
                np.average(log_loss, weights=sample_weight))

    def _constant_loss(self, y, sample_weight):
        """Cross-entropy of uniform probabilities: log of the number of classes."""
        return float(np.log(self.classes_.shape[0])), "uniform probabilities"

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
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
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample's loss, as in
            :class:`~sklearn.neural_network.MLPClassifier`: each batch minimises the
            weighted mean loss, plus the L2 term over the batch's total weight, so a
            weight of 2 equals a duplicated sample up to batching. None weighs every
            sample 1.

        Returns
        -------
        self : SETMLPClassifier
        """
        return self._fit(X, y, incremental=False, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
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
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss, as in :meth:`fit`.
        classes : array-like of shape (n_classes,), default=None
            Required on the first call, ignored afterwards.

        Returns
        -------
        self : SETMLPClassifier
        """
        return self._fit(X, y, incremental=True, sample_weight=sample_weight,
                         classes=classes)

    def to_mlpclassifier(self):
        """A fitted dense :class:`~sklearn.neural_network.MLPClassifier` with the same function.

        For tools that only understand the dense model (ONNX exporters, for
        instance). Missing connections become zeros, so the result holds
        ``n_in * n_out`` weights per layer. ``predict_proba`` agrees to float32
        precision. Models with ``activation="allrelu"`` or
        ``loss="squared_error"`` cannot be converted.

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
            Columns follow ``classes_``. With ``loss="squared_error"``, the sigmoid
            outputs divided by their sum.
        """
        proba = self._predict_outputs(X)
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
