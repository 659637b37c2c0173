#!/usr/bin/env bash
# Private PostgreSQL, MariaDB and fauxqs (S3/SQS/SNS) instances for the test suite.
#
#   scripts/services.sh start   start what is not running yet (installs missing Debian packages)
#   scripts/services.sh stop    stop the instances recorded in .services/*.pid
#   scripts/services.sh env     print the export lines the tests read
#
# A service whose variable (DJGC_TEST_POSTGRES_URL, DJGC_TEST_MYSQL_URL,
# DJGC_TEST_AWS_ENDPOINT) is already set is not started: the given server is used.
# With DJGC_SERVICES_AUTOSTOP=1, `start` marks what it starts so that
# `stop --autostarted` (used by scripts/with-services.sh) stops only those.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=$ROOT/.services
# Preferred ports; when one is taken by something else, the next free one is used and
# recorded in .services/<service>.port for `env`.
PG_PORT=55432
MY_PORT=53306
S3_PORT=54566
READY_TIMEOUT=${DJGC_SERVICES_TIMEOUT:-60}
FAUXQS_APP=$ROOT/node_modules/fauxqs/dist/app.js

say() { echo "services: $*" >&2; }
die() { echo "services: error: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start|stop|env" >&2
  exit 2
}

# --- processes -------------------------------------------------------------

# True if $1 is a live (non-zombie) process whose command line contains $2.
is_ours() {
  local pid=$1 needle=$2 state
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null || true)
  [[ -n $state && $state != Z && $state != X ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$needle"
}

# PID recorded for service $1 if that process is still ours (needle $2), else nothing.
running_pid() {
  local file=$STATE/$1.pid pid
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  if is_ours "$pid" "$2"; then echo "$pid"; else rm -f "$file"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The port service $1 uses: the recorded one, else the first free one from $2 on.
recorded_port() {
  local file=$STATE/$1.port
  if [[ -f $file ]]; then cat "$file"; else echo "$2"; fi
}

choose_port() {
  local port=$2 i
  for ((i = 0; i < 100; i++)); do
    if ! port_open "$port"; then
      echo "$port" >"$STATE/$1.port"
      echo "$port"
      return
    fi
    port=$((port + 1))
  done
  die "no free port for $1 in $2-$((port - 1)); set DJGC_TEST_* to servers of your own"
}

stop_pid() {
  local name=$1 pid=$2 signal=$3 i
  kill -s "$signal" "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    is_ours "$pid" "" || return 0
    sleep 0.1
  done
  say "$name (pid $pid) did not stop within 30 s; killing it"
  kill -s KILL "$pid" 2>/dev/null || true
}

# Wait until command "$@" succeeds, failing early if process $2 died.
wait_ready() {
  local name=$1 pid=$2 needle=$3 log=$4 deadline=$((SECONDS + READY_TIMEOUT))
  shift 4
  until "$@" >/dev/null 2>&1; do
    if ! is_ours "$pid" "$needle"; then
      tail -n 20 "$log" >&2 || true
      die "$name exited during start-up; see $log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$log" >&2 || true
      die "$name did not accept connections within ${READY_TIMEOUT} s; see $log"
    fi
    sleep 0.1
  done
}

# Command prefix running a program as system user $1 when we are root (the servers
# refuse to run as root). setpriv execs, so a backgrounded command's $! is the server.
as_user() {
  if ((EUID == 0)); then AS=(setpriv --reuid="$1" --regid="$1" --init-groups --); else AS=(); fi
}

own_dir() {
  mkdir -p "$2"
  if ((EUID == 0)); then chown "$1:" "$2"; fi
}

# --- packages --------------------------------------------------------------

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]] && echo "$dir"
}

mariadbd_bin() {
  command -v mariadbd 2>/dev/null || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; }
}

install_packages() {
  local sudo=() policy=/usr/sbin/policy-rc.d added_policy=
  if ((EUID != 0)); then
    command -v sudo >/dev/null ||
      die "missing Debian packages: $*; install them (apt-get install $*) or run this script as root"
    sudo=(sudo)
  fi
  say "installing Debian packages: $*"
  # The packages would start their own default servers; ours run on private ports instead.
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    added_policy=1
  fi
  local rc=0
  {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  } </dev/null >&2 || rc=$?
  if [[ -n $added_policy ]]; then "${sudo[@]}" rm -f "$policy"; fi
  ((rc == 0)) || die "apt-get install $* failed (exit $rc)"
}

ensure_packages() {
  local need=()
  if [[ -z ${DJGC_TEST_POSTGRES_URL:-} ]] && ! pg_bindir >/dev/null; then need+=(postgresql); fi
  command -v psql >/dev/null || need+=(postgresql-client)
  if [[ -z ${DJGC_TEST_MYSQL_URL:-} ]] && { ! mariadbd_bin >/dev/null || ! command -v mariadb-install-db >/dev/null; }; then
    need+=(mariadb-server)
  fi
  command -v mariadb >/dev/null || command -v mysql >/dev/null || need+=(mariadb-client)
  if ((${#need[@]})); then install_packages "${need[@]}"; fi
}

# Where the database servers keep data and logs: .services/, unless the service users
# cannot reach it (e.g. a clone inside /root), then a private directory under /var/tmp.
data_root() {
  if ((EUID != 0)); then echo "$STATE"; return; fi
  local user ok=1
  for user in postgres mysql; do
    id "$user" >/dev/null 2>&1 || continue
    setpriv --reuid="$user" --regid="$user" --init-groups -- test -x "$STATE" || ok=
  done
  if [[ -n $ok ]]; then
    echo "$STATE"
  else
    local dir
    dir=/var/tmp/djgc-services-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
    mkdir -p "$dir" && chmod 755 "$dir"
    echo "$dir"
  fi
}

mark_started() {
  if [[ ${DJGC_SERVICES_AUTOSTOP:-} == 1 ]]; then touch "$STATE/$1.autostop"; else rm -f "$STATE/$1.autostop"; fi
}

# --- PostgreSQL ------------------------------------------------------------

start_postgres() {
  local data=$DATA/postgres log=$DATA/postgres.log bin pid
  if [[ -n ${DJGC_TEST_POSTGRES_URL:-} ]]; then
    say "PostgreSQL: using DJGC_TEST_POSTGRES_URL"
    return
  fi
  pid=$(running_pid postgres "$data")
  if [[ -n $pid ]]; then
    say "PostgreSQL already running (pid $pid, port $(recorded_port postgres "$PG_PORT"))"
    [[ ${DJGC_SERVICES_AUTOSTOP:-} == 1 ]] || rm -f "$STATE/postgres.autostop"
    return
  fi
  PG_PORT=$(choose_port postgres "$PG_PORT")
  bin=$(pg_bindir) || die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"

  if [[ ! -f $data/.djgc-initialized ]]; then
    rm -rf "$data"
    own_dir postgres "$data"
    chmod 700 "$data"
    : >"$log"
    if ((EUID == 0)); then chown postgres: "$log"; fi
    as_user postgres
    "${AS[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 --no-sync >>"$log" 2>&1 || die "initdb failed; see $log"
    cat >>"$data/postgresql.conf" <<EOF

# private test instance (the port is given at start)
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    touch "$data/.djgc-initialized"
  fi
  [[ -f $log ]] || { : >"$log"; if ((EUID == 0)); then chown postgres: "$log"; fi; }

  as_user postgres
  "${AS[@]}" "$bin/pg_ctl" -D "$data" -l "$log" -o "-p $PG_PORT" -w -t "$READY_TIMEOUT" start >/dev/null 9>&- ||
    { tail -n 20 "$log" >&2 || true; die "PostgreSQL did not start; see $log"; }
  pid=$(head -n 1 "$data/postmaster.pid")
  echo "$pid" >"$STATE/postgres.pid"
  mark_started postgres
  wait_ready PostgreSQL "$pid" "$data" "$log" "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres
  say "PostgreSQL started (pid $pid, port $PG_PORT)"
}

stop_postgres() {
  local pid
  pid=$(running_pid postgres "$DATA/postgres")
  # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients to leave).
  if [[ -n $pid ]]; then stop_pid PostgreSQL "$pid" INT && say "PostgreSQL stopped (pid $pid)"; fi
  rm -f "$STATE/postgres.pid" "$STATE/postgres.autostop" "$STATE/postgres.port"
}

# --- MariaDB ---------------------------------------------------------------

start_mariadb() {
  local data=$DATA/mariadb log=$DATA/mariadb.log socket=$DATA/mariadb/mariadbd.sock bin pid
  if [[ -n ${DJGC_TEST_MYSQL_URL:-} ]]; then
    say "MariaDB: using DJGC_TEST_MYSQL_URL"
    return
  fi
  pid=$(running_pid mariadb "--datadir=$data")
  if [[ -n $pid ]]; then
    say "MariaDB already running (pid $pid, port $(recorded_port mariadb "$MY_PORT"))"
    [[ ${DJGC_SERVICES_AUTOSTOP:-} == 1 ]] || rm -f "$STATE/mariadb.autostop"
    return
  fi
  MY_PORT=$(choose_port mariadb "$MY_PORT")
  bin=$(mariadbd_bin) || die "mariadbd not found (Debian package mariadb-server)"
  # A unix socket path is limited to 107 bytes.
  ((${#socket} < 100)) || socket=/tmp/djgc-mariadb-$MY_PORT.sock

  local fresh=
  if [[ ! -f $data/.djgc-initialized ]]; then
    rm -rf "$data"
    own_dir mysql "$data"
    as_user mysql
    "${AS[@]}" mariadb-install-db --no-defaults --datadir="$data" --auth-root-authentication-method=normal \
      --skip-test-db --skip-name-resolve >>"$log" 2>&1 || die "mariadb-install-db failed; see $log"
    fresh=1
  fi

  as_user mysql
  setsid "${AS[@]}" "$bin" --no-defaults --datadir="$data" --port="$MY_PORT" --socket="$socket" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$data/mariadbd.pid" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --innodb-flush-log-at-trx-commit=0 --skip-log-bin </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$STATE/mariadb.pid"
  mark_started mariadb
  wait_ready MariaDB "$pid" "--datadir=$data" "$log" \
    mariadb-admin --no-defaults --protocol=socket --socket="$socket" -u root ping
  if [[ -n $fresh ]]; then
    # root without a password over TCP from 127.0.0.1 (the socket login works already).
    mariadb --no-defaults --protocol=socket --socket="$socket" -u root -e "
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
      GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
      FLUSH PRIVILEGES;" >>"$log" 2>&1 || die "could not grant root access over TCP; see $log"
    touch "$data/.djgc-initialized"
  fi
  wait_ready MariaDB "$pid" "--datadir=$data" "$log" \
    mariadb-admin --no-defaults --protocol=tcp -h 127.0.0.1 -P "$MY_PORT" -u root ping
  say "MariaDB started (pid $pid, port $MY_PORT)"
}

stop_mariadb() {
  local pid
  pid=$(running_pid mariadb "--datadir=$DATA/mariadb")
  if [[ -n $pid ]]; then stop_pid MariaDB "$pid" TERM && say "MariaDB stopped (pid $pid)"; fi
  rm -f "$STATE/mariadb.pid" "$STATE/mariadb.autostop" "$STATE/mariadb.port"
}

# --- fauxqs ----------------------------------------------------------------

start_fauxqs() {
  local log=$STATE/fauxqs.log pid
  if [[ -n ${DJGC_TEST_AWS_ENDPOINT:-} ]]; then
    say "fauxqs: using DJGC_TEST_AWS_ENDPOINT"
    return
  fi
  pid=$(running_pid fauxqs "$FAUXQS_APP")
  if [[ -n $pid ]]; then
    say "fauxqs already running (pid $pid, port $(recorded_port fauxqs "$S3_PORT"))"
    [[ ${DJGC_SERVICES_AUTOSTOP:-} == 1 ]] || rm -f "$STATE/fauxqs.autostop"
    return
  fi
  S3_PORT=$(choose_port fauxqs "$S3_PORT")
  [[ -f $FAUXQS_APP ]] || die "$FAUXQS_APP not found: run npm ci first"
  command -v node >/dev/null || die "node not found (Node 20 is required)"

  # Started through its library API: the fauxqs CLI forces request logging on, which
  # would grow the log with every request. It listens on 0.0.0.0 whatever it is told;
  # clients use 127.0.0.1 only.
  setsid node --input-type=module --eval '
    const [app, port] = process.argv.slice(1);
    const { startFauxqs } = await import(app);
    await startFauxqs({ port: Number(port), logger: false });
    console.log(`fauxqs listening on port ${port}`);' "$FAUXQS_APP" "$S3_PORT" </dev/null >>"$log" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$STATE/fauxqs.pid"
  mark_started fauxqs
  wait_ready fauxqs "$pid" "$FAUXQS_APP" "$log" port_open "$S3_PORT"
  say "fauxqs started (pid $pid, port $S3_PORT)"
}

stop_fauxqs() {
  local pid
  pid=$(running_pid fauxqs "$FAUXQS_APP")
  if [[ -n $pid ]]; then stop_pid fauxqs "$pid" TERM && say "fauxqs stopped (pid $pid)"; fi
  rm -f "$STATE/fauxqs.pid" "$STATE/fauxqs.autostop" "$STATE/fauxqs.port"
}

# --- commands --------------------------------------------------------------

print_env() {
  local pg my s3
  pg=$(recorded_port postgres "$PG_PORT")
  my=$(recorded_port mariadb "$MY_PORT")
  s3=$(recorded_port fauxqs "$S3_PORT")
  printf 'export DJGC_TEST_POSTGRES_URL=%q\n' "${DJGC_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:$pg/postgres}"
  printf 'export DJGC_TEST_MYSQL_URL=%q\n' "${DJGC_TEST_MYSQL_URL:-mysql://root@127.0.0.1:$my}"
  printf 'export DJGC_TEST_AWS_ENDPOINT=%q\n' "${DJGC_TEST_AWS_ENDPOINT:-http://127.0.0.1:$s3}"
}

lock_state() {
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  exec 9>>"$STATE/start.lock"
  flock 9
}

cmd=${1:-}
case $cmd in
  start)
    lock_state
    cd /  # the servers must not inherit a working directory their users cannot enter
    ensure_packages
    DATA=$(data_root)
    start_postgres
    start_mariadb
    start_fauxqs
    ;;
  stop)
    lock_state
    DATA=$(data_root)
    for service in postgres mariadb fauxqs; do
      if [[ ${2:-} == --autostarted && ! -f $STATE/$service.autostop ]]; then continue; fi
      "stop_$service"
    done
    ;;
  env) print_env ;;
  *) usage ;;
esac
