#!/usr/bin/env bash
# Installs what the end-to-end tests and the try-out need, skipping what is already there:
#   - Debian packages inspircd, atheme-services, ngircd, openssl (and a C++ toolchain for better-sqlite3)
#   - a Synapse venv at $SYNAPSE_VENV (default ~/.cache/matrix-irc-bridge/synapse-venv)
#   - node_modules (npm ci): always with --npm-ci, otherwise only when node_modules is missing
# Used by .ci/run and scripts/tryout.sh. Source it or run it; it prints the time of each step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NPM_MODE=if-missing
for arg in "$@"; do
  case "$arg" in
    --npm-ci) NPM_MODE=always ;;
    --no-npm) NPM_MODE=never ;;
    *) echo "install-deps: unknown argument $arg" >&2; exit 2 ;;
  esac
done

export SYNAPSE_VENV="${SYNAPSE_VENV:-$HOME/.cache/matrix-irc-bridge/synapse-venv}"
# A pinned, tested Synapse; override with SYNAPSE_PIP_SPEC=matrix-synapse==X.Y.Z
SYNAPSE_PIP_SPEC="${SYNAPSE_PIP_SPEC:-matrix-synapse==1.163.2}"

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-deps: not root and no sudo; install Debian packages by hand if they are missing" >&2
  fi
fi

timed() {
  local name="$1"; shift
  local start=$SECONDS
  echo "==> $name"
  "$@"
  echo "<== $name: $((SECONDS - start)) s"
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

install_system_packages() {
  local missing=()
  for pkg in inspircd atheme-services ngircd; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  # better-sqlite3 compiles from source when no prebuilt binary can be fetched
  command -v make >/dev/null 2>&1 || missing+=(make)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  # specs make TLS certificates with the openssl command
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt_install "${missing[@]}"
  else
    echo "Debian packages already installed"
  fi
  # the packaged services are not wanted: the tests start their own servers
  for svc in inspircd atheme-services ngircd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      "${SUDO[@]}" systemctl stop "$svc" || true
    fi
  done
}

install_synapse() {
  if [ -x "$SYNAPSE_VENV/bin/python" ] && "$SYNAPSE_VENV/bin/python" -c 'import synapse' 2>/dev/null; then
    echo "Synapse venv ready at $SYNAPSE_VENV ($("$SYNAPSE_VENV/bin/python" -c 'import synapse; print(synapse.__version__)'))"
    return
  fi
  echo "creating the Synapse venv at $SYNAPSE_VENV ($SYNAPSE_PIP_SPEC)"
  rm -rf "$SYNAPSE_VENV"
  mkdir -p "$(dirname "$SYNAPSE_VENV")"
  if ! python3 -m venv "$SYNAPSE_VENV"; then
    # Debian's python3 needs python3-venv for ensurepip
    rm -rf "$SYNAPSE_VENV"
    apt_install python3-venv
    python3 -m venv "$SYNAPSE_VENV"
  fi
  "$SYNAPSE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$SYNAPSE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$SYNAPSE_PIP_SPEC"
  "$SYNAPSE_VENV/bin/python" -c 'import synapse; print("installed Synapse", synapse.__version__)'
}

install_node_modules() {
  # build native modules (better-sqlite3) against the installed Node headers instead of downloading them
  if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi
  cd "$ROOT"
  if [ "$NPM_MODE" = always ] || { [ "$NPM_MODE" = if-missing ] && [ ! -d node_modules ]; }; then
    npm ci --no-audit --no-fund
  else
    echo "node_modules present, npm ci skipped"
  fi
}

timed "Debian packages" install_system_packages
timed "Synapse venv" install_synapse
if [ "$NPM_MODE" != never ]; then timed "npm ci" install_node_modules; fi
