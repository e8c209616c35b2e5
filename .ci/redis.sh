#!/usr/bin/env bash
# Starts a throwaway redis-server in the background on 127.0.0.1 (no persistence) and prints its
# URL (redis://127.0.0.1:PORT) on stdout.
#
# Usage: .ci/redis.sh [PORT]   (no PORT, or 0: a free port is chosen)
# Needs redis-server (Debian: apt-get install -y redis-server).
# With REDIS_PARENT_PID set, the server is stopped once that process exits (tests use this so
# that a server they start does not outlive them).
set -euo pipefail

port="${1:-0}"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis.sh: redis-server not found (Debian: apt-get install -y redis-server)" >&2
  exit 1
fi

if [ "$port" = "0" ]; then
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi

log="${TMPDIR:-/tmp}/redis-server-$port.log"
nohup redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
  --daemonize no --logfile "$log" >/dev/null 2>&1 </dev/null &
pid=$!

if [ -n "${REDIS_PARENT_PID:-}" ]; then
  (
    while kill -0 "$REDIS_PARENT_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
    kill "$pid" 2>/dev/null || true
  ) >/dev/null 2>&1 </dev/null &
fi

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "redis://127.0.0.1:$port"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "redis.sh: redis-server exited; log follows" >&2
    cat "$log" >&2 || true
    exit 1
  fi
  sleep 0.1
done
echo "redis.sh: redis-server did not start listening on port $port within 10 s (log: $log)" >&2
exit 1
