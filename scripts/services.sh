#!/usr/bin/env bash
# Makes the services the test suites use answer on loopback: PostgreSQL (127.0.0.1:5432, user
# postgres, trust, database `test`), MariaDB (127.0.0.1:3306, root without password, database
# `test`) and Redis (127.0.0.1:6379). A service that already answers is left alone; one that is
# installed but down is started; one that is missing is installed from Debian's packages first
# (root only). Prints one line per service and exits 0 either way: the suites themselves skip loudly,
# or fail under REQUIRE_DATABASES=1, when a service is still missing.
#
#   bash scripts/services.sh            # all three
#   bash scripts/services.sh redis      # only the ones named
set -u
services=("$@")
[ ${#services[@]} -gt 0 ] || services=(postgres mariadb redis)

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 1; done; return 1; }
log() { echo "services: $*"; }

apt_updated=
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* (needs root and apt-get)"
    return 1
  fi
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  log "installing $* from Debian"
  # policy-rc.d: packages must not try to start services through an init system that is not there.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "$@" >/tmp/services-apt.log 2>&1 || { tail -5 /tmp/services-apt.log; return 1; }
}

start_postgres() {
  up 5432 && return 0
  command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ] || apt_install postgresql || return 1
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  [ -n "$version" ] || { log "no PostgreSQL cluster found"; return 1; }
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Loopback only, and only for tests: trust, as the suites connect without a password.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    { echo 'local all all trust'; echo 'host all all 127.0.0.1/32 trust'; echo 'host all all ::1/128 trust'; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>&1 | tail -2
  wait_up 5432 || return 1
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -qc 'CREATE DATABASE test'
}

start_mariadb() {
  up 3306 && return 0
  [ -x /usr/sbin/mariadbd ] || apt_install mariadb-server || return 1
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --bind-address=127.0.0.1
  wait_up 3306 || return 1
  # Debian's root logs in through the unix socket only; the suites connect over TCP without a password.
  mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
    CREATE DATABASE IF NOT EXISTS test;" 2>/dev/null || true
}

start_redis() {
  up 6379 && return 0
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server || return 1
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/tests.log >/dev/null
  wait_up 6379
}

declare -A ports=([postgres]=5432 [mariadb]=3306 [redis]=6379)
for s in "${services[@]}"; do
  [ -n "${ports[$s]:-}" ] || { log "unknown service '$s' (postgres, mariadb, redis)"; continue; }
  "start_$s"
  if up "${ports[$s]}"; then log "$s up on 127.0.0.1:${ports[$s]}"; else log "$s NOT reachable on 127.0.0.1:${ports[$s]}"; fi
done
exit 0
