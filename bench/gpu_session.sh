#!/usr/bin/env bash
# One prepared call on a lent GPU machine (the `device` tool of this workplace, or any CUDA
# machine with CuPy): the CUDA tests, then the device benchmark; logs under $OUT.
#   bash bench/gpu_session.sh [tests|graphs|bench|fashion|all] [extra args for the fashion run]
# graphs: 1568-1024-10 at batch 128 and 1024 with solves replayed from CUDA graphs and without
# (the ratio between them, measured in the same run).
# The fashion stage trains test_circuit/fashion_mnist.py --device cuda (needs the IDX files:
# --data DIR, or the dataset-fashion-mnist package).
set -o pipefail
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 EBANA_PROGRESS=0 MPLBACKEND=Agg
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
stage=${1:-all}
shift || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import cupy, numpy, numba; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'numba', numba.__version__)" \
    | tee -a "$OUT/gpu.txt"
if [[ $stage == tests || $stage == all ]]; then
    files=(); for f in tests/test_cuda.py tests/test_device_solver.py tests/test_device_training.py; do
        [[ -e $f ]] && files+=("$f"); done
    python3 -m pytest -q -p no:cacheprovider -rs "${files[@]}" 2>&1 | tee "$OUT/tests.log" | tail -n 30
fi
if [[ $stage == graphs || $stage == all ]]; then
    python3 bench/device_scale.py --device cuda --hidden 1024 --batches 128,1024 --graphs both 2>&1 \
        | tee "$OUT/graphs.log"
fi
if [[ $stage == bench || $stage == all ]]; then
    python3 bench/scale.py --device cuda 2>&1 | tee "$OUT/bench.log"
fi
if [[ $stage == fashion || $stage == all ]]; then
    start=$SECONDS
    python3 test_circuit/fashion_mnist.py --device cuda --ngspice-check 0 --out "$OUT/fashion" "$@" 2>&1 \
        | tee "$OUT/fashion.log" | tail -n 45
    echo "fashion end to end: $((SECONDS - start)) s" | tee -a "$OUT/fashion.log"
fi
