#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU and CuPy:
#
#   bench/run_gpu.sh [extra xpgrad bench options, e.g. --quick]
#
# 1. writes nvidia-smi, CUDA, CuPy (and torch) versions to bench/results/gpu_env.txt;
# 2. runs the test suite on CuPy: pytest tests --backend cupy (log: gpu_tests.txt);
# 3. runs python -m xpgrad.bench --devices cuda:0 with the JSON and, when matplotlib is
#    installed, the plot (bench/results/gpu.json, gpu.png; the table goes to gpu_bench.txt too).
#
# Every step runs even if an earlier one fails; the exit status is non-zero
# if any failed. Set PYTHON to choose the interpreter (default: python).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RESULTS=bench/results
PY=${PYTHON:-python}
mkdir -p "$RESULTS"
status=0

{
    echo "## date"
    date -u
    echo
    echo "## nvidia-smi"
    nvidia-smi || echo "nvidia-smi failed or not found"
    echo
    echo "## nvcc"
    nvcc --version 2>/dev/null || echo "nvcc not on PATH"
    echo
    echo "## python, numpy, cupy, CUDA, torch"
    "$PY" - <<'PYEOF'
import platform
import sys

print("python", sys.version.split()[0], platform.platform())
import numpy

print("numpy", numpy.__version__)
try:
    import cupy

    rt = cupy.cuda.runtime
    print("cupy", cupy.__version__)
    print("CUDA runtime", rt.runtimeGetVersion(), "driver", rt.driverGetVersion())
    for i in range(rt.getDeviceCount()):
        p = rt.getDeviceProperties(i)
        print(f"cuda:{i}", p["name"].decode(), f"{p['totalGlobalMem'] / 2**30:.1f} GiB",
              f"compute capability {p['major']}.{p['minor']}")
    print()
    cupy.show_config()
except Exception as exc:
    print("cupy unavailable:", exc)
try:
    import torch

    print("torch", torch.__version__, "CUDA", torch.version.cuda,
          "cuda available", torch.cuda.is_available())
except Exception as exc:
    print("torch unavailable:", exc)
PYEOF
} > "$RESULTS/gpu_env.txt" 2>&1
echo "wrote $RESULTS/gpu_env.txt"

echo "== pytest tests --backend cupy"
"$PY" -m pytest tests --backend cupy -q 2>&1 | tee "$RESULTS/gpu_tests.txt" || status=1

echo "== python -m xpgrad.bench --devices cuda:0"
# --plot fails the run at once without matplotlib: ask for the plot only when it is there.
plot=()
if "$PY" -c "import matplotlib" 2>/dev/null; then
    plot=(--plot "$RESULTS/gpu.png")
else
    echo "matplotlib not installed: no gpu.png (pip install 'xpgrad[plot]')"
fi
# stdout (the table) is kept; the progress bar on stderr only goes to the terminal.
"$PY" -m xpgrad.bench --devices cuda:0 --json "$RESULTS/gpu.json" ${plot[@]+"${plot[@]}"} "$@" \
    | tee "$RESULTS/gpu_bench.txt" || status=1

exit "$status"
