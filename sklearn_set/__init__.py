"""Truly sparse multilayer perceptrons with Sparse Evolutionary Training."""

from . import datasets
from ._estimator import SETMLPClassifier
from ._regressor import SETMLPRegressor

__all__ = ["SETMLPClassifier", "SETMLPRegressor", "datasets"]
__version__ = "0.1.0"
