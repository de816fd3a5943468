"""Old module paths kept as thin aliases for one release."""

import warnings


def warn_moved(old, new):
    """Tell the user that module ``old`` is now ``new``, and goes in the next release."""
    warnings.warn(
        f"{old} has moved to {new}; the old path will be removed in the next release.",
        FutureWarning,
        stacklevel=3,
    )
