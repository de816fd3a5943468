"""Turn a study directory written by the study's run step into a report.

    python -m sklearn_set.study report DIR [--out OUT] [--name report.md]

writes ``DIR/report.md`` (or ``OUT/NAME``) (it also rebuilds ``DIR/results.csv`` from
the run files) and, when matplotlib is installed (``pip install -e '.[plot]'`` from the
checkout), plots next to it, one per question: ``test_accuracy.png``, ``gap.png``,
``learning_curves.png``, ``neurons_alive.png`` and ``critical_difference.png``. The
statistics over datasets (Friedman, Nemenyi, Wilcoxon with Holm's correction) come
from :mod:`._stats`.

Both gaps point the same way: ``gap acc`` is train − test accuracy and ``gap loss`` is
test − train loss, so that a larger gap means more overfitting in either.

Every figure is a mean ± sample standard deviation over the seeds that finished. A
run that diverged (its training loss stopped being finite) is counted and shown, never
silently averaged away; comparisons between two methods use only the datasets on which
both finished every seed.
"""

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

import numpy as np

from ._run import METHODS, load_runs, write_results
from ._stats import friedman, plot_critical_difference, wilcoxon_pairs

__all__ = ["summarize", "compare", "render_markdown", "write_plots", "write_report", "main"]

#: Columns of the per-dataset tables: (column of results.csv, header, format).
_TABLE = (
    ("test_acc", "test acc", "{:.3f}"),
    ("train_acc", "train acc", "{:.3f}"),
    ("gap_acc", "gap acc (train − test)", "{:.3f}"),
    ("test_loss", "test loss", "{:.3f}"),
    ("train_loss", "train loss", "{:.3f}"),
    ("gap_loss", "gap loss (test − train)", "{:.3f}"),
    ("params_start", "params start", "{:,.0f}"),
    ("params_end", "params end", "{:,.0f}"),
    ("hidden_neurons_end", "hidden end", "{:,.0f}"),
    ("epochs", "epochs", "{:.0f}"),
    ("seconds", "seconds", "{:.1f}"),
)

#: The methods the study is about (importance pruning under SET and under RigL), and
#: the dense baselines they are compared with.
_HEADLINES, _BASELINES = ("set-ip", "rigl-ip"), ("mlp", "fc", "logreg")


def _group(records):
    """{dataset: {method: [record, ...]}}, in the order of the records."""
    groups = {}
    for record in records:
        row = record["row"]
        groups.setdefault(row["dataset"], {}).setdefault(row["method"], []).append(record)
    return groups


def _finished(runs):
    return [r for r in runs if r.get("status", "finished") == "finished"]


def summarize(runs, column):
    """(mean, sd, n finished, n runs) of ``column`` over the finished runs."""
    values = np.array([r["row"][column] for r in _finished(runs)], dtype=float)
    if values.size == 0:
        return np.nan, np.nan, 0, len(runs)
    sd = values.std(ddof=1) if values.size > 1 else 0.0
    return float(values.mean()), float(sd), int(values.size), len(runs)


def compare(groups, method, baseline, column, higher_is_better=True):
    """Wins, ties and losses of ``method`` against ``baseline`` over datasets.

    A dataset counts only when both methods finished the same seeds, all of them.
    A win is *clear* when the mean of the per-seed (paired, same split) differences
    exceeds twice its standard error.

    Returns
    -------
    dict with ``wins``, ``ties``, ``losses``, ``clear_wins``, ``clear_losses``,
    ``datasets`` (compared) and ``left_out`` (datasets with a diverged or missing run).
    """
    outcome = dict(wins=0, ties=0, losses=0, clear_wins=0, clear_losses=0,
                   datasets=[], left_out=[])
    sign = 1.0 if higher_is_better else -1.0
    for dataset, methods in groups.items():
        ours, theirs = methods.get(method, []), methods.get(baseline, [])
        ours_by_seed = {r["row"]["seed"]: r["row"][column] for r in _finished(ours)}
        theirs_by_seed = {r["row"]["seed"]: r["row"][column] for r in _finished(theirs)}
        seeds = sorted(ours_by_seed)
        if (not seeds or len(ours_by_seed) != len(ours) or len(theirs_by_seed) != len(theirs)
                or sorted(theirs_by_seed) != seeds):
            if ours or theirs:
                outcome["left_out"].append(dataset)
            continue
        outcome["datasets"].append(dataset)
        delta = sign * np.array([ours_by_seed[s] - theirs_by_seed[s] for s in seeds])
        mean = delta.mean()
        se = delta.std(ddof=1) / np.sqrt(delta.size) if delta.size > 1 else np.inf
        if np.isclose(mean, 0.0, atol=1e-12):
            outcome["ties"] += 1
        elif mean > 0:
            outcome["wins"] += 1
            outcome["clear_wins"] += bool(mean > 2 * se)
        else:
            outcome["losses"] += 1
            outcome["clear_losses"] += bool(-mean > 2 * se)
    return outcome


#: Seeds below which a standard error, and so a *clear* verdict, is itself too noisy.
_MIN_SEEDS_FOR_CLEAR = 5


def _few_seeds_warning(groups):
    """A sentence when some dataset and method has fewer than 5 seeds, else ``""``."""
    counts = [len(runs) for methods in groups.values() for runs in methods.values()]
    fewest = min(counts, default=0)
    if fewest >= _MIN_SEEDS_FOR_CLEAR:
        return ""
    return (f" **With {fewest} seed{'s' if fewest != 1 else ''} (fewer than "
            f"{_MIN_SEEDS_FOR_CLEAR}), the standard error is itself too uncertain: treat "
            "*clear* as unreliable.**")


def _cell(runs, column, fmt, bold=False, count_diverged=True):
    mean, sd, n, total = summarize(runs, column)
    if n == 0:
        return (f"— ({total}/{total} diverged)" if count_diverged else "—") if total else ""
    text = f"{fmt.format(mean)} ± {fmt.format(sd)}"
    if bold:
        text = f"**{text}**"
    if n < total and count_diverged:
        text += f" ({total - n}/{total} diverged)"
    return text


def _best_method(methods):
    """The method with the best mean test accuracy among those that finished every run
    (a mean over the survivors of a diverging method would flatter it)."""
    means = {m: summarize(runs, "test_acc")[0] for m, runs in methods.items()
             if len(_finished(runs)) == len(runs)}
    means = {m: v for m, v in means.items() if np.isfinite(v)}
    return max(means, key=means.get) if means else None


def _method_order(groups):
    seen = {m for methods in groups.values() for m in methods}
    return [m for m in METHODS if m in seen] + sorted(seen - set(METHODS))


def _score_table(groups, methods, column="test_acc"):
    """The datasets on which every one of ``methods`` finished every run, and their
    means of ``column`` there, of shape (n_datasets, n_methods)."""
    datasets, scores = [], []
    for dataset, by_method in groups.items():
        summaries = [summarize(by_method.get(m, []), column) for m in methods]
        if all(0 < n == total for _, _, n, total in summaries):
            datasets.append(dataset)
            scores.append([mean for mean, *_ in summaries])
    return datasets, np.array(scores, dtype=float).reshape(len(datasets), len(methods))


def _ranked_methods(groups, methods):
    """The methods the Friedman test compares, the datasets it compares them on, and
    its result; ``None`` when it cannot run (it needs 3 methods and 2 datasets).

    The test needs every method's score on every dataset. Datasets are kept first:
    the methods that finished every run everywhere are compared on all datasets.
    When fewer than 3 did, every method is compared on the datasets where all of them
    finished every run instead (a dataset on which all diverged leaves no method
    complete, yet says nothing between them).
    """
    complete = [m for m in methods if len(_score_table(groups, [m])[0]) == len(groups)]
    if len(complete) < 3:
        complete = list(methods)
    datasets, scores = _score_table(groups, complete)
    if len(complete) < 3 or len(datasets) < 2:
        return None
    return complete, datasets, friedman(scores)


def _left_out_note(groups, left_out):
    """Why each method is missing from the Friedman test: some run diverged, or some
    dataset has no run of it yet (a study still under way)."""
    if not left_out:
        return ""
    diverged = [m for m in left_out if any(r.get("status") == "diverged"
                                           for by_method in groups.values()
                                           for r in by_method.get(m, []))]
    missing = [m for m in left_out if m not in diverged]
    reasons = [f"for runs that diverged: {', '.join(diverged)}" if diverged else "",
               f"not run on every dataset yet: {', '.join(missing)}" if missing else ""]
    return " Left out, " + "; ".join(r for r in reasons if r) + "."


def _statistics_section(groups, methods, plots):
    """Markdown lines: Friedman with average ranks and Nemenyi's critical difference,
    then every pair's Wilcoxon signed-rank test, on the datasets' mean test accuracy."""
    lines = ["", "## Statistics over datasets", "",
             "On test accuracy, each method summarised on each dataset by its mean over "
             "seeds, as Demšar (JMLR, 2006) recommends for comparisons over many datasets. "
             "A dataset counts for a comparison only where every method in it finished "
             "every run.", ""]
    ranked = _ranked_methods(groups, methods)
    if ranked is None:
        lines.append("Too few methods (3 needed) finished every run on every dataset for the "
                     "Friedman test.")
    else:
        complete, datasets, result = ranked
        left_out = [m for m in methods if m not in complete]
        dropped = [d for d in groups if d not in datasets]
        compared = (f"the {len(complete)} methods that finished every run everywhere"
                    if not dropped else f"all {len(complete)} methods, on the datasets "
                    "where every one finished every run")
        lines += [
            f"**Friedman test** over {len(datasets)} datasets and {compared}: "
            f"χ² = {result['statistic']:.2f}, p = {result['p_value']:.2g}."
            + _left_out_note(groups, left_out)
            + (f" Datasets left out, for runs that diverged or are missing: "
               f"{', '.join(dropped)}." if dropped else ""),
            "", "| method | average rank (1 = best) |", "|---|---|",
        ]
        ranked = sorted(zip(complete, result["ranks"], strict=True), key=lambda pair: pair[1])
        for m, rank in ranked:
            lines.append(f"| {m} | {rank:.2f} |")
        lines += ["", f"Nemenyi's critical difference at α = 0.05 is "
                  f"{result['critical_difference']:.2f} ranks: two methods whose average "
                  "ranks differ by less are not told apart by this test (the bars of the "
                  "diagram join them)."]
        if any(name == "critical_difference.png" for _, name in plots):
            lines += ["", "![critical-difference diagram](critical_difference.png)"]
    pairs = wilcoxon_pairs([(a, b, _score_table(groups, [a, b])[1])
                            for a, b in combinations(methods, 2)])
    lines += [
        "", "**Wilcoxon signed-rank tests**, pair by pair, over the datasets where both "
        f"finished every run; *p (Holm)* is adjusted for the {len(pairs)} pairs. Wins, ties "
        "and losses are of the first method against the second, by dataset mean.", "",
        "| first | second | datasets | wins | ties | losses | p | p (Holm) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in pairs:
        lines.append(f"| {p['a']} | {p['b']} | {p['n']} | {p['wins']} | {p['ties']} | "
                     f"{p['losses']} | {p['p_value']:.3g} | {p['p_holm']:.3g} |")
    return lines


def _tuning_section(records, methods, grids):
    """Markdown lines: each method's grid, and the settings its runs chose."""
    lines = ["**Tuned** (`--tune`): in each run, each method's setting is chosen among its "
             "grid by 3-fold stratified cross-validation on the training part, refit on "
             "all of it, and scored once on the test part.", "",
             "| method | grid | chosen (runs) | inner CV accuracy |", "|---|---|---|---|"]
    for method in methods:
        tuned = [r["tuning"] for r in _finished(records)
                 if r["row"]["method"] == method and "tuning" in r]
        if not tuned:
            continue
        choices = {}
        for t in tuned:
            key = ", ".join(f"{k}={v}" for k, v in sorted(t["best_params"].items()))
            choices[key] = choices.get(key, 0) + 1
        chosen = "; ".join(f"{k} ({n})" for k, n in sorted(choices.items(),
                                                           key=lambda kv: -kv[1]))
        cv = np.array([t["cv_accuracy"] for t in tuned])
        grid = ", ".join(f"{k} in {v}" for k, v in grids.get(method, {}).items())
        lines.append(f"| {method} | {grid} | {chosen} | {cv.mean():.3f} ± "
                     f"{cv.std(ddof=1) if cv.size > 1 else 0.0:.3f} |")
    return lines + [""] + _value_choices(records, methods, grids)


def _value_choices(records, methods, grids):
    """Markdown lines: each tuned hyperparameter on its own, how often each value was
    chosen: in runs, and in datasets (where it was chosen in most of the runs). The
    evidence a default can be set from, since it never looks at test scores."""
    lines = ["Each hyperparameter on its own: runs that chose each value; in brackets, "
             "datasets where it was chosen in most runs.", "",
             "| method | hyperparameter | chosen: runs (datasets) |", "|---|---|---|"]
    for method in methods:
        tuned = [(r["row"]["dataset"], r["tuning"]["best_params"]) for r in _finished(records)
                 if r["row"]["method"] == method and "tuning" in r]
        for name, values in grids.get(method, {}).items():
            if len(values) < 2 or not tuned:
                continue
            runs = {v: 0 for v in values}
            per_dataset = {}
            for dataset, params in tuned:
                runs[params[name]] = runs.get(params[name], 0) + 1
                per_dataset.setdefault(dataset, []).append(params[name])
            datasets = {v: sum(2 * chosen.count(v) > len(chosen)
                               for chosen in per_dataset.values()) for v in runs}
            cells = "; ".join(f"{v}: {runs[v]} ({datasets[v]})" for v in runs)
            lines.append(f"| {method} | `{name}` | {cells} |")
    return lines + [""]


def _run_time(records, methods):
    """One line: the runs' own seconds summed, in all and per method, so that what a
    study costs (and what each method adds to it) can be read off its report."""
    seconds = {m: sum(float(r["row"]["seconds"]) for r in records if r["row"]["method"] == m)
               for m in methods}
    per_method = ", ".join(f"`{m}` {seconds[m] / 3600:.2f}" for m in methods)
    return (f"Run time, the runs' own seconds summed: {sum(seconds.values()) / 3600:.2f} "
            f"hours ({per_method}); runs side by side (`--n-jobs`) share it out.")


def render_markdown(records, study, plots=()):
    """The report as Markdown text."""
    groups = _group(records)
    methods = _method_order(groups)
    lines = ["# Generalization study", ""]
    if study:
        commands = study.get("commands") or [study["command"]]
        settings = dict(study["settings"])
        grids = settings.pop("tune", None)
        lines += [
            f"Profile `{study['profile']}`, produced by:", "",
            "```", *commands, "```", "",
            ("Hyperparameters (the same for every dataset and method, but for those each "
             "method tunes): " if grids else
             "Hyperparameters (the same for every dataset and method): ")
            + ", ".join(f"`{k}={v}`" for k, v in settings.items()) + ".", "",
        ]
        if grids:
            lines += _tuning_section(records, methods, grids)
    if not _finished(records):
        lines.append(
            f"No run has finished yet ({len(records)} in the study, all diverged); there is "
            "nothing to report." if records else "The study holds no run yet; there is "
            "nothing to report. Runs appear as `python -m sklearn_set.study run` saves them."
        )
        return "\n".join(lines) + "\n"
    n_diverged = sum(r.get("status") == "diverged" for r in records)
    lines += [
        f"{len(records)} runs over {len(groups)} datasets and {len(methods)} methods; "
        f"{n_diverged} diverged (training loss not finite) and are shown as such.",
        "Cells are mean ± sd over seeds. The best mean test accuracy of each dataset, among "
        "methods that finished every run, is in bold.",
        "", _run_time(records, methods), "",
        "## Test accuracy", "",
        "| dataset | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    for dataset, by_method in groups.items():
        best = _best_method(by_method)
        cells = [_cell(by_method.get(m, []), "test_acc", "{:.3f}", bold=(m == best))
                 for m in methods]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")

    for headline in (h for h in _HEADLINES if h in methods):
        lines += ["", f"## `{headline}` against the dense baselines", ""]
        lines += [
            "Per dataset, by the mean over seeds; *clear* means the mean paired "
            "(same split) difference exceeds twice its standard error. A smaller "
            "generalization gap (train − test accuracy) counts as a win."
            + _few_seeds_warning(groups), "",
            "| against | metric | wins (clear) | ties | losses (clear) | datasets compared "
            "| left out |",
            "|---|---|---|---|---|---|---|",
        ]
        for baseline in (b for b in _BASELINES if b in methods):
            for column, label, higher in (("test_acc", "test accuracy", True),
                                          ("gap_acc", "gap (accuracy)", False)):
                c = compare(groups, headline, baseline, column, higher)
                lines.append(
                    f"| {baseline} | {label} | {c['wins']} ({c['clear_wins']}) | {c['ties']} | "
                    f"{c['losses']} ({c['clear_losses']}) | {len(c['datasets'])} | "
                    f"{', '.join(c['left_out']) or '—'} |"
                )
        runs = _finished([r for r in records if r["row"]["method"] == headline])
        removed = [1 - r["row"]["hidden_neurons_end"] / r["row"]["hidden_neurons_start"]
                   for r in runs]
        params = [r["row"]["params_end"] / r["row"]["params_start"] for r in runs]
        if removed:
            spread = np.std(removed, ddof=1) if len(removed) > 1 else 0.0
            lines += [
                "",
                f"`{headline}` removed {np.mean(removed):.1%} ± {spread:.1%} of the hidden "
                f"neurons (mean over all its runs) and ended with {np.mean(params):.1%} of "
                "its starting parameters.",
            ]

    lines += _statistics_section(groups, methods, plots)

    if plots:
        lines += ["", "## Plots", ""]
        for title, name in plots:
            if name == "critical_difference.png":
                continue  # shown with the statistics
            lines += [f"**{title}**", "", f"![{title}]({name})", ""]

    lines += ["", "## Per dataset", ""]
    for dataset, by_method in groups.items():
        best = _best_method(by_method)
        lines += [f"### {dataset}", "",
                  "| method | finished | " + " | ".join(h for _, h, _ in _TABLE) + " |",
                  "|---|---|" + "---|" * len(_TABLE)]
        for m in methods:
            if m not in by_method:
                continue
            runs = by_method[m]
            cells = [f"{len(_finished(runs))}/{len(runs)}"] + [
                _cell(runs, col, fmt, bold=(col == "test_acc" and m == best), count_diverged=False)
                for col, _, fmt in _TABLE
            ]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _mean_curve(runs, key):
    curves = [r["curves"][key] for r in _finished(runs) if r.get("curves", {}).get(key)]
    if not curves:
        return None
    length = min(len(c) for c in curves)
    return np.mean([c[:length] for c in curves], axis=0)


#: Resolution of every figure; with the sizes below, text is at least 8 points.
_DPI = 110


def _small_multiples(plt, groups, methods, colors, key, ylabel, title, scale=None):
    """One panel per dataset, one line per method: the mean curve of ``key`` over seeds
    (divided by ``scale(row)`` when given). Each dataset gets its own panel, so that no
    line hides another; one legend serves every panel."""
    n = len(groups)
    n_cols = min(4, n)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols, 2.5 * n_rows + 0.9),
                             squeeze=False, sharex=True)
    shown = {}
    for ax, (dataset, by_method) in zip(axes.flat, groups.items(), strict=False):
        for m in methods:
            runs = by_method.get(m, [])
            curve = _mean_curve(runs, key)
            if curve is None:
                continue
            if scale is not None:
                curve = curve / scale(runs[0]["row"])
            (shown[m],) = ax.plot(np.arange(1, curve.size + 1), curve, color=colors[m],
                                  lw=1.4, label=m)
        ax.set_title(dataset, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=9)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel, fontsize=9)
    fig.suptitle(title, fontsize=12)
    fig.legend(list(shown.values()), list(shown), loc="upper center", ncol=len(shown),
               fontsize=9, bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    return fig, axes


def _dot_plot(plt, groups, methods, colors, column, xlabel, title):
    """One row per dataset, one marker per method at its mean, with a bar of ± one sd
    over seeds; methods are offset vertically within a row so that none hides another.
    A black ring marks a mean over the survivors of a method that diverged on some seeds."""
    n = len(groups)
    fig, ax = plt.subplots(figsize=(8, 0.42 * n * max(1, len(methods) / 4) + 1.6))
    offsets = np.linspace(-0.3, 0.3, len(methods)) if len(methods) > 1 else [0.0]
    for offset, m in zip(offsets, methods, strict=True):
        stats = np.array([summarize(by_method.get(m, []), column)
                          for by_method in groups.values()], dtype=float)
        means, sds, finished, total = stats.T
        rows = np.arange(n) + offset
        ax.errorbar(means, rows, xerr=sds, fmt="o", ms=4, lw=1, capsize=2,
                    color=colors[m], label=m)
        partial = finished < total
        ax.plot(means[partial], rows[partial], "o", ms=8, mfc="none", mec="k", mew=0.8)
    ax.set_yticks(np.arange(n), list(groups), fontsize=9)
    ax.invert_yaxis()
    for row in np.arange(n - 1) + 0.5:
        ax.axhline(row, color="0.85", lw=0.6)
    ax.set_xlabel(xlabel, fontsize=10)
    ax.tick_params(axis="x", labelsize=9)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=9, ncol=min(len(methods), 7), loc="lower center",
              bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.set_title(title, fontsize=11, pad=28)
    fig.tight_layout()
    return fig, ax


def _neurons_alive(plt, groups, methods, colors):
    """One panel: per pruning method, the fraction of hidden neurons alive after each
    epoch, as the mean over datasets with the range over datasets shaded. Methods get
    their own line style, since their schedules often coincide."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, m in enumerate(methods):
        curves = []
        for by_method in groups.values():
            runs = by_method.get(m, [])
            curve = _mean_curve(runs, "hidden_neurons")
            if curve is not None:
                curves.append(curve / runs[0]["row"]["hidden_neurons_start"])
        if not curves:
            continue
        length = min(c.size for c in curves)
        curves = np.array([c[:length] for c in curves])
        epochs = np.arange(1, length + 1)
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=colors[m],
                        alpha=0.15, lw=0)
        ax.plot(epochs, curves.mean(axis=0), color=colors[m], lw=2,
                ls=("-", "--", ":", "-.")[k % 4],
                label=f"{m}: {curves[:, -1].mean():.0%} alive at the end "
                      f"({len(curves)} datasets)")
    ax.set_xlabel("epoch", fontsize=10)
    ax.set_ylabel("fraction of hidden neurons alive", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower left")
    ax.set_title("Hidden neurons alive after each epoch\n(line: mean over datasets; band: "
                 "their range)", fontsize=11)
    fig.tight_layout()
    return fig


def write_plots(records, out):
    """Write one PNG per question into ``out``; returns their (title, file name) pairs.

    - ``test_accuracy.png``: how well each method does on each dataset;
    - ``gap.png``: how much worse it does on the test part than on the training part;
    - ``learning_curves.png``: how its training loss falls, per dataset;
    - ``neurons_alive.png``: how many hidden neurons the pruning methods keep, per dataset;
    - ``critical_difference.png``: which methods the statistics tell apart.

    Returns an empty tuple when matplotlib is not installed or no run has finished.
    """
    if not _finished(records):
        return ()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ()
    out = Path(out)
    groups = _group(records)
    methods = _method_order(groups)
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    written = []

    def save(fig, name, title):
        fig.savefig(out / name, dpi=_DPI, bbox_inches="tight")
        plt.close(fig)
        written.append((title, name))

    fig, _ = _dot_plot(plt, groups, methods, colors, "test_acc", "test accuracy",
                       "Test accuracy per dataset (mean ± sd over seeds; ringed: some "
                       "seeds diverged)")
    save(fig, "test_accuracy.png", "Test accuracy")

    fig, ax = _dot_plot(plt, groups, methods, colors, "gap_acc",
                        "train accuracy − test accuracy (larger: more overfitting)",
                        "Generalization gap per dataset (mean ± sd over seeds; ringed: "
                        "some seeds diverged)")
    ax.axvline(0, color="k", lw=0.6)
    save(fig, "gap.png", "Generalization gap")

    def has_curves(key, among):
        return any(r.get("curves", {}).get(key) for r in _finished(records)
                   if r["row"]["method"] in among)

    if has_curves("train_loss", methods):
        fig, axes = _small_multiples(plt, groups, methods, colors, "train_loss",
                                     "training loss", "Training loss per epoch (mean over "
                                     "seeds, log scale)")
        for ax in axes.flat:
            if ax.lines:
                ax.set_yscale("log")
        save(fig, "learning_curves.png", "Learning curves")

    pruning = [m for m in methods if m in _HEADLINES or m.endswith("-ip")]
    if has_curves("hidden_neurons", pruning):
        fig = _neurons_alive(plt, groups, pruning, colors)
        save(fig, "neurons_alive.png", f"Hidden neurons alive ({', '.join(pruning)})")

    ranked = _ranked_methods(groups, methods)
    if ranked is not None:
        complete, datasets, result = ranked
        plot_critical_difference(result["ranks"], complete, result["critical_difference"],
                                 out / "critical_difference.png",
                                 f"average rank of test accuracy over {len(datasets)} datasets")
        written.append(("Critical-difference diagram", "critical_difference.png"))
    return tuple(written)


def write_report(study_dir, out=None, name="report.md"):
    """Write results.csv, the plots and the report for ``study_dir``; returns the report path.

    The report and the plots go to ``out`` (default: ``study_dir``), the report under
    ``name``.
    """
    study_dir = Path(study_dir)
    if not (study_dir / "runs").is_dir():
        raise FileNotFoundError(f"{study_dir} holds no runs/ directory; is it a study's --out?")
    out = Path(out) if out is not None else study_dir
    out.mkdir(parents=True, exist_ok=True)
    write_results(study_dir)
    records = load_runs(study_dir)
    study_file = study_dir / "study.json"
    study = json.loads(study_file.read_text()) if study_file.exists() else None
    plots = write_plots(records, out)
    report = out / name
    report.write_text(render_markdown(records, study, plots))
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sklearn_set.study report",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", help="the --out directory of a study")
    parser.add_argument("--out", default=None, help="where to write (default: study_dir)")
    parser.add_argument("--name", default="report.md", help="file name of the report")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    try:
        print(write_report(args.study_dir, args.out, args.name))
    except Exception as exc:
        if args.debug:
            raise
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
