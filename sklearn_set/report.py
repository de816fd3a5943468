"""Deprecated: the study's report is now ``python -m sklearn_set.study report``.

A thin alias of :mod:`sklearn_set.study`'s report step for one release.
"""

import sys

from ._deprecated import warn_moved
from .study._report import *  # noqa: F401,F403
from .study._report import __all__, main  # noqa: F401

warn_moved("sklearn_set.report", "sklearn_set.study (python -m sklearn_set.study report)")

if __name__ == "__main__":
    sys.exit(main())
