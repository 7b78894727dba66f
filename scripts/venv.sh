# Sourced by the other scripts: make (once) and activate the project's virtualenv in .venv.
# Works on a fresh Debian/Ubuntu machine that has only Python 3.11+.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv >/dev/null 2>&1; then
        # Debian splits venv out of python3; install it when we may.
        rm -rf .venv
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        fi
        "$PY" -m venv .venv
    fi
fi
# shellcheck disable=SC1091
. .venv/bin/activate
