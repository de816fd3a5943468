"""Plot what ``history_`` records: loss, accuracy, hidden neurons alive, connectivity.

Fits a SET-MLP with importance pruning on an image dataset and draws, per epoch, the
training loss, training and validation accuracy and the hidden neurons alive, plus the
number of first-layer connections each input pixel kept, as an image: after training,
SET has moved connections towards the informative pixels. Needs matplotlib
(``pip install -e '.[plot]'`` from the checkout).

    python examples/plot_learning_curves.py [dataset] [output.png]   # default: digits
"""

import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_set import SETMLPClassifier  # noqa: E402
from sklearn_set.datasets import load_dataset  # noqa: E402

IMAGE_SHAPES = {"digits": (8, 8), "semeion": (16, 16), "coil20": (32, 32), "orl": (32, 32),
                "yaleb": (32, 32)}


def main(name="digits", output="set_learning_curves.png"):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_dataset(name)
    X = StandardScaler().fit_transform(X)
    clf = SETMLPClassifier(
        (300, 300), max_iter=40, prune="importance", early_stopping=True,
        n_iter_no_change=40, epsilon=5, random_state=0,
    ).fit(X, y)
    history = clf.history_
    epochs = [r["epoch"] for r in history]

    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    axes[0].plot(epochs, [r["train_loss"] for r in history])
    axes[0].set(title="training loss", xlabel="epoch", yscale="log")
    axes[1].plot(epochs, [r["train_accuracy"] for r in history], label="training (dropout on)")
    axes[1].plot(epochs, [r["val_accuracy"] for r in history], label="validation")
    axes[1].set(title="accuracy", xlabel="epoch")
    axes[1].legend()
    axes[2].plot(epochs, [sum(r["hidden_neurons"]) for r in history], label="hidden neurons")
    axes[2].plot(epochs, [r["nnz"] / 100 for r in history], label="connections / 100")
    axes[2].set(title="network size", xlabel="epoch", ylim=(0, None))
    axes[2].legend()
    if name in IMAGE_SHAPES:
        degree = np.diff(clf.coefs_[0].indptr).reshape(IMAGE_SHAPES[name])
        if name in ("coil20", "orl", "yaleb"):
            degree = degree.T  # these files store images column by column
        shown = axes[3].imshow(degree, cmap="viridis")
        fig.colorbar(shown, ax=axes[3])
        axes[3].set(title="first-layer connections per pixel", xticks=[], yticks=[])
    else:
        axes[3].axis("off")
    fig.suptitle(f"{name}: SET with importance pruning")
    fig.tight_layout()
    fig.savefig(output, dpi=80)
    print(f"{len(history)} epochs, best validation accuracy {clf.best_validation_score_:.4f}, "
          f"{sum(history[-1]['hidden_neurons'])} of 600 hidden neurons alive at the end, "
          f"{sum(clf.hidden_layer_sizes_)} in the kept (best validation) network; wrote {output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
