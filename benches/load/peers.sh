#!/usr/bin/env bash
# The end-to-end load bench with its peers measured beside MUTT in the same run
# (shared/BENCHMARKS.md: a claim of speed is a ratio to a peer on the same box):
#   syslog, sustained, spike   rsyslogd, imudp -> omfile
#   v2c, v3                    net-snmp's snmptrapd, -> log file
# The bench starts each peer itself, after each MUTT run, privately: in the foreground, as a plain
# process of the calling user (root or not), with its own config in a temporary directory, on a
# free loopback port, defaults otherwise; it stops it when the run is measured. Nothing is
# installed, no service is touched. The peers come from Debian's packages:
#   apt-get install -y rsyslog snmptrapd    (policy-rc.d keeps apt from starting them as services)
#
# Usage: benches/load/peers.sh
# Settings are the bench's (see the doc comment of benches/load/main.rs), e.g.
#   MUTT_LOAD_SECONDS=60 MUTT_LOAD_RUNS=3 benches/load/peers.sh
# MUTT_LOAD_SCENARIOS defaults here to syslog,v2c,v3: the scenarios with a peer.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Debian puts both daemons in sbin, which a normal user's PATH may not have.
export PATH="$PATH:/usr/sbin:/sbin"
for p in rsyslogd snmptrapd; do
    if ! command -v "$p" >/dev/null; then
        echo "note: $p not found; its scenarios run without a peer (apt-get install -y rsyslog snmptrapd)" >&2
    fi
    # A copy running as a service competes for the same cores; say so, leave it alone.
    if pgrep -x "$p" >/dev/null; then
        echo "note: a $p is already running on this host; it competes for the cores" >&2
    fi
done

export MUTT_LOAD_PEERS=1
export MUTT_LOAD_SCENARIOS="${MUTT_LOAD_SCENARIOS:-syslog,v2c,v3}"
exec cargo bench --bench load
