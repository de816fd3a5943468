"""Compiling a cold start in several processes: the tasks cover what a fit compiles,
helpers fill the on-disk cache, and nothing fails when they cannot."""

import json
import os
import subprocess
import sys
import threading
import time

import numba
import pytest

from sklearn_set import _compile
from sklearn_set._compile import (
    KernelPlan,
    compile_jobs,
    run_shared_tasks,
    run_tasks,
    task_names,
)

# Runs the tasks of a fit's plan, then the fit, in a fresh process, and prints every
# kernel signature the fit compiled (or loaded) beyond the tasks' own.
_COVERAGE = """
import json, sys, warnings
import numpy as np
from sklearn_set import SETMLPClassifier, SETMLPRegressor, _evolution, _growth, _kernels
from sklearn_set import _network, _topology
from sklearn_set._compile import run_tasks
from sklearn_set._jit import SizedKernel

def signatures():
    found = set()
    for module in (_kernels, _evolution, _topology, _growth, _network):
        for value in vars(module).values():
            versions = ([value.serial, value.parallel] if isinstance(value, SizedKernel)
                        else [value] if hasattr(value, "signatures") else [])
            found |= {{(v.py_func.__qualname__, str(s)) for v in versions
                       for s in v.signatures}}
    return found

hidden, epsilon, kind, clipping, activation, growth = ({hidden!r}, {epsilon!r}, {kind!r},
                                                      {clipping!r}, {activation!r}, {growth!r})
rng = np.random.default_rng(0)
X = rng.standard_normal((120, 64)).astype(np.float64)
y = rng.integers(0, 10, 120) if kind == "classifier" else rng.standard_normal(120)
Estimator = SETMLPClassifier if kind == "classifier" else SETMLPRegressor
model = Estimator(hidden, epsilon=epsilon, max_iter=2, random_state=0, activation=activation,
                  max_grad_norm=1.0 if clipping else None, growth=growth)
n_outputs = 10 if kind == "classifier" else 1
run_tasks(model._kernel_plan(*X.shape, n_outputs))  # the plan the estimator compiles
before = signatures()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model.fit(X, y).score(X, y)
print(json.dumps(sorted(signatures() - before)))
"""


@pytest.mark.parametrize("hidden, epsilon, kind, clipping, activation, growth", [
    ((1000, 1000), 20.0, "classifier", False, "relu", "random"),  # the quickstart's model
    ((300,), 20.0, "regressor", True, "tanh", "random"),
    # a fully connected 64 x 2500 layer (activated after BLAS, threaded at batch 32),
    # then 280 000 connections (threaded evolution)
    ((2500, 1000), 80.0, "classifier", False, "relu", "random"),
    # fully connected (epsilon capped) but small, 64 x 100 and 100 x 10: trained through
    # the kernels
    ((100,), 1000.0, "classifier", False, "relu", "random"),
    # RigL's two rules; the sampled one draws 120 000 candidates (threaded sampler)
    ((1000, 1000), 20.0, "classifier", False, "relu", "sampled_gradient"),
    ((300,), 20.0, "regressor", True, "tanh", "gradient"),
])
def test_tasks_compile_everything_a_fit_runs(hidden, epsilon, kind, clipping, activation,
                                             growth):
    script = _COVERAGE.format(hidden=hidden, epsilon=epsilon, kind=kind, clipping=clipping,
                              activation=activation, growth=growth)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_plan_asks_for_threaded_evolution_only_for_large_layers():
    quickstart = KernelPlan.for_layers([64, 1000, 1000, 10], 20.0, 32)  # 40 000
    assert not (quickstart.large_layers or quickstart.full_hidden)
    assert KernelPlan.for_layers([64, 1000, 1000, 10], 40.0, 32).large_layers  # 80 000
    wide = KernelPlan.for_layers([64, 2500, 10], 80.0, 32)  # a full first layer
    assert wide.full_hidden and wide.wide_layers  # 2500 x 32 activations
    narrow = KernelPlan.for_layers([64, 1500, 10], 80.0, 32)
    assert narrow.full_hidden and not narrow.wide_layers
    small = task_names(KernelPlan())
    every = task_names(KernelPlan(large_layers=True, wide_layers=True, full_hidden=True,
                                  activation="tanh", growth="sampled_gradient"))
    assert set(small) < set(every) == set(_compile.TASKS)
    assert all(not name.endswith("_threaded") and name not in ("activation", "forward_smooth")
               for name in small)
    assert "forward_smooth" in task_names(KernelPlan(output="logistic"))


def test_plan_asks_for_the_activation_after_blas_only_for_layers_that_train_with_it():
    # a full hidden layer under BLAS_MIN_CONNECTIONS trains through the kernels, which
    # the forward and backward tasks compile anyway; from that size on, BLAS's product
    # is activated by the activation kernel
    small = KernelPlan.for_layers([20, 100, 2], float("inf"), 32)  # 2000 connections
    assert not small.full_hidden and "activation" not in task_names(small)
    large = KernelPlan.for_layers([100, 100, 2], float("inf"), 32)  # 10 000
    assert large.full_hidden and "activation" in task_names(large)


def test_plan_compiles_growth_kernels_only_for_gradient_growth():
    """RigL's kernels join the parallel compile when the fit grows by gradient; the
    sampled rule's candidates (ten per connection grown) can need the threaded sampler
    on layers too small for threaded evolution."""
    quickstart = [64, 1000, 1000, 10]  # 40 000 connections, 12 000 regrown at zeta 0.3
    assert not {"gradient_signal", "backward_keep"} & set(
        task_names(KernelPlan.for_layers(quickstart, 20.0, 32)))
    exact = KernelPlan.for_layers(quickstart, 20.0, 32, growth="gradient")
    assert "gradient_signal" in task_names(exact) and not exact.many_draws
    sampled = KernelPlan.for_layers(quickstart, 20.0, 32, growth="sampled_gradient")
    assert {"gradient_signal", "backward_keep", "topology_threaded"} <= set(task_names(sampled))
    assert not sampled.large_layers
    assert not KernelPlan.for_layers(quickstart, 20.0, 32, 0.05,
                                     growth="sampled_gradient").many_draws  # 20 000 draws
    clipped = KernelPlan.for_layers(quickstart, 20.0, 32, growth="sampled_gradient",
                                    clipping=True)
    assert "backward_keep" not in task_names(clipped)  # training's backward keeps already


def test_claimed_tasks_are_left_to_their_claimant(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(_compile, "TASKS", {
        name: (lambda plan, name=name: ran.append(name), needed)
        for name, (_, needed) in _compile.TASKS.items()})
    (tmp_path / "forward").touch()
    assert run_tasks(KernelPlan(), str(tmp_path)) == []
    assert ran == [name for name in task_names(KernelPlan()) if name != "forward"]
    assert sorted(os.listdir(tmp_path)) == sorted(task_names(KernelPlan()))
    assert run_tasks(KernelPlan(), str(tmp_path)) == []  # everything claimed now
    assert len(ran) == len(task_names(KernelPlan())) - 1


def test_a_failing_task_is_reported_and_the_rest_still_run(monkeypatch):
    def fail(plan):
        raise RuntimeError("no luck")

    monkeypatch.setattr(_compile, "TASKS",
                        dict(_compile.TASKS, forward=(fail, _compile.TASKS["forward"][1])))
    failures = run_tasks(KernelPlan())
    assert len(failures) == 1 and failures[0].startswith("forward: ")
    assert "no luck" in failures[0]


def test_compile_jobs_reads_the_environment(monkeypatch):
    monkeypatch.setenv(_compile.JOBS_VARIABLE, "3")
    assert compile_jobs() == 3
    monkeypatch.setenv(_compile.JOBS_VARIABLE, "0")
    assert compile_jobs() == 1
    monkeypatch.setenv(_compile.JOBS_VARIABLE, "many")
    with pytest.raises(ValueError, match="whole number"):
        compile_jobs()
    monkeypatch.delenv(_compile.JOBS_VARIABLE)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert compile_jobs() == numba.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as joblib sets it in its workers
    assert compile_jobs() == 1


# This process claims every task but "step", without running them; a helper, started
# from another working directory, compiles "step" into the empty cache.
_HELPER_FILLS_CACHE = """
import json
from sklearn_set import _compile, _kernels
from sklearn_set._compile import KernelPlan, compile_kernels
from sklearn_set._jit import cache_index_path

names = [name for name in _compile.task_names(KernelPlan()) if name != "step"]
_compile.task_names = lambda plan: names
_compile.TASKS = {name: (lambda plan: None, lambda plan: True) for name in names}
compile_kernels(KernelPlan(), n_jobs=2)
index = cache_index_path(_kernels.cross_entropy)
print(json.dumps([index, _kernels.cross_entropy.signatures == []]))
"""


def test_a_helper_fills_the_cache_from_any_working_directory(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop(_compile.JOBS_VARIABLE, None)
    result = subprocess.run([sys.executable, "-c", _HELPER_FILLS_CACHE], capture_output=True,
                            text=True, env=env, check=True, cwd=tmp_path)
    index, not_compiled_here = json.loads(result.stdout.splitlines()[-1])
    assert index.startswith(str(tmp_path / "cache")) and os.path.exists(index), result.stderr
    assert not_compiled_here
    assert "RuntimeWarning" not in result.stderr


def test_a_helper_that_cannot_start_leaves_a_warning_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    ran = []
    monkeypatch.setattr(_compile, "TASKS", {
        name: (lambda plan, name=name: ran.append(name), needed)
        for name, (_, needed) in _compile.TASKS.items()})
    with pytest.warns(RuntimeWarning, match="Could not start a helper"):
        _compile.compile_kernels(KernelPlan(), n_jobs=2)
    assert ran == task_names(KernelPlan())  # this process ran every task itself


def test_a_failing_task_of_this_process_is_reported(monkeypatch):
    def fail(plan):
        raise RuntimeError("no luck here")

    monkeypatch.setattr(_compile, "TASKS", {name: (fail, needed)
                                            for name, (_, needed) in _compile.TASKS.items()})
    monkeypatch.setattr(_compile, "_HELPER_PROGRAM", "pass")  # a helper that does nothing
    with pytest.warns(RuntimeWarning, match="no luck here"):
        _compile.compile_kernels(KernelPlan(), n_jobs=2)


def test_a_failing_helper_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(_compile, "_HELPER_PROGRAM", "import sys; sys.exit('broken helper')")
    monkeypatch.setattr(_compile, "TASKS", {name: (lambda plan: None, needed)
                                            for name, (_, needed) in _compile.TASKS.items()})
    with pytest.warns(RuntimeWarning, match="broken helper"):
        _compile.compile_kernels(KernelPlan(), n_jobs=2)


def test_an_interrupted_compile_stops_its_helpers(monkeypatch):
    started = []
    start_helper = _compile._start_helper
    monkeypatch.setattr(_compile, "_start_helper",
                        lambda claims, plan: started.append(start_helper(claims, plan))
                        or started[-1])
    monkeypatch.setattr(_compile, "_HELPER_PROGRAM", "import time; time.sleep(600)")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    for where in ("run_tasks", "_finish"):  # while compiling, or while waiting for helpers
        started.clear()
        monkeypatch.setattr(_compile, "run_tasks", interrupted if where == "run_tasks"
                            else lambda plan, claims=None: [])
        monkeypatch.setattr(_compile, "_finish", interrupted if where == "_finish"
                            else _compile._finish)
        with pytest.raises(KeyboardInterrupt):
            _compile.compile_kernels(KernelPlan(), n_jobs=3)
        assert len(started) == 2 and all(helper.returncode is not None for helper in started)


@pytest.mark.skipif(_compile.fcntl is None, reason="no fcntl locks on this platform")
def test_a_task_another_process_holds_is_left_to_it_and_waited_for(tmp_path, monkeypatch):
    """The cold workers of a grid search share out their tasks: one that another
    process is running is not run again, and is waited for until that process lets
    go of it (as it does when it ends, however it ends)."""
    ran = []
    monkeypatch.setattr(_compile, "TASKS", {
        name: (lambda plan, name=name: ran.append(name), needed)
        for name, (_, needed) in _compile.TASKS.items()})
    # another process's lock: a lock on another open file description
    holder = os.open(tmp_path / "forward.lock", os.O_CREAT | os.O_RDWR)
    _compile.fcntl.flock(holder, _compile.fcntl.LOCK_EX)
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (run_shared_tasks(KernelPlan(), str(tmp_path)),
                                              finished.set()))
    worker.start()
    others = [name for name in task_names(KernelPlan()) if name != "forward"]
    deadline = time.monotonic() + 30
    while ran != others and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == others
    assert not finished.wait(0.3)  # still waiting for the holder
    os.close(holder)  # the holder ends
    assert finished.wait(30)
    worker.join()
    assert ran == others  # the holder's task was not run again


def test_a_process_compiling_alone_shares_its_tasks_through_locks(tmp_path, monkeypatch):
    monkeypatch.setattr(_compile, "_task_locks", lambda plan: str(tmp_path))
    shared = []
    monkeypatch.setattr(_compile, "run_shared_tasks",
                        lambda plan, locks: shared.append((plan, locks)) or [])
    _compile.compile_kernels(KernelPlan(), n_jobs=1)
    assert shared == [(KernelPlan(), str(tmp_path))]
