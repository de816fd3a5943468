"""Truly sparse multilayer perceptrons with Sparse Evolutionary Training."""

from . import datasets
from ._estimator import SETMLPClassifier

__all__ = ["SETMLPClassifier", "datasets"]
__version__ = "0.1.0"
