//! The histogram over the page's range: message counts in [`BUCKETS`] equal slices of time,
//! stacked by type, drawn as inline SVG on the server (no script). Each slice is an id range, so
//! the primary key's index serves it, and each count stops at [`BUCKET_CAP`] rows: a capped bar
//! is marked, and the page says so. A filter that matches few rows makes each slice read all of
//! its range, so the slices are counted newest first within [`BUDGET`]; the ones left are drawn
//! as not counted, and the page says so. Clicking a bar narrows the range to it. The text search
//! is not applied (counts are of the filtered messages).

use std::ops::ControlFlow;

use maud::{html, Markup};
use mutt_query::{Conn, Value};

use crate::db::DbError;
use crate::filter::{id_lower_bound, Filter};
use crate::messages::fmt_ms;

pub const BUCKETS: usize = 48;
pub const BUCKET_CAP: usize = 2_000;
/// Time the slices are counted in, newest first.
pub const BUDGET: std::time::Duration = std::time::Duration::from_millis(400);

/// Counts of one slice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub syslog: usize,
    pub snmp: usize,
    /// The count stopped at [`BUCKET_CAP`].
    pub capped: bool,
    /// Counted at all (false: the time budget ran out first).
    pub counted: bool,
}

/// Columns with an index of their own: a filter on one is counted in one pass over its rows.
const INDEXED: &[&str] = &["source_ip", "matched_rule_id", "match_severity"];
/// Rows the one pass reads at most.
pub const PASS_CAP: usize = 200_000;

/// The slices' bounds in milliseconds, and their counts.
pub fn count(conn: &mut Conn, f: &Filter) -> Result<Vec<(i64, i64, Bucket)>, DbError> {
    if f.equals.iter().any(|(c, _)| INDEXED.contains(c)) {
        return count_one_pass(conn, f);
    }
    let span = f.to_ms - f.from_ms;
    let n = (BUCKETS as i64).min(span).max(1);
    let (equals, values) = f.equals_clause();
    let sql = format!(
        "SELECT type, count(*) FROM (SELECT type FROM messages WHERE id >= ? AND id < ?{equals} \
         LIMIT {BUCKET_CAP}) AS slice GROUP BY type"
    );
    let mut out = Vec::with_capacity(n as usize);
    let start = std::time::Instant::now();
    for i in (0..n).rev() {
        let lo = f.from_ms + span * i / n;
        let hi = f.from_ms + span * (i + 1) / n;
        if start.elapsed() > BUDGET {
            out.push((lo, hi, Bucket::default()));
            continue;
        }
        let mut params = vec![
            Value::Text(id_lower_bound(lo)),
            Value::Text(id_lower_bound(hi)),
        ];
        params.extend(values.iter().cloned());
        let mut b = Bucket::default();
        conn.for_each(&sql, &params, |r| {
            let (kind, c): (String, i64) = (r.get(0)?, r.get(1)?);
            let c = usize::try_from(c).unwrap_or(0);
            if kind == "snmp_trap" {
                b.snmp += c;
            } else {
                b.syslog += c;
            }
            Ok(ControlFlow::Continue(()))
        })?;
        b.capped = b.syslog + b.snmp >= BUCKET_CAP;
        b.counted = true;
        out.push((lo, hi, b));
    }
    out.reverse();
    Ok(out)
}

fn slices(f: &Filter) -> Vec<(i64, i64)> {
    let span = f.to_ms - f.from_ms;
    let n = (BUCKETS as i64).min(span).max(1);
    (0..n)
        .map(|i| (f.from_ms + span * i / n, f.from_ms + span * (i + 1) / n))
        .collect()
}

/// A device's, a rule's or a severity's rows are read once through that column's index (a slice
/// at a time would read all of them for every slice) and put in their slice by their id's
/// millisecond. At most [`PASS_CAP`] rows: past that every slice is marked capped.
fn count_one_pass(conn: &mut Conn, f: &Filter) -> Result<Vec<(i64, i64, Bucket)>, DbError> {
    let (clause, params) = f.where_clause_without_cursor();
    let sql = format!("SELECT id, type FROM messages WHERE {clause} LIMIT {PASS_CAP}");
    let mut out: Vec<(i64, i64, Bucket)> = slices(f)
        .into_iter()
        .map(|(lo, hi)| {
            let counted = Bucket {
                counted: true,
                ..Bucket::default()
            };
            (lo, hi, counted)
        })
        .collect();
    let mut read = 0;
    conn.for_each(&sql, &params, |r| {
        read += 1;
        let (id, kind): (String, String) = (r.get(0)?, r.get(1)?);
        let Some(ms) = crate::filter::id_millis(&id) else {
            return Ok(ControlFlow::Continue(()));
        };
        let i = out.partition_point(|(_, hi, _)| *hi <= ms);
        if let Some((_, _, b)) = out.get_mut(i) {
            if kind == "snmp_trap" {
                b.snmp += 1;
            } else {
                b.syslog += 1;
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if read == PASS_CAP {
        for (_, _, b) in &mut out {
            b.capped = true;
        }
    }
    Ok(out)
}

const W: usize = 960;
const H: usize = 120;

/// The SVG: one linked group per slice.
pub fn svg(f: &Filter, buckets: &[(i64, i64, Bucket)]) -> Markup {
    let max = buckets
        .iter()
        .map(|(_, _, b)| b.syslog + b.snmp)
        .max()
        .unwrap_or(0)
        .max(1);
    let bw = W / buckets.len().max(1);
    let capped = buckets.iter().any(|(_, _, b)| b.capped);
    let uncounted = buckets.iter().filter(|(_, _, b)| !b.counted).count();
    let height = |c: usize| c * (H - 14) / max;
    html! {
        p.legend {
            "Messages per " (fmt_span((f.to_ms - f.from_ms) / buckets.len().max(1) as i64)) ": "
            span.syslog { "■ syslog" } " " span.snmp_trap { "■ snmp_trap" }
            " — click a bar to narrow the range to it."
            @if capped { span.warning.capped { " Bars marked red were not counted in full: a slice stops at " (BUCKET_CAP) " messages, a device's, rule's or severity's count at " (PASS_CAP) " in all." } }
            @if uncounted > 0 { span.warning.uncounted { " The " (uncounted) " oldest slices (grey) were not counted: counting took too long. Narrow the range or the filter." } }
        }
        svg.histogram #histogram xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox={ "0 0 " (W) " " (H) } {
            @for (i, (lo, hi, b)) in buckets.iter().enumerate() {
                @let x = i * bw;
                @let hs = height(b.syslog);
                @let ht = height(b.snmp);
                a href={ "/?" (f.query_with(&[("range", ""), ("before", ""), ("from", &fmt_ms(*lo)), ("to", &fmt_ms(*hi))])) } {
                    title {
                        (fmt_ms(*lo)) " – " (fmt_ms(*hi)) ": "
                        @if b.counted { (b.syslog) " syslog, " (b.snmp) " snmp_trap" @if b.capped { " (capped)" } }
                        @else { "not counted" }
                    }
                    rect x=(x) y="0" width=(bw) height=(H) fill="transparent" {}
                    rect.syslog x=(x + 1) y=(H - hs) width=(bw.saturating_sub(2)) height=(hs) {}
                    rect.snmp_trap x=(x + 1) y=(H - hs - ht) width=(bw.saturating_sub(2)) height=(ht) {}
                    @if b.capped { rect.capped x=(x + 1) y="0" width=(bw.saturating_sub(2)) height="4" {} }
                    @if !b.counted { rect.uncounted x=(x + 1) y="0" width=(bw.saturating_sub(2)) height=(H) {} }
                }
            }
            text x="4" y="12" { (max) @if capped { "+" } }
        }
    }
}

fn fmt_span(ms: i64) -> String {
    if ms < 60_000 {
        format!("{} s", ms / 1000)
    } else if ms < 3_600_000 {
        format!("{} min", ms / 60_000)
    } else if ms < 86_400_000 {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{} d", ms / 86_400_000)
    }
}
