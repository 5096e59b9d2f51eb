#!/usr/bin/env bash
# bank-paybox beside eopayment 3.15 and the bare cryptography, in one run.
# Creates a Python virtual environment (outside the work tree), installs eopayment 3.15
# from PyPI, runs the Rust bench (release), then times eopayment and prints the table.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${PAYBOX_BENCH_VENV:-${TMPDIR:-/tmp}/bank-paybox-eopayment-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check 'eopayment==3.15'
cd "$root"
line="$(cargo bench --quiet -p bank-paybox --bench paybox -- --line | tail -n 1)"
"$venv/bin/python" "$here/eopayment_bench.py" "$line" "$root/crates/bank-paybox/src/sandbox/test_key.pub.pem"
