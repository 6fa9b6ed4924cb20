#!/usr/bin/env bash
# A three-node sluice cluster on loopback: three NATS servers routed into one cluster (from the
# repository's nats.conf, on ports the servers pick and report), and three sluice nodes (a, b, c),
# each connected to all three servers, sharing node.json. Ctrl-C stops everything.
#
#   bash examples/cluster/start.sh                 # nodes on 8081 8082 8083, demo upstream on 9001
#   UPSTREAM_URL=http://127.0.0.1:7000 SLUICE_PORTS="0 0 0" bash examples/cluster/start.sh
#
# Without UPSTREAM_URL, node a serves a small demo upstream on 127.0.0.1:9001 (sluice start --demo).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"
bash "$root/scripts/ensure-debian.sh" --why "examples/cluster" nats-server || exit 1
read -r -a ports <<< "${SLUICE_PORTS:-8081 8082 8083}"
work="$(mktemp -d "${TMPDIR:-/tmp}/sluice-cluster-XXXXXX")"
pids=()

stop() {
  trap - INT TERM EXIT
  # The servers are started inside $(...) subshells, so their pids come back through a file.
  [ -f "$work/nats.pids" ] && mapfile -t -O "${#pids[@]}" pids < "$work/nats.pids"
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
  exit 0
}
trap stop INT TERM EXIT

# The value of one list in a ports file: {"nats":["nats://127.0.0.1:4222"],"cluster":[…],…}
port_of() { grep -o "\"$2\":\[\"[a-z]*://[0-9.]*:[0-9]*" "$1" | grep -o '[0-9]*$'; }

# Starts one server on ports it picks, routed to $2 (if any); prints its ports file once written.
start_nats() {
  NATS_NAME="$1" NATS_PORT=-1 NATS_HTTP_PORT=-1 NATS_CLUSTER_PORT=-1 \
    nats-server -c "$root/nats.conf" --ports_file_dir "$work" ${2:+--routes "$2"} >"$work/$1.log" 2>&1 &
  local pid=$!
  echo "$pid" >> "$work/nats.pids"
  for _ in $(seq 100); do
    [ -s "$work/nats-server_$pid.ports" ] && { echo "$work/nats-server_$pid.ports"; return 0; }
    sleep 0.05
  done
  echo "nats-server $1 did not start: $(cat "$work/$1.log")" >&2
  return 1
}

# Waits until a server's monitoring endpoint shows its routes to the other two.
wait_routes() {
  for _ in $(seq 100); do
    exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET /routez HTTP/1.0\r\n\r\n' >&3 && grep -q '"num_routes": 2' <&3 && { exec 3<&-; return 0; }
    exec 3<&- 2>/dev/null
    sleep 0.05
  done
  echo "NATS servers did not form a cluster" >&2
  return 1
}

first=$(start_nats n1) || exit 1
route="nats://127.0.0.1:$(port_of "$first" cluster)"
files=("$first" "$(start_nats n2 "$route")" "$(start_nats n3 "$route")") || exit 1
urls=()
for f in "${files[@]}"; do
  wait_routes "$(port_of "$f" monitoring)" || exit 1
  urls+=("nats://127.0.0.1:$(port_of "$f" nats)")
done
nats=$(IFS=,; echo "${urls[*]}")
echo "NATS cluster: $nats"

ids=(a b c)
for i in 0 1 2; do
  demo=()
  [ "$i" = 0 ] && [ -z "${UPSTREAM_URL:-}" ] && demo=(--demo)
  node "$root/bin/sluice.js" start --config "$here/node.json" --node-id "${ids[$i]}" --port "${ports[$i]}" --nats "$nats" "${demo[@]}" &
  pids+=($!)
done
wait
