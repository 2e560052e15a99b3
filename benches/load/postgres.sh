#!/bin/bash
# PostgreSQL against SQLite, one collector and two: sustained stored messages/s, what was lost,
# and CPU per message, on the release binary (cargo build --release), in a temporary directory
# under TMPDIR. Needs PostgreSQL's initdb and postgres (Debian: /usr/lib/postgresql/*/bin), a
# `postgres` user, runuser, curl and bc; run as root (initdb runs as `postgres`).
#
#   postgres.sh [SCENARIOS]   default "postgresql:1 postgresql:2 sqlite:1 sqlite:2"
#
# A private PostgreSQL (initdb into the temporary directory, a free loopback port, the server's
# defaults: fsync and synchronous_commit on) serves every PostgreSQL scenario, each on a fresh
# database. A scenario starts N `mutt run` collectors (collector_id c1, c2; PostgreSQL: one shared
# database; SQLite: a file each) and feeds each from its own `mutt load` at RATE (50,000) lines/s
# for RUN_SECONDS (30). From WARM (5) s in until 2 s before the send ends it samples each collector's
# /metrics and /proc/PID/stat, the postgres processes' CPU and the host's idle share, and prints:
# stored/s (all collectors together, over that window), each collector's share, daemon CPU µs per
# stored message (utime+stime), PostgreSQL's CPU µs per stored message, the host's busy share;
# then, once every collector has stored what it accepted (or 300 s passed), what was sent, lost
# (sent and not stored: kernel receive-buffer drops included) and how long the drain took.
# Offering more than a collector stores shows its capacity: the WAL holds the rest (nothing is
# lost for it) and the drain time grows. The ratio two/one is printed per backend at the end.
# batch_write_size is 1000 (config/mutt_config.yaml ships 100), reverse DNS off, no rules.
set -euo pipefail
M=${M:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/mutt}
RATE=${RATE:-50000} SECONDS_=${RUN_SECONDS:-30} WARM=${WARM:-5}
SCENARIOS=${1:-"postgresql:1 postgresql:2 sqlite:1 sqlite:2"}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
D=$(mktemp -d)
PIDS=() PGPID=
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_postgres 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
TICK=$(getconf CLK_TCK)

free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        ss -Htuln "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# cpu_ticks PID...: utime+stime of those processes (ones gone are skipped).
cpu_ticks() {
    local t=0 p
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# pg_cpu: ticks of the whole PostgreSQL server: the postmaster, the children it has reaped
# (backends that ended) and the live ones. 0 when no server runs.
pg_cpu() {
    [ -n "$PGPID" ] && [ -r "$D/pg/postmaster.pid" ] || { echo 0; return; }
    local pm t
    pm=$(head -1 "$D/pg/postmaster.pid")
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    echo $((t + $(cpu_ticks $(pgrep -P "$pm" || true))))
}

stop_postgres() {
    [ -n "$PGPID" ] || return 0
    kill -INT "$(head -1 "$D/pg/postmaster.pid")"
    wait "$PGPID" 2>/dev/null || true
    PGPID=
}

# host_busy: "busy total" jiffies of all cores from /proc/stat.
host_busy() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

metric() { curl -s "127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {print $2}'; }

start_postgres() {
    chown postgres "$D"
    runuser -u postgres -- "$PGBIN/initdb" -D "$D/pg" --auth-local=trust --auth-host=trust \
        -U postgres --locale=C --encoding=UTF8 >/dev/null
    PGPORT=$(free_port)
    runuser -u postgres -- "$PGBIN/postgres" -D "$D/pg" -k "$D" -p "$PGPORT" \
        -c listen_addresses=127.0.0.1 >"$D/pg.log" 2>&1 &
    PGPID=$!
    until "$PGBIN/psql" -h "$D" -p "$PGPORT" -U postgres -Atc 'SELECT 1' postgres >/dev/null 2>&1; do
        sleep 0.2
    done
    echo "PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$PGPORT," \
        "fsync $("$PGBIN/psql" -h "$D" -p "$PGPORT" -U postgres -Atc 'SHOW fsync' postgres)," \
        "synchronous_commit $("$PGBIN/psql" -h "$D" -p "$PGPORT" -U postgres -Atc 'SHOW synchronous_commit' postgres)"
}

psql_() { PGOPTIONS=--client-min-messages=warning "$PGBIN/psql" -h "$D" -p "$PGPORT" -U postgres -Atq "$@"; }

# collector DIR I BACKEND: write DIR/mutt.yaml for collector cI; prints "syslog_port metrics_port".
collector() {
    local dir=$1 i=$2 backend=$3 sp mp tp
    sp=$(free_port) mp=$(free_port) tp=$(free_port)
    mkdir -p "$dir"
    local storage="  database: {path: $dir/messages.db}"
    if [ "$backend" = postgresql ]; then
        storage="$storage
  backend: postgresql
  postgresql: {url: \"postgresql://postgres@127.0.0.1:$PGPORT/bench\", sslmode: disable}"
    fi
    cat >"$dir/mutt.yaml" <<EOC
collector_id: c$i
daemon: {log_level: INFO, log_file: $dir/mutt.log}
listeners:
  syslog: {bind: 127.0.0.1, port: $sp, protocol: udp}
  snmp: {bind: 127.0.0.1, port: $tp}
processor: {batch_write_size: 1000}
storage:
$storage
pattern_matching: {rules_file: null}
enrichment: {reverse_dns: false}
wal: {path: $dir/wal}
metrics: {listen: 127.0.0.1:$mp}
EOC
    echo "$sp $mp"
}

scenario() {
    local backend=${1%:*} n=${1#*:} count=$((RATE * SECONDS_)) i
    # The server runs only while it is measured: idle, it would still take some CPU.
    [ "$backend" = postgresql ] || stop_postgres
    if [ "$backend" = postgresql ]; then
        psql_ -c 'DROP DATABASE IF EXISTS bench' postgres
        psql_ -c 'CREATE DATABASE bench' postgres
    fi
    local sports=() mports=() pids=() loads=()
    for i in $(seq 1 "$n"); do
        local dir="$D/$backend-$n/c$i"
        read -r sp mp < <(collector "$dir" "$i" "$backend")
        "$M" --config "$dir/mutt.yaml" run 2>"$dir/stderr" &
        pids+=($!) sports+=("$sp") mports+=("$mp")
        PIDS+=($!)
    done
    for mp in "${mports[@]}"; do until curl -sf "127.0.0.1:$mp/metrics" >/dev/null; do sleep 0.2; done; done
    local t0=$(date +%s.%N)
    for i in $(seq 0 $((n - 1))); do
        "$M" load --target "127.0.0.1:${sports[$i]}" --rate "$RATE" --count "$count" --devices 50 \
            >"$D/$backend-$n/load$i.out" &
        loads+=($!)
    done
    sleep "$WARM"
    # sample: "time cpu_daemons cpu_postgres busy total stored_c1 [stored_c2]", one moment.
    sample() {
        local mp each=()
        for mp in "${mports[@]}"; do each+=("$(metric "$mp" mutt_stored_total)"); done
        echo "$(date +%s.%N) $(cpu_ticks "${pids[@]}") $(pg_cpu) $(host_busy) ${each[*]}"
    }
    local a b
    read -r -a a < <(sample)
    sleep $((SECONDS_ - WARM - 2))
    read -r -a b < <(sample)
    local ta=${a[0]} ca=${a[1]} pa=${a[2]} ba=${a[3]} ha=${a[4]}
    local tb=${b[0]} cb=${b[1]} pb=${b[2]} bb=${b[3]} hb=${b[4]}
    local shares1=("${a[@]:5}") shares2=("${b[@]:5}") sa=0 sb=0
    for i in $(seq 0 $((n - 1))); do sa=$((sa + shares1[i])) sb=$((sb + shares2[i])); done
    wait "${loads[@]}"
    local sent=0
    for i in $(seq 0 $((n - 1))); do
        sent=$((sent + $(awk '/^sent/ {print $2}' "$D/$backend-$n/load$i.out")))
    done
    # Drain: until every collector has stored all it accepted, or 300 s.
    local start=$(date +%s) done=0
    while [ "$done" = 0 ] && [ $(($(date +%s) - start)) -lt 300 ]; do
        done=1
        for mp in "${mports[@]}"; do
            [ "$(metric "$mp" mutt_stored_total)" -ge "$(metric "$mp" mutt_accepted_syslog_udp_total)" ] || done=0
        done
        [ "$done" = 1 ] || sleep 0.2
    done
    local drained=$(echo "$(date +%s.%N) - $t0" | bc) stored=0
    for mp in "${mports[@]}"; do stored=$((stored + $(metric "$mp" mutt_stored_total))); done
    local dt=$(echo "$tb - $ta" | bc) dn=$((sb - sa))
    local rate=$(echo "$dn / $dt" | bc -l)
    local each=""
    for i in $(seq 0 $((n - 1))); do
        each="$each c$((i + 1)) $(printf '%.0f' "$(echo "(${shares2[$i]} - ${shares1[$i]}) / $dt" | bc -l)")/s"
    done
    local pg_us=-
    [ "$backend" = postgresql ] && pg_us=$(printf '%.1f' "$(echo "($pb - $pa) * 1000000 / $TICK / $dn" | bc -l)")
    printf '%-10s %d collector(s): stored %6.0f/s (%s) | daemon CPU %5.1f µs/msg | postgres CPU %s µs/msg | host busy %3.0f%% | sent %d lost %d | all stored %.1f s after the send began\n' \
        "$backend" "$n" "$rate" "${each# }" \
        "$(echo "($cb - $ca) * 1000000 / $TICK / $dn" | bc -l)" \
        "$pg_us" \
        "$(echo "($bb - $ba) * 100 / ($hb - $ha)" | bc -l)" \
        "$sent" $((sent - stored)) "$drained"
    echo "$backend $n $rate" >>"$D/rates"
    for p in "${pids[@]}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
}

echo "$("$M" --version 2>/dev/null || echo mutt), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg);" \
    "RATE=$RATE lines/s per collector for RUN_SECONDS=$SECONDS_ s, measured from $WARM s to $((SECONDS_ - 2)) s"
case " $SCENARIOS " in *postgresql*) start_postgres ;; esac
for s in $SCENARIOS; do scenario "$s"; done
for backend in postgresql sqlite; do
    one=$(awk -v b=$backend '$1 == b && $2 == 1 {print $3}' "$D/rates")
    two=$(awk -v b=$backend '$1 == b && $2 == 2 {print $3}' "$D/rates")
    [ -n "$one" ] && [ -n "$two" ] &&
        printf '%s: two collectors / one = %.2f\n' "$backend" "$(echo "$two / $one" | bc -l)"
done
