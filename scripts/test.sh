#!/usr/bin/env bash
# Installs what the tests need (into .venv) and runs the whole suite, then lint and types.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
. scripts/cjk-font.sh
# shellcheck disable=SC1091
. scripts/mosquitto.sh
python -m pip install -q --disable-pip-version-check -e '.[test]'
python -m pytest "$@"
ruff check hotline tests bench
mypy
