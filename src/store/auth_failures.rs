//! snmpv3_auth_failures: one row per SNMPv3 user whose messages fail authentication, counted
//! until a message from that user authenticates again (the seed's AuthFailureTracker).
//!
//! The table (schema.rs): `id` UUIDv7, `username` UNIQUE, `hostname` the source address of the
//! latest failure, `num_failures` since the last success, `last_failure` its receive time
//! (ISO 8601, UTC, microseconds, as every other time the writer stores).

use rusqlite::{params, Transaction};

use super::row::{Detail, MessageRow};
use crate::timefmt::iso8601_us;

/// Count the batch's failures and clear users that authenticated, in row order. Discarded rows
/// count too: a rule that hides a message does not make its sender authentic.
pub fn record(tx: &Transaction<'_>, rows: &[MessageRow]) -> rusqlite::Result<()> {
    let mut v3 = rows.iter().filter_map(|r| match &r.detail {
        Detail::Snmp(m) if m.auth_failure.is_some() || m.auth_ok_user.is_some() => Some((r, m)),
        _ => None,
    });
    let Some(first) = v3.next() else {
        return Ok(());
    };
    let mut fail = tx.prepare_cached(
        "INSERT INTO snmpv3_auth_failures (id, username, hostname, num_failures, last_failure)
         VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT(username) DO UPDATE SET
             num_failures = snmpv3_auth_failures.num_failures + 1,
             hostname = excluded.hostname,
             last_failure = excluded.last_failure",
    )?;
    let mut clear = tx.prepare_cached("DELETE FROM snmpv3_auth_failures WHERE username = ?1")?;
    for (row, msg) in std::iter::once(first).chain(v3) {
        if let Some(user) = &msg.auth_failure {
            fail.execute(params![
                uuid::Uuid::now_v7().to_string(),
                user,
                row.source_device,
                iso8601_us(row.received_at_us),
            ])?;
        } else if let Some(user) = &msg.auth_ok_user {
            clear.execute(params![user])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::snmp::SnmpMessage;
    use crate::model::{MessageKind, Transport};
    use rusqlite::Connection;

    fn row(from: &str, failure: Option<&str>, ok: Option<&str>) -> MessageRow {
        MessageRow {
            seq: 1,
            id: uuid::Uuid::now_v7().to_string(),
            kind: MessageKind::SnmpTrap,
            source_ip: from.parse().unwrap(),
            source_port: 161,
            transport: Transport::Udp,
            source_device: from.to_owned(),
            timestamp_us: 0,
            received_at_us: 1_700_000_000_000_000,
            raw_message: String::new(),
            raw_bytes: Vec::new(),
            validation_errors: Vec::new(),
            truncated: false,
            rule: None,
            rejected: None,
            detail: Detail::Snmp(SnmpMessage {
                version: "v3".into(),
                auth_failure: failure.map(str::to_owned),
                auth_ok_user: ok.map(str::to_owned),
                ..Default::default()
            }),
        }
    }

    fn failures(conn: &Connection) -> Vec<(String, String, i64)> {
        let mut st = conn
            .prepare("SELECT username, hostname, num_failures FROM snmpv3_auth_failures ORDER BY username")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn failures_are_counted_per_user_and_a_success_clears_them() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        record(
            &tx,
            &[
                row("192.0.2.1", Some("alice"), None),
                row("192.0.2.2", Some("alice"), None),
                row("192.0.2.3", Some("bob"), None),
                row("192.0.2.3", None, Some("bob")),
                row("192.0.2.4", None, None),
            ],
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(failures(&conn), [("alice".into(), "192.0.2.2".into(), 2)]);
    }
}
