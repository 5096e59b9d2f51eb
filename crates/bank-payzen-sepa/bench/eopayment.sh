#!/usr/bin/env bash
# bank-payzen-sepa beside eopayment 3.15 and the bare HMAC-SHA-256, in one run.
# Creates a Python virtual environment (outside the work tree), installs eopayment 3.15
# from PyPI, runs the Rust bench (release), then times eopayment and prints the table.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${PAYZEN_BENCH_VENV:-${TMPDIR:-/tmp}/bank-payzen-eopayment-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check 'eopayment==3.15'
cd "$root"
line="$(cargo bench --quiet -p bank-payzen-sepa --bench payzen -- --line | tail -n 1)"
"$venv/bin/python" "$here/eopayment_bench.py" "$line"
