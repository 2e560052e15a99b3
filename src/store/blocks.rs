//! The index of messages by device, kept by blocks of rows instead of by row (schema 6).
//!
//! A row index on `messages(source_ip)` (the seed's `idx_source_ip`) costs every message an
//! insert at its device's own place in a large B-tree: about 1 µs of the writer's CPU a message
//! under the load bench, most of what kept MUTT above twice rsyslog's CPU (docs/PERFORMANCE.md,
//! sixth round). Instead, `messages` is cut into blocks of 4,096 rowids (block
//! `rowid >> BLOCK_SHIFT`), and:
//! - `device_blocks(source_ip, block, syslog_rows, snmp_rows)` has one entry per device per
//!   block it has rows in, with how many of each type, so a device that sends often costs one
//!   small upsert per block per transaction, not an index insert per message, and a device's
//!   count over time is a sum of entries;
//! - `message_blocks(block, min_id, max_id)` has each block's least and greatest message id, so
//!   a query by time can pick a device's blocks exactly even where rowid order is not id order
//!   (the clock stepped back, rows imported from an archive, a batch's syslog rows stored before
//!   its traps).
//!
//! A device's rows are then read a block at a time (a rowid range, at most 4,096 rows, filtered
//! by address): the web UI's device pages do that (`mutt-web`'s `device_rows`). The counts are
//! exact: the writer adds its rows' in their transaction, and the archiver takes the rows it
//! deletes off in theirs ([`subtract_ids`]; an entry whose counts reach 0 goes). Rows deleted
//! by hand leave the counts high; [`rebuild`] (`mutt migrate --reindex`) makes them exact
//! again. `message_blocks` may hold bounds wider than the rows left, never narrower; [`PRUNE`]
//! drops the blocks below the oldest row.
//!
//! The writer learns each row's rowid without asking: a multi-row INSERT into a rowid table with
//! no explicit rowid gives its rows `max(rowid) + 1` in order, so the statement's rows are
//! `last_insert_rowid() - n + 1 ..= last_insert_rowid()`.

use std::collections::HashMap;
use std::net::IpAddr;

use rusqlite::{params, Connection};

use crate::model::MessageKind;

/// log2 of the rowids per block (4,096).
pub const BLOCK_SHIFT: u32 = 12;

/// The two tables, as `schema::migrate` creates them.
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS device_blocks (
    source_ip TEXT NOT NULL,
    block INTEGER NOT NULL,
    syslog_rows INTEGER NOT NULL,
    snmp_rows INTEGER NOT NULL,
    PRIMARY KEY (source_ip, block)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS message_blocks (
    block INTEGER PRIMARY KEY,
    min_id TEXT NOT NULL,
    max_id TEXT NOT NULL
);
";

/// Drop the bounds of the blocks below the oldest stored message (nothing when there is none).
pub const PRUNE: &str =
    "DELETE FROM message_blocks WHERE block < (SELECT min(rowid) >> 12 FROM messages)";

/// Add the rows from rowid `?1` on, each once, for rows that did not come through the writer:
/// `mutt archive import`, a test's or a bench's own INSERTs.
pub const ADD_ROWS_FROM: [&str; 2] = [
    "INSERT INTO device_blocks (source_ip, block, syslog_rows, snmp_rows)
     SELECT source_ip, rowid >> 12, sum(type = 'syslog'), sum(type = 'snmp_trap')
     FROM messages WHERE rowid >= ?1 GROUP BY 1, 2
     ON CONFLICT (source_ip, block) DO UPDATE
     SET syslog_rows = syslog_rows + excluded.syslog_rows,
         snmp_rows = snmp_rows + excluded.snmp_rows",
    "INSERT INTO message_blocks (block, min_id, max_id)
     SELECT rowid >> 12, min(id), max(id) FROM messages WHERE rowid >= ?1
     GROUP BY rowid >> 12
     ON CONFLICT (block) DO UPDATE SET min_id = min(min_id, excluded.min_id),
                                       max_id = max(max_id, excluded.max_id)",
];

/// The statements that take the rows whose ids are `marks` (placeholders, `?, ?, …`) off the
/// counts, and drop the entries left with none; run with the ids bound, in the transaction that
/// deletes those rows, before the delete (the archiver's).
pub fn subtract_ids(marks: &str) -> [String; 2] {
    [
        format!(
            "UPDATE device_blocks SET syslog_rows = syslog_rows - d.gone_syslog,
                                      snmp_rows = snmp_rows - d.gone_snmp
             FROM (SELECT source_ip AS ip, rowid >> 12 AS blk,
                          sum(type = 'syslog') AS gone_syslog,
                          sum(type = 'snmp_trap') AS gone_snmp
                   FROM messages WHERE id IN ({marks}) GROUP BY 1, 2) AS d
             WHERE device_blocks.source_ip = d.ip AND device_blocks.block = d.blk"
        ),
        format!(
            "DELETE FROM device_blocks
             WHERE (source_ip, block) IN
                   (SELECT source_ip, rowid >> 12 FROM messages WHERE id IN ({marks}))
               AND syslog_rows <= 0 AND snmp_rows <= 0"
        ),
    ]
}

/// [`ADD_ROWS_FROM`] on a rusqlite connection: rows `first_rowid` on, each once.
pub fn index_rows_from(conn: &Connection, first_rowid: i64) -> rusqlite::Result<()> {
    for sql in ADD_ROWS_FROM {
        conn.execute(sql, [first_rowid])?;
    }
    Ok(())
}

/// Both tables made afresh from the rows there are: the migration to schema 6, or
/// `mutt migrate --reindex` after rows were deleted by hand.
pub fn rebuild(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("DELETE FROM device_blocks; DELETE FROM message_blocks;")?;
    index_rows_from(conn, 0)
}

/// The writer's side: what the rows of the open transaction add to the two tables. Nothing is
/// kept across transactions, so a rolled back one leaves nothing to undo but [`Blocks::forget`].
#[derive(Debug, Default)]
pub(super) struct Blocks {
    /// (address, block, [syslog rows, SNMP rows]), one per pair the transaction stored rows of.
    counts: Vec<(IpAddr, i64, [i64; 2])>,
    /// Where each pair is in `counts`. Consecutive rows from one device (a sender's burst) find
    /// theirs as the last entry without hashing.
    at: HashMap<(IpAddr, i64), usize>,
    /// Blocks written to, with the least and greatest id: (block, min, max).
    bounds: Vec<(i64, String, String)>,
}

impl Blocks {
    /// A row of `kind` was stored at `rowid`.
    pub(super) fn note(&mut self, ip: IpAddr, kind: MessageKind, id: &str, rowid: i64) {
        let block = rowid >> BLOCK_SHIFT;
        let column = match kind {
            MessageKind::Syslog => 0,
            MessageKind::SnmpTrap => 1,
        };
        match self.counts.last_mut() {
            Some((last_ip, last_block, n)) if *last_ip == ip && *last_block == block => {
                n[column] += 1;
            }
            _ => {
                let next = self.counts.len();
                let i = *self.at.entry((ip, block)).or_insert(next);
                if i == next {
                    self.counts.push((ip, block, [0, 0]));
                }
                self.counts[i].2[column] += 1;
            }
        }
        match self.bounds.last_mut() {
            Some((b, min, max)) if *b == block => {
                if id < min.as_str() {
                    min.clear();
                    min.push_str(id);
                } else if id > max.as_str() {
                    max.clear();
                    max.push_str(id);
                }
            }
            _ => self.bounds.push((block, id.to_string(), id.to_string())),
        }
    }

    /// Write what the transaction's rows added, in that transaction.
    pub(super) fn write(&mut self, tx: &Connection) -> rusqlite::Result<()> {
        if !self.counts.is_empty() {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO device_blocks (source_ip, block, syslog_rows, snmp_rows)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (source_ip, block) DO UPDATE
                 SET syslog_rows = syslog_rows + excluded.syslog_rows,
                     snmp_rows = snmp_rows + excluded.snmp_rows",
            )?;
            for (ip, block, [syslog, snmp]) in self.counts.drain(..) {
                upsert.execute(params![ip.to_string(), block, syslog, snmp])?;
            }
            self.at.clear();
        }
        if !self.bounds.is_empty() {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO message_blocks (block, min_id, max_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (block) DO UPDATE SET min_id = min(min_id, excluded.min_id),
                                                   max_id = max(max_id, excluded.max_id)",
            )?;
            for (block, min, max) in self.bounds.drain(..) {
                upsert.execute(params![block, min, max])?;
            }
        }
        Ok(())
    }

    /// The transaction was rolled back before [`Blocks::write`]: drop what its rows noted.
    pub(super) fn forget(&mut self) {
        self.counts.clear();
        self.at.clear();
        self.bounds.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MessageRow, MessageSink, Store};
    use std::time::Duration;

    /// `device_blocks`: (address, block, syslog rows, SNMP rows).
    type Entries = Vec<(String, i64, i64, i64)>;
    /// `message_blocks`: (block, min id, max id).
    type Bounds = Vec<(i64, String, String)>;

    /// The two tables as they are.
    fn tables(conn: &Connection) -> (Entries, Bounds) {
        let devices = conn
            .prepare("SELECT * FROM device_blocks ORDER BY 1, 2")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let bounds = conn
            .prepare("SELECT block, min_id, max_id FROM message_blocks ORDER BY 1")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        (devices, bounds)
    }

    /// What the two tables must hold for the rows there are, computed from them afresh.
    fn recomputed(conn: &Connection) -> (Entries, Bounds) {
        rebuild(conn).expect("rebuild");
        tables(conn)
    }

    fn rows(seqs: std::ops::Range<u64>, devices: u64) -> Vec<MessageRow> {
        seqs.map(|seq| {
            let ip = format!("10.0.{}.{}", seq % devices / 250, seq % devices % 250);
            MessageRow::test_syslog(seq, &ip, "dev")
        })
        .collect()
    }

    #[test]
    fn the_writer_keeps_the_tables_that_the_rows_imply_across_blocks_and_a_rolled_back_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.db");
        let mut store = Store::open(&path, Duration::from_secs(1)).expect("open");
        // A batch that fails after its entries were written (here: a checkpoint past SQLite's
        // integers) is rolled back with them: its address must get its entry when its rows come
        // again.
        let first = MessageRow::test_syslog(1, "192.0.2.1", "a");
        store
            .write_batch(std::slice::from_ref(&first), 1)
            .expect("write");
        let again = MessageRow::test_syslog(2, "192.0.2.2", "b");
        let batch = std::slice::from_ref(&again);
        assert!(store.write_batch(batch, u64::MAX).is_err());
        store.write_batch(batch, 2).expect("write");
        // 10,000 rows from 300 addresses over three blocks, in batches of 700.
        for batch in rows(3..10_003, 300).chunks(700) {
            let last = batch.last().expect("rows").seq;
            store.write_batch(batch, last).expect("write");
        }
        let conn = Connection::open(&path).expect("open");
        let written = tables(&conn);
        assert_eq!(written.1.len(), 3, "blocks 0, 1 and 2");
        assert_eq!(written.0.len(), 2 + 3 * 300);
        assert_eq!(written, recomputed(&conn));
    }

    #[test]
    fn a_quarantined_row_is_in_its_device_s_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.db");
        let mut store = Store::open(&path, Duration::from_secs(1)).expect("open");
        let row = MessageRow::test_syslog(1, "192.0.2.9", "odd");
        store.quarantine(&row, "a reason").expect("quarantine");
        let conn = Connection::open(&path).expect("open");
        let (devices, bounds) = tables(&conn);
        assert_eq!(devices, vec![("192.0.2.9".to_string(), 0, 1, 0)]);
        assert_eq!(bounds, vec![(0, row.id.clone(), row.id)]);
    }

    #[test]
    fn bounds_hold_ids_out_of_rowid_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.db");
        let mut store = Store::open(&path, Duration::from_secs(1)).expect("open");
        let mut batch = rows(1..41, 3);
        // As after the clock stepped back: later rows with smaller ids.
        batch.reverse();
        let ids: Vec<String> = batch.iter().map(|r| r.id.clone()).collect();
        store.write_batch(&batch, 40).expect("write");
        let conn = Connection::open(&path).expect("open");
        let (_, bounds) = tables(&conn);
        let min = ids.iter().min().expect("ids").clone();
        let max = ids.iter().max().expect("ids").clone();
        assert_eq!(bounds, vec![(0, min, max)]);
    }

    #[test]
    fn a_version_5_file_gets_its_blocks_and_loses_the_row_index() {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::store::schema::migrate(&mut conn).expect("create");
        conn.execute_batch(
            "DROP TABLE device_blocks; DROP TABLE message_blocks;
             CREATE INDEX idx_source_ip ON messages(source_ip); PRAGMA user_version = 5;",
        )
        .expect("make it version 5");
        for n in 0..5_000_i64 {
            conn.execute(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at)
                 VALUES (printf('id-%05d', ?1), 'syslog', printf('10.0.0.%d', ?1 % 7), 't', 't')",
                [n],
            )
            .expect("row");
        }
        crate::store::schema::migrate(&mut conn).expect("migrate");
        let (devices, bounds) = tables(&conn);
        assert_eq!(devices.len(), 14, "7 addresses in each of 2 blocks");
        assert_eq!(
            bounds,
            vec![
                (0, "id-00000".to_string(), "id-04094".to_string()),
                (1, "id-04095".to_string(), "id-04999".to_string()),
            ]
        );
        let index: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'idx_source_ip'",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(index, 0);
    }

    fn fill(conn: &mut Connection, rows: i64) {
        crate::store::schema::migrate(conn).expect("create");
        let tx = conn.transaction().expect("tx");
        for n in 1..=rows {
            tx.execute(
                "INSERT INTO messages (id, type, source_ip, timestamp, received_at)
                 VALUES (printf('id-%05d', ?1), iif(?1 % 3 = 0, 'snmp_trap', 'syslog'),
                         printf('10.0.0.%d', ?1 % 5), 't', 't')",
                [n],
            )
            .expect("row");
        }
        index_rows_from(&tx, 0).expect("index");
        tx.commit().expect("commit");
    }

    #[test]
    fn rows_the_archiver_deletes_leave_the_counts_the_rows_left_imply() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("blocks.db");
        let mut conn = Connection::open(&path).expect("open");
        fill(&mut conn, 9_000);
        // The oldest 5,000, and every row of 10.0.0.4 in block 2, as two archive chunks, through
        // the archiver's own delete.
        let chunks = [
            "SELECT id FROM messages WHERE rowid <= 5000",
            "SELECT id FROM messages WHERE rowid >= 8192 AND source_ip = '10.0.0.4'",
        ];
        for select in chunks {
            let ids: Vec<String> = conn
                .prepare(select)
                .expect("prepare")
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("ids");
            let mut archiver = mutt_query::Conn::sqlite(Connection::open(&path).expect("open"));
            let deleted =
                crate::archive::ledger::delete_chunk(&mut archiver, &ids).expect("delete");
            assert_eq!(deleted, ids.len());
        }
        let (devices, _) = tables(&conn);
        assert!(!devices.iter().any(|d| d.1 == 0), "block 0 is gone");
        assert!(!devices.contains(&("10.0.0.4".to_string(), 2, 0, 0)));
        let (expected, _) = recomputed(&conn);
        assert_eq!(devices, expected);
    }

    #[test]
    fn prune_drops_the_bounds_below_the_oldest_row_and_keeps_the_rest() {
        let mut conn = Connection::open_in_memory().expect("open");
        fill(&mut conn, 9_000);
        conn.execute("DELETE FROM messages WHERE rowid < 5000", [])
            .expect("delete");
        conn.execute_batch(PRUNE).expect("prune");
        let blocks: Vec<i64> = tables(&conn).1.iter().map(|b| b.0).collect();
        assert_eq!(blocks, vec![1, 2]);
        conn.execute("DELETE FROM messages", [])
            .expect("delete all");
        conn.execute_batch(PRUNE).expect("prune an empty table");
        assert_eq!(
            tables(&conn).1.len(),
            2,
            "nothing to go by, nothing dropped"
        );
    }

    #[test]
    fn the_sql_cuts_blocks_where_the_writer_does() {
        let subtract = subtract_ids("?");
        let all = ADD_ROWS_FROM.iter().copied().chain([PRUNE]);
        for sql in all.chain(subtract.iter().map(String::as_str)) {
            let shifts: Vec<&str> = sql.split(">> ").skip(1).collect();
            assert!(!shifts.is_empty(), "{sql}");
            for after in shifts {
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                assert_eq!(digits, BLOCK_SHIFT.to_string(), "{sql}");
            }
        }
    }
}
