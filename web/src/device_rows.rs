//! A device's messages read through the collector's block index (SQLite, schema 6), in the
//! order a page wants them and exactly as a plain query would give them.
//!
//! SQLite keeps no index on `messages(source_ip)`. The collector keeps one entry per device per
//! block of 4,096 rowids (`device_blocks`) instead, and each block's least and greatest id
//! (`message_blocks`) (mutt's `store/blocks.rs`). So a device's rows are read a block at a time:
//! a rowid range of at most 4,096 rows, filtered. Two orders are offered:
//!
//! - [`Device::newest_first`] is `ORDER BY id DESC` over a filter's range (the list, the export,
//!   the histogram's one pass). Rowid order is not always id order: a clock may step back, rows
//!   imported from an archive get new rowids with old ids, and a batch stores its syslog rows
//!   before its traps. So the blocks are taken by their greatest id. A row above the next
//!   block's greatest id can only be in a block already taken. Each such window of ids is read
//!   from the blocks taken so far in one statement: a `UNION ALL` of their rowid ranges, which
//!   SQLite sorts arm by arm (a block's rows at most) and merges. Usually a block's ids all lie
//!   below the next one's, so a window is one block. Blocks that overlap are read together, and
//!   the order stays exact.
//! - [`Device::around`] gives a message's neighbours in the order they were stored (rowid). It
//!   reads the device's blocks at or below the message's block (or at or above it).
//!
//! For counting (the histogram), [`Device::counted_blocks`] gives the device's blocks with the
//! collector's exact counts of its rows in each, and [`Device::rows_in_block`] reads one block's
//! rows where the counts alone do not say which slice of time they fall in.
//!
//! `FROM messages NOT INDEXED` keeps every index out and leaves the rowid range. Without it, an
//! id range in the clause and `ORDER BY id` make SQLite walk the primary key's index over the
//! whole range. Memory holds a page of candidate blocks and the blocks being merged; rows are
//! handed on one at a time. Blocks that overlap deeper than [`MAX_ARMS`] are not merged: the rest
//! of the range is then read through the primary key's index, filtered, as a plain query would
//! read it.
//!
//! A file from before schema 6 (the collector has not migrated it yet) still has
//! `idx_source_ip` and no block tables. For such a file, and for PostgreSQL, [`Device::of`]
//! returns None and the pages keep the plain query.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Instant;

use mutt_query::{Conn, Dialect, QueryError, Row, Value};

use crate::db::DbError;
use crate::filter::Filter;

/// log2 of the rowids in a block (the collector's `BLOCK_SHIFT`).
const BLOCK_SHIFT: u32 = 12;
/// The last rowid of a block, relative to its first.
const BLOCK_LAST: i64 = (1 << BLOCK_SHIFT) - 1;

/// The first and the last rowid of `block`.
fn rowids(block: i64) -> (i64, i64) {
    let first = block << BLOCK_SHIFT;
    (first, first | BLOCK_LAST)
}
/// Candidate blocks read at a time, by greatest id.
const CANDIDATES: usize = 128;
/// The most blocks merged in one window. A deeper overlap reads the rest by the primary key.
pub const MAX_ARMS: usize = 16;
/// Blocks a neighbour walk reads at a time.
const NEIGHBOUR_BLOCKS: usize = 8;

/// A device address whose rows this connection reads through the blocks.
#[derive(Debug, Clone)]
pub struct Device {
    ip: Value,
}

/// How [`Device::newest_first`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every matching row was handed on.
    Finished,
    /// The callback broke.
    Stopped,
    /// `until` passed first. Every row above `at` was handed on; some at or below it may not
    /// have been.
    OutOfTime { at: String },
}

/// One of a device's blocks: its id bounds and the device's rows in it, by type, as the
/// collector counts them (`device_blocks`).
#[derive(Debug)]
pub struct CountedBlock {
    pub block: i64,
    pub min_id: String,
    pub max_id: String,
    pub syslog: usize,
    pub snmp: usize,
}

/// Which way [`Device::around`] reads from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Before,
    After,
}

/// One entry of the candidate list: a block and its id bounds.
#[derive(Debug)]
struct Block {
    block: i64,
    min_id: String,
    max_id: String,
}

/// The upper end of what is left to read: ids below `id`, or at or below it.
#[derive(Debug)]
struct Upper {
    id: String,
    inclusive: bool,
}

/// The lower end of one window.
#[derive(Debug)]
enum Lower {
    /// Above the next candidate's greatest id.
    Above(String),
    /// The filter's own bound, once no candidate is left.
    AtLeast(String),
}

impl Lower {
    fn below(&self, upper: &Upper) -> bool {
        match self {
            Lower::Above(id) => *id < upper.id,
            Lower::AtLeast(id) => *id < upper.id || (*id == upper.id && upper.inclusive),
        }
    }
}

impl Device {
    /// The device that `f` names by address, when this connection reads devices by blocks.
    /// None: the plain query (PostgreSQL, a file from before the block index, or no address).
    pub fn of(conn: &mut Conn, f: &Filter) -> Result<Option<Device>, DbError> {
        match f.address() {
            Some(ip) => Device::new(conn, ip.clone()),
            None => Ok(None),
        }
    }

    /// The device at `ip`, when this connection reads devices by blocks.
    pub fn new(conn: &mut Conn, ip: Value) -> Result<Option<Device>, DbError> {
        if conn.dialect() != Dialect::Sqlite {
            return Ok(None);
        }
        let tables: Option<i64> = conn.first(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('device_blocks', 'message_blocks')",
            &[],
            |r| r.get(0),
        )?;
        Ok((tables == Some(2)).then_some(Device { ip }))
    }

    /// Hand `each` the rows of `f` (which names this device) in `id DESC` order. This is what
    /// `SELECT {columns} FROM messages WHERE {f.where_clause()} ORDER BY id DESC` would give.
    /// It goes on until `each` breaks, the rows end, or `until` passes (checked between
    /// statements, each a few blocks' rows). `columns` must include `id`.
    pub fn newest_first<F>(
        &self,
        conn: &mut Conn,
        f: &Filter,
        columns: &str,
        until: Instant,
        mut each: F,
    ) -> Result<Outcome, DbError>
    where
        F: FnMut(&Row<'_>) -> Result<ControlFlow<()>, QueryError>,
    {
        let (lo, hi) = f.id_range();
        let (equals, values) = f.equals_clause();
        let window = Window {
            columns,
            equals: &equals,
            values: &values,
        };
        let mut candidates = Candidates::new(self.ip.clone(), lo.clone(), hi.clone());
        let mut upper = Upper {
            id: hi,
            inclusive: false,
        };
        let mut taken: Vec<Block> = Vec::new();
        loop {
            if Instant::now() >= until {
                return Ok(Outcome::OutOfTime { at: upper.id });
            }
            if taken.is_empty() {
                match candidates.pop(conn)? {
                    Some(b) => taken.push(b),
                    None => return Ok(Outcome::Finished),
                }
            }
            // Every block not taken yet ends at or below `next`, so the ids above it are all in
            // the blocks taken.
            let next = candidates.next_max(conn)?;
            let lower = match &next {
                Some(max) => Lower::Above(max.clone()),
                None => Lower::AtLeast(lo.clone()),
            };
            if taken.len() > MAX_ARMS {
                let rest = Lower::AtLeast(lo.clone());
                let flow = window.by_primary_key(conn, &rest, &upper, &mut each)?;
                return Ok(outcome(flow));
            }
            if lower.below(&upper)
                && window
                    .read(conn, &taken, &lower, &upper, &mut each)?
                    .is_break()
            {
                return Ok(Outcome::Stopped);
            }
            let Some(max) = next else {
                return Ok(Outcome::Finished);
            };
            // A block whose least id is above `max` has had every row read.
            taken.retain(|b| b.min_id <= max);
            if max < upper.id {
                upper = Upper {
                    id: max,
                    inclusive: true,
                };
            }
            if let Some(b) = candidates.pop(conn)? {
                taken.push(b);
            }
        }
    }

    /// Hand `each` the device's blocks whose id bounds meet `[lo, hi)`, with its rows in each
    /// counted, in no order.
    pub fn counted_blocks<F>(
        &self,
        conn: &mut Conn,
        lo: &str,
        hi: &str,
        mut each: F,
    ) -> Result<(), DbError>
    where
        F: FnMut(CountedBlock),
    {
        let params = [self.ip.clone(), Value::from(lo), Value::from(hi)];
        conn.for_each(
            "SELECT d.block, b.min_id, b.max_id, d.syslog_rows, d.snmp_rows \
             FROM device_blocks AS d JOIN message_blocks AS b ON b.block = d.block \
             WHERE d.source_ip = ? AND b.max_id >= ? AND b.min_id < ?",
            &params,
            |r| {
                each(CountedBlock {
                    block: r.get(0)?,
                    min_id: r.get(1)?,
                    max_id: r.get(2)?,
                    syslog: count(r, 3)?,
                    snmp: count(r, 4)?,
                });
                Ok(ControlFlow::Continue(()))
            },
        )?;
        Ok(())
    }

    /// Hand `each` the rows of `f` (which names this device) stored in `block`, in no set
    /// order: the block's rowid range read whole and filtered, as a window reads it.
    pub fn rows_in_block<F>(
        &self,
        conn: &mut Conn,
        f: &Filter,
        block: i64,
        columns: &str,
        mut each: F,
    ) -> Result<(), DbError>
    where
        F: FnMut(&Row<'_>) -> Result<(), QueryError>,
    {
        let (clause, values) = f.where_clause();
        let sql = format!(
            "SELECT {columns} FROM messages NOT INDEXED WHERE rowid BETWEEN ? AND ? AND {clause}"
        );
        let (first, last) = rowids(block);
        let mut params = vec![Value::Integer(first), Value::Integer(last)];
        params.extend(values);
        conn.for_each(&sql, &params, |r| {
            each(r)?;
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(())
    }

    /// Hand `each` up to `n` of this device's rows stored just before (or after) the message
    /// `id`, nearest first: the arrival order, as `source_ip = ? AND rowid < ? ORDER BY rowid
    /// DESC LIMIT n` (or `>` and ascending) would give them.
    pub fn around<F>(
        &self,
        conn: &mut Conn,
        id: &str,
        direction: Direction,
        n: usize,
        columns: &str,
        mut each: F,
    ) -> Result<(), DbError>
    where
        F: FnMut(&Row<'_>) -> Result<(), QueryError>,
    {
        let rowid: Option<i64> = conn.first(
            "SELECT rowid FROM messages WHERE id = ?",
            &[Value::from(id)],
            |r| r.get(0),
        )?;
        let Some(rowid) = rowid else { return Ok(()) };
        let (blocks_sql, order) = match direction {
            Direction::Before => (
                "SELECT block FROM device_blocks WHERE source_ip = ? AND block <= ? \
                 ORDER BY block DESC LIMIT ?",
                "DESC",
            ),
            Direction::After => (
                "SELECT block FROM device_blocks WHERE source_ip = ? AND block >= ? \
                 ORDER BY block LIMIT ?",
                "",
            ),
        };
        let rows_sql = format!(
            "SELECT {columns} FROM messages NOT INDEXED WHERE rowid BETWEEN ? AND ? \
             AND source_ip = ? ORDER BY rowid {order} LIMIT ?"
        );
        let mut left = n;
        let mut from = rowid >> BLOCK_SHIFT;
        let mut blocks = Vec::with_capacity(NEIGHBOUR_BLOCKS);
        while left > 0 {
            blocks.clear();
            let params = [
                self.ip.clone(),
                Value::Integer(from),
                Value::Integer(NEIGHBOUR_BLOCKS as i64),
            ];
            conn.for_each(blocks_sql, &params, |r| {
                blocks.push(r.get::<i64>(0)?);
                Ok(ControlFlow::Continue(()))
            })?;
            for &b in &blocks {
                let (first, last) = rowids(b);
                let (first, last) = match direction {
                    Direction::Before => (first, last.min(rowid.saturating_sub(1))),
                    Direction::After => (first.max(rowid.saturating_add(1)), last),
                };
                let params = [
                    Value::Integer(first),
                    Value::Integer(last),
                    self.ip.clone(),
                    Value::Integer(left as i64),
                ];
                conn.for_each(&rows_sql, &params, |r| {
                    each(r)?;
                    left = left.saturating_sub(1);
                    Ok(ControlFlow::Continue(()))
                })?;
                if left == 0 {
                    break;
                }
            }
            let next = match (blocks.last(), direction) {
                (Some(&b), Direction::Before) if blocks.len() == NEIGHBOUR_BLOCKS => {
                    b.checked_sub(1)
                }
                (Some(&b), Direction::After) if blocks.len() == NEIGHBOUR_BLOCKS => {
                    b.checked_add(1)
                }
                _ => None,
            };
            match next {
                Some(b) => from = b,
                None => break,
            }
        }
        Ok(())
    }
}

/// A count column: a number of rows (never below 0).
fn count(r: &Row<'_>, i: usize) -> Result<usize, QueryError> {
    Ok(usize::try_from(r.get::<i64>(i)?).unwrap_or(0))
}

fn outcome(flow: ControlFlow<()>) -> Outcome {
    if flow.is_break() {
        Outcome::Stopped
    } else {
        Outcome::Finished
    }
}

/// The device's blocks that may hold rows of the range, greatest id first, read a page at a
/// time.
struct Candidates {
    ip: Value,
    lo: String,
    hi: String,
    page: VecDeque<Block>,
    /// The last block read, where the next page starts below: (max_id, block).
    after: Option<(String, i64)>,
    done: bool,
}

impl Candidates {
    fn new(ip: Value, lo: String, hi: String) -> Candidates {
        Candidates {
            ip,
            lo,
            hi,
            page: VecDeque::with_capacity(CANDIDATES),
            after: None,
            done: false,
        }
    }

    fn fill(&mut self, conn: &mut Conn) -> Result<(), QueryError> {
        if !self.page.is_empty() || self.done {
            return Ok(());
        }
        let mut params = vec![
            self.ip.clone(),
            Value::Text(self.lo.clone()),
            Value::Text(self.hi.clone()),
        ];
        let keyset = match &self.after {
            Some((max, block)) => {
                params.extend([Value::Text(max.clone()), Value::Integer(*block)]);
                " AND (b.max_id, d.block) < (?, ?)"
            }
            None => "",
        };
        let sql = format!(
            "SELECT d.block, b.min_id, b.max_id FROM device_blocks AS d \
             JOIN message_blocks AS b ON b.block = d.block \
             WHERE d.source_ip = ? AND b.max_id >= ? AND b.min_id < ?{keyset} \
             ORDER BY b.max_id DESC, d.block DESC LIMIT {CANDIDATES}"
        );
        let page = &mut self.page;
        conn.for_each(&sql, &params, |r| {
            page.push_back(Block {
                block: r.get(0)?,
                min_id: r.get(1)?,
                max_id: r.get(2)?,
            });
            Ok(ControlFlow::Continue(()))
        })?;
        self.done = self.page.len() < CANDIDATES;
        self.after = self.page.back().map(|b| (b.max_id.clone(), b.block));
        Ok(())
    }

    /// The greatest id of the next candidate.
    fn next_max(&mut self, conn: &mut Conn) -> Result<Option<String>, QueryError> {
        self.fill(conn)?;
        Ok(self.page.front().map(|b| b.max_id.clone()))
    }

    fn pop(&mut self, conn: &mut Conn) -> Result<Option<Block>, QueryError> {
        self.fill(conn)?;
        Ok(self.page.pop_front())
    }
}

/// The statement that reads one window of ids: the filter's columns and conditions.
struct Window<'a> {
    columns: &'a str,
    equals: &'a str,
    values: &'a [Value],
}

impl Window<'_> {
    /// The ids between `lower` and `upper` in the blocks `taken`, newest first.
    fn read<F>(
        &self,
        conn: &mut Conn,
        taken: &[Block],
        lower: &Lower,
        upper: &Upper,
        each: &mut F,
    ) -> Result<ControlFlow<()>, QueryError>
    where
        F: FnMut(&Row<'_>) -> Result<ControlFlow<()>, QueryError>,
    {
        let ranges = rowid_ranges(taken);
        let (sql, bounds) = self.sql(ranges.len(), lower, upper);
        let mut params = Vec::with_capacity(ranges.len() * (4 + self.values.len()));
        for (first, last) in ranges {
            params.extend([Value::Integer(first), Value::Integer(last)]);
            params.extend(bounds.iter().cloned());
            params.extend(self.values.iter().cloned());
        }
        run(conn, &sql, &params, each)
    }

    /// The rest of the range through the primary key's index, as a plain query.
    fn by_primary_key<F>(
        &self,
        conn: &mut Conn,
        lower: &Lower,
        upper: &Upper,
        each: &mut F,
    ) -> Result<ControlFlow<()>, QueryError>
    where
        F: FnMut(&Row<'_>) -> Result<ControlFlow<()>, QueryError>,
    {
        let (lower_op, lower_id) = lower.sql();
        let upper_op = upper.op();
        let sql = format!(
            "SELECT {} FROM messages WHERE id {lower_op} ? AND id {upper_op} ?{} \
             ORDER BY id DESC",
            self.columns, self.equals
        );
        let mut params = vec![Value::Text(lower_id.into()), Value::Text(upper.id.clone())];
        params.extend(self.values.iter().cloned());
        run(conn, &sql, &params, each)
    }

    /// The text for `arms` rowid ranges, and the id bounds each arm binds after its range.
    fn sql(&self, arms: usize, lower: &Lower, upper: &Upper) -> (String, [Value; 2]) {
        let (lower_op, lower_id) = lower.sql();
        let upper_op = upper.op();
        let arm = format!(
            "SELECT {} FROM messages NOT INDEXED WHERE rowid BETWEEN ? AND ? \
             AND id {lower_op} ? AND id {upper_op} ?{}",
            self.columns, self.equals
        );
        let sql = format!("{} ORDER BY id DESC", vec![arm; arms].join(" UNION ALL "));
        let bounds = [Value::Text(lower_id.into()), Value::Text(upper.id.clone())];
        (sql, bounds)
    }
}

impl Lower {
    fn sql(&self) -> (&'static str, &str) {
        match self {
            Lower::Above(id) => (">", id),
            Lower::AtLeast(id) => (">=", id),
        }
    }
}

impl Upper {
    fn op(&self) -> &'static str {
        if self.inclusive {
            "<="
        } else {
            "<"
        }
    }
}

fn run<F>(
    conn: &mut Conn,
    sql: &str,
    params: &[Value],
    each: &mut F,
) -> Result<ControlFlow<()>, QueryError>
where
    F: FnMut(&Row<'_>) -> Result<ControlFlow<()>, QueryError>,
{
    let mut flow = ControlFlow::Continue(());
    conn.for_each(sql, params, |r| {
        flow = each(r)?;
        Ok(flow)
    })?;
    Ok(flow)
}

/// The rowid ranges of `blocks`, adjacent blocks joined into one range.
fn rowid_ranges(blocks: &[Block]) -> Vec<(i64, i64)> {
    let mut numbers: Vec<i64> = blocks.iter().map(|b| b.block).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::with_capacity(numbers.len());
    for b in numbers {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(b) => *last = b,
            _ => runs.push((b, b)),
        }
    }
    runs.into_iter()
        .map(|(first, last)| (rowids(first).0, rowids(last).1))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use mutt_query::{Pool, Session, Source};

    use super::*;

    /// The contract's tables, as the collector creates them, and a `messages` with the columns
    /// these tests read.
    const SCHEMA: &str = "
        CREATE TABLE messages (id TEXT PRIMARY KEY, type TEXT NOT NULL, source_ip TEXT NOT NULL);
        CREATE TABLE device_blocks (source_ip TEXT NOT NULL, block INTEGER NOT NULL,
                                    syslog_rows INTEGER NOT NULL, snmp_rows INTEGER NOT NULL,
                                    PRIMARY KEY (source_ip, block)) WITHOUT ROWID;
        CREATE TABLE message_blocks (block INTEGER PRIMARY KEY, min_id TEXT NOT NULL,
                                     max_id TEXT NOT NULL);
    ";
    /// What the collector's `index_rows_from(conn, 0)` runs on a file indexed for the first time.
    const INDEX: &str = "
        INSERT INTO device_blocks
            SELECT source_ip, rowid >> 12, sum(type = 'syslog'), sum(type = 'snmp_trap')
            FROM messages GROUP BY 1, 2;
        INSERT INTO message_blocks
            SELECT rowid >> 12, min(id), max(id) FROM messages GROUP BY rowid >> 12;
    ";

    pub(crate) struct File {
        _dir: tempfile::TempDir,
        pub(crate) pool: Arc<Pool>,
    }

    pub(crate) fn file() -> File {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.db");
        std::fs::File::create(&path).expect("create");
        let session = Session {
            read_only: false,
            statement_timeout: None,
            busy_timeout: Duration::from_secs(1),
        };
        let pool = Pool::new(Source::Sqlite(path), session, 1);
        pool.get().expect("open").batch(SCHEMA).expect("schema");
        File { _dir: dir, pool }
    }

    /// The id of millisecond `ms`, `seq` making it unique.
    fn id(ms: i64, seq: u64) -> String {
        format!("{:08x}-{:04x}-7000-8000-{seq:012x}", ms >> 16, ms & 0xffff)
    }

    /// A small deterministic generator (xorshift), so a failure can be run again.
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Store rows in the order given: (ms, device, trap), then index them.
    pub(crate) fn fill(conn: &mut Conn, rows: &[(i64, u64, bool)]) {
        conn.batch("BEGIN").expect("begin");
        for (seq, (ms, device, trap)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO messages (id, type, source_ip) VALUES (?, ?, ?)",
                &[
                    Value::Text(id(*ms, seq as u64)),
                    Value::from(if *trap { "snmp_trap" } else { "syslog" }),
                    Value::Text(format!("10.0.0.{device}")),
                ],
            )
            .expect("insert");
        }
        conn.batch(INDEX).expect("index");
        conn.batch("COMMIT").expect("commit");
    }

    pub(crate) fn filter(q: &[(&str, &str)], now: i64) -> Filter {
        let pairs: Vec<(String, String)> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Filter::parse(&pairs, now).expect("filter")
    }

    fn plain(conn: &mut Conn, f: &Filter) -> Vec<String> {
        let (clause, params) = f.where_clause();
        let sql = format!("SELECT id FROM messages WHERE {clause} ORDER BY id DESC");
        let rows = conn.rows(&sql, &params).expect("plain");
        rows.into_iter()
            .map(|r| match &r[0] {
                Value::Text(t) => t.clone(),
                other => panic!("an id: {other:?}"),
            })
            .collect()
    }

    fn by_blocks(conn: &mut Conn, f: &Filter) -> (Vec<String>, Outcome) {
        let device = Device::of(conn, f).expect("check").expect("blocks");
        let far = Instant::now() + Duration::from_secs(60);
        let mut ids = Vec::new();
        let outcome = device
            .newest_first(conn, f, "id, type", far, |r| {
                ids.push(r.get(0)?);
                Ok(ControlFlow::Continue(()))
            })
            .expect("read");
        (ids, outcome)
    }

    pub(crate) const NOW: i64 = 1_796_000_000_000;

    /// Rows from three devices whose ids stray from rowid order: jitter within a batch, a
    /// clock that steps back, and an import of old rows stored last.
    pub(crate) fn unordered(rng: &mut Rng) -> Vec<(i64, u64, bool)> {
        let mut rows = Vec::new();
        let mut ms = NOW - 3_600_000;
        for i in 0..14_000 {
            ms += 200;
            if i == 6_000 {
                ms -= 600_000; // the clock steps back ten minutes
            }
            let device = [1, 1, 1, 2, 2, 3][rng.below(6) as usize];
            rows.push((ms - rng.below(3_000) as i64, device, rng.below(5) == 0));
        }
        for _ in 0..3_000 {
            // imported: old ids, new rowids
            let ms = NOW - 3_600_000 + rng.below(1_800_000) as i64;
            rows.push((ms, 1 + rng.below(3), false));
        }
        rows
    }

    #[test]
    fn a_devices_rows_come_in_exact_id_order_whatever_the_rowid_order() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        fill(&mut conn, &unordered(&mut rng));
        let cursor = id(NOW - 1_500_000, 0);
        for q in [
            vec![("device", "10.0.0.1"), ("range", "24h")],
            vec![("device", "10.0.0.3"), ("range", "1h")],
            vec![("device", "10.0.0.2"), ("range", "15m")],
            vec![("device", "10.0.0.2"), ("type", "snmp_trap")],
            vec![("device", "10.0.0.1"), ("before", &cursor)],
            vec![("device", "10.0.0.9")],
        ] {
            let flt = filter(&q, NOW);
            let want = plain(&mut conn, &flt);
            let (got, outcome) = by_blocks(&mut conn, &flt);
            assert_eq!(outcome, Outcome::Finished, "{q:?}");
            assert_eq!(got.len(), want.len(), "{q:?}");
            assert!(got == want, "{q:?}: the same rows in the same order");
        }
    }

    #[test]
    fn blocks_that_all_overlap_are_read_by_the_primary_key_and_stay_exact() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        let mut rng = Rng(7);
        // Every block spans the whole hour: far deeper than MAX_ARMS.
        let rows: Vec<_> = (0..(MAX_ARMS as i64 + 4) * 4096)
            .map(|_| {
                (
                    NOW - 1 - rng.below(3_600_000) as i64,
                    1 + rng.below(2),
                    false,
                )
            })
            .collect();
        fill(&mut conn, &rows);
        let flt = filter(&[("device", "10.0.0.2"), ("range", "1h")], NOW);
        let (got, outcome) = by_blocks(&mut conn, &flt);
        assert_eq!(outcome, Outcome::Finished);
        assert!(got == plain(&mut conn, &flt));
    }

    #[test]
    fn reading_stops_where_the_callback_breaks_or_the_time_runs_out() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        let rows: Vec<_> = (0..10_000).map(|i| (NOW - 10_000 + i, 1, false)).collect();
        fill(&mut conn, &rows);
        let flt = filter(&[("device", "10.0.0.1"), ("range", "1h")], NOW);
        let device = Device::of(&mut conn, &flt).expect("check").expect("blocks");
        let mut n = 0;
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = device
            .newest_first(&mut conn, &flt, "id", far, |_| {
                n += 1;
                Ok(if n == 150 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })
            .expect("read");
        assert_eq!((outcome, n), (Outcome::Stopped, 150));
        let outcome = device
            .newest_first(&mut conn, &flt, "id", Instant::now(), |_| {
                panic!("no time to read a row")
            })
            .expect("read");
        assert_eq!(
            outcome,
            Outcome::OutOfTime {
                at: flt.id_range().1
            }
        );
    }

    #[test]
    fn neighbours_cross_blocks_in_arrival_order() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        let mut rng = Rng(99);
        // Device 1 is rare: a few rows a block, ids out of rowid order.
        let rows: Vec<_> = (0..20_000)
            .map(|i| {
                let device = if rng.below(1_000) == 0 { 1 } else { 2 };
                (NOW - 100_000 + i - rng.below(5_000) as i64, device, false)
            })
            .collect();
        fill(&mut conn, &rows);
        let ip = Value::from("10.0.0.1");
        let device = Device::new(&mut conn, ip.clone())
            .expect("check")
            .expect("blocks");
        let ids = conn
            .rows(
                "SELECT id FROM messages WHERE source_ip = ? ORDER BY rowid",
                std::slice::from_ref(&ip),
            )
            .expect("ids");
        assert!(ids.len() > 12, "enough of the rare device's rows");
        for at in [0, 1, ids.len() / 2, ids.len() - 2, ids.len() - 1] {
            let Value::Text(here) = &ids[at][0] else {
                panic!("an id")
            };
            for (direction, op, order) in [
                (Direction::Before, "<", "DESC"),
                (Direction::After, ">", "ASC"),
            ] {
                let want = conn
                    .rows(
                        &format!(
                            "SELECT id FROM messages WHERE source_ip = ? AND rowid {op} \
                             (SELECT rowid FROM messages WHERE id = ?) \
                             ORDER BY rowid {order} LIMIT 5"
                        ),
                        &[ip.clone(), Value::Text(here.clone())],
                    )
                    .expect("plain");
                let mut got = Vec::new();
                device
                    .around(&mut conn, here, direction, 5, "id", |r| {
                        got.push(vec![r.value(0)?]);
                        Ok(())
                    })
                    .expect("around");
                assert_eq!(got, want, "{direction:?} row {at}");
            }
        }
    }

    #[test]
    fn a_window_reads_its_blocks_by_rowid_not_through_an_index() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        conn.batch("CREATE INDEX idx_type ON messages(type)")
            .expect("an index to avoid");
        let window = Window {
            columns: "id, type",
            equals: " AND source_ip = ? AND type = ?",
            values: &[],
        };
        let upper = Upper {
            id: "b".into(),
            inclusive: false,
        };
        let (sql, _) = window.sql(2, &Lower::Above("a".into()), &upper);
        let plan = conn
            .rows(&format!("EXPLAIN QUERY PLAN {sql}"), &vec![Value::Null; 12])
            .expect("plan");
        let plan: Vec<String> = plan
            .into_iter()
            .filter_map(|r| match r.last() {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            })
            .collect();
        let scans: Vec<&String> = plan.iter().filter(|d| d.contains("messages")).collect();
        assert_eq!(scans.len(), 2, "{plan:?}");
        for d in scans {
            assert!(
                d.contains("USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)"),
                "{plan:?}"
            );
        }
        assert!(plan.iter().any(|d| d.contains("MERGE")), "{plan:?}");
    }

    #[test]
    fn a_file_without_the_block_tables_keeps_the_plain_query() {
        let f = file();
        let mut conn = f.pool.get().expect("open");
        let device = filter(&[("device", "10.0.0.1")], NOW);
        assert!(Device::of(&mut conn, &device).expect("check").is_some());
        assert!(
            Device::of(&mut conn, &filter(&[("device", "core-sw1")], NOW))
                .expect("check")
                .is_none()
        );
        conn.batch("DROP TABLE device_blocks; DROP TABLE message_blocks")
            .expect("a file from before the block index");
        assert!(Device::of(&mut conn, &device).expect("check").is_none());
    }

    #[test]
    fn adjacent_blocks_are_one_rowid_range() {
        let blocks: Vec<Block> = [5, 3, 4, 9]
            .into_iter()
            .map(|block| Block {
                block,
                min_id: String::new(),
                max_id: String::new(),
            })
            .collect();
        assert_eq!(
            rowid_ranges(&blocks),
            [(3 << 12, (6 << 12) - 1), (9 << 12, (10 << 12) - 1)]
        );
    }
}
