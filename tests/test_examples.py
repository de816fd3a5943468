"""Every script in examples/ runs to completion and prints what it promises."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sklearn_set.datasets import search_paths

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _have(dataset):
    return any((p / f"{dataset}.mat").is_file() for p in search_paths())


def _have_module(name):
    return importlib.util.find_spec(name) is not None


# script -> (what its output must contain, why it may be skipped or None)
CASES = {
    "quickstart.py": ("SETMLPClassifier", None),
    "regression.py": ("SETMLPRegressor", None),
    "grid_search.py": ("best {", None),
    "compare_with_mlp.py": ("MLPClassifier     accuracy", None),
    "feature_selection.py": (
        "top 50 by SET connectivity", None if _have("lymphoma") else "lymphoma.mat not found"
    ),
    "persistence.py": ("skops: identical predictions: True", None if _have_module("skops") else "skops missing"),
    "plot_learning_curves.py": ("wrote", None if _have_module("matplotlib") else "matplotlib missing"),
    "ray_search.py": ("cross-validated accuracy", None if _have_module("ray") else "ray missing"),
}


def test_every_example_is_covered():
    assert sorted(CASES) == sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", sorted(CASES))
def test_example_runs(script, tmp_path):
    expected, skip_reason = CASES[script]
    if skip_reason:
        pytest.skip(skip_reason)
    env = dict(os.environ, MPLBACKEND="Agg", RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert expected in result.stdout, result.stdout
    if script == "plot_learning_curves.py":
        assert (tmp_path / "set_learning_curves.png").stat().st_size > 10_000


README = EXAMPLES.parent / "README.md"
#: README blocks that need what a test cannot start: a Ray runtime, a Dask scheduler
_README_BLOCKS_NOT_RUN = ("import joblib, ray", "from dask.distributed import Client")


def readme_python_blocks():
    """The README's ```python blocks, in order."""
    blocks, block = [], None
    for line in README.read_text().splitlines():
        if block is None and line.strip() == "```python":
            block = []
        elif block is not None and line.strip() == "```":
            blocks.append("\n".join(block))
            block = None
        elif block is not None:
            block.append(line)
    return blocks


@pytest.mark.slow
def test_readme_snippets_run_as_written(tmp_path):
    # one namespace, in order, as a reader pasting them into one session would
    if not _have("coil20"):
        pytest.skip("coil20.mat not found")
    if not _have_module("skops"):
        pytest.skip("skops missing")
    blocks = [b for b in readme_python_blocks() if not b.startswith(_README_BLOCKS_NOT_RUN)]
    assert len(blocks) >= 7
    script = tmp_path / "readme.py"
    script.write_text("\n\n".join(blocks))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model.skops" not in result.stderr
