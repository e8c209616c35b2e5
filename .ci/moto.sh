#!/usr/bin/env bash
# Starts a moto S3-compatible server in the background on 127.0.0.1 and prints its URL on stdout.
#
# Usage: .ci/moto.sh [PORT]   (no PORT, or 0: a free port is chosen)
# Installs moto[server] with pip when it is missing.
# With MOTO_PARENT_PID set, the server is stopped once that process exits (tests use this so
# that a server they start does not outlive them).
set -euo pipefail

port="${1:-0}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import moto.server, flask' >/dev/null 2>&1; then
  echo "moto.sh: installing moto[server] with pip" >&2
  "$python" -m pip install --quiet --disable-pip-version-check 'moto[server]' >&2
fi

if [ "$port" = "0" ]; then
  port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

log="${TMPDIR:-/tmp}/moto-server-$port.log"
nohup "$python" -m moto.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
pid=$!

if [ -n "${MOTO_PARENT_PID:-}" ]; then
  (
    while kill -0 "$MOTO_PARENT_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
  ) >/dev/null 2>&1 </dev/null &
fi

for _ in $(seq 1 100); do
  if "$python" -c "import socket, sys; socket.create_connection(('127.0.0.1', $port), 0.2)" >/dev/null 2>&1; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "moto.sh: moto_server exited; log follows" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "moto.sh: moto_server did not start listening on port $port within 20 s (log: $log)" >&2
exit 1
