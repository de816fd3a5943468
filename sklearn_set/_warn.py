"""Warnings that point at the user's line, not at this package's.

A warning's ``stacklevel`` names the frame it is reported from. A fixed level is right
for one call path only: ``fit``, ``partial_fit`` and the study reach the same warning
through different depths of this package. :func:`warn` counts the frames instead, up
to the first one that is neither this package's code nor a decorator around it, so
that warning filters by module, and ``python -W error`` tracebacks, see the line that
called ``fit``.
"""

import contextlib
import os
import sys
import warnings
from functools import cache

__all__ = ["warn"]

#: This package's directory, ending in a separator so that a sibling directory
#: whose name merely starts with the package's (``sklearn_set_extra``) is outside.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


@cache
def _fit_wrapper_code():
    """The code of scikit-learn's ``_fit_context`` wrapper, which every fit method of
    this package runs inside; one code object serves every method it wraps."""
    from sklearn.base import _fit_context

    return _fit_context(prefer_skip_nested_validation=True)(lambda estimator: None).__code__


def _within_package(code):
    """Whether a frame running ``code`` sits between the user's call and the warning:
    this package's own code, a context manager used as a decorator on it, or
    scikit-learn's wrapper of its fit methods."""
    return (code.co_filename.startswith(_PACKAGE_DIR) or code.co_filename == contextlib.__file__
            or code is _fit_wrapper_code())


def warn(message, category=UserWarning):
    """``warnings.warn(message, category)``, reported from the innermost frame outside
    this package: the user's call, or the library's that made it (a scikit-learn
    search's, say)."""
    frame, stacklevel = sys._getframe(0), 1  # level 1 is this function's own frame
    while frame is not None and _within_package(frame.f_code):
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(message, category, stacklevel=stacklevel)
