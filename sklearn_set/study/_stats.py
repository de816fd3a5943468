"""Statistics across datasets, as comparisons of classifiers over many datasets report
them (Demšar, "Statistical comparisons of classifiers over multiple data sets", JMLR
7, 2006).

The unit is the dataset: the functions take each method's mean over seeds on each
dataset, for the datasets on which every compared method finished every seed (the
report builds those tables: a method that diverged on a dataset gets no score there).
Then

* :func:`friedman`: the Friedman test of "all methods perform alike", with each
  method's average rank (1 = best) and Nemenyi's critical difference of ranks;
* :func:`wilcoxon_pairs`: the Wilcoxon signed-rank test for each pair of methods,
  with Holm's correction over the pairs;
* :func:`plot_critical_difference`: the critical-difference diagram.
"""

import numpy as np
from scipy import stats

__all__ = ["friedman", "wilcoxon_pairs", "plot_critical_difference"]


def average_ranks(scores, higher_is_better=True):
    """Each method's rank on each dataset (1 = best, ties share the mean rank),
    averaged over datasets."""
    signed = -scores if higher_is_better else scores
    return np.mean([stats.rankdata(row) for row in signed], axis=0)


def critical_difference(n_methods, n_datasets, alpha=0.05):
    """Nemenyi's critical difference of average ranks: ``q_alpha * sqrt(k (k + 1) / (6 N))``,
    with ``q_alpha`` the studentized range quantile over sqrt(2)."""
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(n_methods * (n_methods + 1) / (6.0 * n_datasets)))


def friedman(scores, higher_is_better=True, alpha=0.05):
    """The Friedman test over datasets (rows) and methods (columns).

    Returns
    -------
    result : dict
        ``statistic`` and ``p_value`` of the test (NaN with fewer than 3 methods or 2
        datasets, where it is not defined), ``ranks`` (average rank of each method)
        and ``critical_difference`` (Nemenyi, at ``alpha``).
    """
    n_datasets, n_methods = scores.shape
    ranks = average_ranks(scores, higher_is_better) if n_datasets else np.full(n_methods, np.nan)
    statistic = p_value = float("nan")
    if n_methods >= 3 and n_datasets >= 2:
        statistic, p_value = stats.friedmanchisquare(*scores.T)
    cd = critical_difference(n_methods, n_datasets, alpha) if n_datasets else float("nan")
    return {"statistic": float(statistic), "p_value": float(p_value), "ranks": ranks,
            "critical_difference": cd}


def wilcoxon_pairs(pairs, higher_is_better=True):
    """The Wilcoxon signed-rank test for every pair of methods over the datasets.

    ``pairs`` holds ``(a, b, scores)`` triples, ``scores`` of shape (n_datasets, 2): the
    two methods' per-dataset means on the datasets they share, so that a method that
    diverged somewhere still meets the others elsewhere. Returns a list of dicts, one
    per pair: ``n`` datasets, ``wins``, ``ties`` and ``losses`` of ``a`` against
    ``b``, the test's two-sided ``p_value`` (NaN when the two never differ or share no
    dataset), and ``p_holm``, Holm's step-down adjustment over all pairs, which keeps
    the chance of any false "difference" at the level asked.
    """
    results = []
    for a, b, scores in pairs:
        difference = scores[:, 0] - scores[:, 1]
        if not higher_is_better:
            difference = -difference
        p_value = float("nan")
        if np.any(difference != 0):
            p_value = float(stats.wilcoxon(scores[:, 0], scores[:, 1]).pvalue)
        results.append({"a": a, "b": b, "n": int(scores.shape[0]),
                        "wins": int(np.sum(difference > 0)),
                        "ties": int(np.sum(difference == 0)),
                        "losses": int(np.sum(difference < 0)), "p_value": p_value})
    tested = sorted((r for r in results if np.isfinite(r["p_value"])),
                    key=lambda r: r["p_value"])
    running = 0.0
    for k, result in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - k) * result["p_value"]))
        result["p_holm"] = running
    for result in results:
        result.setdefault("p_holm", float("nan"))
    return results


def _cliques(order, ranks, cd):
    """Maximal runs of methods (in rank order) whose ranks lie within ``cd``."""
    runs = []
    for start in range(len(order)):
        stop = start
        while stop + 1 < len(order) and ranks[order[stop + 1]] - ranks[order[start]] < cd:
            stop += 1
        if stop > start and not any(a <= start and stop <= b for a, b in runs):
            runs.append((start, stop))
    return runs


def plot_critical_difference(ranks, methods, cd, path, title=None):
    """Draw the critical-difference diagram into ``path`` (PNG): methods on an axis of
    average rank (best on the left), with a bar joining the methods whose ranks differ
    by less than ``cd``, and the ``cd`` itself above the axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(methods)
    order = list(np.argsort(ranks, kind="stable"))
    left, right = order[: (k + 1) // 2], order[(k + 1) // 2:]
    height = 1.6 + 0.32 * max(len(left), len(right))
    fig, ax = plt.subplots(figsize=(9, height))
    ax.set_xlim(-1.2, k + 2.2)  # room for the labels on both sides
    ax.set_ylim(-0.32 * (max(len(left), len(right)) + 1) - 0.3, 1.0)
    ax.axis("off")
    ax.hlines(0, 1, k, color="k", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.08, color="k", lw=1)
        ax.text(r, 0.14, str(r), ha="center", va="bottom", fontsize=9)
    ax.hlines(0.65, 1, 1 + cd, color="k", lw=2)
    ax.text(1 + cd / 2, 0.72, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=9)
    for side, members in (("left", left), ("right", right)):
        for n, m in enumerate(members if side == "left" else members[::-1]):
            y = -0.32 * (n + 1)
            end = 0.6 if side == "left" else k + 0.4
            ax.plot([ranks[m], ranks[m], end], [0, y, y], color="k", lw=0.8)
            ax.text(end, y, f"{methods[m]} ({ranks[m]:.2f})", fontsize=9, va="center",
                    ha="right" if side == "left" else "left")
    for n, (a, b) in enumerate(_cliques(order, ranks, cd)):
        y = -0.1 - 0.06 * n
        ax.hlines(y, ranks[order[a]] - 0.03, ranks[order[b]] + 0.03, color="C3", lw=3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
