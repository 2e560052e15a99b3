//! The stages' metrics, each declared once below: every accepted, stored and dropped message
//! (each drop with its reason), the checkpoint, and the writer's latencies. A counter's doc is
//! its Prometheus help text, its field name its name (`mutt_<name>_total`) and its key in the
//! summary log line. Stages count per batch, not per message, where they can.
//!
//! The types are prometheus-client's, so the exposition (`metrics_http.rs`) is the official
//! client's encoder, not ours; `Metrics::add`/`Metrics::get` keep the stages' calls short.

use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A count that only grows (`mutt_<name>_total`).
pub type Count = Counter<u64, AtomicU64>;
/// A value that is set (a sequence number).
pub type Level = Gauge<u64, AtomicU64>;

/// What `Metrics::get` reads: a counter or a gauge.
pub trait Sample {
    fn sample(&self) -> u64;
}

impl Sample for Count {
    fn sample(&self) -> u64 {
        self.get()
    }
}

impl Sample for Level {
    fn sample(&self) -> u64 {
        self.get()
    }
}

/// The help text of a field: its doc lines joined, without the final period the registry adds.
fn help(doc: &str) -> String {
    doc.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches('.')
        .to_string()
}

/// Declares the `Metrics` struct once: each field's doc, type and exposed name come from one
/// entry, and `Default`, `register` and `summary` are written from the same list.
macro_rules! metrics {
    (
        counters { $( $(#[doc = $cdoc:literal])* $c:ident, )* }
        gauges { $( $(#[doc = $gdoc:literal])* $g:ident => $gname:literal, )* }
        histograms { $( $(#[doc = $hdoc:literal])* $h:ident => $buckets:expr, )* }
        state { $( $(#[doc = $sdoc:literal])* $s:ident: $st:ty, )* }
    ) => {
        #[derive(Debug)]
        pub struct Metrics {
            $( $(#[doc = $cdoc])* pub $c: Count, )*
            $( $(#[doc = $gdoc])* pub $g: Level, )*
            $( $(#[doc = $hdoc])* pub $h: Histogram, )*
            $( $(#[doc = $sdoc])* pub $s: $st, )*
        }

        impl Default for Metrics {
            fn default() -> Self {
                Metrics {
                    $( $c: Count::default(), )*
                    $( $g: Level::default(), )*
                    $( $h: Histogram::new($buckets), )*
                    $( $s: <$st>::default(), )*
                }
            }
        }

        impl Metrics {
            /// Register every counter, gauge and histogram (they share their values with
            /// `self`), under the registry's prefix.
            pub fn register(&self, registry: &mut Registry) {
                $( registry.register(stringify!($c), help(concat!($($cdoc, " "),*)),
                    self.$c.clone()); )*
                $( registry.register($gname, help(concat!($($gdoc, " "),*)),
                    self.$g.clone()); )*
                $( registry.register(stringify!($h), help(concat!($($hdoc, " "),*)),
                    self.$h.clone()); )*
            }

            /// One log line with every counter and gauge: `name=value ...`.
            pub fn summary(&self) -> String {
                let mut s = String::new();
                $( let _ = write!(s, "{}={} ", stringify!($c), self.$c.get()); )*
                $( let _ = write!(s, "{}={} ", stringify!($g), self.$g.get()); )*
                s.truncate(s.trim_end().len());
                s
            }
        }
    };
}

metrics! {
    counters {
        /// Syslog datagrams accepted into the WAL.
        accepted_syslog_udp,
        /// Syslog TCP frames accepted into the WAL.
        accepted_syslog_tcp,
        /// Syslog TLS frames accepted into the WAL.
        accepted_syslog_tls,
        /// SNMP datagrams accepted into the WAL.
        accepted_snmp,
        /// Accepted messages cut at the size limit (also counted as accepted).
        truncated,
        /// UDP datagrams dropped: the WAL was at its disk budget.
        dropped_wal_full,
        /// Datagrams and frames dropped: the WAL's disk was full (ENOSPC/EDQUOT).
        dropped_disk_full,
        /// TCP/TLS connections refused at their listener's connection cap.
        tcp_refused,
        /// TCP/TLS connections closed for idleness.
        tcp_idle_closed,
        /// TLS connections closed before their handshake completed: protocol errors, refused
        /// client certificates, plain-text clients, peers that hung up or went idle.
        tls_handshake_failed,
        /// Inform Responses sent.
        informs_acked,
        /// Messages committed to the database.
        stored,
        /// Messages a discard rule kept out of the database (the checkpoint still advances).
        discarded,
        /// SNMP v1/v2c messages whose community is not in snmp.communities (not stored).
        community_rejected,
        /// Messages stored with validation errors.
        invalid,
        /// Failed database commits, each retried until it succeeds.
        store_retries,
        /// Messages that failed alone and were stored raw with the reason.
        quarantined,
        /// Messages that could not be stored even raw, kept in dead_letters.
        dead_lettered,
        /// Records missing at start: above the checkpoint, below the oldest WAL segment (lost
        /// data, reported with its range in the log).
        wal_gap_records,
        /// SNMPv3 messages from an unknown user (or no users configured); the v3_rejected
        /// counters are RFC 3414 section 5's usmStats, plus malformed and discovery.
        v3_rejected_unknown_user,
        /// SNMPv3 messages whose MAC matches no credential.
        v3_rejected_wrong_digest,
        /// SNMPv3 messages at a security level their user's credentials do not have.
        v3_rejected_security_level,
        /// Authentic SNMPv3 messages older than their engine's clock allows.
        v3_rejected_not_in_time_window,
        /// SNMPv3 messages with a matching MAC that did not decrypt.
        v3_rejected_decryption,
        /// SNMPv3 messages whose header or USM parameters do not parse.
        v3_rejected_malformed,
        /// SNMPv3 engine discovery probes (answered by ingest, not stored).
        v3_discovery_probes,
        /// SNMPv3 failures not recorded per user: snmpv3_auth_failures was at its cap.
        v3_auth_failures_over_cap,
        /// New device addresses not recorded: the devices table was at its cap.
        devices_over_cap,
        /// Archiver checks that ran to their end (whether or not they archived anything).
        archive_runs,
        /// Archiver checks that stopped on an error (nothing unrecorded was deleted).
        archive_failures,
        /// Messages the archiver moved into archive files and deleted from the database.
        archived_rows,
        /// Bytes of archive files the archiver wrote (as stored, compressed or not).
        archived_bytes,
        /// Archive files deleted by retention (storage.archiver.keep_days, max_total_mb).
        archives_expired,
        /// dead_letters rows deleted after storage.archiver.dead_letters_keep_days.
        dead_letters_expired,
    }
    gauges {
        /// Last WAL sequence stored in the database.
        checkpoint => "checkpoint_seq",
        /// Unix time (seconds) the archiver's last check ended successfully; 0 before the first.
        archive_last_run => "archive_last_run_timestamp_seconds",
    }
    histograms {
        /// Seconds one successful batch commit to the database took (retries not included).
        batch_commit_seconds => exponential_buckets(0.000_25, 2.0, 16),
        /// Seconds from receiving a message to committing it, observed for the oldest and the
        /// newest message of each batch.
        receive_to_commit_seconds => exponential_buckets(0.001, 2.0, 18),
    }
    state {
        /// Ingest state that /health reports: the WAL is at its budget and new load is shed.
        wal_shedding: AtomicBool,
        /// Ingest state that /health reports: the last WAL write failed for lack of disk space.
        wal_disk_full: AtomicBool,
    }
}

impl Metrics {
    pub fn add(counter: &Count, n: u64) {
        if n > 0 {
            counter.inc_by(n);
        }
    }

    pub fn get(metric: &impl Sample) -> u64 {
        metric.sample()
    }
}

/// The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets), from
/// /proc/net/snmp `Udp: ... RcvbufErrors`. None where the file is not there.
pub fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let col = header
        .split_whitespace()
        .position(|h| h == "RcvbufErrors")?;
    values.split_whitespace().nth(col)?.parse().ok()
}

/// The kernel's drops on given UDP sockets, by inode: the `drops` column of /proc/net/udp and
/// /proc/net/udp6 (datagrams that found the socket's receive buffer full, or failed its checks).
/// Unlike `RcvbufErrors`, these are MUTT's own, not every program's on the host. An inode not
/// found (or no /proc) gives None.
pub fn udp_socket_drops(inodes: &[u64]) -> Vec<Option<u64>> {
    let mut found = vec![None; inodes.len()];
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for (inode, drops) in text.lines().skip(1).filter_map(udp_table_row) {
            for (want, slot) in inodes.iter().zip(found.iter_mut()) {
                if *want == inode {
                    *slot = Some(drops);
                }
            }
        }
    }
    found
}

/// (inode, drops) of a /proc/net/udp row: `sl local rem st queues tr retrnsmt uid timeout inode
/// ref pointer drops`.
fn udp_table_row(line: &str) -> Option<(u64, u64)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some((fields.get(9)?.parse().ok()?, fields.get(12)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::prometheus_text::encode;

    #[test]
    fn a_proc_net_udp_row_gives_its_inode_and_drops() {
        let row = "  412: 00000000:141A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 95311 2 0000000091a2b3c4 1234";
        assert_eq!(udp_table_row(row), Some((95311, 1234)));
        assert_eq!(udp_table_row("  sl  local_address rem_address   st"), None);
    }

    fn exposition(m: &Metrics) -> String {
        let mut registry = Registry::with_prefix("mutt");
        m.register(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn counters_are_exposed_as_typed_totals_with_their_doc_as_help() {
        let m = Metrics::default();
        Metrics::add(&m.stored, 5);
        let text = exposition(&m);
        assert!(
            text.contains("# TYPE mutt_stored_total counter\n"),
            "{text}"
        );
        assert!(text.contains("\nmutt_stored_total 5\n"), "{text}");
        assert!(
            text.contains("# HELP mutt_stored_total Messages committed to the database.\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP mutt_wal_gap_records_total Records missing at start: above"),
            "multi-line docs are joined: {text}"
        );
    }

    #[test]
    fn the_checkpoint_is_a_gauge_and_the_latencies_are_histograms() {
        let m = Metrics::default();
        m.checkpoint.set(42);
        m.batch_commit_seconds.observe(0.003);
        let text = exposition(&m);
        assert!(text.contains("# TYPE mutt_checkpoint_seq gauge\nmutt_checkpoint_seq 42\n"));
        assert!(
            text.contains("# TYPE mutt_batch_commit_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("mutt_batch_commit_seconds_count 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mutt_batch_commit_seconds_bucket{le=\"0.004\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mutt_batch_commit_seconds_bucket{le=\"0.002\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE mutt_receive_to_commit_seconds histogram\n"));
    }

    #[test]
    fn the_summary_names_every_counter_and_the_checkpoint_once() {
        let m = Metrics::default();
        Metrics::add(&m.accepted_snmp, 3);
        m.checkpoint.set(7);
        let s = m.summary();
        assert!(s.starts_with("accepted_syslog_udp=0 "), "{s}");
        assert!(s.contains(" accepted_snmp=3 "), "{s}");
        assert!(s.contains(" checkpoint=7 "), "{s}");
        assert!(s.ends_with(" archive_last_run=0"), "the gauges last: {s}");
        assert_eq!(s.split(' ').count(), 36, "{s}");
    }

    #[test]
    fn adding_nothing_leaves_a_counter_as_it_was() {
        let m = Metrics::default();
        Metrics::add(&m.stored, 0);
        Metrics::add(&m.stored, 2);
        assert_eq!(Metrics::get(&m.stored), 2);
    }
}
