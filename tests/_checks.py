"""What both estimators' check_estimator runs expect to fail, and why."""

_MINI_BATCH_SGD = (
    "mini-batch SGD with dropout and random rewiring: weights equal repeats only in "
    "expectation; test_sample_weight_equals_repeated_samples checks it with full batches"
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": _MINI_BATCH_SGD,
    "check_sample_weight_equivalence_on_sparse_data": _MINI_BATCH_SGD,
}
