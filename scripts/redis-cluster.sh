#!/usr/bin/env bash
# A local Redis Cluster for the cluster suites and benchmarks: 3 masters and 3 replicas on loopback
# ports BASE..BASE+5 (default 7000..7005), data in a temporary folder, no persistence.
#
#   bash scripts/redis-cluster.sh start    # start (or reuse) and wait until cluster_state:ok
#   bash scripts/redis-cluster.sh status   # one line per node
#   bash scripts/redis-cluster.sh stop     # shut every node down and remove its folder
#
# REDIS_CLUSTER_BASE moves the ports. Installs redis-server from Debian when it is missing (root).
# Exits non-zero when the cluster cannot be brought up, so a caller that needs it can say why.
set -u
base=${REDIS_CLUSTER_BASE:-7000}
dir=${REDIS_CLUSTER_DIR:-/tmp/nestjs-lazy-session-redis-cluster-$base}
ports=$(seq "$base" $((base + 5)))
log() { echo "redis-cluster: $*"; }

up() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
state() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p'; }

ensure_binaries() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing redis-server from Debian"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/tmp/redis-cluster-apt.log 2>&1
  fi
  command -v redis-server >/dev/null 2>&1 || { log "redis-server is not installed"; return 1; }
}

# Every node answers cluster_state:ok and sees 3 masters with their slots and 3 replicas, and every
# replica's link to its master is up (a write waiting for a replica, WAIT 1, needs it).
healthy() {
  for p in $ports; do
    [ "$(state "$p")" = ok ] || return 1
    if redis-cli -h 127.0.0.1 -p "$p" info replication 2>/dev/null | grep -q '^role:slave'; then
      redis-cli -h 127.0.0.1 -p "$p" info replication | grep -q '^master_link_status:up' || return 1
    fi
  done
  local nodes
  nodes=$(redis-cli -h 127.0.0.1 -p "$base" cluster nodes 2>/dev/null)
  [ "$(grep -c master <<<"$nodes")" -ge 3 ] && [ "$(grep -c slave <<<"$nodes")" -ge 3 ]
}

start() {
  ensure_binaries || return 1
  if healthy; then log "already up on 127.0.0.1:$base-$((base + 5))"; return 0; fi
  mkdir -p "$dir"
  for p in $ports; do
    up "$p" && continue
    mkdir -p "$dir/$p"
    # cluster-node-timeout 2 s: a killed master is failed over within seconds in the failover test.
    # cluster-require-full-coverage no: while one shard is down the others keep serving their slots
    # (the default answers CLUSTERDOWN for every slot as soon as any is uncovered). DEBUG (SLEEP) from
    # loopback only: the failover test stalls a replica with it.
    redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$dir/$p" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no --enable-debug-command local \
      --save "" --appendonly no --logfile "$dir/$p/redis.log" >/dev/null || { log "node $p did not start"; return 1; }
  done
  for p in $ports; do
    for _ in $(seq 1 50); do up "$p" && break; sleep 0.1; done
    up "$p" || { log "node $p does not answer"; return 1; }
  done
  if [ "$(redis-cli -h 127.0.0.1 -p "$base" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" != 6 ]; then
    local addrs=()
    for p in $ports; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || { tail -5 "$dir/create.log"; return 1; }
  fi
  for _ in $(seq 1 150); do
    if healthy; then log "up on 127.0.0.1:$base-$((base + 5)) (3 masters, 3 replicas)"; return 0; fi
    sleep 0.2
  done
  log "cluster did not reach cluster_state:ok"
  status
  return 1
}

stop() {
  for p in $ports; do redis-cli -h 127.0.0.1 -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  for p in $ports; do for _ in $(seq 1 50); do up "$p" || break; sleep 0.1; done; done
  rm -rf "$dir"
  log "stopped"
}

status() {
  for p in $ports; do
    if up "$p"; then
      role=$(redis-cli -h 127.0.0.1 -p "$p" role 2>/dev/null | head -1)
      log "127.0.0.1:$p $role, cluster_state:$(state "$p")"
    else
      log "127.0.0.1:$p down"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
