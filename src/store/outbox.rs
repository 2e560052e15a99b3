//! The webhook outbox: alerts written in the same transaction as their messages.
//!
//! A row of `webhook_outbox` is one alert to POST:
//!
//! | column | meaning |
//! |---|---|
//! | id | INTEGER, AUTOINCREMENT so never reused: sent as `X-MUTT-Alert-Id` |
//! | message_id | `messages.id` of the (first) message that raised it |
//! | rule_id | the matched rule |
//! | target | the rule's `webhook:` name, `default` for `outputs.webhook` |
//! | body | the JSON body, built when the message was stored (see [`alert_body`]) |
//! | state | `pending` → `delivered`, or `dead` (retries used up, or no such target); finished rows are deleted by the sender after `outputs.retention` |
//! | attempts | tries the endpoint answered with a non-2xx status |
//! | next_attempt_at | ISO 8601; the sender takes pending rows whose time has come |
//! | last_error | why the last try failed |
//! | created_at, delivered_at | ISO 8601 |
//! | fold_count | how many identical alerts this row stands for (1 = itself) |
//! | fold_key | CRC-32C of rule, target, device address and raw text: finds a row to fold into |
//!
//! Storm control: an alert with the same rule, target, device and raw text as the newest row for
//! that key, while that row is still pending or was created less than the storm window ago, adds
//! one to that row's `fold_count` instead of queueing a new row. A pending row's POST carries the
//! count at send time; repeats folded into an already delivered row are counted in the table but
//! not sent again (that is the point of the window). The first repeat after the window queues a
//! new alert.
//!
//! Every statement on the SQLite table is here: [`enqueue_alerts`] in the writer's transaction,
//! and [`Outbox`], the sender's connection, for what happens to a row after (states: [`State`]).
//! Which rows raise an alert, its body, its fold key and when a repeat folds are in `alert.rs`,
//! shared with the PostgreSQL outbox.

use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

pub use super::alert::{alert_body, Due, State};
use super::alert::{alerts, Newest};
use super::row::MessageRow;
use crate::config::DEFAULT_TARGET;
use crate::timefmt::{iso8601_us, now_us};

/// Queue one alert per row whose rule asks for a webhook; identical alerts within
/// `storm_window` of the last one are folded into it (`Duration::ZERO`: never fold).
pub fn enqueue_alerts(
    tx: &Transaction<'_>,
    rows: &[MessageRow],
    storm_window: Duration,
) -> rusqlite::Result<()> {
    let window_us = i64::try_from(storm_window.as_micros()).unwrap_or(i64::MAX);
    enqueue_alerts_at(tx, rows, now_us(), window_us)
}

/// [`enqueue_alerts`] with the clock and the window passed in.
pub fn enqueue_alerts_at(
    tx: &Transaction<'_>,
    rows: &[MessageRow],
    now_us: i64,
    storm_window_us: i64,
) -> rusqlite::Result<()> {
    let mut alerts = alerts(rows).peekable();
    // The writer calls this for every batch; most carry no webhook alert.
    if alerts.peek().is_none() {
        return Ok(());
    }
    let now = iso8601_us(now_us);
    let window_start = iso8601_us(now_us.saturating_sub(storm_window_us));
    let mut newest = tx.prepare_cached(
        "SELECT o.id, o.state, o.created_at >= ?2, o.rule_id, o.target, m.source_ip,
                m.raw_message
         FROM webhook_outbox o LEFT JOIN messages m ON m.id = o.message_id
         WHERE o.fold_key = ?1 ORDER BY o.id DESC LIMIT 1",
    )?;
    let mut fold =
        tx.prepare_cached("UPDATE webhook_outbox SET fold_count = fold_count + 1 WHERE id = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO webhook_outbox (message_id, rule_id, target, body, state, attempts,
             next_attempt_at, created_at, fold_count, fold_key)
         VALUES (?1, ?2, ?3, ?4, ?7, 0, ?5, ?5, 1, ?6)",
    )?;
    for alert in alerts {
        if storm_window_us > 0 {
            let found = newest
                .query_row(params![alert.fold_key, window_start], |r| {
                    Ok(Newest {
                        id: r.get(0)?,
                        state: State::parse(&r.get::<_, String>(1)?),
                        recent: r.get(2)?,
                        rule_id: r.get(3)?,
                        target: r.get(4)?,
                        device: r.get(5)?,
                        raw: r.get(6)?,
                    })
                })
                .optional()?;
            if let Some(n) = found.filter(|n| n.absorbs(&alert, &alert.row.raw_message)) {
                fold.execute([n.id])?;
                continue;
            }
        }
        let body = alert_body(alert.row).to_string();
        insert.execute(params![
            alert.row.id,
            alert.rule_id,
            alert.target,
            body,
            now,
            alert.fold_key,
            State::Pending.as_str()
        ])?;
    }
    Ok(())
}

/// The sender's side of `webhook_outbox`, over its own connection. Times are Unix microseconds,
/// stored as ISO 8601.
pub struct Outbox {
    conn: Connection,
}

impl Outbox {
    pub fn new(conn: Connection) -> Outbox {
        Outbox { conn }
    }

    /// The connection, for tests that look at rows directly.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Up to `limit` pending rows of `target` due at `now_us`, oldest due first (for rows never
    /// tried that is created order).
    pub fn due(&self, target: &str, now_us: i64, limit: usize) -> rusqlite::Result<Vec<Due>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, body, attempts, fold_count FROM webhook_outbox
             WHERE state = ?4 AND target = ?1 AND next_attempt_at <= ?2
             ORDER BY next_attempt_at, id LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(
            params![target, iso8601_us(now_us), limit, State::Pending.as_str()],
            |r| {
                Ok(Due {
                    id: r.get(0)?,
                    body: r.get(1)?,
                    attempts: r.get::<_, i64>(2)?.clamp(0, i64::from(u32::MAX)) as u32,
                    fold_count: r.get(3)?,
                })
            },
        )?;
        rows.collect()
    }

    /// The highest id queued so far (0: none).
    pub fn max_id(&self) -> rusqlite::Result<i64> {
        self.conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM webhook_outbox")?
            .query_row([], |r| r.get(0))
    }

    /// Pending rows with `after < id <= upto` whose target is not in `configured` become dead,
    /// with the reason naming the key to configure. Returns how many.
    pub fn kill_unconfigured(
        &self,
        after: i64,
        upto: i64,
        configured: &[&str],
    ) -> rusqlite::Result<usize> {
        let configured = serde_json::to_string(configured).unwrap_or_else(|_| "[]".into());
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = ?5,
                 last_error = 'no webhook target ' || quote(target) || ' is configured ('
                     || CASE target WHEN ?4 THEN 'outputs.webhook'
                        ELSE 'outputs.webhooks.' || target END || ')'
             WHERE id > ?1 AND id <= ?2 AND state = ?6
               AND target NOT IN (SELECT value FROM json_each(?3))",
            )?
            .execute(params![
                after,
                upto,
                configured,
                DEFAULT_TARGET,
                State::Dead.as_str(),
                State::Pending.as_str()
            ])
    }

    /// The endpoint answered 2xx at `now_us`.
    pub fn delivered(&self, id: i64, now_us: i64) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = ?3, delivered_at = ?2, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, iso8601_us(now_us), State::Delivered.as_str()])?;
        Ok(())
    }

    /// Try again at `next_us`; `attempts` is the row's new count of answered failures.
    pub fn retry(&self, id: i64, attempts: u32, next_us: i64, why: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id, attempts, iso8601_us(next_us), why])?;
        Ok(())
    }

    /// No answer: try again at `next_us`, attempts unchanged.
    pub fn postpone(&self, id: i64, next_us: i64, why: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, iso8601_us(next_us), why])?;
        Ok(())
    }

    /// Give up on a row, with the reason.
    pub fn dead(&self, id: i64, attempts: u32, why: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = ?4, attempts = ?2, last_error = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, attempts, why, State::Dead.as_str()])?;
        Ok(())
    }

    /// Delete up to `limit` finished rows, oldest first: delivered ones delivered before
    /// `delivered_before_us`, dead ones whose last try (the later of `created_at` and
    /// `next_attempt_at`) was before `dead_before_us`; `None` keeps that kind. Never a pending
    /// row. Returns how many went (`limit`: more may be due).
    pub fn prune(
        &self,
        delivered_before_us: Option<i64>,
        dead_before_us: Option<i64>,
        limit: usize,
    ) -> rusqlite::Result<usize> {
        if delivered_before_us.is_none() && dead_before_us.is_none() {
            return Ok(0);
        }
        // Rowid order finds the oldest rows first and stops at the limit.
        self.conn
            .prepare_cached(
                "DELETE FROM webhook_outbox WHERE id IN (
                     SELECT id FROM webhook_outbox
                     WHERE (state = ?6 AND ?1
                            AND COALESCE(delivered_at, created_at) < ?2)
                        OR (state = ?7 AND ?3
                            AND MAX(created_at, next_attempt_at) < ?4)
                     ORDER BY id LIMIT ?5)",
            )?
            .execute(params![
                delivered_before_us.is_some(),
                iso8601_us(delivered_before_us.unwrap_or(0)),
                dead_before_us.is_some(),
                iso8601_us(dead_before_us.unwrap_or(0)),
                i64::try_from(limit).unwrap_or(i64::MAX),
                State::Delivered.as_str(),
                State::Dead.as_str(),
            ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Action;
    use crate::store::alert::tests::syslog_row;

    fn db() -> rusqlite::Connection {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c
    }

    /// Store the message rows as the writer does (the fold check joins them), then enqueue.
    fn write(c: &mut rusqlite::Connection, rows: &[MessageRow], now_us: i64, window_us: i64) {
        let tx = c.transaction().unwrap();
        for r in rows {
            tx.execute(
                "INSERT INTO messages (id, type, source_ip, source_device, timestamp, received_at,
                     raw_message) VALUES (?1, 'syslog', ?2, ?3, 't', 't', ?4)",
                params![
                    r.id,
                    r.source_ip.to_string(),
                    r.source_device,
                    r.raw_message
                ],
            )
            .unwrap();
        }
        enqueue_alerts_at(&tx, rows, now_us, window_us).unwrap();
        tx.commit().unwrap();
    }

    fn outbox(c: &rusqlite::Connection) -> Vec<(String, String, i64)> {
        let mut s = c
            .prepare("SELECT message_id, target, fold_count FROM webhook_outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn only_webhook_rows_are_queued_with_the_default_target() {
        let mut c = db();
        let rows = [
            syslog_row(1, "link down", Action::Webhook),
            syslog_row(2, "link up", Action::Store),
        ];
        write(&mut c, &rows, 10_000_000, 0);
        assert_eq!(outbox(&c), vec![("m0001".into(), DEFAULT_TARGET.into(), 1)]);
        let (state, next, created): (String, String, String) = c
            .query_row(
                "SELECT state, next_attempt_at, created_at FROM webhook_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(state, "pending");
        assert_eq!(next, created);
        assert_eq!(created, iso8601_us(10_000_000));
    }

    #[test]
    fn identical_alerts_fold_while_pending_and_within_the_window() {
        let mut c = db();
        let window = 60_000_000;
        let storm: Vec<MessageRow> = (1..=30)
            .map(|n| syslog_row(n, "fan failed", Action::Webhook))
            .collect();
        write(&mut c, &storm[..10], 1_000_000, window);
        write(&mut c, &storm[10..], 2_000_000, window);
        assert_eq!(
            outbox(&c),
            vec![("m0001".into(), DEFAULT_TARGET.into(), 30)]
        );
        // Delivered but recent: still folded (counted, not re-sent).
        c.execute("UPDATE webhook_outbox SET state = 'delivered'", [])
            .unwrap();
        write(
            &mut c,
            &[syslog_row(31, "fan failed", Action::Webhook)],
            50_000_000,
            window,
        );
        assert_eq!(outbox(&c).len(), 1);
        // Delivered and older than the window: a new alert.
        write(
            &mut c,
            &[syslog_row(32, "fan failed", Action::Webhook)],
            62_000_000,
            window,
        );
        assert_eq!(outbox(&c).len(), 2);
        assert_eq!(outbox(&c)[1], ("m0032".into(), DEFAULT_TARGET.into(), 1));
    }

    #[test]
    fn different_text_device_or_target_is_a_different_alert_and_zero_turns_folding_off() {
        let mut c = db();
        let mut other_device = syslog_row(2, "fan failed", Action::Webhook);
        other_device.source_ip = [192, 0, 2, 8].into();
        let mut other_target = syslog_row(3, "fan failed", Action::Webhook);
        if let Some(r) = other_target.rule.as_mut() {
            r.webhook = Some("noc".into());
        }
        let rows = [
            syslog_row(1, "fan failed", Action::Webhook),
            other_device,
            other_target,
            syslog_row(4, "fan failed again", Action::Webhook),
        ];
        write(&mut c, &rows, 1_000_000, 60_000_000);
        let got = outbox(&c);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[2].1, "noc");
        let mut c = db();
        let same: Vec<MessageRow> = (1..=3)
            .map(|n| syslog_row(n, "fan failed", Action::Webhook))
            .collect();
        write(&mut c, &same, 1_000_000, 0);
        assert_eq!(outbox(&c).len(), 3);
    }

    #[test]
    fn a_batch_without_webhook_rows_prepares_nothing() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        // No schema at all: the early return must not touch the outbox table.
        let tx = c.transaction().unwrap();
        enqueue_alerts_at(&tx, &[syslog_row(1, "x", Action::Store)], 0, 0).unwrap();
    }

    /// An outbox with `targets.len()` pending rows (ids from 1) created at time 0.
    fn queued(targets: &[&str]) -> Outbox {
        let mut c = db();
        let rows: Vec<MessageRow> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut r = syslog_row(i as u32 + 1, &format!("alert {i}"), Action::Webhook);
                if let Some(hit) = r.rule.as_mut() {
                    hit.webhook = (*t != DEFAULT_TARGET).then(|| t.to_string());
                }
                r
            })
            .collect();
        write(&mut c, &rows, 0, 0);
        Outbox::new(c)
    }

    fn rows(o: &Outbox) -> Vec<(State, i64, Option<String>)> {
        let mut s = o
            .conn()
            .prepare("SELECT state, attempts, last_error FROM webhook_outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| {
            let state: String = r.get(0)?;
            Ok((State::parse(&state).unwrap(), r.get(1)?, r.get(2)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    #[test]
    fn the_outbox_moves_rows_through_their_states() {
        let o = queued(&["default"; 4]);
        assert_eq!(o.due("default", 0, 10).unwrap().len(), 4);
        assert_eq!(o.due("default", 0, 2).unwrap().len(), 2);
        assert!(o.due("noc", 0, 10).unwrap().is_empty());
        o.delivered(1, 5).unwrap();
        o.retry(2, 1, 2_000_000, "HTTP 500").unwrap();
        o.postpone(3, 3_000_000, "unreachable: refused").unwrap();
        o.dead(4, 7, "gave up").unwrap();
        assert_eq!(
            rows(&o),
            [
                (State::Delivered, 0, None),
                (State::Pending, 1, Some("HTTP 500".into())),
                (State::Pending, 0, Some("unreachable: refused".into())),
                (State::Dead, 7, Some("gave up".into())),
            ]
        );
        let ids = |now| -> Vec<i64> {
            o.due("default", now, 10)
                .unwrap()
                .iter()
                .map(|d| d.id)
                .collect()
        };
        assert!(ids(1_999_999).is_empty());
        assert_eq!(ids(3_000_000), [2, 3], "oldest due first");
    }

    #[test]
    fn rows_for_unconfigured_targets_die_naming_the_key() {
        let o = queued(&["noc", "default", "pager"]);
        assert_eq!(o.max_id().unwrap(), 3);
        assert_eq!(o.kill_unconfigured(0, 2, &["pager"]).unwrap(), 2);
        let got = rows(&o);
        assert_eq!(got[0].0, State::Dead);
        assert!(got[0]
            .2
            .as_deref()
            .unwrap_or("")
            .contains("(outputs.webhooks.noc)"));
        assert!(got[1]
            .2
            .as_deref()
            .unwrap_or("")
            .contains("(outputs.webhook)"));
        assert_eq!(got[2].0, State::Pending, "above the range and configured");
    }

    #[test]
    fn pruning_keeps_pending_rows_and_goes_in_batches() {
        let o = queued(&["default"; 12]);
        for id in 1..=5 {
            o.delivered(id, 1_000).unwrap();
        }
        for id in 6..=10 {
            o.dead(id, 1, "x").unwrap();
        }
        assert_eq!(o.prune(None, None, 100).unwrap(), 0);
        assert_eq!(o.prune(Some(1_000), Some(0), 100).unwrap(), 0, "not older");
        assert_eq!(o.prune(Some(1_001), None, 3).unwrap(), 3);
        assert_eq!(o.prune(Some(1_001), None, 3).unwrap(), 2);
        assert_eq!(o.prune(None, Some(1), 100).unwrap(), 5);
        assert_eq!(rows(&o).len(), 2);
        assert!(rows(&o).iter().all(|r| r.0 == State::Pending));
        assert_eq!(o.prune(Some(i64::MAX), Some(i64::MAX), 100).unwrap(), 0);
    }
}
