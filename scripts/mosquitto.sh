# Sourced by test.sh and demo.sh: make sure the Debian `mosquitto` broker is installed (the tests
# and the demo start their own on a free loopback port; none of them uses a running one).
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null
        # The package starts a system broker on 1883; ours never use it.
    else
        echo "mosquitto is not installed; as root: apt-get install mosquitto" >&2
    fi
fi
