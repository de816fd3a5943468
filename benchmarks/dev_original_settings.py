"""What makes SET train, or not, at the original SET-MLP code's settings?

Fits the study's ``original`` profile (3 x 1000 hidden, batch 2, 100 epochs, lr 0.01,
momentum 0.9, weight decay 2e-4, no dropout, N(0, 0.1^2) weights, the original code's
update rule) under variants that change the loss or how regrown connections start, on
a validation split carved from the training data (``dev_split_study.validation_split``:
the test part is never scored). Prints, per dataset and variant, the fits that finished
(training loss finite for every epoch) and the validation accuracy of those, mean ± sd
over seeds.

    python benchmarks/dev_original_settings.py --datasets tox171,GLIOMA,arcene,Prostate_GE
"""

import warnings

import numpy as np
from dev_split_study import parse_variant_arguments, validation_split

from sklearn_set.study import make_estimator

#: name: (the study's method, overrides of the original profile). "log" is
#: cross-entropy, "squared" the squared error of sigmoid outputs, "original" the same
#: trained by the original code's rule (the profile's); "init" draws regrown
#: connections like the initial weights (the profile's), "zero" starts them at 0.
VARIANTS = {
    "static/log": ("static", dict(loss="log_loss")),
    "set/log/init": ("set", dict(loss="log_loss")),
    "set/log/zero": ("set", dict(loss="log_loss", regrow_init="zero")),
    "static/squared": ("static", dict(loss="squared_error")),
    "set/squared/init": ("set", dict(loss="squared_error")),
    "set/squared/zero": ("set", dict(loss="squared_error", regrow_init="zero")),
    "static/original": ("static", {}),
    "set/original/init": ("set", {}),
    "set/original/zero": ("set", dict(regrow_init="zero")),
}


def main():
    args, variants = parse_variant_arguments(__doc__.splitlines()[0], VARIANTS,
                                             "tox171,GLIOMA,arcene,Prostate_GE", seeds=3)
    warnings.simplefilter("ignore")
    print(f"{'dataset':<12} {'variant':<18} {'finished':>8}  validation accuracy")
    for dataset in args.datasets.split(","):
        X_fit, y_fit, X_val, y_val = validation_split(dataset)
        for name, (method, overrides) in variants.items():
            scores = []
            for seed in range(args.seeds):
                model = make_estimator(method, "original", seed).set_params(**overrides)
                try:
                    scores.append(model.fit(X_fit, y_fit).score(X_val, y_val))
                except FloatingPointError:
                    pass
            summary = f"{np.mean(scores):.3f} ± {np.std(scores):.3f}" if scores else "-"
            print(f"{dataset:<12} {name:<18} {len(scores):>4}/{args.seeds}  {summary}", flush=True)


if __name__ == "__main__":
    main()
