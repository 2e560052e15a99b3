//! snmpv3_auth_failures: one row per SNMPv3 user whose messages are not trusted, counted until
//! a message from that user authenticates again (the seed's AuthFailureTracker).
//!
//! The table (schema.rs): `id` UUIDv7, `username` UNIQUE, `hostname` the source address of the
//! latest failure, `num_failures` since the last success, `last_failure` its receive time
//! (ISO 8601, UTC, microseconds, as every other time the writer stores).
//!
//! Bounded: user names are cut to 32 octets (usmUserName is an SnmpAdminString of at most 32,
//! RFC 3414 section 5), and the table holds at most `max_users` rows. A failure of a user not in
//! a full table is counted in `v3_auth_failures_over_cap` and logged once, never an error: forged
//! traffic with random user names must neither grow the table nor fail a batch. Only a message
//! that authenticated, was in its time window and was later than anything seen from its engine
//! (decode sets `auth_ok_user`) clears a row, so a replayed message cannot hide a brute force.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{params, Transaction};
use tracing::warn;

use super::row::{Detail, MessageRow};
use crate::metrics::Metrics;
use crate::timefmt::iso8601_us;

/// Default bound of the table's rows (`snmpv3.max_auth_failure_users`).
pub const DEFAULT_MAX_USERS: usize = 10_000;
/// Longest user name stored, in octets (SnmpAdminString (SIZE(1..32))).
pub const MAX_USER_OCTETS: usize = 32;

/// The writer's keeper of snmpv3_auth_failures: the bound and what went over it.
#[derive(Debug)]
pub struct AuthFailures {
    max_users: usize,
    metrics: Option<Arc<Metrics>>,
    /// The table was found full once already (the warning is logged once).
    warned: AtomicBool,
}

impl Default for AuthFailures {
    fn default() -> Self {
        AuthFailures::new(DEFAULT_MAX_USERS, None)
    }
}

impl AuthFailures {
    /// At most `max_users` rows (at least 1); failures over it are counted in `metrics`.
    pub fn new(max_users: usize, metrics: Option<Arc<Metrics>>) -> AuthFailures {
        AuthFailures {
            max_users: max_users.max(1),
            metrics,
            warned: AtomicBool::new(false),
        }
    }

    /// The bound of the table's rows (the PostgreSQL writer applies it too).
    pub fn max_users(&self) -> usize {
        self.max_users
    }

    /// Count the batch's failures and clear users whose message may clear them, in row order.
    /// Discarded rows count too: a rule that hides a message does not make its sender authentic.
    /// Returns the failures not recorded because the table was full; pass it to
    /// [`AuthFailures::committed`] once the transaction committed.
    pub fn record(&self, tx: &Transaction<'_>, rows: &[MessageRow]) -> rusqlite::Result<u64> {
        let mut v3 = rows.iter().filter_map(|r| match &r.detail {
            Detail::Snmp(m) if m.auth_failure.is_some() || m.auth_ok_user.is_some() => Some((r, m)),
            _ => None,
        });
        let Some(first) = v3.next() else {
            return Ok(0);
        };
        let mut bump = tx.prepare_cached(
            "UPDATE snmpv3_auth_failures SET num_failures = num_failures + 1,
                 hostname = ?2, last_failure = ?3
             WHERE username = ?1",
        )?;
        let mut add = tx.prepare_cached(
            "INSERT INTO snmpv3_auth_failures (id, username, hostname, num_failures, last_failure)
             VALUES (?1, ?2, ?3, 1, ?4)",
        )?;
        let mut clear =
            tx.prepare_cached("DELETE FROM snmpv3_auth_failures WHERE username = ?1")?;
        // Rows in the table, read once per batch when a new user first needs it.
        let mut users: Option<usize> = None;
        let mut over_cap = 0u64;
        for (row, msg) in std::iter::once(first).chain(v3) {
            if let Some(user) = &msg.auth_failure {
                let user = admin_string(user);
                let at = iso8601_us(row.received_at_us);
                if bump.execute(params![user, row.source_device, at])? > 0 {
                    continue;
                }
                let n = match users {
                    Some(n) => n,
                    None => tx.query_row("SELECT COUNT(*) FROM snmpv3_auth_failures", [], |r| {
                        r.get::<_, i64>(0)
                    })? as usize,
                };
                if n >= self.max_users {
                    users = Some(n);
                    over_cap += 1;
                    continue;
                }
                add.execute(params![
                    uuid::Uuid::now_v7().to_string(),
                    user,
                    row.source_device,
                    at,
                ])?;
                users = Some(n + 1);
            } else if let Some(user) = &msg.auth_ok_user {
                let gone = clear.execute(params![admin_string(user)])?;
                users = users.map(|n| n.saturating_sub(gone));
            }
        }
        Ok(over_cap)
    }

    /// The batch whose [`AuthFailures::record`] returned `over_cap` is committed: count it, and
    /// say so in the log the first time.
    pub fn committed(&self, over_cap: u64) {
        if over_cap == 0 {
            return;
        }
        if let Some(m) = &self.metrics {
            Metrics::add(&m.v3_auth_failures_over_cap, over_cap);
        }
        if !self.warned.swap(true, Ordering::Relaxed) {
            warn!(
                max_users = self.max_users,
                "snmpv3_auth_failures is full: failures of users not in it are only counted \
                 (v3_auth_failures_over_cap); this is logged once"
            );
        }
    }
}

/// `name` cut to [`MAX_USER_OCTETS`] on a character boundary.
pub fn admin_string(name: &str) -> &str {
    if name.len() <= MAX_USER_OCTETS {
        return name;
    }
    let mut end = MAX_USER_OCTETS;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
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
            detail_json: None,
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
        AuthFailures::default()
            .record(
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

    #[test]
    fn the_table_stays_at_its_cap_and_counts_what_went_over() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let metrics = Arc::new(Metrics::default());
        let keeper = AuthFailures::new(3, Some(metrics.clone()));
        let names: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
        let mut rows: Vec<MessageRow> = names
            .iter()
            .map(|n| row("192.0.2.1", Some(n), None))
            .collect();
        // Users already in the table keep counting at the cap; a cleared one makes room.
        rows.push(row("192.0.2.1", Some("user0"), None));
        rows.push(row("192.0.2.1", None, Some("user1")));
        rows.push(row("192.0.2.1", Some("user9"), None));
        let tx = conn.transaction().unwrap();
        let over = keeper.record(&tx, &rows).unwrap();
        tx.commit().unwrap();
        keeper.committed(over);
        assert_eq!(over, 7);
        assert_eq!(Metrics::get(&metrics.v3_auth_failures_over_cap), 7);
        let got = failures(&conn);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("user0".into(), "192.0.2.1".into(), 2));
        assert_eq!(got[2].0, "user9");
        assert_eq!(AuthFailures::default().max_users, 10_000);
    }

    #[test]
    fn long_user_names_are_cut_to_32_octets_on_a_character_boundary() {
        assert_eq!(admin_string("short"), "short");
        let long = "x".repeat(31) + "éé";
        assert_eq!(admin_string(&long), "x".repeat(31));
        assert_eq!(admin_string(&"y".repeat(40)).len(), 32);
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let tx = conn.transaction().unwrap();
        let rows = [
            row("192.0.2.1", Some(&long), None),
            row("192.0.2.1", Some(&(long.clone() + "more")), None),
        ];
        assert_eq!(AuthFailures::default().record(&tx, &rows).unwrap(), 0);
        tx.commit().unwrap();
        assert_eq!(failures(&conn), [("x".repeat(31), "192.0.2.1".into(), 2)]);
    }
}
