#!/usr/bin/env bash
# Every check that needs a machine with many cores and a GPU, in one run of under
# 10 minutes, for a session that is lent one. From the repository root:
#
#     OUT=/tmp/device bash benchmarks/device_checks.sh
#
# (the device tool sets OUT itself). Each step has a time limit and writes its output to
# a file of its own under $OUT; one that fails or runs out of time does not stop the
# others, and $OUT/summary.txt lists each step's exit status and seconds. The steps go
# in order of what is least known: the epoch's scaling to all cores (issue 15's ≥ 4x
# from 2 to 16 threads), the CUDA kernels on a real GPU, the cold start compiled by
# as many processes as there are cores, then the kernels alone at 2 threads and at
# all of them. The datasets need not be there: bench_threads.py runs on
# random data of coil20's shape unless SKLEARN_SET_DATA names a directory holding it.
set -u
OUT=${OUT:-/tmp/device_checks}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-.}

step() {  # step NAME SECONDS COMMAND...
    local name=$1 seconds=$2
    shift 2
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    timeout "$seconds" "$@" >"$OUT/$name.txt" 2>&1
    echo "   exit $? after $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

step machine 20 bash -c 'nproc; lscpu | grep -E "Model name|^CPU\(s\)|L2|L3"; nvidia-smi;
    python -c "import numba; print(\"numba\", numba.__version__, numba.config.NUMBA_NUM_THREADS, \"threads\")"'
if [ -n "${SKLEARN_SET_DATA:-}" ]; then
    step threads 150 python benchmarks/bench_threads.py
else
    step threads 150 python benchmarks/bench_threads.py --synthetic
fi
# the kernels against the CPU's on the GPU itself (tests/test_cuda.py would run them
# under the simulator), and the compile and validation tests
step gpu_tests 140 python -m pytest -q -p no:cacheprovider tests/test_cuda_simulated.py \
    tests/test_cuda.py -k "not under_the_simulator"
step gpu 120 python benchmarks/bench_gpu.py
step start 45 python benchmarks/bench_start.py --repeats 1
step kernels_2_threads 50 env NUMBA_NUM_THREADS=2 python benchmarks/bench_kernels.py
step kernels_all_threads 50 python benchmarks/bench_kernels.py
