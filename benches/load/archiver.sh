#!/bin/bash
# The archiver's figures, on the release binary (cargo build --release), in a temporary directory
# under TMPDIR; needs sqlite3, curl and bc.
#
#   archiver.sh throughput [N]   `mutt archive` of N (1,000,000) syslog messages as JSON lines,
#                                CSV and zstd JSON lines: seconds, rows/s, MB/s of file written
#   archiver.sh writer on|off    `mutt run` over a database holding BACKLOG (500,000) messages
#                                older than time_threshold_days, offered RATE (20,000) syslog
#                                lines/s for COUNT (600,000) lines by `mutt load`; `on` archives
#                                the backlog meanwhile. Prints what was stored, the kernel's
#                                drops, and the batch commit histogram: each commit's time
#                                includes any wait for the archiver's transactions.
set -euo pipefail
M=${M:-$(cd "$(dirname "$0")/../.." && pwd)/target/release/mutt}
D=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$D"' EXIT

# seed DB N AGE_DAYS: a database made as MUTT makes one (16 KiB pages, incremental auto-vacuum,
# WAL, its schema) holding N syslog messages of ~130 bytes received from AGE_DAYS ago, 1 ms
# apart, with UUIDv7-shaped ids in that order.
seed() {
    local db=$1 n=$2 age=$3
    sqlite3 "$db" "PRAGMA page_size=16384; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;" >/dev/null
    printf 'storage:\n  database: {path: %s}\nwal: {path: %s/seed-wal}\npattern_matching: {rules_file: null}\n' \
        "$db" "$D" >"$D/seed.yaml"
    "$M" --config "$D/seed.yaml" archive list >/dev/null
    local t0=$(($(date +%s) - age * 86400))
    sqlite3 "$db" "
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $n - 1)
INSERT INTO messages (id, type, source_ip, source_device, timestamp, received_at, raw_message,
  validated, created_at, wal_seq, source_port, transport, syslog_facility, syslog_level,
  syslog_program, syslog_hostname, syslog_format)
SELECT printf('%08x-%04x-7000-8000-%012x', ($t0 * 1000 + i) >> 16, ($t0 * 1000 + i) & 65535, i),
  'syslog', '10.0.' || (i % 50) || '.' || (i % 200), 'host' || (i % 500),
  strftime('%Y-%m-%dT%H:%M:%f', $t0 + i / 1000.0, 'unixepoch') || '000Z',
  strftime('%Y-%m-%dT%H:%M:%f', $t0 + i / 1000.0, 'unixepoch') || '000Z',
  '<13>Nov 24 12:00:00 host' || (i % 500) || ' app[' || (i % 9999) || ']: user login from 10.1.'
    || (i % 250) || '.' || (i % 200) || ' session ' || hex(randomblob(8)) || ' ok',
  1, strftime('%Y-%m-%dT%H:%M:%f', $t0 + i / 1000.0, 'unixepoch') || '000Z', i, 514, 'udp', '1',
  5, 'app', 'host' || (i % 500), 'rfc3164'
FROM n;"
}

throughput() {
    local n=${1:-1000000}
    for how in "jsonl false" "csv false" "jsonl true"; do
        set -- $how
        rm -rf "$D"/messages.db* "$D/archives"
        seed "$D/messages.db" "$n" 30
        local db_mb=$(($(stat -c %s "$D/messages.db") / 1048576))
        printf 'storage:\n  database: {path: %s/messages.db}\n  archiver: {path: %s/archives, format: %s, compress: %s}\nwal: {path: %s/wal}\npattern_matching: {rules_file: null}\n' \
            "$D" "$D" "$1" "$2" "$D" >"$D/mutt.yaml"
        local start=$(date +%s.%N)
        "$M" --config "$D/mutt.yaml" archive --older-than 7d >/dev/null
        local secs=$(echo "$(date +%s.%N) - $start" | bc)
        local bytes=$(find "$D/archives" -name 'syslog-*' ! -name '*.manifest.json' -printf '%s\n' | paste -sd+ | bc)
        printf '%s compress=%s: %d rows (database %d MB) in %.1f s: %.0f rows/s, %.1f MB/s of file (%d MB)\n' \
            "$1" "$2" "$n" "$db_mb" "$secs" "$(echo "$n / $secs" | bc -l)" \
            "$(echo "$bytes / 1048576 / $secs" | bc -l)" $((bytes / 1048576))
    done
}

writer() {
    local mode=$1 backlog=${BACKLOG:-500000} rate=${RATE:-20000} count=${COUNT:-600000}
    seed "$D/messages.db" "$backlog" 30
    local sp=$((20000 + RANDOM % 20000))
    local mp=$((sp + 1)) tp=$((sp + 2))
    cat >"$D/mutt.yaml" <<EOC
daemon: {log_level: INFO, log_file: $D/mutt.log}
listeners:
  syslog: {bind: 127.0.0.1, port: $sp, protocol: udp}
  snmp: {bind: 127.0.0.1, port: $tp}
storage:
  database: {path: $D/messages.db}
  archiver: {enabled: $([ "$mode" = on ] && echo true || echo false), path: $D/archives, format: jsonl, time_threshold_days: 7}
pattern_matching: {rules_file: null}
enrichment: {reverse_dns: false}
wal: {path: $D/wal}
metrics: {listen: 127.0.0.1:$mp}
EOC
    "$M" --config "$D/mutt.yaml" run 2>"$D/stderr" &
    PID=$!
    until curl -sf "127.0.0.1:$mp/metrics" >/dev/null; do sleep 0.2; done
    local t0=$(date +%s.%N)
    "$M" load --target "127.0.0.1:$sp" --rate "$rate" --count "$count" --devices 50
    metric() { curl -s "127.0.0.1:$mp/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
    local start=$(date +%s)
    while [ "$(metric mutt_stored_total)" -lt "$count" ] && [ $(($(date +%s) - start)) -lt 120 ]; do
        sleep 0.2
    done
    local stored_s=$(echo "$(date +%s.%N) - $t0" | bc)
    if [ "$mode" = on ]; then
        while [ "$(metric mutt_archived_rows_total)" -lt "$backlog" ] && [ $(($(date +%s) - start)) -lt 300 ]; do
            sleep 0.2
        done
    fi
    echo "archiver $mode, $backlog messages to archive, $count offered at $rate/s:"
    printf 'all stored %.1f s after the load began (%.0f/s)\n' "$stored_s" "$(echo "$count / $stored_s" | bc -l)"
    curl -s "127.0.0.1:$mp/metrics" |
        grep -E '^mutt_(stored_total|archived_rows_total|batch_commit_seconds_(count|sum)) '
    # The highest bucket with commits in it: the longest commit is under its bound.
    curl -s "127.0.0.1:$mp/metrics" | awk -F'[{}" ]+' '/^mutt_batch_commit_seconds_bucket/ {
        if ($4 > prev) { top = $3; n = $4 - prev } prev = $4 } END { print "longest commit: under " top " s (" n " commits in that bucket)" }'
    grep -h 'archiver: check done' "$D/mutt.log" "$D/stderr" 2>/dev/null | sed 's/^.*archiver:/archiver:/' || true
}

case "${1:-}" in
throughput) throughput "${2:-}" ;;
writer) writer "${2:?on or off}" ;;
*) sed -n '2,13p' "$0"; exit 2 ;;
esac
