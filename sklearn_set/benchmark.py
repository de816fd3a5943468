"""Deprecated: the study's run step is now ``python -m sklearn_set.study run``.

A thin alias of :mod:`sklearn_set.study`'s run step for one release.
"""

import sys

from ._deprecated import warn_moved
from .study._run import *  # noqa: F401,F403
from .study._run import __all__, build_parser, main  # noqa: F401

warn_moved("sklearn_set.benchmark", "sklearn_set.study (python -m sklearn_set.study run)")

if __name__ == "__main__":
    sys.exit(main())
