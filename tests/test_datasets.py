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
