"""The benchmark datasets: fifteen high-dimensional ``.mat`` files, plus digits offline.

The ``.mat`` files are never part of the package. :func:`load_dataset` looks for them,
in order, in

1. the ``data_home`` argument, else the ``SKLEARN_SET_DATA`` environment variable;
2. ``shared/datasets`` beside the checkout (next to this package's repository, or
   next to the working directory);
3. the user cache, ``$XDG_CACHE_HOME/sklearn_set`` (default ``~/.cache/sklearn_set``);

and verifies each file's SHA-256 before reading it. :func:`fetch_dataset` downloads a
missing file into the cache from a mirror, verifying it the same way.

Where the files come from: the scikit-feature feature-selection repository
(Li et al., "Feature Selection: A Data Perspective", ACM Computing Surveys, 2017),
https://jundongl.github.io/scikit-feature/datasets.html, which serves each one as
``<mirror>/<name>.mat`` under :data:`DEFAULT_MIRROR`. The checksums pin the versions
this project's results were computed on; a mirror that serves other bytes is refused.

:func:`load_source` also reads a user's own data, so that the study runs on it.
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "DEFAULT_MIRROR", "load_dataset", "fetch_dataset", "load_source",
           "source_name", "parse_source", "dataset_names", "search_paths", "cache_dir"]

#: Where :func:`fetch_dataset` downloads from, unless told otherwise (its ``mirror``
#: argument, or the ``SKLEARN_SET_MIRROR`` environment variable).
DEFAULT_MIRROR = "https://jundongl.github.io/scikit-feature/files/datasets"

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
    paths.append(cache_dir())
    return paths


def cache_dir():
    """The user cache, where :func:`fetch_dataset` puts what it downloads:
    ``$XDG_CACHE_HOME/sklearn_set``, by default ``~/.cache/sklearn_set``."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sklearn_set"


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
        f"{places}\nSet SKLEARN_SET_DATA or pass data_home= to name its directory, or "
        "download it with sklearn_set.datasets.fetch_dataset(name)."
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

    return _read_mat(_find_file(name, data_home))


def fetch_dataset(name, *, data_home=None, mirror=None, timeout=60):
    """Load a benchmark dataset, downloading its file first when no searched directory
    holds it, as scikit-learn's ``fetch_*`` functions do.

    The file goes into ``data_home`` if given, else into :func:`cache_dir`, and is
    kept only once its SHA-256 matches the registered one.

    Parameters
    ----------
    name : str
        As for :func:`load_dataset`.
    data_home : str or path-like, optional
        Directory searched first, and where a download goes.
    mirror : str, optional
        Base URL that serves ``<mirror>/<file name>``; defaults to
        ``$SKLEARN_SET_MIRROR``, else :data:`DEFAULT_MIRROR`.
    timeout : float, default=60
        Seconds to wait for the server.

    Returns
    -------
    X, y
        As :func:`load_dataset` returns them.

    Raises
    ------
    ConnectionError
        When the download fails (offline, unknown host, HTTP error); the message names
        the URL and where to put the file by hand.
    ValueError
        For an unknown name, or a download whose checksum does not match.
    """
    name = _canonical_name(name)
    if name in _BUNDLED:
        return load_dataset(name)
    try:
        return load_dataset(name, data_home=data_home)
    except FileNotFoundError:
        pass
    filename, sha256 = DATASETS[name]
    mirror = (mirror or os.environ.get("SKLEARN_SET_MIRROR") or DEFAULT_MIRROR).rstrip("/")
    url = f"{mirror}/{filename}"
    target = Path(data_home).expanduser() if data_home is not None else cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target, prefix=f".{filename}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise ConnectionError(
                    f"Could not download dataset {name!r} from {url}: {reason}. If this "
                    f"machine is offline, copy {filename} (sha256 {sha256}) into {target} "
                    "or a directory named by SKLEARN_SET_DATA; set SKLEARN_SET_MIRROR "
                    "(or pass mirror=) to download from elsewhere."
                ) from None
        actual = _sha256(partial)
        if actual != sha256:
            raise ValueError(
                f"The file downloaded from {url} has sha256 {actual}, not the registered "
                f"{sha256}; it was discarded. The mirror serves another version of "
                f"{filename}."
            )
        os.replace(partial, target / filename)
    finally:
        Path(partial).unlink(missing_ok=True)
    return _read_mat(target / filename)


def _read_mat(path):
    """``(X, y)`` from a ``.mat`` file holding ``fea``/``gnd`` or ``X``/``Y`` (or ``y``),
    with class indices numbered from 0 in the order of the sorted labels."""
    from scipy.io import loadmat

    mat = loadmat(path)
    for features, labels in (("fea", "gnd"), ("X", "Y"), ("X", "y")):
        if features in mat and labels in mat:
            return np.asarray(mat[features], dtype=np.float64), _class_indices(mat[labels])
    keys = sorted(k for k in mat if not k.startswith("__"))
    raise ValueError(f"{path} holds {keys}; expected fea and gnd, or X and Y.")


def _class_indices(labels):
    _, y = np.unique(np.asarray(labels).ravel(), return_inverse=True)
    return y.astype(np.int64)


def _read_csv(path):
    """A numeric CSV whose last column is the label; a first row that is not numeric
    is taken as a header."""
    rows = np.loadtxt(path, delimiter=",", dtype=str, ndmin=2)
    try:
        rows[0, :-1].astype(np.float64)
    except ValueError:
        rows = rows[1:]
    try:
        X = rows[:, :-1].astype(np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: every column but the last must be numeric ({error}).") \
            from None
    return X, _class_indices(np.char.strip(rows[:, -1]))


def _read_npz(path):
    with np.load(path, allow_pickle=False) as arrays:
        for features, labels in (("X", "y"), ("fea", "gnd"), ("data", "target")):
            if features in arrays and labels in arrays:
                return (np.asarray(arrays[features], dtype=np.float64),
                        _class_indices(arrays[labels]))
        keys = sorted(arrays.files)
    raise ValueError(f"{path} holds {keys}; expected X and y (or fea and gnd).")


def _read_openml(data_id, data_home):
    from sklearn.datasets import fetch_openml

    X, y = fetch_openml(data_id=int(data_id), return_X_y=True, as_frame=False,
                        parser="liac-arff", data_home=data_home)
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"openml:{data_id} has non-numeric features; encode them first "
                         "and pass the result as a .npz or .csv file.") from None
    return X, _class_indices(y)


_READERS = {".mat": _read_mat, ".csv": _read_csv, ".npz": _read_npz}


def parse_source(source):
    """What a data source names: ``(kind, value)`` with ``kind`` one of ``"registered"``
    (``value`` the canonical name), ``"openml"`` (the numeric id) or ``"file"`` (the
    path), checked for form only, so that a command line refuses a typo before it
    creates anything.

    Raises
    ------
    ValueError
        For anything that is none of these.
    """
    text = str(source)
    if text.lower().startswith("openml:"):
        data_id = text.split(":", 1)[1]
        if not data_id.isdigit():
            raise ValueError(f"Expected openml:<numeric id>, got {text!r}.")
        return "openml", data_id
    try:
        return "registered", _canonical_name(text)
    except ValueError:
        pass
    try:
        path = Path(text).expanduser()
    except RuntimeError as error:  # "~user" of no known user
        raise ValueError(f"Unknown dataset {text!r}: {error}") from None
    if path.suffix.lower() not in _READERS:
        raise ValueError(
            f"Unknown dataset {text!r}: not one of {', '.join(dataset_names())}, "
            "nor a .mat, .csv or .npz file, nor openml:<id>."
        )
    return "file", path


def source_name(source):
    """A short name for a data source, fit for file names: the registered name, the
    file's stem for a path, ``openml-<id>`` for ``openml:<id>``."""
    kind, value = parse_source(source)
    return {"registered": value, "openml": f"openml-{value}", "file": Path(value).stem}[kind]


def load_source(source, *, data_home=None):
    """``(X, y)`` from any data source the study accepts.

    Parameters
    ----------
    source : str or path-like
        A name of :func:`dataset_names` (``"digits"`` included); a path to a ``.mat``
        file (``fea``/``gnd`` or ``X``/``Y``), a ``.csv`` file (numeric features, the
        label in the last column, an optional header row) or a ``.npz`` file (``X`` and
        ``y``); or ``"openml:<id>"``, fetched by
        :func:`sklearn.datasets.fetch_openml` into its cache.
    data_home : str or path-like, optional
        Searched first for the registered ``.mat`` files.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int64
        Class indices numbered from 0 in the order of the sorted labels.
    """
    kind, value = parse_source(source)
    if kind == "openml":
        return _read_openml(value, data_home)
    if kind == "registered":
        return load_dataset(value, data_home=data_home)
    if not value.is_file():
        raise FileNotFoundError(f"No file {value}.")
    return _READERS[value.suffix.lower()](value)
