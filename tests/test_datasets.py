import hashlib

import numpy as np
import pytest

from sklearn_set.datasets import DATASETS, dataset_names, load_dataset, search_paths

SHARED = [p for p in search_paths() if (p / "coil20.mat").is_file()]
needs_shared = pytest.mark.skipif(not SHARED, reason="benchmark datasets not found")


def test_digits_is_bundled():
    X, y = load_dataset("digits")
    assert X.shape == (1797, 64) and set(np.unique(y)) == set(range(10))


@needs_shared
@pytest.mark.parametrize("name", list(DATASETS))
def test_every_registered_dataset_loads(name):
    X, y = load_dataset(name)
    assert X.ndim == 2 and X.shape[0] == y.shape[0] and X.dtype == np.float64
    # labels in the files start at 1; the loader numbers classes from 0
    assert y.min() == 0 and np.array_equal(np.unique(y), np.arange(y.max() + 1))


def test_names_are_case_insensitive_when_present():
    assert "coil20" in dataset_names()
    with pytest.raises(ValueError, match="Unknown dataset 'coil21'.*coil20"):
        load_dataset("coil21")
    with pytest.raises(TypeError, match="name must be a str"):
        load_dataset(20)


def test_missing_dataset_names_the_places_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    import sklearn_set.datasets as module

    monkeypatch.setattr(module, "__file__", str(tmp_path / "pkg" / "sklearn_set" / "datasets.py"))
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("colon", data_home=tmp_path / "mine")
    message = str(info.value)
    assert "colon.mat" in message and DATASETS["colon"][1] in message
    assert str(tmp_path / "mine") in message and str(tmp_path / "cache") in message


def test_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    (tmp_path / "orl.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_dataset("ORL", data_home=tmp_path)


@needs_shared
def test_environment_variable_is_searched_first(tmp_path, monkeypatch):
    source = SHARED[0] / "colon.mat"
    (tmp_path / "colon.mat").write_bytes(source.read_bytes())
    monkeypatch.setenv("SKLEARN_SET_DATA", str(tmp_path))
    assert search_paths()[0] == tmp_path
    X, _ = load_dataset("colon")
    assert X.shape == (62, 5994)
    digest = hashlib.sha256((tmp_path / "colon.mat").read_bytes()).hexdigest()
    assert digest == DATASETS["colon"][1]


# -- fetch_dataset, against a local HTTP server -------------------------------------
@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server over ``tmp_path / "mirror"``: yields (directory, base URL)."""
    import functools
    import http.server
    import threading

    served = tmp_path / "mirror"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.func.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tiny_registered(monkeypatch, tmp_path):
    """A small .mat file registered as dataset "tiny", and no other place holding it."""
    from scipy.io import savemat

    import sklearn_set.datasets as module

    source = tmp_path / "source" / "tiny.mat"
    source.parent.mkdir()
    rng = np.random.default_rng(0)
    savemat(source, {"fea": rng.random((12, 5)), "gnd": np.repeat([[1], [2], [3]], 4, axis=0)})
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setitem(module.DATASETS, "tiny", ("tiny.mat", digest))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SKLEARN_SET_MIRROR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(module, "__file__", str(tmp_path / "pkg" / "sklearn_set" / "datasets.py"))
    return source


def test_fetch_downloads_verifies_and_caches(mirror, tiny_registered, tmp_path):
    from sklearn_set.datasets import cache_dir, fetch_dataset

    served, url = mirror
    (served / "tiny.mat").write_bytes(tiny_registered.read_bytes())
    X, y = fetch_dataset("tiny", mirror=url)
    assert X.shape == (12, 5) and np.array_equal(np.bincount(y), [4, 4, 4])
    assert (cache_dir() / "tiny.mat").read_bytes() == tiny_registered.read_bytes()
    assert not list(cache_dir().glob(".*part"))
    (served / "tiny.mat").unlink()  # now found in the cache, without the server
    X_again, _ = load_dataset("tiny")
    assert np.array_equal(X, X_again)


def test_fetch_refuses_a_file_with_another_checksum(mirror, tiny_registered, monkeypatch):
    from sklearn_set.datasets import cache_dir, fetch_dataset

    served, url = mirror
    (served / "tiny.mat").write_bytes(b"other bytes")
    monkeypatch.setenv("SKLEARN_SET_MIRROR", url)  # the environment names the mirror
    with pytest.raises(ValueError, match="not the registered"):
        fetch_dataset("tiny")
    assert not list(cache_dir().iterdir())  # nothing kept, not even the partial file


def test_fetch_offline_says_what_to_do(mirror, tiny_registered):
    from sklearn_set.datasets import fetch_dataset

    _, url = mirror
    with pytest.raises(ConnectionError, match=r"tiny\.mat: File not found") as info:
        fetch_dataset("tiny", mirror=url)  # the server does not have it
    assert "SKLEARN_SET_DATA" in str(info.value)
    with pytest.raises(ConnectionError, match="Could not download dataset 'tiny' from "
                                              "http://127.0.0.1:9/tiny.mat"):
        fetch_dataset("tiny", mirror="http://127.0.0.1:9", timeout=5)  # nothing listens


# -- load_source: the study's data ---------------------------------------------------
def test_load_source_reads_user_files(tmp_path):
    from scipy.io import savemat

    from sklearn_set.datasets import load_source, source_name

    rng = np.random.default_rng(0)
    X = rng.random((9, 4))
    labels = np.array(["b", "a", "c"] * 3)
    np.savez(tmp_path / "mine.npz", X=X, y=labels)
    savemat(tmp_path / "mine.mat", {"X": X, "Y": labels.reshape(-1, 1)})
    with open(tmp_path / "mine.csv", "w") as f:
        f.write("f1,f2,f3,f4,label\n")
        f.writelines(",".join(map(str, row)) + f",{label}\n"
                     for row, label in zip(X, labels, strict=True))
    expected_y = np.searchsorted(["a", "b", "c"], labels)
    for suffix in (".npz", ".mat", ".csv"):
        X_read, y_read = load_source(str(tmp_path / f"mine{suffix}"))
        np.testing.assert_allclose(X_read, X)
        np.testing.assert_array_equal(y_read, expected_y)
        assert source_name(str(tmp_path / f"mine{suffix}")) == "mine"
    assert load_source("digits")[0].shape == (1797, 64)
    with pytest.raises(ValueError, match=r"nor a \.mat, \.csv or \.npz file"):
        load_source("nonsense")
    with pytest.raises(FileNotFoundError, match="No file"):
        load_source(str(tmp_path / "absent.csv"))
    (tmp_path / "bad.npz").write_bytes(b"")
    np.savez(tmp_path / "bad.npz", A=X)
    with pytest.raises(ValueError, match="expected X and y"):
        load_source(str(tmp_path / "bad.npz"))


def test_load_source_openml_goes_through_fetch_openml(monkeypatch):
    import sklearn.datasets

    from sklearn_set.datasets import load_source, source_name

    calls = []

    def fake_fetch_openml(data_id, **kwargs):
        calls.append(data_id)
        return np.ones((6, 3)), np.array(["x", "y"] * 3, dtype=object)

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch_openml)
    X, y = load_source("openml:61")
    assert calls == [61] and X.shape == (6, 3) and list(y) == [0, 1] * 3
    assert source_name("openml:61") == "openml-61"
    with pytest.raises(ValueError, match="numeric id"):
        load_source("openml:iris")


def test_a_path_of_an_unknown_user_is_an_unknown_dataset():
    from sklearn_set.datasets import parse_source

    with pytest.raises(ValueError, match="Unknown dataset"):
        parse_source("~no_such_user_here/data.mat")
