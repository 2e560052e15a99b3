//! The histogram over the page's range: message counts in [`BUCKETS`] equal slices of time,
//! stacked by type, drawn as inline SVG on the server (no script). Each slice is an id range, so
//! the primary key's index serves it, and each count stops at [`BUCKET_CAP`] rows: a capped bar
//! is marked, and the page says so. A filter that matches few rows makes each slice read all of
//! its range, so the slices are counted newest first within [`BUDGET`]; the ones left are drawn
//! as not counted, and the page says so. A filter on an indexed column is counted in one pass
//! over its rows instead. On SQLite a device address has no index of its own but the
//! collector's block index (`device_rows`), which counts the device's rows in each block: a
//! device alone (or with a type) adds up the counts of its blocks that lie inside one slice and
//! reads the rows of the few that cross a slice's edge, which gives what a plain count gives. A
//! device with another filter is one pass through its blocks' rows, newest first. Either reads
//! rows within [`BUDGET`], the slices not reached drawn as not counted. Clicking a bar narrows
//! the range to it. The text search is not applied (counts are of the filtered messages).

use std::ops::ControlFlow;
use std::time::Instant;

use maud::{html, Markup};
use mutt_query::{Conn, QueryError, Row, Value};

use crate::db::DbError;
use crate::device_rows::{Device, Outcome};
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
    if let Some(device) = Device::of(conn, f)? {
        let counted = f
            .equals
            .iter()
            .all(|(c, _)| matches!(*c, "source_ip" | "type"));
        return if counted {
            count_device_blocks(conn, f, &device, Instant::now() + BUDGET)
        } else {
            count_device(conn, f, &device)
        };
    }
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

/// Every slice, counted (so far) as empty.
fn counted_slices(f: &Filter) -> Vec<(i64, i64, Bucket)> {
    let counted = Bucket {
        counted: true,
        ..Bucket::default()
    };
    slices(f)
        .into_iter()
        .map(|(lo, hi)| (lo, hi, counted))
        .collect()
}

/// Count a row of `id, type` into its slice, by its id's millisecond.
fn tally(out: &mut [(i64, i64, Bucket)], r: &Row<'_>) -> Result<(), QueryError> {
    let (id, kind): (String, String) = (r.get(0)?, r.get(1)?);
    let Some(ms) = crate::filter::id_millis(&id) else {
        return Ok(());
    };
    let i = out.partition_point(|(_, hi, _)| *hi <= ms);
    if let Some((_, _, b)) = out.get_mut(i) {
        if kind == "snmp_trap" {
            b.snmp += 1;
        } else {
            b.syslog += 1;
        }
    }
    Ok(())
}

/// A rule's or a severity's rows (and a device's on PostgreSQL, or in a SQLite file from before
/// the block index) are read once through that column's index (a slice at a time would read all
/// of them for every slice) and put in their slice by their id's millisecond. At most
/// [`PASS_CAP`] rows: past that every slice is marked capped.
fn count_one_pass(conn: &mut Conn, f: &Filter) -> Result<Vec<(i64, i64, Bucket)>, DbError> {
    let (clause, params) = f.where_clause_without_cursor();
    let sql = format!("SELECT id, type FROM messages WHERE {clause} LIMIT {PASS_CAP}");
    let mut out = counted_slices(f);
    let mut read = 0;
    conn.for_each(&sql, &params, |r| {
        read += 1;
        tally(&mut out, r)?;
        Ok(ControlFlow::Continue(()))
    })?;
    if read == PASS_CAP {
        for (_, _, b) in &mut out {
            b.capped = true;
        }
    }
    Ok(out)
}

/// A device address on SQLite: its rows through the blocks, newest first, for at most
/// [`BUDGET`]. A rare device costs a block's rows for each of its few rows, so time, not a row
/// count, bounds the pass; where it stopped, the slices are marked as [`stopped_at`] says.
fn count_device(
    conn: &mut Conn,
    f: &Filter,
    device: &Device,
) -> Result<Vec<(i64, i64, Bucket)>, DbError> {
    let mut out = counted_slices(f);
    let until = Instant::now() + BUDGET;
    let outcome = device.newest_first(conn, &f.without_cursor(), "id, type", until, |r| {
        tally(&mut out, r)?;
        Ok(ControlFlow::Continue(()))
    })?;
    if let Outcome::OutOfTime { at } = outcome {
        if let Some(ms) = crate::filter::id_millis(&at) {
            stopped_at(&mut out, ms);
        }
    }
    Ok(out)
}

/// A device address alone, or with a type, on SQLite: from the collector's counts by block. A
/// block whose ids all lie in one slice adds its counts to it; the others (across a slice's
/// edge or the range's) have the device's rows read and put in their slices one by one. Those
/// are read greatest id first until `until` ([`BUDGET`] from now): bounds made wide by a clock
/// step or an import can make many of them. Where the time ran out, the slices are marked as
/// [`stopped_at`] says.
fn count_device_blocks(
    conn: &mut Conn,
    f: &Filter,
    device: &Device,
    until: Instant,
) -> Result<Vec<(i64, i64, Bucket)>, DbError> {
    let f = f.without_cursor();
    let mut out = counted_slices(&f);
    let mut edges: Vec<String> = out.iter().map(|(lo, _, _)| id_lower_bound(*lo)).collect();
    edges.push(id_lower_bound(f.to_ms));
    let kind = f.equals.iter().find(|(c, _)| *c == "type").map(|(_, v)| v);
    let syslog = kind != Some(&Value::from("snmp_trap"));
    let snmp = kind != Some(&Value::from("syslog"));
    let mut across: Vec<(String, i64)> = Vec::new();
    let (lo, hi) = f.id_range();
    device.counted_blocks(conn, &lo, &hi, |b| {
        match slice_of(&edges, &b.min_id, &b.max_id) {
            Some(i) => {
                let slice = &mut out[i].2;
                slice.syslog += if syslog { b.syslog } else { 0 };
                slice.snmp += if snmp { b.snmp } else { 0 };
            }
            None => across.push((b.max_id, b.block)),
        }
    })?;
    across.sort_unstable_by(|a, b| b.cmp(a));
    for (max_id, block) in across {
        if Instant::now() >= until {
            // Every block left ends at or below this one: the rows not read are at or below it.
            if let Some(ms) = crate::filter::id_millis(&max_id) {
                stopped_at(&mut out, ms);
            }
            break;
        }
        device.rows_in_block(conn, &f, block, "id, type", |r| tally(&mut out, r))?;
    }
    Ok(out)
}

/// The slice holding every id from `min` to `max`, if one does; slice `i` holds the ids
/// `[edges[i], edges[i + 1])`.
fn slice_of(edges: &[String], min: &str, max: &str) -> Option<usize> {
    let i = edges
        .partition_point(|e| e.as_str() <= min)
        .checked_sub(1)?;
    let end = edges.get(i + 1)?;
    (max < end.as_str()).then_some(i)
}

/// Counting newest first stopped in millisecond `ms`: the slice holding it was counted in part
/// (marked capped), the older ones not at all.
fn stopped_at(out: &mut [(i64, i64, Bucket)], ms: i64) {
    for (lo, hi, b) in out.iter_mut() {
        if *hi <= ms {
            *b = Bucket::default();
        } else if *lo <= ms {
            b.capped = true;
        }
    }
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
            @if capped { span.warning.capped { " Bars marked red were not counted in full: a slice stops at " (BUCKET_CAP) " messages, a count in one pass (a device, rule or severity) at " (PASS_CAP) " in all or where its time ran out." } }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_rows::tests::{file, fill, filter, unordered, Rng, NOW};
    use std::time::Duration;

    /// The rows of `f`'s device (and type) in `[lo, hi)` by type, counted plainly.
    fn plain(conn: &mut Conn, f: &Filter, lo: i64, hi: i64) -> (usize, usize) {
        let (equals, values) = f.equals_clause();
        let sql = format!(
            "SELECT coalesce(sum(type = 'syslog'), 0), coalesce(sum(type = 'snmp_trap'), 0) \
             FROM messages WHERE id >= ? AND id < ?{equals}"
        );
        let mut params = vec![
            Value::Text(id_lower_bound(lo)),
            Value::Text(id_lower_bound(hi)),
        ];
        params.extend(values);
        let n = |r: &Row<'_>, i| r.get::<i64>(i).map(|n| n as usize);
        conn.first(&sql, &params, |r| Ok((n(r, 0)?, n(r, 1)?)))
            .expect("count")
            .expect("a row")
    }

    fn at(ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms)
            .expect("a time")
            .to_string()
    }

    #[test]
    fn a_devices_counts_by_block_are_what_a_plain_count_gives() {
        let file = file();
        let mut conn = file.pool.get().expect("open");
        fill(&mut conn, &unordered(&mut Rng(0x5eed_1234_abcd)));
        let (from, to) = (at(NOW - 2_345_678), at(NOW - 456_789));
        let cursor = id_lower_bound(NOW - 1_000_000);
        let (mut inside, mut across) = (0, 0);
        for q in [
            vec![("device", "10.0.0.1"), ("range", "7d")],
            vec![("device", "10.0.0.1"), ("range", "24h")],
            vec![
                ("device", "10.0.0.2"),
                ("range", "24h"),
                ("type", "snmp_trap"),
            ],
            vec![("device", "10.0.0.3"), ("range", "7d"), ("type", "syslog")],
            vec![("device", "10.0.0.2"), ("range", "1h"), ("before", &cursor)],
            vec![("device", "10.0.0.1"), ("from", &from), ("to", &to)],
            vec![("device", "10.0.0.9"), ("range", "24h")],
        ] {
            let f = filter(&q, NOW);
            let device = Device::of(&mut conn, &f).expect("check").expect("blocks");
            let far = Instant::now() + Duration::from_secs(60);
            let got = count_device_blocks(&mut conn, &f, &device, far).expect("count");
            assert_eq!(got.len(), BUCKETS, "{q:?}");
            for (lo, hi, b) in &got {
                assert!(b.counted && !b.capped, "{q:?}");
                let want = plain(&mut conn, &f, *lo, *hi);
                assert_eq!((b.syslog, b.snmp), want, "{q:?}: slice {lo}..{hi}");
            }
            let mut edges: Vec<String> = got.iter().map(|s| id_lower_bound(s.0)).collect();
            edges.push(id_lower_bound(f.to_ms));
            let (lo, hi) = f.without_cursor().id_range();
            device
                .counted_blocks(&mut conn, &lo, &hi, |b| {
                    match slice_of(&edges, &b.min_id, &b.max_id) {
                        Some(_) => inside += 1,
                        None => across += 1,
                    }
                })
                .expect("blocks");
        }
        assert!(
            inside > 2 && across > 2,
            "both ways: {inside} inside, {across} across"
        );
    }

    #[test]
    fn out_of_time_the_slices_below_the_blocks_not_read_are_not_counted() {
        let file = file();
        let mut conn = file.pool.get().expect("open");
        fill(&mut conn, &unordered(&mut Rng(0x5eed_1234_abcd)));
        let f = filter(&[("device", "10.0.0.1"), ("range", "24h")], NOW);
        let device = Device::of(&mut conn, &f).expect("check").expect("blocks");
        let far = Instant::now() + Duration::from_secs(60);
        let full = count_device_blocks(&mut conn, &f, &device, far).expect("count");
        let cut = count_device_blocks(&mut conn, &f, &device, Instant::now()).expect("count");
        assert!(cut.iter().any(|(_, _, b)| !b.counted), "some not counted");
        // Newest first: once a slice is not counted, no older one is.
        let mut stopped = false;
        for ((_, _, c), (_, _, w)) in cut.iter().zip(&full).rev() {
            if !c.counted {
                stopped = true;
                continue;
            }
            assert!(!stopped, "only the oldest slices go uncounted");
            if c.capped {
                assert!(c.syslog <= w.syslog && c.snmp <= w.snmp);
            } else {
                assert_eq!(c, w);
            }
        }
    }

    #[test]
    fn a_block_is_in_a_slice_when_both_its_bounds_are() {
        let edges: Vec<String> = ["b", "d", "f"].map(String::from).to_vec();
        assert_eq!(slice_of(&edges, "b", "c"), Some(0));
        assert_eq!(slice_of(&edges, "d", "e9"), Some(1));
        assert_eq!(slice_of(&edges, "c", "d"), None, "across an edge");
        assert_eq!(slice_of(&edges, "a", "c"), None, "below the range");
        assert_eq!(slice_of(&edges, "e", "f"), None, "above it");
        assert_eq!(slice_of(&edges, "f", "g"), None);
    }

    #[test]
    fn a_pass_stopped_in_a_slice_marks_it_capped_and_the_older_ones_not_counted() {
        let counted = Bucket {
            syslog: 3,
            counted: true,
            ..Bucket::default()
        };
        let mut out: Vec<_> = (0..4).map(|i| (i * 10, i * 10 + 10, counted)).collect();
        stopped_at(&mut out, 25);
        let marks: Vec<(bool, bool, usize)> = out
            .iter()
            .map(|(_, _, b)| (b.counted, b.capped, b.syslog))
            .collect();
        assert_eq!(
            marks,
            [
                (false, false, 0),
                (false, false, 0),
                (true, true, 3),
                (true, false, 3)
            ]
        );
        let mut all = out.clone();
        stopped_at(&mut all, 40);
        assert!(
            all.iter().all(|(_, _, b)| !b.counted),
            "stopped before any row"
        );
    }
}
