"""Bad input, bad numbers, big requests, long runs: a clear error or a right answer."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sklearn_set import SETMLPClassifier
from sklearn_set._memory import estimate_fit_bytes
from sklearn_set.datasets import DATASETS, load_dataset, search_paths
from sklearn_set.study import _run as runner

FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

#: Words that name what was wrong in scikit-learn's and our messages.
NAMES = ("X", "y", "Input", "input", "label", "class", "sample", "feature", "dtype", "array")


def _tiny():
    return SETMLPClassifier(hidden_layer_sizes=(4,), max_iter=1, epsilon=1, random_state=0)


def _fit_or_clear_error(X, y):
    """Fit and check the result, or check that the error names the problem."""
    clf = _tiny()
    try:
        clf.fit(X, y)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message and any(name in message for name in NAMES), message
        return None
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(clf.classes_)
    return clf


special_floats = st.sampled_from([0.0, 1.0, -2.5, np.nan, np.inf, -np.inf, 1e30])


@FAST
@given(
    X=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                 elements=special_floats),
    n_labels=st.integers(0, 7),
)
@pytest.mark.filterwarnings("ignore")
def test_any_float_array_fits_or_is_refused_clearly(X, n_labels):
    y = np.arange(n_labels) % 2
    clf = _fit_or_clear_error(X, y)
    if clf is not None:  # accepted: then it was a clean 2-d array matching y
        assert X.ndim == 2 and X.shape[0] == n_labels and np.all(np.isfinite(X))


@FAST
@given(
    dtype=st.sampled_from([np.int8, np.uint16, np.int64, np.float16, np.float32, bool]),
    n_samples=st.integers(2, 8),
)
@pytest.mark.filterwarnings("ignore")
def test_numeric_dtypes_are_accepted(dtype, n_samples):
    rng = np.random.default_rng(n_samples)
    X = (rng.random((n_samples, 3)) * 10).astype(dtype)
    y = np.arange(n_samples) % 2
    assert _fit_or_clear_error(X, y) is not None


@FAST
@given(labels=st.lists(st.one_of(st.text(max_size=3), st.integers(-3, 3),
                                 st.floats(allow_nan=True, allow_infinity=True)),
                       min_size=1, max_size=8))
@pytest.mark.filterwarnings("ignore")
def test_any_labels_fit_or_are_refused_clearly(labels):
    y = np.array(labels, dtype=object)
    X = np.random.default_rng(0).random((len(labels), 3))
    clf = _fit_or_clear_error(X, y)
    if clf is not None:
        assert len(clf.classes_) >= 2


def test_string_column_is_refused_with_its_value():
    X = np.array([[1.0, "a"], [2.0, "b"], [3.0, "c"], [4.0, "d"]], dtype=object)
    with pytest.raises(ValueError, match="could not convert string to float: 'a'"):
        _tiny().fit(X, [0, 1, 0, 1])


@pytest.mark.parametrize("sparse", [False, True])
def test_inputs_too_large_for_float32_are_refused(sparse):
    """One SGD step on an input of 1e30 grows the weights to 1e27, and the next product
    overflows float32: the fit would end with a network predicting NaN. A trained
    network's products of such an input overflow too."""
    from scipy.sparse import csr_array

    container = csr_array if sparse else np.asarray
    X = np.array([[0.0, 1.0], [1e30, 2.0], [3.0, -1e20]])
    too_large = "Input X holds values up to 1e\\+30.*StandardScaler"
    with pytest.raises(ValueError, match=too_large):
        _tiny().fit(container(X), [0, 1, 0])
    X[1, 0] = 1e19  # within the square root of float32's largest value (1.8e19)
    X[2, 1] = -1e19
    clf = _tiny().fit(container(X), [0, 1, 0])
    assert np.all(np.isfinite(clf.predict_proba(container(X))))
    X[2, 0] = -1e30
    with pytest.raises(ValueError, match=too_large):
        clf.predict(container(X))


def test_single_class_is_refused():
    X = np.random.default_rng(0).random((6, 3))
    with pytest.raises(ValueError, match=r"only 1 class: \[1\]"):
        _tiny().fit(X, np.ones(6, dtype=int))


def test_continuous_labels_are_refused():
    X = np.random.default_rng(0).random((6, 3))
    with pytest.raises(ValueError, match="Unknown label type"):
        _tiny().fit(X, np.linspace(0, 1, 6))


@pytest.mark.parametrize("Y", [np.eye(2, dtype=int)[np.arange(6) % 2],  # indicator
                               np.stack([np.arange(6) % 2, np.arange(6) % 3], axis=1)])
def test_multilabel_and_multioutput_targets_are_refused_by_name(Y):
    X = np.random.default_rng(0).random((6, 3))
    for fit in (_tiny().fit, lambda X, Y: _tiny().partial_fit(X, Y, classes=[0, 1, 2])):
        with pytest.raises(ValueError, match="(multilabel-indicator|multiclass-multioutput) "
                                             "of shape \\(6, 2\\).*MultiOutputClassifier"):
            fit(X, Y)


@pytest.mark.filterwarnings("ignore")
def test_multioutput_classifier_fits_one_network_per_column():
    X = np.random.default_rng(0).random((12, 3))
    Y = np.stack([np.arange(12) % 2, np.arange(12) % 3], axis=1)
    from sklearn.multioutput import MultiOutputClassifier

    model = MultiOutputClassifier(_tiny()).fit(X, Y)
    assert model.predict(X).shape == (12, 2)
    assert [list(m.classes_) for m in model.estimators_] == [[0, 1], [0, 1, 2]]


@pytest.mark.filterwarnings("ignore")
def test_classes_never_seen_in_fit_score_as_mistakes():
    X = np.random.default_rng(0).random((20, 3))
    clf = _tiny().fit(X, np.arange(20) % 2)
    assert set(clf.predict(X)) <= {0, 1}
    assert clf.score(X, np.full(20, 5)) == 0.0  # label 5 was never seen: always wrong


@FAST
@given(name=st.one_of(st.text(max_size=12), st.integers(), st.none()))
def test_dataset_names_are_checked(name):
    if isinstance(name, str) and name.lower() in {n.lower() for n in [*DATASETS, "digits"]}:
        return
    with pytest.raises((ValueError, TypeError), match="name|dataset"):
        load_dataset(name, data_home="/nonexistent")


@pytest.mark.skipif(not any((p / "colon.mat").is_file() for p in search_paths()),
                    reason="colon.mat not found")
def test_a_truncated_mat_file_is_refused(tmp_path):
    original = next(p / "colon.mat" for p in search_paths() if (p / "colon.mat").is_file())
    (tmp_path / "colon.mat").write_bytes(original.read_bytes()[:1000])
    with pytest.raises(ValueError, match="Checksum mismatch"):
        load_dataset("colon", data_home=tmp_path)


@FAST
@given(value=st.text(max_size=10))
def test_benchmark_arguments_fail_in_one_line(value, capsys):
    parser = runner.build_parser()
    for option in ("--datasets", "--methods", "--seeds", "--n-jobs"):
        try:
            parser.parse_args(["--out", "x", option, value])
        except SystemExit as exit:
            assert exit.code == 2
            err = capsys.readouterr().err
            assert len(err.strip().splitlines()) == 1 and "error:" in err
        else:
            capsys.readouterr()


# -- big requests --------------------------------------------------------------------
def test_a_network_too_large_for_memory_is_refused_before_allocating():
    X = np.random.default_rng(0).random((10, 50))
    with pytest.raises(MemoryError, match=r"needs about [\d.]+ GiB .* only [\d.]+ GiB"):
        SETMLPClassifier(hidden_layer_sizes=(10**9,)).fit(X, np.arange(10) % 2)


def test_the_memory_limit_is_the_available_memory(monkeypatch):
    from sklearn_set import _memory

    X = np.random.default_rng(0).random((10, 50))
    monkeypatch.setattr(_memory, "available_bytes", lambda: 100 * 2**20)
    with pytest.raises(MemoryError, match="only 0.1 GiB"):
        SETMLPClassifier(hidden_layer_sizes=(1000, 1000)).fit(X, np.arange(10) % 2)
    monkeypatch.setattr(_memory, "available_bytes", lambda: None)  # unknown: no guard
    SETMLPClassifier(hidden_layer_sizes=(20,), max_iter=1).fit(X, np.arange(10) % 2)


def test_memory_estimate_counts_connections():
    small = estimate_fit_bytes([1000, 1000, 2], 20, 32)
    large = estimate_fit_bytes([1000, 100_000, 2], 20, 32)
    # 20 * (1000 + 100000) connections at 20 bytes, plus evolution's transient
    assert large - small > 20 * 20 * 99_000


# -- long runs -----------------------------------------------------------------------
LEAK_SCRIPT = textwrap.dedent(
    """
    import ctypes
    import gc
    import numpy as np
    import psutil
    from sklearn_set._evolution import evolve_set
    from sklearn_set._network import SparseMLP

    rng = np.random.default_rng(0)
    layer = SparseMLP.erdos_renyi([25_000, 25_000, 2], 20.0, rng).layers[0]  # 1M connections
    rss = []
    for step in range(1, 51):
        evolve_set(layer, 0.3, rng)
        if step in (5, 50):
            gc.collect()
            try:  # hand freed heap pages back, so RSS counts live memory only
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except OSError:
                pass
            rss.append(psutil.Process().memory_info().rss)
    print(layer.topology.nnz, *rss)
    """
)


def test_evolution_does_not_leak():
    pytest.importorskip("psutil")
    result = subprocess.run([sys.executable, "-c", LEAK_SCRIPT], capture_output=True,
                            text=True, check=True)
    nnz, after_5, after_50 = map(int, result.stdout.split())
    assert nnz == 1_000_000
    assert abs(after_50 - after_5) <= 0.05 * after_5, (after_5, after_50)


# -- Numba's cache ------------------------------------------------------------------
FIT_SCRIPT = textwrap.dedent(
    """
    import warnings
    import numpy as np
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("always", RuntimeWarning)
    from sklearn_set import SETMLPClassifier
    X = np.random.default_rng(0).random((40, 5))
    y = np.arange(40) % 2
    clf = SETMLPClassifier((8,), max_iter=2, epsilon=2, random_state=0).fit(X, y)
    print("score", clf.score(X, y))
    """
)


def _python(script, *args, **env):
    """``script`` run by a fresh interpreter with ``args``, ``env`` added to this
    process's environment: for what must start before Numba does."""
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=600)


def _fit_in_subprocess(**env):
    return _python(FIT_SCRIPT, **env)


def test_importing_with_numba_jit_disabled_says_why_it_cannot_work():
    # before, the import died in an AttributeError from inside the kernels' module
    result = _python("import sklearn_set", NUMBA_DISABLE_JIT="1")
    assert result.returncode != 0
    assert "ImportError: sklearn_set's kernels need Numba's compiler" in result.stderr
    assert "NUMBA_DISABLE_JIT" in result.stderr.splitlines()[-1]


def test_unusable_numba_cache_directory_falls_back_to_compiling(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    result = _fit_in_subprocess(NUMBA_CACHE_DIR=str(not_a_directory),
                                NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator")
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout
    assert "No writable Numba cache directory" in result.stderr


def test_corrupt_numba_cache_falls_back_to_compiling_and_heals(tmp_path):
    first = _fit_in_subprocess(NUMBA_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files, "nothing was cached"
    for path in files:
        path.write_bytes(os.urandom(64))
    second = _fit_in_subprocess(NUMBA_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout  # same fit, recompiled
    assert "unreadable" in second.stderr
    third = _fit_in_subprocess(NUMBA_CACHE_DIR=str(tmp_path))
    assert third.returncode == 0 and "unreadable" not in third.stderr, third.stderr


WARM_FIT_SCRIPT = FIT_SCRIPT + textwrap.dedent(
    """
    import sys
    from numba import njit
    registries = "numba.np.random.legacy" in sys.modules or "numba.np.linalg" in sys.modules
    print("registries", registries)

    @njit
    def compiled_after_the_fit(n):  # needs the registries a cache load skipped
        np.random.seed(0)
        return np.linalg.norm(np.random.random(n))

    print("compiled", compiled_after_the_fit(10))
    """
)


def test_a_warm_fit_loads_its_kernels_without_numbas_compile_registries(tmp_path):
    """Loading a cached kernel skips the registry refresh that only compiling needs
    (most of a warm first fit's start-up); a compile later in the process still works,
    and the fit is the one a cold process computes."""
    runs = [_python(WARM_FIT_SCRIPT, NUMBA_CACHE_DIR=str(tmp_path)) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "RuntimeWarning" not in run.stderr, run.stderr
    cold, warm = (dict(line.split(" ", 1) for line in run.stdout.splitlines()) for run in runs)
    assert cold["registries"] == "True"  # compiling the kernels loaded them
    assert warm["registries"] == "False"
    assert warm["score"] == cold["score"] and warm["compiled"] == cold["compiled"]


RULES_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    import numpy as np
    warnings.simplefilter("ignore")
    from sklearn_set import SETMLPClassifier, _kernels
    X = np.random.default_rng(0).random((40, 30))
    y = np.arange(40) % 2
    clipping = None if sys.argv[1] == "none" else float(sys.argv[1])
    SETMLPClassifier((20, 20), max_iter=2, epsilon=2, max_grad_norm=clipping,
                     verbose=int(sys.argv[2]), random_state=0).fit(X, y)
    print(len(_kernels._backward_step.signatures), len(_kernels._backward_keep.signatures))
    """
)


@pytest.mark.parametrize("max_grad_norm, verbose, compiled",
                         [("none", "0", "1 0"), ("1.0", "1", "0 1")])  # verbose warms up
def test_a_fit_compiles_only_the_backward_rule_it_uses(max_grad_norm, verbose, compiled):
    """Stepping and keeping the gradient (clipping's) are two kernels, so that a first
    fit never waits for the one it does not run."""
    result = _python(RULES_SCRIPT, max_grad_norm, verbose)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == compiled.split()


def test_specialised_copies_bind_their_own_globals_and_cache_apart():
    from sklearn_set._jit import specialised

    def template(x):
        return RULE(x)  # noqa: F821, bound per copy

    double = specialised(template, "double", RULE=lambda x: 2 * x)
    square = specialised(template, "square", RULE=lambda x: x * x)
    assert (double(3), square(3)) == (6, 9)
    assert double.__qualname__.endswith("template_double")
    assert square.__qualname__.endswith("template_square")
    assert "RULE" not in template.__globals__


# -- threads --------------------------------------------------------------------------
def _during_training(monkeypatch, probe):
    """``probe()`` at every training batch of the fits that follow, in a list."""
    from sklearn_set._network import SparseMLP

    seen = []
    train_batch = SparseMLP.train_batch

    def recording(self, *args, **kwargs):
        seen.append(probe())
        return train_batch(self, *args, **kwargs)

    monkeypatch.setattr(SparseMLP, "train_batch", recording)
    return seen


def test_kernels_honour_the_thread_limit_joblib_sets(monkeypatch):
    import numba

    seen = _during_training(monkeypatch, numba.get_num_threads)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what joblib sets in a worker of n_jobs=cores
    before = numba.get_num_threads()
    X = np.random.default_rng(0).random((40, 5))
    SETMLPClassifier((8,), max_iter=2, epsilon=2, random_state=0).fit(X, np.arange(40) % 2)
    assert seen and set(seen) == {1}
    assert numba.get_num_threads() == before  # restored


def _threaded_fit(seed, **params):
    """Data and parameters of a fit whose kernels and evolution run threaded: a layer
    of 80 000 connections, with dropout."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((256, 50)), rng.integers(0, 3, 256)
    return X, y, dict(hidden_layer_sizes=(1000, 1000), epsilon=40, max_iter=2, dropout=0.3,
                      random_state=0, **params)


def _assert_same_fit(a, b):
    """Two fits of threaded layers trained the same network, to the bit."""
    assert max(layer.topology.nnz for layer in a.network_.layers) > 65536
    for first, second in zip(a.network_.layers, b.network_.layers, strict=True):
        np.testing.assert_array_equal(first.topology.indices, second.topology.indices)
        np.testing.assert_array_equal(first.weights, second.weights)
        np.testing.assert_array_equal(first.bias, second.bias)
    assert a.loss_curve_ == b.loss_curve_


@pytest.mark.parametrize("growth", ["random", "gradient"])
def test_a_fit_is_the_same_at_any_thread_count(monkeypatch, growth):
    """Dropout masks, the threaded products and the threaded evolution of a layer of
    80 000 connections: one thread and all of them train the same network."""
    import numba

    seen = _during_training(monkeypatch, numba.get_num_threads)
    every_thread = numba.get_num_threads()
    X, y, params = _threaded_fit(seed=0, growth=growth)
    fits = []
    for limit in ("1", None):
        if limit is None:
            monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        else:
            monkeypatch.setenv("OMP_NUM_THREADS", limit)
        fits.append(SETMLPClassifier(**params).fit(X, y))
    assert set(seen) == {1, every_thread}
    _assert_same_fit(*fits)


def test_a_fit_is_the_same_however_the_threads_share_the_rows():
    """Numba's TBB layer hands a loop's rows out in pieces as threads free up, where
    OpenMP gives each thread one fixed share: pieces of 7 rows (dropout, the products
    and the evolution of layers of 80 000 connections) train the same network as one
    share per thread."""
    import numba

    X, y, params = _threaded_fit(seed=1)
    shared = SETMLPClassifier(**params).fit(X, y)
    with numba.parallel_chunksize(7):
        pieces = SETMLPClassifier(**params).fit(X, y)
    assert numba.get_parallel_chunksize() == 0  # restored
    _assert_same_fit(shared, pieces)


FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, sys, warnings
    from concurrent.futures import ProcessPoolExecutor
    import numpy as np
    warnings.simplefilter("ignore")
    from numba.np.ufunc import omppool
    from sklearn_set import SETMLPClassifier
    X = np.random.default_rng(0).random((40, 5))
    y = np.arange(40) % 2

    def score():
        return SETMLPClassifier((8,), max_iter=2, epsilon=2, random_state=0).fit(X, y).score(X, y)

    def in_forked_child():
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            try:
                return repr(pool.submit(score).result(timeout=300))
            except RuntimeError as error:
                return f"RuntimeError: {error}"

    print("vendor", omppool.openmp_vendor)
    if sys.argv[1] == "fit first":
        print("parent", score())
    print("child", in_forked_child())
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.parametrize("order", ["fit first", "fork first"])
def test_a_child_forked_after_gnu_openmp_ran_refuses_instead_of_dying(order):
    # GNU OpenMP is not fork-safe: Numba sends SIGTERM to a forked child at its first
    # threaded kernel once the parent's have run, and a multiprocessing.Pool then
    # waits forever for the lost task. A child forked before any kernel ran is fine.
    result = _python(FORK_SCRIPT, order, NUMBA_THREADING_LAYER="omp")
    assert result.returncode == 0, result.stderr
    if "vendor GNU" not in result.stdout:
        pytest.skip(f"not GNU OpenMP: {result.stdout.splitlines()[0]}")
    child = [line for line in result.stdout.splitlines() if line.startswith("child")]
    assert len(child) == 1, result.stdout
    if order == "fit first":
        assert "RuntimeError: sklearn_set cannot run its kernels" in child[0]
        assert "get_context('spawn')" in child[0] and "pip install tbb" in child[0]
    else:
        assert 0.0 <= float(child[0].split()[1]) <= 1.0, child[0]  # a score, no error
    assert "Terminating" not in result.stderr


def test_blas_runs_on_one_thread_while_the_kernels_run(monkeypatch):
    # full layers multiply with BLAS, whose spinning threads would fight Numba's
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    seen = _during_training(monkeypatch, blas_threads)
    before = blas_threads()
    X = np.random.default_rng(0).random((40, 5))
    SETMLPClassifier((8,), max_iter=2, epsilon=np.inf, random_state=0).fit(X, np.arange(40) % 2)
    assert seen and all(threads <= {1} for threads in seen)
    assert blas_threads() == before  # restored
