"""The benchmark datasets: fifteen high-dimensional ``.mat`` files, plus digits offline.

The ``.mat`` files are never part of the package. :func:`load_dataset` looks for them,
in order, in

1. the ``data_home`` argument, else the ``SKLEARN_SET_DATA`` environment variable;
2. ``shared/datasets`` beside the checkout (next to this package's repository, or
   next to the working directory);
3. the user cache, ``$XDG_CACHE_HOME/sklearn_set`` (default ``~/.cache/sklearn_set``);

and verifies each file's SHA-256 before reading it.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "load_dataset", "dataset_names", "search_paths"]

#: Registered datasets: name -> (file name, SHA-256 of the file).
DATASETS = {
    "ALLAML": ("ALLAML.mat", "8a0a2a352ea1d450bf8cbb2e622bf20559879955d016211112044d6a8eeb8634"),
    "arcene": ("arcene.mat", "ea07af379a05244a610b3df887f9df43c295ba580bf8c56d0bead84397b659d0"),
    "coil20": ("coil20.mat", "9b8c17594222429d932c89cfd802185e34c5257f50773f6c41e7646e9dbd97e2"),
    "colon": ("colon.mat", "37204bd9ae973a810dab97bc0c88bece709c332c5b120b7284b5f4e5232195f0"),
    "GLIOMA": ("GLIOMA.mat", "78f2638f75f7e2cc43c9c7df928aae17112dff142a500f138d66e4d9ba7b5e2e"),
    "isolet": ("isolet.mat", "9d04317e379b959639e5bf0cc553a9d81c39935ebf1f6983ca20a2facd325578"),
    "lymphoma": ("lymphoma.mat", "16ed4c5d12309314f94c2b61069e4d1a93ecaed47a6b657b875f1357c3d9e320"),
    "madelon": ("madelon.mat", "a57cbd6e3b8ae23650da321a9aae3e315225b5999cff502dcc3aea73332042a4"),
    "nci9": ("nci9.mat", "5ec089507292f25b828f81b19a045e4807831354551437787a1cb369aa103a84"),
    "orl": ("orl.mat", "45a87c99af4df83ae419689f94ff83bae20c7bb7039f5d4f1cc0aa1316c246b5"),
    "Prostate_GE": ("Prostate_GE.mat", "470decf5406d5a39fc5362b283b2e20047e7c2b17da6c224b138dc1c1b7ca51e"),
    "semeion": ("semeion.mat", "86dcc44f2ead82505ee7b7868424cf5065f5315f8a76b376359523dc0ebded93"),
    "tox171": ("tox171.mat", "47ad0d046c13da585397ad86d529ca22209857cf0863d5c7531df6c0644df833"),
    "warpPIE10P": ("warpPIE10P.mat", "37dbf561cbeade603d785c4a7722ecb0e1d2e0c2e9f68d064f3ac2f684233a08"),
    "yaleb": ("yaleb.mat", "06ca42416262aadbe50f11a5dec2f9d227d171189e9df8deb5c84bd854cfa061"),
}

_BUNDLED = ("digits",)


def dataset_names():
    """Names accepted by :func:`load_dataset`: the fifteen ``.mat`` datasets, then digits."""
    return list(DATASETS) + list(_BUNDLED)


def search_paths(data_home=None):
    """The directories searched for ``.mat`` files, in order."""
    paths = []
    explicit = data_home if data_home is not None else os.environ.get("SKLEARN_SET_DATA")
    if explicit:
        paths.append(Path(explicit).expanduser())
    repository = Path(__file__).resolve().parent.parent
    for checkout in (repository, Path.cwd()):
        candidate = checkout.parent / "shared" / "datasets"
        if candidate not in paths:
            paths.append(candidate)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sklearn_set"
    paths.append(cache)
    return paths


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical_name(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}: {name!r}")
    by_lower = {n.lower(): n for n in dataset_names()}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(dataset_names())}."
        ) from None


def _find_file(name, data_home):
    filename, sha256 = DATASETS[name]
    searched = search_paths(data_home)
    for directory in searched:
        path = directory / filename
        if path.is_file():
            actual = _sha256(path)
            if actual != sha256:
                raise ValueError(
                    f"Checksum mismatch for {path}: expected sha256 {sha256}, got {actual}. "
                    "The file is corrupted or is not the benchmark's version."
                )
            return path
    places = "\n  ".join(str(p) for p in searched)
    raise FileNotFoundError(
        f"Dataset {name!r} not found: no file {filename} (sha256 {sha256}) in any of\n  "
        f"{places}\nSet SKLEARN_SET_DATA or pass data_home= to name its directory."
    )


def load_dataset(name, *, data_home=None):
    """Load a benchmark dataset as ``(X, y)``.

    Parameters
    ----------
    name : str
        One of :func:`dataset_names` (case-insensitive). ``"digits"`` is
        scikit-learn's bundled digits and needs no file.
    data_home : str or path-like, optional
        Directory to search first; defaults to ``$SKLEARN_SET_DATA``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int64
        Class indices ``0 .. n_classes - 1`` in the order of the file's sorted labels
        (the files number their classes from 1).

    Raises
    ------
    ValueError
        For an unknown name or a file whose checksum does not match.
    FileNotFoundError
        When no searched directory holds the file; the message lists them.
    """
    name = _canonical_name(name)
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X.astype(np.float64), y.astype(np.int64)

    from scipy.io import loadmat

    mat = loadmat(_find_file(name, data_home))
    X = np.asarray(mat["fea"], dtype=np.float64)
    _, y = np.unique(np.asarray(mat["gnd"]).ravel(), return_inverse=True)
    return X, y.astype(np.int64)
