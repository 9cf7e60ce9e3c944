#!/usr/bin/env bash
# One set-up recipe for every place ebana runs: `make`, CI and the Dockerfile.
# 1. Ngspice and its shared library from the distribution (when missing).
# 2. A virtual environment (VENV, default .venv) with ebana and its test extras.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

have_libngspice() {
    ldconfig -p 2>/dev/null | grep -q 'libngspice\.so ' || [ -e /usr/lib/x86_64-linux-gnu/libngspice.so ] || [ -e /usr/lib/aarch64-linux-gnu/libngspice.so ]
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: ebana needs Python 3.11 or newer; $PYTHON is $("$PYTHON" --version 2>&1 || echo missing)." >&2
    echo "       Debian 12 and Ubuntu 24.04 have it (apt-get install -y python3), or run PYTHON=python3.12 make ..." >&2
    exit 1
fi

# Debian and Ubuntu ship venv/ensurepip in a separate package.
have_venv() { [ "${EBANA_SYSTEM_PYTHON:-0}" = "1" ] || "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1; }

missing=()
command -v ngspice >/dev/null 2>&1 && have_libngspice || missing+=(ngspice libngspice0 libngspice0-dev)
# the venv package of the interpreter in use, e.g. python3.11-venv
have_venv || missing+=("python$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')-venv")
# Fashion-MNIST's four IDX files, for test_circuit/fashion_mnist.py (a Debian 12 package)
[ -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "setup: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${EBANA_SYSTEM_PYTHON:-0}" = "1" ]; then
    # Docker: the image's Python is the environment.
    "$PYTHON" -m pip install -q --no-cache-dir -e ".[test]"
else
    if [ ! -x "$VENV/bin/python" ]; then
        echo "setup: creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e ".[test]"
fi
echo "setup: ready (ngspice $(ngspice --version 2>/dev/null | grep -o 'ngspice-[0-9]*' | head -1))"
