#!/usr/bin/env bash
# Installs the service (into .venv) and runs the main job: the service against the built-in
# PBX simulator with simulated traffic. Extra arguments go to `hotline demo`.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
. scripts/cjk-font.sh
# shellcheck disable=SC1091
. scripts/mosquitto.sh
python -m pip install -q --disable-pip-version-check -e .
exec hotline demo "$@"
