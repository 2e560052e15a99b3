//! How the load bench prints: the column legend, one table per scenario with a row per run and
//! the median of each column, the daemon's CPU by thread, and the peer's table with the same-run
//! ratios.

use crate::{host, MuttRun, PeerRun};

pub const LEGEND: &str = "\
columns: offered = datagrams the sender handed to the kernel; accepted = taken into MUTT's WAL;
  stored = committed to SQLite (mutt_stored_total); lost = offered - stored; kernel_drops = the
  host's UDP RcvbufErrors during the run (/proc/net/snmp); mutt_drops = dropped_wal_full +
  dropped_disk_full; rejected = community_rejected + v3_rejected_* + discovery probes (0
  expected); invalid = stored with validation errors (0 expected); stored/s = stored / (last
  commit - first send); peak_backlog = largest WAL backlog (published - checkpoint) seen in
  /metrics every 100 ms, backlog_s = the same in seconds of traffic at offered/s; cpu_us/msg =
  the daemon's user+system CPU (all threads, /proc/PID/stat) from first send to last commit, per
  message stored, and below the table the same split by the daemon's threads (/proc/PID/task,
  numbered ones summed); drain_s = last commit - last send. Peers: written = messages in their output
  file, cpu_us/msg per message written, mutt/peer_cpu = MUTT's cpu_us/msg / the peer's in the
  same run. Each median row takes each column's median on its own.";

/// Columns of f64 with their decimals; prints each row and the median of each column.
pub struct Table {
    pub columns: Vec<(&'static str, usize)>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    pub fn print(&self) {
        let cell = |v: f64, decimals: usize| {
            if v.is_nan() {
                "-".to_string()
            } else {
                format!("{v:.decimals$}")
            }
        };
        let medians: Vec<f64> = (0..self.columns.len())
            .map(|c| {
                host::median(
                    self.rows
                        .iter()
                        .map(|r| r[c])
                        .filter(|v| !v.is_nan())
                        .collect(),
                )
            })
            .collect();
        let mut lines: Vec<Vec<String>> = vec![std::iter::once("run".to_string())
            .chain(self.columns.iter().map(|(n, _)| n.to_string()))
            .collect()];
        for (i, row) in self.rows.iter().enumerate() {
            lines.push(
                std::iter::once((i + 1).to_string())
                    .chain(
                        row.iter()
                            .zip(&self.columns)
                            .map(|(v, (_, d))| cell(*v, *d)),
                    )
                    .collect(),
            );
        }
        lines.push(
            std::iter::once("median".to_string())
                .chain(
                    medians
                        .iter()
                        .zip(&self.columns)
                        .map(|(v, (_, d))| cell(*v, *d)),
                )
                .collect(),
        );
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for l in lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect();
            println!("  {}", cells.join("  "));
        }
    }
}

pub fn print_mutt_table(runs: &[MuttRun]) {
    let rows = runs
        .iter()
        .map(|r| {
            let a = &r.after;
            vec![
                r.idle,
                r.sent.sent as f64,
                r.sent.rate(),
                a.accepted as f64,
                a.stored as f64,
                r.sent.sent.saturating_sub(a.stored) as f64,
                r.kernel_drops as f64,
                a.dropped as f64,
                a.rejected as f64,
                a.invalid as f64,
                r.stored_rate,
                r.peak_backlog as f64,
                r.peak_backlog as f64 / r.sent.rate().max(1.0),
                r.cpu_per_msg(),
                r.drain,
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("idle%", 0),
            ("offered", 0),
            ("offered/s", 0),
            ("accepted", 0),
            ("stored", 0),
            ("lost", 0),
            ("kernel_drops", 0),
            ("mutt_drops", 0),
            ("rejected", 0),
            ("invalid", 0),
            ("stored/s", 0),
            ("peak_backlog", 0),
            ("backlog_s", 2),
            ("cpu_us/msg", 2),
            ("drain_s", 2),
        ],
        rows,
    }
    .print();
}

/// Where the daemon's CPU went: µs per stored message by thread, median of the runs.
pub fn print_threads(runs: &[MuttRun]) {
    let names: std::collections::BTreeSet<&String> =
        runs.iter().flat_map(|r| r.threads.keys()).collect();
    let mut parts: Vec<(f64, String)> = names
        .into_iter()
        .map(|name| {
            let per_msg = host::median(
                runs.iter()
                    .map(|r| {
                        r.threads.get(name).copied().unwrap_or(0) as f64
                            / r.after.stored.max(1) as f64
                    })
                    .collect(),
            );
            (per_msg, name.clone())
        })
        .filter(|(v, _)| *v >= 0.005)
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    let text: Vec<String> = parts.iter().map(|(v, n)| format!("{n} {v:.2}")).collect();
    println!("  cpu_us/msg by thread (median): {}", text.join(", "));
}

/// The peer's table; returns the median of the same-run MUTT / peer CPU ratios.
pub fn print_peer_table(peer: &str, runs: &[MuttRun], peer_runs: &[PeerRun]) -> f64 {
    println!("  {peer} with the same load, right after each MUTT run:");
    let ratios: Vec<f64> = runs
        .iter()
        .zip(peer_runs)
        .map(|(m, p)| m.cpu_per_msg() / p.cpu_per_msg().max(1e-9))
        .collect();
    let rows = peer_runs
        .iter()
        .zip(&ratios)
        .map(|(p, ratio)| {
            vec![
                p.idle,
                p.sent.sent as f64,
                p.sent.rate(),
                p.written as f64,
                p.sent.sent.saturating_sub(p.written) as f64,
                p.kernel_drops as f64,
                p.written_rate,
                p.cpu_per_msg(),
                *ratio,
            ]
        })
        .collect();
    Table {
        columns: vec![
            ("idle%", 0),
            ("offered", 0),
            ("offered/s", 0),
            ("written", 0),
            ("lost", 0),
            ("kernel_drops", 0),
            ("written/s", 0),
            ("cpu_us/msg", 2),
            ("mutt/peer_cpu", 2),
        ],
        rows,
    }
    .print();
    host::median(ratios)
}
