"""``python -m sklearn_set.study run|report ...``: one command, two steps."""

import sys

from . import _report, _run

_STEPS = {"run": _run.main, "report": _report.main}
_USAGE = """usage: python -m sklearn_set.study {run,report} ...

  run     fit and score methods x datasets x seeds into a study directory, resumably
  report  turn a study directory into report.md and plots

python -m sklearn_set.study run --help (or report --help) describes each step's options.
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_USAGE, end="")
        return 0 if argv else 2
    step = _STEPS.get(argv[0])
    if step is None:
        print(f"{_USAGE}python -m sklearn_set.study: error: unknown step {argv[0]!r}; "
              "choose run or report", file=sys.stderr)
        return 2
    return step(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
