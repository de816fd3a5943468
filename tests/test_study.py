"""The study harness and its report: resumable, safe to share, honest about failures."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sklearn_set.datasets import load_dataset, search_paths
from sklearn_set.study import _report as report
from sklearn_set.study import _run as runner

SMALL = ("colon", "GLIOMA")
needs_data = pytest.mark.skipif(
    not all(any((p / f"{d}.mat").is_file() for p in search_paths()) for d in SMALL),
    reason="the colon and GLIOMA datasets are not found",
)


def _cli(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "sklearn_set.study", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def _snapshot(out):
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "runs").glob("*.json")}


def _read_results(out):
    with open(out / "results.csv", newline="") as stream:
        reader = csv.DictReader(stream)
        return reader.fieldnames, list(reader)


@needs_data
def test_results_have_exactly_the_columns_and_one_row_per_run(tmp_path):
    runner.run_study(["colon"], list(runner.METHODS), [0, 1], tmp_path,
                        profile="smoke", log=lambda m: None)
    columns, rows = _read_results(tmp_path)
    assert tuple(columns) == runner.COLUMNS
    assert [(r["method"], r["seed"]) for r in rows] == [
        (m, str(s)) for m in runner.METHODS for s in (0, 1)
    ]
    for row in rows:
        assert float(row["gap_acc"]) == pytest.approx(float(row["train_acc"]) - float(row["test_acc"]))
        assert float(row["gap_loss"]) == pytest.approx(float(row["test_loss"]) - float(row["train_loss"]))
    by_method = {r["method"]: r for r in rows if r["seed"] == "0"}
    # dense baselines hold every weight; sparse ones far fewer; pruning removes neurons
    n_features = load_dataset("colon")[0].shape[1]
    sizes = [n_features, 16, 16, 2]
    dense = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    assert int(by_method["fc"]["params_start"]) == dense
    # scikit-learn gives a binary problem one logistic output unit
    assert int(by_method["mlp"]["params_start"]) == dense - 16 - 1
    assert int(by_method["static"]["params_start"]) < int(by_method["fc"]["params_start"]) / 2
    assert int(by_method["set-ip"]["hidden_neurons_end"]) < int(by_method["set-ip"]["hidden_neurons_start"])
    assert int(by_method["set-ip"]["params_end"]) < int(by_method["set-ip"]["params_start"])
    assert by_method["set"]["params_end"] == by_method["set"]["params_start"]


@needs_data
def test_a_finished_study_is_not_redone(tmp_path):
    args = (["colon"], ["static", "set"], [0, 1], tmp_path)
    runner.run_study(*args, profile="smoke", log=lambda m: None)
    before = _snapshot(tmp_path)
    assert runner.run_study(*args, profile="smoke", log=lambda m: None) == 0
    assert _snapshot(tmp_path) == before


@needs_data
def test_a_killed_study_resumes_without_redoing_finished_runs(tmp_path):
    args = ["--datasets", ",".join(SMALL), "--methods", "all", "--seeds", "5",
            "--profile", "smoke", "--out", str(tmp_path)]
    process = _cli(*args, start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "runs").glob("*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = _snapshot(tmp_path)
    total = len(SMALL) * len(runner.METHODS) * 5
    assert 3 <= len(finished) < total, "the study was not interrupted midway"

    process = _cli(*args)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert stdout.startswith(f"{total - len(finished)} runs to do, {len(finished)} already")
    after = _snapshot(tmp_path)
    assert len(after) == total
    assert {name: after[name] for name in finished} == finished  # untouched
    assert len(_read_results(tmp_path)[1]) == total


@needs_data
def test_two_studies_sharing_a_directory_do_not_corrupt_results(tmp_path):
    common = ["--methods", "static,set,set-ip", "--seeds", "4", "--profile", "smoke",
              "--out", str(tmp_path)]
    first = _cli("--datasets", "colon", *common)
    second = _cli("--datasets", "GLIOMA", *common)
    for process in (first, second):
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    columns, rows = _read_results(tmp_path)
    assert tuple(columns) == runner.COLUMNS
    assert sorted((r["dataset"], r["method"], r["seed"]) for r in rows) == sorted(
        (d, m, str(s)) for d in SMALL for m in ("static", "set", "set-ip") for s in range(4)
    )
    for path in (tmp_path / "runs").glob("*.json"):
        json.loads(path.read_text())  # every run file is whole


@needs_data
@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--datasets", "nope"], 2, "unknown dataset nope"),
        (["--methods", "set,rigl9"], 2, "unknown method rigl9"),
        (["--seeds", "0"], 2, "expected a positive integer, got '0'"),
        (["--n-jobs", "0"], 2, "got '0'"),
        (["--profile", "huge"], 2, "invalid choice: 'huge'"),
        (["--datasets", "colon", "--data-home", "{corrupt}", "--profile", "smoke"], 1,
         "Checksum mismatch"),
    ],
)
def test_command_line_errors_are_one_readable_line(tmp_path, args, code, message):
    (tmp_path / "colon.mat").write_bytes(b"MATLAB 5.0 truncated")
    args = [a.replace("{corrupt}", str(tmp_path)) for a in args]
    process = _cli("--out", str(tmp_path / "study"), "--seeds", "1", *args)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "error:" in stderr and message in stderr
    assert "Traceback" not in stderr


@needs_data
def test_debug_flag_shows_the_traceback(tmp_path):
    (tmp_path / "colon.mat").write_bytes(b"MATLAB 5.0 truncated")
    process = _cli("--out", str(tmp_path / "study"), "--datasets", "colon", "--seeds", "1",
                   "--profile", "smoke", "--data-home", str(tmp_path), "--debug")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Traceback" in stderr


@needs_data
def test_a_directory_of_another_profile_is_refused(tmp_path):
    runner.run_study(["colon"], ["static"], [0], tmp_path, profile="smoke", log=lambda m: None)
    with pytest.raises(ValueError, match="profile 'smoke'"):
        runner.run_study(["colon"], ["static"], [0], tmp_path, profile="quick", log=lambda m: None)


# -- report ------------------------------------------------------------------------
def _record(dataset, method, seed, test_acc, train_acc=1.0, status="finished"):
    row = dict.fromkeys(runner.COLUMNS, 1.0)
    row.update(dataset=dataset, method=method, seed=seed, test_acc=test_acc,
               train_acc=train_acc, gap_acc=train_acc - test_acc,
               hidden_neurons_start=100, hidden_neurons_end=50 if method == "set-ip" else 100)
    if status != "finished":
        row.update(test_acc=np.nan, train_acc=np.nan, gap_acc=np.nan)
    return {"row": row, "status": status, "curves": {}}


def test_compare_counts_wins_and_leaves_out_diverged_datasets():
    records = []
    for seed in range(3):
        records += [
            _record("a", "set-ip", seed, 0.9 + 0.01 * seed), _record("a", "mlp", seed, 0.8 + 0.01 * seed),
            _record("b", "set-ip", seed, 0.7), _record("b", "mlp", seed, 0.7),
            _record("c", "set-ip", seed, 0.5 + 0.1 * (seed == 0)), _record("c", "mlp", seed, 0.55),
            _record("d", "set-ip", seed, 0.9),
            _record("d", "mlp", seed, 0.5, status="diverged" if seed == 1 else "finished"),
        ]
    groups = report._group(records)
    outcome = report.compare(groups, "set-ip", "mlp", "test_acc")
    assert (outcome["wins"], outcome["ties"], outcome["losses"]) == (1, 1, 1)
    assert (outcome["clear_wins"], outcome["clear_losses"]) == (1, 0)  # c's loss is noise
    assert outcome["left_out"] == ["d"]
    gap = report.compare(groups, "set-ip", "mlp", "gap_acc", higher_is_better=False)
    assert gap["wins"] == 1  # smaller gap on a


def test_report_marks_the_best_and_counts_divergence(tmp_path):
    records = [_record("a", m, s, acc) for s in range(2)
               for m, acc in (("mlp", 0.8), ("fc", 0.7), ("set-ip", 0.85))]
    records.append(_record("a", "fc", 2, np.nan, status="diverged"))
    text = report.render_markdown(records, study=None)
    assert "| a | 0.800 ± 0.000 | 0.700 ± 0.000 (1/3 diverged) | **0.850 ± 0.000** |" in text
    assert "removed 50.0%" in text


def test_report_sums_the_run_time_per_method():
    records = [_record("a", m, s, 0.8) for s in range(2) for m in ("mlp", "set")]
    for record, seconds in zip(records, (1800, 3600, 5400, 7200), strict=True):
        record["row"]["seconds"] = seconds
    text = report.render_markdown(records, study=None)
    assert "summed: 5.00 hours (`mlp` 2.00, `set` 3.00)" in text


def test_report_counts_each_tuned_value_by_runs_and_by_datasets():
    chosen = {("a", 0): 0.01, ("a", 1): 0.01, ("a", 2): 0.001, ("b", 0): 0.001,
              ("b", 1): 0.001, ("b", 2): 0.01}
    records = []
    for (dataset, seed), rate in chosen.items():
        record = _record(dataset, "set", seed, 0.8)
        record["tuning"] = {"best_params": {"learning_rate_init": rate, "alpha": 1e-4},
                            "cv_accuracy": 0.8}
        records.append(record)
    lines = report._value_choices(records, ["set"], {
        "set": {"learning_rate_init": [0.001, 0.01], "alpha": [1e-4]}})
    assert "| set | `learning_rate_init` | 0.001: 3 (1); 0.01: 3 (1) |" in lines
    assert not any("`alpha`" in line for line in lines)  # one value: nothing was chosen


def test_a_report_of_an_empty_study_says_so(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert report.main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "holds no run yet" in text
    assert not list(tmp_path.glob("*.png"))
    diverged = [_record("a", "fc", s, np.nan, status="diverged") for s in range(2)]
    assert "No run has finished yet (2 in the study, all diverged)" in report.render_markdown(
        diverged, study=None)
    assert report.write_plots(diverged, tmp_path) == ()


@pytest.mark.parametrize("old, step", [("benchmark", "run"), ("report", "report")])
def test_the_old_module_paths_still_work_and_say_where_they_moved(old, step):
    import importlib

    import sklearn_set.study.__main__ as cli

    sys.modules.pop(f"sklearn_set.{old}", None)
    with pytest.warns(FutureWarning, match=f"sklearn_set.{old} has moved to sklearn_set.study"):
        module = importlib.import_module(f"sklearn_set.{old}")
    assert module.main is cli._STEPS[step]
    process = subprocess.run([sys.executable, "-m", f"sklearn_set.{old}", "--help"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0
    assert f"python -m sklearn_set.study {step}" in process.stdout
    assert "has moved to sklearn_set.study" in process.stderr


def test_the_study_command_names_its_steps():
    for args, code in (([], 2), (["--help"], 0), (["fit"], 2)):
        process = subprocess.run([sys.executable, "-m", "sklearn_set.study", *args],
                                 capture_output=True, text=True, timeout=120)
        assert process.returncode == code
        assert "{run,report}" in process.stdout + process.stderr


@needs_data
def test_report_command_writes_markdown_and_plots(tmp_path):
    pytest.importorskip("matplotlib")
    runner.run_study(["colon"], ["mlp", "set", "set-ip"], [0, 1], tmp_path,
                        profile="smoke", log=lambda m: None)
    assert report.main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "python -m sklearn_set.study run" in text or "profile `smoke`" in text.lower()
    for name in ("learning_curves.png", "neurons_alive.png", "gap.png"):
        assert (tmp_path / name).stat().st_size > 1000
        assert f"]({name})" in text


@needs_data
def test_ray_backend_gives_the_same_runs_as_loky(tmp_path):
    pytest.importorskip("ray")
    common = ["--datasets", "colon", "--methods", "static,set", "--seeds", "2",
              "--profile", "smoke", "--n-jobs", "2"]
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    for backend in ("loky", "ray"):
        process = _cli(*common, "--backend", backend, "--out", str(tmp_path / backend), env=env)
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    rows = {b: _read_results(tmp_path / b)[1] for b in ("loky", "ray")}
    assert len(rows["ray"]) == 4
    drop = lambda r: {k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
    assert [drop(r) for r in rows["ray"]] == [drop(r) for r in rows["loky"]]


# -- statistics over datasets ----------------------------------------------------------
def test_friedman_ranks_and_critical_difference_follow_demsar():
    from scipy import stats

    from sklearn_set.study._stats import friedman

    scores = np.array([[0.9, 0.8, 0.7, 0.7], [0.6, 0.9, 0.5, 0.4], [0.8, 0.7, 0.9, 0.6],
                       [0.7, 0.6, 0.5, 0.4], [0.9, 0.9, 0.8, 0.7]])
    result = friedman(scores)
    expected = stats.friedmanchisquare(*scores.T)
    assert result["statistic"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    # ranks per dataset: [1, 2, 3.5, 3.5], [2, 1, 3, 4], [2, 3, 1, 4], [1, 2, 3, 4], [1.5, 1.5, 3, 4]
    np.testing.assert_allclose(result["ranks"], [7.5 / 5, 9.5 / 5, 13.5 / 5, 19.5 / 5])
    # Demšar's Table 5: q_0.05 = 2.569 for 4 methods
    assert friedman(np.random.default_rng(0).random((15, 4)))["critical_difference"] == \
        pytest.approx(2.569 * np.sqrt(4 * 5 / (6 * 15)), abs=1e-3)


def test_wilcoxon_pairs_use_shared_datasets_and_holm():
    from itertools import combinations

    from scipy import stats

    from sklearn_set.study._stats import wilcoxon_pairs

    rng = np.random.default_rng(0)
    records = []
    for d in range(8):
        for method, shift in (("a", 0.05), ("b", 0.0), ("c", 0.0)):
            for seed in range(2):
                # diverged: dataset 0 drops out of c's pairs
                status = "diverged" if method == "c" and d == 0 else "finished"
                records.append(_record(f"d{d}", method, seed,
                                       0.7 + shift + 0.01 * rng.standard_normal(),
                                       status=status))
    groups = report._group(records)
    pairs = {(p["a"], p["b"]): p for p in wilcoxon_pairs(
        [(a, b, report._score_table(groups, [a, b])[1]) for a, b in combinations("abc", 2)])}
    assert pairs["a", "b"]["n"] == 8 and pairs["a", "c"]["n"] == 7
    assert pairs["a", "b"]["wins"] == 8 and pairs["a", "b"]["losses"] == 0
    rows = [r["row"] for r in records]
    means = {(r["dataset"], r["method"]): [] for r in rows}
    for r in rows:
        means[r["dataset"], r["method"]].append(r["test_acc"])
    a = [np.mean(means[f"d{d}", "a"]) for d in range(8)]
    b = [np.mean(means[f"d{d}", "b"]) for d in range(8)]
    assert pairs["a", "b"]["p_value"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    raw = sorted(p["p_value"] for p in pairs.values())
    holm = sorted(p["p_holm"] for p in pairs.values())
    assert holm[0] == pytest.approx(min(1, 3 * raw[0]))
    assert all(h >= r for h, r in zip(holm, raw, strict=True)) and holm == sorted(holm)


def test_report_has_the_statistics_and_the_diagram(tmp_path):
    pytest.importorskip("matplotlib")
    records = [_record(d, m, s, acc + 0.01 * k + 0.001 * s)
               for k, d in enumerate("abcdef") for s in range(3)
               for m, acc in (("mlp", 0.8), ("static", 0.7), ("set", 0.75))]
    records.append(_record("a", "fc", 0, np.nan, status="diverged"))
    plots = report.write_plots(records, tmp_path)
    assert ("Critical-difference diagram", "critical_difference.png") in plots
    assert (tmp_path / "critical_difference.png").stat().st_size > 1000
    text = report.render_markdown(records, study=None, plots=plots)
    assert "**Friedman test** over 6 datasets and the 3 methods" in text
    assert "Left out, for runs that diverged: fc." in text
    assert "| mlp | 1.00 |" in text and "| static | 3.00 |" in text
    assert "| mlp | static | 6 | 6 | 0 | 0 |" in text
    assert "![critical-difference diagram](critical_difference.png)" in text
    two = report.render_markdown([r for r in records if r["row"]["method"] != "set"], None)
    assert "Too few methods (3 needed)" in two


# -- issue 16: the study on any data, a whole error, a described command line ----------
def test_the_study_runs_on_digits_and_on_a_users_files(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    np.savetxt(tmp_path / "flowers.csv", np.column_stack([X, y]), delimiter=",")
    np.savez(tmp_path / "petals.npz", X=X, y=y)
    out = tmp_path / "study"
    assert runner.main(["--datasets", f"digits,{tmp_path / 'flowers.csv'},{tmp_path / 'petals.npz'}",
                        "--methods", "static", "--seeds", "1", "--profile", "smoke",
                        "--out", str(out)]) == 0
    _, rows = _read_results(out)
    assert sorted(r["dataset"] for r in rows) == ["digits", "flowers", "petals"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "digits__static__0.json", "flowers__static__0.json", "petals__static__0.json"]
    # the same file under two sources' names collides and is refused before running
    with pytest.raises(ValueError, match="share the name flowers"):
        runner.check_sources([str(tmp_path / "flowers.csv"), str(tmp_path / "x" / "flowers.csv")])


def test_an_openml_source_reaches_fetch_openml(monkeypatch):
    from sklearn_set import datasets

    calls = []
    monkeypatch.setattr(datasets, "_read_openml",
                        lambda data_id, home: calls.append(data_id) or (np.eye(20), np.arange(20) % 2))
    record = runner.run_one("openml:61", "static", 0, profile="smoke")
    assert calls == ["61"] and record["row"]["dataset"] == "openml-61"


def test_a_missing_file_prints_the_whole_message_and_creates_nothing(tmp_path, monkeypatch,
                                                                      capsys):
    from sklearn_set import datasets

    monkeypatch.setattr(datasets, "search_paths", lambda data_home=None: [tmp_path / "empty"])
    out = tmp_path / "study"
    assert runner.main(["--datasets", "colon", "--seeds", "1", "--out", str(out)]) == 1
    stderr = capsys.readouterr().err
    assert "in any of" in stderr and str(tmp_path / "empty") in stderr
    assert "fetch_dataset" in stderr  # the hint, on the message's last line
    assert not out.exists()
    for bad, message in (("absent.npz", "No file"), ("one-class.csv", "one class only")):
        np.savetxt(tmp_path / "one-class.csv", np.column_stack([np.eye(6), np.ones(6)]),
                   delimiter=",")
        assert runner.main(["--datasets", str(tmp_path / bad), "--out", str(out)]) == 1
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_help_describes_profiles_methods_and_datasets():
    text = runner.build_parser().format_help()
    for name, settings in runner.PROFILES.items():
        assert f"  {name}" in text
        assert f"max_iter={settings['max_iter']}" in text
    assert all(f"  {m} " in text for m in runner.METHODS)
    assert "coil20" in text and "digits" in text and "openml:<id>" in text
    assert "default 5" in text and "default quick" in text
    assert "see the module docstring" not in text


def test_both_gaps_grow_with_overfitting_even_in_old_run_files(tmp_path):
    (tmp_path / "runs").mkdir()
    row = dict.fromkeys(runner.COLUMNS, 1.0)
    row.update(dataset="a", method="set", seed=0, train_loss=0.1, test_loss=0.7,
               gap_loss=0.1 - 0.7)  # as run files before the change stored it
    (tmp_path / "runs" / "a__set__0.json").write_text(json.dumps({"row": row, "status": "finished"}))
    (record,) = runner.load_runs(tmp_path)
    assert record["row"]["gap_loss"] == pytest.approx(0.6)


def test_clear_verdicts_are_flagged_with_fewer_than_five_seeds():
    def records(n_seeds):
        return [_record("a", m, s, acc) for s in range(n_seeds)
                for m, acc in (("mlp", 0.8), ("set-ip", 0.85))]

    assert "treat *clear* as unreliable" in report.render_markdown(records(3), study=None)
    assert "With 3 seeds" in report.render_markdown(records(3), study=None)
    assert "unreliable" not in report.render_markdown(records(5), study=None)


def test_plots_are_readable_one_per_question(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    records = [_record(d, m, s, 0.8 + 0.01 * s + 0.02 * k + 0.005 * (d == "b") * k)
               for d in "abc" for s in range(2) for k, m in enumerate(("mlp", "set", "set-ip"))]
    for r in records:
        r["curves"] = {"train_loss": [1.0, 0.5, 0.2], "hidden_neurons": [100, 80, 50]}
    plots = dict((name, title) for title, name in report.write_plots(records, tmp_path))
    assert {"test_accuracy.png", "gap.png", "learning_curves.png", "neurons_alive.png",
            "critical_difference.png"} <= set(plots)
    from PIL import Image

    for name in plots:
        with Image.open(tmp_path / name) as image:
            assert min(image.info["dpi"]) >= 100
            width, height = image.size
        assert width >= 600 and height >= 200, (name, image.size)
        assert imread(tmp_path / name).std() > 0.05  # not blank


# -- issue 14: the tuned comparison ------------------------------------------------------
def test_tuning_chooses_by_inner_cross_validation_and_records_it(tmp_path):
    for method in ("logreg", "static"):
        record = runner.run_one("digits", method, 0, profile="smoke", tune=True)
        assert record["status"] == "finished"
        tuning = record["tuning"]
        grid = runner.TUNING_GRIDS[method]
        assert set(tuning["best_params"]) == set(grid)
        assert all(tuning["best_params"][k] in grid[k] for k in grid)
        assert 0.0 <= tuning["cv_accuracy"] <= 1.0
        assert 0.0 <= record["row"]["test_acc"] <= 1.0
    assert all(len(list(__import__("itertools").product(*g.values()))) <= 8
               for g in runner.TUNING_GRIDS.values())
    assert set(runner.TUNING_GRIDS) == set(runner.METHODS)  # --tune takes every method
    runner.run_study(["digits"], ["logreg"], [0], tmp_path, profile="smoke", tune=True,
                     log=lambda m: None)
    assert (tmp_path / "runs" / "digits__logreg__0.json").exists()
    assert report.main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "**Tuned** (`--tune`)" in text and "| logreg | C in [0.001" in text
    with pytest.raises(ValueError, match="without --tune"):  # never mixed in one directory
        runner.run_study(["digits"], ["logreg"], [1], tmp_path, profile="smoke",
                         log=lambda m: None)


@pytest.mark.parametrize("profile", ["original", "long", "long-stable"])
def test_every_profile_setting_reaches_our_engine(profile):
    settings = {k: v for k, v in runner.PROFILES[profile].items() if k != "test_size"}
    for method in ("static", "set", "set-zero", "set-ip"):
        params = runner.make_estimator(method, profile, 0).get_params()
        expected = {**settings, **runner.METHODS[method]}
        if method != "set-ip":  # only the pruning method gets the pruning settings
            expected = {k: v for k, v in expected.items() if not k.startswith("prune")}
        assert {k: params[k] for k in expected} == expected
    assert runner.make_estimator("set-zero", "original", 0).regrow_init == "zero"
    assert runner.make_estimator("set", "original", 0).regrow_init == "init"


def test_a_method_not_yet_run_everywhere_is_not_called_diverged():
    records = [_record(d, m, s, 0.7 + 0.01 * k)
               for k, d in enumerate("abcd") for s in range(2) for m in ("mlp", "static", "set")]
    records += [_record("a", "logreg", s, 0.9) for s in range(2)]  # a study under way
    records.append(_record("b", "fc", 0, np.nan, status="diverged"))
    text = report.render_markdown(records, study=None)
    assert ("Left out, for runs that diverged: fc; not run on every dataset yet: logreg."
            in text)


def test_friedman_drops_the_dataset_where_every_method_diverged():
    records = [_record(d, m, s, acc + 0.01 * k)
               for k, d in enumerate("abcd") for s in range(2)
               for m, acc in (("mlp", 0.8), ("static", 0.7), ("set", 0.75))]
    records += [_record("e", m, 0, np.nan, status="diverged") for m in ("static", "set")]
    records.append(_record("e", "mlp", 0, 0.9))
    text = report.render_markdown(records, study=None)
    assert ("**Friedman test** over 4 datasets and all 3 methods, on the datasets where "
            "every one finished every run" in text)
    assert "Datasets left out, for runs that diverged or are missing: e." in text
    assert "| mlp | 1.00 |" in text and "| static | 3.00 |" in text


def test_a_tuned_study_resumes_after_a_method_is_added_but_not_after_a_grid_changes(tmp_path):
    runner.run_study(["digits"], ["logreg"], [0], tmp_path, profile="smoke", tune=True,
                     log=lambda m: None)
    study = json.loads((tmp_path / "study.json").read_text())
    del study["settings"]["tune"]["set-zero"]  # as saved before that method existed
    (tmp_path / "study.json").write_text(json.dumps(study))
    runner._claim_study(tmp_path, "smoke", ["again"], tune=True)
    assert "set-zero" in json.loads((tmp_path / "study.json").read_text())["settings"]["tune"]
    study = json.loads((tmp_path / "study.json").read_text())
    study["settings"]["tune"]["logreg"] = {"C": [1.0]}
    (tmp_path / "study.json").write_text(json.dumps(study))
    with pytest.raises(ValueError, match="other settings"):
        runner._claim_study(tmp_path, "smoke", ["again"], tune=True)
