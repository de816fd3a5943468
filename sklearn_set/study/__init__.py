"""The generalization study: every method on every dataset over seeds, and its report.

    python -m sklearn_set.study run --datasets all --methods mlp,fc,static,set,set-ip \\
        --seeds 5 --out results/quick --profile quick --n-jobs 2
    python -m sklearn_set.study report results/quick

``run`` fits and scores each (dataset, method, seed) once and saves it, resumably
(see :func:`run_study`); ``report`` turns the directory into ``report.md`` and plots
(see :func:`write_report`). The speed benchmarks are another matter: they live in the
repository's ``benchmarks/`` folder.
"""

from ._report import compare, render_markdown, summarize, write_plots, write_report
from ._run import COLUMNS, METHODS, PROFILES, load_runs, make_estimator, run_one, run_study

__all__ = [
    "COLUMNS", "METHODS", "PROFILES", "compare", "load_runs", "make_estimator",
    "render_markdown", "run_one", "run_study", "summarize", "write_plots", "write_report",
]
