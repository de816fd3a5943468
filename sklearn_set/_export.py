"""Conversion of a fitted sparse network into a fitted dense ``MLPClassifier``.

For tools that only understand scikit-learn's dense model (ONNX exporters, model
inspectors). This is the one place where weights become dense on purpose: the result
holds ``n_in * n_out`` numbers per layer, which is what such tools need.
"""

import numpy as np
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelBinarizer

__all__ = ["to_mlpclassifier"]

#: Hidden activations that MLPClassifier shares with us.
_SHARED_ACTIVATIONS = ("relu", "tanh", "logistic")


def to_mlpclassifier(estimator, batch_size):
    """A fitted :class:`~sklearn.neural_network.MLPClassifier` with ``estimator``'s function.

    Missing connections become zeros. With two classes, scikit-learn uses one
    logistic output where we use a two-way softmax; since
    ``softmax(z)[1] == logistic(z[1] - z[0])``, the output layer is folded into that
    difference, so probabilities agree.

    Parameters
    ----------
    estimator : SETMLPClassifier
        A fitted estimator with a ``"relu"``, ``"tanh"`` or ``"logistic"`` activation.
    batch_size : int
        The estimator's mini-batch size as a number: ``"auto"`` means another size
        in :class:`~sklearn.neural_network.MLPClassifier`, so copying it would make
        the exported model go on training with other batches.

    Returns
    -------
    mlp : MLPClassifier
    """
    if estimator.activation not in _SHARED_ACTIVATIONS:
        raise ValueError(
            f"MLPClassifier has no activation {estimator.activation!r}; only models with "
            f"activation in {_SHARED_ACTIVATIONS} can be converted."
        )
    if estimator.network_.output != "softmax":
        raise ValueError(
            "MLPClassifier's multiclass outputs are a softmax; a model trained with "
            "loss='squared_error' or loss='original' has sigmoid outputs and cannot be "
            "converted."
        )
    coefs = [c.toarray().astype(np.float64) for c in estimator.coefs_]
    intercepts = [b.astype(np.float64) for b in estimator.intercepts_]
    n_classes = estimator.classes_.shape[0]
    if n_classes == 2:
        coefs[-1] = coefs[-1][:, 1:] - coefs[-1][:, :1]
        intercepts[-1] = intercepts[-1][1:] - intercepts[-1][:1]

    mlp = MLPClassifier(
        hidden_layer_sizes=tuple(estimator.hidden_layer_sizes_),
        activation=estimator.activation, solver="sgd", alpha=estimator.alpha,
        batch_size=batch_size, learning_rate="constant",
        learning_rate_init=estimator._learning_rate(), momentum=estimator.momentum,
        nesterovs_momentum=estimator.nesterovs_momentum, max_iter=estimator.max_iter,
        random_state=estimator.random_state,
    )
    mlp.coefs_ = coefs
    mlp.intercepts_ = intercepts
    mlp.classes_ = estimator.classes_.copy()
    mlp._label_binarizer = LabelBinarizer().fit(estimator.classes_)
    mlp.n_features_in_ = estimator.n_features_in_
    if hasattr(estimator, "feature_names_in_"):
        mlp.feature_names_in_ = estimator.feature_names_in_.copy()
    mlp.n_layers_ = len(coefs) + 1
    mlp.n_outputs_ = coefs[-1].shape[1]
    mlp.out_activation_ = "logistic" if n_classes == 2 else "softmax"
    mlp.n_iter_ = estimator.n_iter_
    mlp.loss_curve_ = list(estimator.loss_curve_)
    mlp.t_ = 0
    # what MLPClassifier's own first fit sets, so that partial_fit can go on training
    mlp.best_loss_ = min(mlp.loss_curve_, default=np.inf)
    mlp._no_improvement_count = 0
    mlp.validation_scores_ = mlp.best_validation_score_ = None
    mlp._best_coefs = [c.copy() for c in coefs]
    mlp._best_intercepts = [b.copy() for b in intercepts]
    return mlp
