#!/usr/bin/env bash
# npm run tryout: install what is missing (as .ci/run does), build, and bring up
# InspIRCd + Synapse + the bridge on loopback in ./tryout/. Ctrl-C stops all of it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SYNAPSE_VENV="${SYNAPSE_VENV:-$HOME/.cache/matrix-irc-bridge/synapse-venv}"
if [ -f /usr/include/node/node.h ]; then export npm_config_nodedir=/usr; fi

bash scripts/install-deps.sh

echo "==> npm run build"
npm run --silent build

# The try-out reuses the e2e harness: compile it with this launcher into tryout/.build
echo "==> compiling the try-out launcher"
rm -rf tryout/.build
npx tsc --outDir tryout/.build --rootDir . --module commonjs --moduleResolution node --target ES2022 \
  --strict --esModuleInterop --skipLibCheck --types node scripts/tryout.ts

node tryout/.build/scripts/tryout.js "$ROOT/tryout" &
LAUNCHER=$!

stop() {
  trap - INT TERM
  if kill -0 "$LAUNCHER" 2>/dev/null; then kill -TERM "$LAUNCHER" 2>/dev/null || true; fi
  # the launcher stops the servers by PID within about 30 s
  for _ in $(seq 1 60); do
    kill -0 "$LAUNCHER" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$LAUNCHER" 2>/dev/null; then kill -KILL "$LAUNCHER" 2>/dev/null || true; fi
}
trap stop INT TERM
set +e
wait "$LAUNCHER"
status=$?
set -e
stop
exit "$status"
