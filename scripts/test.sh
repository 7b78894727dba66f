#!/usr/bin/env bash
# Installs what the tests need (into .venv) and runs the whole suite, then lint and types.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
. scripts/cjk-font.sh
# shellcheck disable=SC1091
. scripts/mosquitto.sh
python -m pip install -q --disable-pip-version-check -e '.[test]'

# -- PostgreSQL (issue 12): the store suites start a private server from the Debian package's
# initdb/pg_ctl (never a server already running). Installed here where missing, when root.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "scripts/test.sh: PostgreSQL's initdb not found; install the 'postgresql' package" >&2
        exit 1
    fi
fi

python -m pytest "$@"
ruff check hotline tests bench
mypy
