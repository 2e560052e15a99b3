//! PostgreSQL's time partitions of `messages` (`storage.postgresql.partition: daily | weekly`):
//! made while the table is empty, created ahead of the clock, and dropped by the archiver once
//! archived. SQLite has none: every function here does nothing on it.
//!
//! The archiver owns them because it is what removes them: one module creates and drops them.
//!
//! - **Shape.** `messages` is `PARTITION BY RANGE (received_at)`; its primary key is
//!   `(id, received_at)` (a partitioned table's unique keys must hold the partition key; ids
//!   are still unique, as each is a new UUIDv7 and `mutt archive import` checks an id before
//!   storing it). `messages_dYYYYMMDD` holds one UTC day, `messages_wYYYYMMDD` one ISO week
//!   from that Monday, and `messages_default` whatever no partition takes.
//! - **Never missing.** Each daemon start and each archiver check creates the partitions of the
//!   current period and the next two; `messages_default` catches a message whose period has no
//!   partition (a clock far off, the archiver disabled for days, a late message for a period
//!   already dropped), so storing never fails for want of a partition. Rows in the default
//!   partition are archived and deleted by id, as in an unpartitioned table.
//! - **Made, not converted.** [`prepare`] partitions `messages` only while it is empty (a new
//!   database, or one whose messages were all archived): converting a full table would rewrite
//!   it under an exclusive lock. A table that holds rows stays as it is, and `mutt migrate`
//!   says so.
//!
//! Partition names are built only from dates formatted here, never from input.

use std::collections::BTreeMap;

use mutt_query::{Conn, Dialect, Value};
use tracing::warn;

use super::ArchiveError;
use crate::config::Partition;
use crate::timefmt;

const DAY_US: i64 = 86_400 * 1_000_000;
/// Periods made ahead of the current one.
const AHEAD: i64 = 2;
const DEFAULT_PARTITION: &str = "messages_default";

/// One partition of `messages` that this module named, and the times it holds: from `from_us`
/// (included) to `to_us` (excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub from_us: i64,
    pub to_us: i64,
}

impl Part {
    /// The partition of `period` that holds the time `us`, or `None` for no partitioning.
    pub fn of(period: Partition, us: i64) -> Option<Part> {
        let day = us.div_euclid(DAY_US);
        let (letter, first, days) = match period {
            Partition::None => return None,
            Partition::Daily => ('d', day, 1),
            // 1970-01-01 was a Thursday: Monday is 3 days before a multiple of 7.
            Partition::Weekly => ('w', day - (day + 3).rem_euclid(7), 7),
        };
        let from_us = first * DAY_US;
        let date = timefmt::iso8601_us(from_us);
        Some(Part {
            name: format!("messages_{letter}{}", date.get(..10)?.replace('-', "")),
            from_us,
            to_us: from_us + days * DAY_US,
        })
    }

    /// The partition a name of this module's stands for; `None` for any other name.
    fn parse(name: &str) -> Option<Part> {
        let rest = name.strip_prefix("messages_")?;
        let (period, digits) = match rest.split_at_checked(1)? {
            ("d", d) => (Partition::Daily, d),
            ("w", d) => (Partition::Weekly, d),
            _ => return None,
        };
        if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let text = format!(
            "{}-{}-{}T00:00:00Z",
            &digits[..4],
            &digits[4..6],
            &digits[6..]
        );
        let part = Part::of(period, timefmt::parse_rfc3339_us(&text)?)?;
        // A weekly name not on a Monday was not made here.
        (part.name == name).then_some(part)
    }

    /// `FOR VALUES FROM (…) TO (…)`, from times formatted here.
    fn bounds(&self) -> String {
        format!(
            "FOR VALUES FROM ('{}') TO ('{}')",
            timefmt::iso8601_us(self.from_us),
            timefmt::iso8601_us(self.to_us)
        )
    }

    /// The messages `days` counts (per `YYYY-MM-DD` of `received_at`) inside this partition.
    fn count_in(&self, days: &BTreeMap<String, u64>) -> u64 {
        let (from, to) = (day_of(self.from_us), day_of(self.to_us));
        days.range(from..to).map(|(_, n)| n).sum()
    }
}

fn day_of(us: i64) -> String {
    timefmt::iso8601_us(us).chars().take(10).collect()
}

/// What [`prepare`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// SQLite, or PostgreSQL with `partition: none` and a plain table.
    Unpartitioned,
    /// The empty table was made partitioned now; the partitions created.
    Converted(Vec<String>),
    /// Already partitioned; the partitions created ahead now.
    Partitioned(Vec<String>),
    /// `partition` asks for partitions, but `messages` holds rows: left as it is.
    KeptUnpartitioned,
}

impl Prepared {
    /// One line for `mutt migrate` and the daemon's log.
    pub fn describe(&self, period: Partition) -> String {
        let period = match period {
            Partition::None => "none",
            Partition::Daily => "daily",
            Partition::Weekly => "weekly",
        };
        match self {
            Prepared::Unpartitioned => "messages is not partitioned".into(),
            Prepared::Converted(made) => format!(
                "messages partitioned by received_at ({period}); partitions created: {}",
                made.join(", ")
            ),
            Prepared::Partitioned(made) if made.is_empty() => {
                "messages is partitioned by received_at; its partitions are made ahead".into()
            }
            Prepared::Partitioned(made) => format!(
                "messages is partitioned by received_at; partitions created: {}",
                made.join(", ")
            ),
            Prepared::KeptUnpartitioned => format!(
                "storage.postgresql.partition is {period}, but messages already holds rows and \
                 is not partitioned: left as it is (a table is partitioned while empty; see \
                 docs/ARCHITECTURE.md)"
            ),
        }
    }
}

/// At `mutt migrate` and daemon start: make an empty `messages` partitioned when `period`
/// asks for it, and create the partitions ahead.
pub fn prepare(conn: &mut Conn, period: Partition, now_us: i64) -> Result<Prepared, ArchiveError> {
    if conn.dialect() == Dialect::Sqlite {
        return Ok(Prepared::Unpartitioned);
    }
    if is_partitioned(conn)? {
        return Ok(Prepared::Partitioned(ensure_ahead(conn, period, now_us)?));
    }
    if period == Partition::None {
        return Ok(Prepared::Unpartitioned);
    }
    if !conn.transaction(convert_if_empty)? {
        return Ok(Prepared::KeptUnpartitioned);
    }
    Ok(Prepared::Converted(ensure_ahead(conn, period, now_us)?))
}

fn is_partitioned(conn: &mut Conn) -> Result<bool, ArchiveError> {
    let kind: Option<String> = conn.first(
        "SELECT relkind::text FROM pg_class WHERE oid = to_regclass('messages')",
        &[],
        |r| r.get(0),
    )?;
    Ok(kind.as_deref() == Some("p"))
}

/// In the caller's transaction: when `messages` is empty, make it again partitioned by
/// `received_at` with the same columns, defaults, indexes and views (read from the catalog, so
/// an operator's added column or index is kept). False, changing nothing, when it holds rows.
fn convert_if_empty(conn: &mut Conn) -> Result<bool, ArchiveError> {
    // No collector stores while this runs; one that tries waits for the commit.
    conn.batch("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")?;
    if conn
        .first("SELECT 1 FROM messages LIMIT 1", &[], |_| Ok(()))?
        .is_some()
    {
        return Ok(false);
    }
    let texts = |conn: &mut Conn, sql: &str| -> Result<Vec<Vec<String>>, ArchiveError> {
        let mut out = Vec::new();
        for row in conn.rows(sql, &[])? {
            out.push(
                row.into_iter()
                    .map(|v| match v {
                        Value::Text(t) => t,
                        _ => String::new(),
                    })
                    .collect(),
            );
        }
        Ok(out)
    };
    // The views on messages (the schema's two, and any an operator added), then its indexes
    // but the primary key's.
    let views = texts(
        conn,
        "SELECT DISTINCT v.relname::text, pg_get_viewdef(v.oid) FROM pg_depend d \
         JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class \
         WHERE d.refobjid = to_regclass('messages') AND v.relkind = 'v' \
         AND v.oid <> to_regclass('messages')",
    )?;
    let indexes = texts(
        conn,
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid = to_regclass('messages') AND NOT i.indisprimary",
    )?;
    conn.batch(
        "CREATE TABLE messages_partitioned (LIKE messages INCLUDING DEFAULTS \
         INCLUDING CONSTRAINTS INCLUDING COMMENTS) PARTITION BY RANGE (received_at)",
    )?;
    for view in &views {
        conn.batch(&format!("DROP VIEW {}", quote(&view[0])))?;
    }
    conn.batch(
        "DROP TABLE messages;
         ALTER TABLE messages_partitioned RENAME TO messages;
         ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id, received_at);",
    )?;
    for index in &indexes {
        conn.batch(&index[0])?;
    }
    for view in &views {
        conn.batch(&format!("CREATE VIEW {} AS {}", quote(&view[0]), view[1]))?;
    }
    conn.batch(&format!(
        "CREATE TABLE {DEFAULT_PARTITION} PARTITION OF messages DEFAULT"
    ))?;
    Ok(true)
}

/// A name from the catalog as an SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The partitions of the current period and the next [`AHEAD`], and the default partition,
/// where missing; returns the names created. Does nothing on SQLite, on a table that is not
/// partitioned, or with `partition: none`. A partition that cannot be made (the default
/// partition already holds rows of its period, or an operator's partition overlaps it) is
/// logged and passed over: those rows stay where they are, and storing goes on.
pub fn ensure_ahead(
    conn: &mut Conn,
    period: Partition,
    now_us: i64,
) -> Result<Vec<String>, ArchiveError> {
    if conn.dialect() == Dialect::Sqlite || period == Partition::None || !is_partitioned(conn)? {
        return Ok(Vec::new());
    }
    let mut wanted = Vec::new();
    let mut at = now_us;
    for _ in 0..=AHEAD {
        let Some(part) = Part::of(period, at) else {
            break;
        };
        at = part.to_us;
        wanted.push((part.name.clone(), part.bounds()));
    }
    wanted.push((DEFAULT_PARTITION.to_string(), "DEFAULT".to_string()));
    let mut created = Vec::new();
    for (name, bounds) in wanted {
        if exists(conn, &name)? {
            continue;
        }
        // Each in its own statement: one that fails leaves the others made.
        match conn.batch(&format!(
            "CREATE TABLE {name} PARTITION OF messages {bounds}"
        )) {
            Ok(()) => created.push(name),
            // Another collector made it at the same moment.
            Err(_) if exists(conn, &name)? => {}
            Err(e) => {
                warn!(partition = %name, error = %e, "cannot create a partition of messages; its messages go to the default partition")
            }
        }
    }
    Ok(created)
}

fn exists(conn: &mut Conn, name: &str) -> Result<bool, ArchiveError> {
    let found = conn.first(
        "SELECT 1 FROM pg_class WHERE oid = to_regclass(?1)",
        &[Value::from(name)],
        |_| Ok(()),
    )?;
    Ok(found.is_some())
}

/// The partitions named here that hold only times before `before` (ISO 8601 UTC, as a
/// [`super::Cutoff`]'s), oldest first; empty on SQLite or a table that is not partitioned.
pub fn retirable(conn: &mut Conn, before: &str) -> Result<Vec<Part>, ArchiveError> {
    if conn.dialect() == Dialect::Sqlite || !is_partitioned(conn)? {
        return Ok(Vec::new());
    }
    let Some(before_us) = timefmt::parse_rfc3339_us(before) else {
        return Ok(Vec::new());
    };
    let mut parts = Vec::new();
    for row in conn.rows(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = to_regclass('messages') ORDER BY 1",
        &[],
    )? {
        if let Some(Value::Text(name)) = row.into_iter().next() {
            if let Some(part) = Part::parse(&name).filter(|p| p.to_us <= before_us) {
                parts.push(part);
            }
        }
    }
    parts.sort_by_key(|p| p.from_us);
    Ok(parts)
}

/// What [`drop_archived`] did.
#[derive(Debug, Default)]
pub struct Dropped {
    /// Each dropped partition and the messages it held.
    pub dropped: Vec<(String, u64)>,
    /// Each partition kept: rows found, rows archived from its period.
    pub kept: Vec<(String, u64, u64)>,
}

/// Drop each partition of `parts` that holds exactly the messages archived from its period
/// (`days`, as `export` counted them), in one transaction, after the archives are recorded.
/// Each is locked before it is counted, so a collector cannot store into it between the count
/// and the drop; one that holds more (a message stored late, after the export read its period)
/// is kept for the next run.
pub fn drop_archived(
    conn: &mut Conn,
    parts: &[Part],
    days: &BTreeMap<String, u64>,
) -> Result<Dropped, ArchiveError> {
    conn.transaction(|tx| {
        let mut out = Dropped::default();
        for part in parts {
            // `part.name` is one this module formatted (`Part::parse` checked it).
            tx.batch(&format!(
                "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                part.name
            ))?;
            let found: i64 = tx
                .first(&format!("SELECT count(*) FROM {}", part.name), &[], |r| {
                    r.get(0)
                })?
                .unwrap_or(0);
            let found = found.max(0) as u64;
            let archived = part.count_in(days);
            if found == archived {
                tx.batch(&format!("DROP TABLE {}", part.name))?;
                out.dropped.push((part.name.clone(), found));
            } else {
                out.kept.push((part.name.clone(), found, archived));
            }
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        timefmt::parse_rfc3339_us(text).expect("time")
    }

    #[test]
    fn a_day_partition_holds_one_utc_day_and_a_week_partition_starts_on_monday() {
        let d = Part::of(Partition::Daily, at("2026-12-02T23:59:59.999999Z")).expect("daily");
        assert_eq!(d.name, "messages_d20261202");
        assert_eq!(d.from_us, at("2026-12-02T00:00:00Z"));
        assert_eq!(d.to_us, at("2026-12-03T00:00:00Z"));
        // 2026-12-02 is a Wednesday; its week began on Monday 2026-11-30.
        let w = Part::of(Partition::Weekly, at("2026-12-02T12:00:00Z")).expect("weekly");
        assert_eq!(w.name, "messages_w20261130");
        assert_eq!(w.to_us - w.from_us, 7 * DAY_US);
        let monday = Part::of(Partition::Weekly, at("2026-11-30T00:00:00Z")).expect("weekly");
        assert_eq!(monday, w);
        assert_eq!(Part::of(Partition::None, 0), None);
    }

    #[test]
    fn only_names_made_here_are_read_back_as_partitions() {
        assert_eq!(
            Part::parse("messages_d20261202"),
            Part::of(Partition::Daily, at("2026-12-02T00:00:00Z"))
        );
        assert!(Part::parse("messages_w20261130").is_some());
        assert_eq!(Part::parse("messages_w20261201"), None, "not a Monday");
        assert_eq!(Part::parse("messages_default"), None);
        assert_eq!(Part::parse("messages_d2026120"), None);
        assert_eq!(Part::parse("messages_x20261202"), None);
    }

    #[test]
    fn a_partition_counts_the_archived_messages_of_its_days_only() {
        let days: BTreeMap<String, u64> = [
            ("2026-11-29", 1),
            ("2026-11-30", 2),
            ("2026-12-06", 3),
            ("2026-12-07", 4),
        ]
        .into_iter()
        .map(|(d, n)| (d.to_string(), n))
        .collect();
        let w = Part::of(Partition::Weekly, at("2026-12-02T00:00:00Z")).expect("weekly");
        assert_eq!(w.count_in(&days), 5);
        let d = Part::of(Partition::Daily, at("2026-11-30T08:00:00Z")).expect("daily");
        assert_eq!(d.count_in(&days), 2);
    }
}
