//! The INSERT of a batch's messages: one row per message in `messages`, the common columns and
//! its type's (schema.rs), `ROWS_PER_STATEMENT` rows per statement.
//!
//! A statement's fixed cost (opening and closing its cursors on the table and every index,
//! halting the VM, resetting) was paid per message when each message was its own INSERT; a
//! multi-row INSERT pays it once per `ROWS_PER_STATEMENT` messages. What is one value for every
//! row of a statement is not bound per row: the message type is a literal, and `created_at` (the
//! seed's `DEFAULT CURRENT_TIMESTAMP`, which SQLite evaluated for each row) is one parameter
//! that every row of the statement names. Texts and blobs are bound without a copy
//! (static_bind.rs). docs/PERFORMANCE.md has the instruction counts.

use std::net::{IpAddr, Ipv4Addr};

use rusqlite::Transaction;

use super::blocks::Blocks;
use super::row::{Detail, MessageRow};
use super::schema;
use super::static_bind::{Bind, StaticStatement};
use crate::model::MessageKind;
use crate::timefmt::write_iso8601_us;

/// Rows per multi-row statement. A kind's last `< ROWS_PER_STATEMENT` rows of a batch go one by
/// one, so that only two statements per kind are ever prepared.
const ROWS_PER_STATEMENT: usize = 32;

/// The columns every stored message fills from its row, in the order `bind_common` binds them;
/// `type`, `stored_to_db` and `created_at` follow as one value per statement.
const COMMON_COLUMNS: &[&str] = &[
    "id",
    "source_ip",
    "source_device",
    "timestamp",
    "received_at",
    "raw_message",
    "validated",
    "validation_errors",
    "matched_rule_id",
    "matched_rule_name",
    "match_severity",
    "wal_seq",
    "source_port",
    "transport",
    "truncated",
    "raw_bytes",
];

/// The writer's INSERT statements, prepared once, and the text made for each row of a run.
/// Owned by the `Store`, which drops it before its connection.
#[derive(Default)]
pub(super) struct Inserts {
    statements: Vec<((MessageKind, usize), StaticStatement)>,
    texts: Vec<RowTexts>,
}

/// What a row's values need formatted before they are bound.
#[derive(Default)]
struct RowTexts {
    ip: String,
    timestamp: String,
    received_at: String,
    errors: Option<String>,
}

impl RowTexts {
    fn fill(&mut self, row: &MessageRow) {
        use std::fmt::Write;
        self.ip.clear();
        match row.source_ip {
            IpAddr::V4(v4) => write_ipv4(v4, &mut self.ip),
            v6 => {
                let _ = write!(self.ip, "{v6}");
            }
        }
        self.timestamp.clear();
        write_iso8601_us(row.timestamp_us, &mut self.timestamp);
        self.received_at.clear();
        write_iso8601_us(row.received_at_us, &mut self.received_at);
        self.errors = if row.validation_errors.is_empty() {
            None
        } else {
            serde_json::to_string(&row.validation_errors).ok()
        };
    }
}

/// `ip` as `Display` writes it, without the formatter: one `write!` per octet was 1.5% of the
/// writer thread's time under syslog load.
fn write_ipv4(ip: Ipv4Addr, out: &mut String) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

impl Inserts {
    /// Insert every row of `rows` that is not discarded: the syslog rows, then the SNMP ones,
    /// each in batch order. A row's detail says its type (a syslog listener's rows carry a
    /// syslog detail, a trap listener's an SNMP one), so its columns and its `type` agree. Each
    /// stored row is noted in `blocks` with its rowid.
    pub(super) fn insert_rows(
        &mut self,
        tx: &Transaction<'_>,
        rows: &[MessageRow],
        blocks: &mut Blocks,
    ) -> rusqlite::Result<()> {
        // As SQLite's CURRENT_TIMESTAMP writes it: `2026-11-27 03:43:02`, UTC.
        let mut created_at = crate::timefmt::iso8601_us(crate::timefmt::now_us());
        created_at.truncate(19);
        created_at.replace_range(10..11, " ");
        for kind in [MessageKind::Syslog, MessageKind::SnmpTrap] {
            let rows: Vec<&MessageRow> = rows
                .iter()
                .filter(|r| r.detail.kind() == kind && !r.is_discarded())
                .collect();
            let mut chunks = rows.chunks_exact(ROWS_PER_STATEMENT);
            for chunk in &mut chunks {
                self.run(tx, kind, chunk, &created_at, blocks)?;
            }
            for row in chunks.remainder() {
                self.run(tx, kind, std::slice::from_ref(row), &created_at, blocks)?;
            }
        }
        Ok(())
    }

    /// One INSERT of `rows`, all of `kind`. Its rows take the rowids up to
    /// `last_insert_rowid()`, in order (blocks.rs).
    fn run(
        &mut self,
        tx: &Transaction<'_>,
        kind: MessageKind,
        rows: &[&MessageRow],
        created_at: &str,
        blocks: &mut Blocks,
    ) -> rusqlite::Result<()> {
        let key = (kind, rows.len());
        let at = match self.statements.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                let stmt = StaticStatement::prepare(tx, &insert_sql(kind, rows.len()))?;
                self.statements.push((key, stmt));
                self.statements.len() - 1
            }
        };
        if self.texts.len() < rows.len() {
            self.texts.resize_with(rows.len(), RowTexts::default);
        }
        for (row, texts) in rows.iter().zip(self.texts.iter_mut()) {
            texts.fill(row);
        }
        let mut bind = self.statements[at].1.bind();
        for (row, texts) in rows.iter().zip(&self.texts) {
            bind_common(&mut bind, row, texts)?;
            bind_typed(&mut bind, row)?;
        }
        bind.text(created_at)?;
        bind.execute()?;
        let first = tx.last_insert_rowid() - rows.len() as i64 + 1;
        for (rowid, row) in (first..).zip(rows) {
            blocks.note(row.source_ip, kind, &row.id, rowid);
        }
        Ok(())
    }
}

/// The type's own columns in `messages`.
fn typed_columns(kind: MessageKind) -> &'static [schema::TypedColumn] {
    match kind {
        MessageKind::Syslog => schema::SYSLOG_COLUMNS,
        MessageKind::SnmpTrap => schema::SNMP_COLUMNS,
    }
}

/// `INSERT INTO messages (...) VALUES (...), ...` for `rows` rows of `kind`. Row `r`'s values
/// are `?(r * n + 1)` … `?(r * n + n)`, n = the common and the typed columns; `created_at` is
/// the one parameter after them all. `OR FAIL`: a failing row fails the statement without
/// undoing the rows before it, so SQLite keeps no statement journal (a copy of every page the
/// statement changes); the writer rolls back the whole transaction on any error.
fn insert_sql(kind: MessageKind, rows: usize) -> String {
    let typed = typed_columns(kind);
    let per_row = COMMON_COLUMNS.len() + typed.len();
    let created_at = rows * per_row + 1;
    let columns: Vec<&str> = COMMON_COLUMNS
        .iter()
        .copied()
        .chain(typed.iter().map(|(_, column, _)| *column))
        .collect();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let values: Vec<String> = (1..=per_row)
                .map(|c| format!("?{}", r * per_row + c))
                .collect();
            format!(
                "({}, '{}', 1, ?{created_at})",
                values.join(", "),
                kind.as_str()
            )
        })
        .collect();
    format!(
        "INSERT OR FAIL INTO messages ({}, type, stored_to_db, created_at) VALUES {}",
        columns.join(", "),
        tuples.join(", ")
    )
}

/// `COMMON_COLUMNS`, in order.
fn bind_common<'a>(
    b: &mut Bind<'_, 'a>,
    row: &'a MessageRow,
    texts: &'a RowTexts,
) -> rusqlite::Result<()> {
    let rule = row.rule.as_ref();
    b.text(&row.id)?;
    b.text(&texts.ip)?;
    b.text(&row.source_device)?;
    b.text(&texts.timestamp)?;
    b.text(&texts.received_at)?;
    b.text(&row.raw_message)?;
    b.int(i64::from(row.validation_errors.is_empty()))?;
    b.opt_text(texts.errors.as_deref())?;
    b.opt_text(rule.map(|r| r.id.as_str()))?;
    b.opt_text(rule.map(|r| r.name.as_str()))?;
    b.opt_text(rule.map(|r| r.severity.as_str()))?;
    b.int(super::writer::seq_param(row.seq)?)?;
    b.int(i64::from(row.source_port))?;
    b.text(row.transport.as_str())?;
    b.int(i64::from(row.truncated))?;
    b.opt_blob(row.raw_bytes_to_store())
}

/// The type's own columns (`schema::SYSLOG_COLUMNS` or `SNMP_COLUMNS`), in order.
fn bind_typed<'a>(b: &mut Bind<'_, 'a>, row: &'a MessageRow) -> rusqlite::Result<()> {
    let json = row.detail_json.as_deref();
    match &row.detail {
        Detail::Syslog(s) => {
            // The seed's column is TEXT; its affinity stores the numeric code as text.
            b.opt_int(s.facility.map(i64::from))?;
            b.opt_int(s.level.map(i64::from))?;
            b.opt_text(s.program.as_deref())?;
            b.opt_int(s.process_id)?;
            b.opt_text(s.tag.as_deref())?;
            b.opt_text(s.hostname.as_deref())?;
            b.opt_text(s.msgid.as_deref())?;
            b.opt_text(json)?;
            b.text(s.format.as_str())
        }
        Detail::Snmp(t) => {
            b.text(&t.trap_oid)?;
            b.text(&t.trap_type)?;
            b.text(&t.version)?;
            b.opt_text(t.community.as_deref())?;
            b.opt_text(t.security_name.as_deref())?;
            b.opt_text(t.engine_id.as_deref())?;
            b.opt_text(t.security_level.as_deref())?;
            b.text(&t.pdu_type)?;
            b.opt_int(t.request_id)?;
            b.opt_text(json)?;
            b.opt_text(t.agent_addr.as_deref())?;
            b.opt_int(t.uptime.map(|u| u as i64))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_address_is_written_as_display_writes_it() {
        for ip in [
            "0.0.0.0",
            "10.0.9.99",
            "100.10.1.0",
            "192.168.255.255",
            "255.255.255.255",
        ] {
            let ip: Ipv4Addr = ip.parse().expect("address");
            let mut out = String::new();
            write_ipv4(ip, &mut out);
            assert_eq!(out, ip.to_string());
        }
    }

    #[test]
    fn every_row_of_a_statement_has_its_own_parameters_and_shares_created_at() {
        let sql = insert_sql(MessageKind::Syslog, 2);
        let per_row = COMMON_COLUMNS.len() + schema::SYSLOG_COLUMNS.len();
        assert!(sql.contains(&format!("?{per_row}, 'syslog', 1, ?{}", 2 * per_row + 1)));
        assert!(sql.contains(&format!("(?{}, ", per_row + 1)));
        assert!(sql.ends_with(&format!(
            "?{}, 'syslog', 1, ?{})",
            2 * per_row,
            2 * per_row + 1
        )));
    }
}
