//! The webhook outbox in PostgreSQL: every statement on `webhook_outbox` — [`enqueue_alerts`] in
//! the batch's transaction, and [`PgOutbox`], the sender's connection, for what happens to a row
//! after. The table's columns and states are SQLite's (`store/outbox.rs`), plus `collector_id`
//! (schema version 2); which rows raise an alert, its body, its fold key and when a repeat folds
//! are `store/alert.rs`, shared with SQLite. Only the SQL differs.
//!
//! Several collectors share the database, and each sends only the alerts it queued: every
//! statement here is filtered by this collector's `collector_id`. Claiming rows with
//! `FOR UPDATE SKIP LOCKED` was the other way to keep two senders from posting one alert; it was
//! not taken because the claim would have to last the whole POST (up to the target's timeout),
//! and the writer's storm fold updates that same pending row — so a slow endpoint would hold the
//! collector's batch commits behind the sender's lock. Per-collector rows need no lock shared
//! between collectors at all, and an alert is sent by the collector whose WAL and checkpoint
//! vouch for its message. The cost: the alerts of a collector that is down wait for it to come
//! back (its messages do too: they are in its WAL).
//!
//! Folding looks only at this collector's rows, for the same reason: no collector's batch
//! waits on another's row lock. A device sends to one collector, so its repeats meet there.
//!
//! One collector writes through one connection, so its rows commit in id order: the sender's
//! check of new rows for an unconfigured target (by id range, as with SQLite) misses none.

use std::time::Duration;

use postgres::{Client, Transaction};
use tracing::{info, warn};

use super::copy::no_nul;
use super::{at, Ctx, PgError, PgSettings};
use crate::config::DEFAULT_TARGET;
use crate::store::alert::{alert_body, alerts, Due, Newest, State};
use crate::store::row::MessageRow;

/// Queue one alert per row whose rule asks for a webhook, in the caller's transaction (after the
/// batch's messages: the fold check joins them); identical alerts within `storm_window` of the
/// last one are folded into it (`Duration::ZERO`: never fold).
pub(super) fn enqueue_alerts(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    rows: &[MessageRow],
    storm_window: Duration,
    now_us: i64,
) -> Result<(), PgError> {
    let mut alerts = alerts(rows).peekable();
    // Called for every batch; most carry no webhook alert and cost no statement.
    if alerts.peek().is_none() {
        return Ok(());
    }
    let window_us = i64::try_from(storm_window.as_micros()).unwrap_or(i64::MAX);
    let now = at(now_us);
    let window_start = at(now_us.saturating_sub(window_us));
    let newest = tx
        .prepare(
            "SELECT o.id, o.state, o.created_at >= $3, o.rule_id, o.target, m.source_ip,
                    m.raw_message
             FROM webhook_outbox o LEFT JOIN messages m ON m.id = o.message_id
             WHERE o.collector_id = $1 AND o.fold_key = $2 ORDER BY o.id DESC LIMIT 1",
        )
        .map_err(|e| ctx.err(e))?;
    let fold = tx
        .prepare("UPDATE webhook_outbox SET fold_count = fold_count + 1 WHERE id = $1")
        .map_err(|e| ctx.err(e))?;
    let insert = tx
        .prepare(
            "INSERT INTO webhook_outbox (collector_id, message_id, rule_id, target, body, state,
                 attempts, next_attempt_at, created_at, fold_count, fold_key)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, 1, $8)",
        )
        .map_err(|e| ctx.err(e))?;
    for alert in alerts {
        let (rule_id, target) = (no_nul(alert.rule_id), no_nul(alert.target));
        if window_us > 0 {
            let found = tx
                .query_opt(&newest, &[&ctx.collector, &alert.fold_key, &window_start])
                .map_err(|e| ctx.err(e))?;
            if let Some(r) = found {
                let n = Newest {
                    id: r.try_get(0).map_err(|e| ctx.err(e))?,
                    state: State::parse(r.try_get(1).map_err(|e| ctx.err(e))?),
                    recent: r.try_get(2).map_err(|e| ctx.err(e))?,
                    rule_id: r.try_get(3).map_err(|e| ctx.err(e))?,
                    target: r.try_get(4).map_err(|e| ctx.err(e))?,
                    device: r.try_get(5).map_err(|e| ctx.err(e))?,
                    raw: r.try_get(6).map_err(|e| ctx.err(e))?,
                };
                // The stored raw text has any NUL as U+FFFD (see `copy::no_nul`).
                if n.absorbs(&alert, &no_nul(&alert.row.raw_message)) {
                    tx.execute(&fold, &[&n.id]).map_err(|e| ctx.err(e))?;
                    continue;
                }
            }
        }
        let body = alert_body(alert.row).to_string();
        tx.execute(
            &insert,
            &[
                &ctx.collector,
                &alert.row.id,
                &rule_id.as_ref(),
                &target.as_ref(),
                &body,
                &State::Pending.as_str(),
                &now,
                &alert.fold_key,
            ],
        )
        .map_err(|e| ctx.err(e))?;
    }
    Ok(())
}

/// The sender's side of this collector's `webhook_outbox` rows, over its own connection: opened
/// at the first statement, dropped after a failure of the connection or the server, and opened
/// again at the next. Times are Unix microseconds.
pub struct PgOutbox {
    settings: PgSettings,
    client: Option<Client>,
}

impl PgOutbox {
    /// Connects at the first statement.
    pub fn new(settings: PgSettings) -> PgOutbox {
        PgOutbox {
            settings,
            client: None,
        }
    }

    /// Run `f` on the connection (opened first if there is none). A transient failure drops it.
    fn with_client<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &Ctx<'_>) -> Result<T, postgres::Error>,
    ) -> Result<T, PgError> {
        let target = self.settings.target();
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let c = self.settings.connect()?;
                info!(target = %target, "webhook sender: PostgreSQL connection opened");
                self.client.insert(c)
            }
        };
        let ctx = Ctx {
            target: &target,
            collector: &self.settings.collector_id,
        };
        let result = f(client, &ctx).map_err(|e| ctx.err(e));
        if let Err(e) = &result {
            if e.is_transient() {
                warn!(target = %target, error = %e, "webhook sender: dropping the PostgreSQL connection");
                self.client = None;
            }
        }
        result
    }

    /// Up to `limit` of this collector's pending rows of `target` due at `now_us`, oldest due
    /// first (for rows never tried that is created order).
    pub fn due(&mut self, target: &str, now_us: i64, limit: usize) -> Result<Vec<Due>, PgError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(|c, ctx| {
            let rows = c.query(
                "SELECT id, body, attempts, fold_count FROM webhook_outbox
                 WHERE collector_id = $1 AND state = $2 AND target = $3 AND next_attempt_at <= $4
                 ORDER BY next_attempt_at, id LIMIT $5",
                &[
                    &ctx.collector,
                    &State::Pending.as_str(),
                    &target,
                    &at(now_us),
                    &limit,
                ],
            )?;
            rows.iter()
                .map(|r| {
                    let attempts: i32 = r.try_get(2)?;
                    let fold_count: i32 = r.try_get(3)?;
                    Ok(Due {
                        id: r.try_get(0)?,
                        body: r.try_get(1)?,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        fold_count: i64::from(fold_count),
                    })
                })
                .collect()
        })
    }

    /// The highest id this collector has queued (0: none).
    pub fn max_id(&mut self) -> Result<i64, PgError> {
        self.with_client(|c, ctx| {
            c.query_one(
                "SELECT COALESCE(MAX(id), 0)::bigint FROM webhook_outbox WHERE collector_id = $1",
                &[&ctx.collector],
            )?
            .try_get(0)
        })
    }

    /// This collector's pending rows with `after < id <= upto` whose target is not in
    /// `configured` become dead, with the reason naming the key to configure. Returns how many.
    pub fn kill_unconfigured(
        &mut self,
        after: i64,
        upto: i64,
        configured: &[&str],
    ) -> Result<usize, PgError> {
        self.with_client(|c, ctx| {
            let n = c.execute(
                "UPDATE webhook_outbox SET state = $6,
                     last_error = 'no webhook target ' || quote_literal(target)
                         || ' is configured ('
                         || CASE target WHEN $5 THEN 'outputs.webhook'
                            ELSE 'outputs.webhooks.' || target END || ')'
                 WHERE collector_id = $1 AND id > $2 AND id <= $3 AND state = $7
                   AND NOT (target = ANY($4))",
                &[
                    &ctx.collector,
                    &after,
                    &upto,
                    &configured,
                    &DEFAULT_TARGET,
                    &State::Dead.as_str(),
                    &State::Pending.as_str(),
                ],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// The endpoint answered 2xx at `now_us`.
    pub fn delivered(&mut self, id: i64, now_us: i64) -> Result<(), PgError> {
        self.with_client(|c, _| {
            c.execute(
                "UPDATE webhook_outbox SET state = $3, delivered_at = $2, last_error = NULL
                 WHERE id = $1",
                &[&id, &at(now_us), &State::Delivered.as_str()],
            )
            .map(drop)
        })
    }

    /// Try again at `next_us`; `attempts` is the row's new count of answered failures.
    pub fn retry(
        &mut self,
        id: i64,
        attempts: u32,
        next_us: i64,
        why: &str,
    ) -> Result<(), PgError> {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        self.with_client(|c, _| {
            c.execute(
                "UPDATE webhook_outbox SET attempts = $2, next_attempt_at = $3, last_error = $4
                 WHERE id = $1",
                &[&id, &attempts, &at(next_us), &no_nul(why).as_ref()],
            )
            .map(drop)
        })
    }

    /// No answer: try again at `next_us`, attempts unchanged.
    pub fn postpone(&mut self, id: i64, next_us: i64, why: &str) -> Result<(), PgError> {
        self.with_client(|c, _| {
            c.execute(
                "UPDATE webhook_outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1",
                &[&id, &at(next_us), &no_nul(why).as_ref()],
            )
            .map(drop)
        })
    }

    /// Give up on a row, with the reason.
    pub fn dead(&mut self, id: i64, attempts: u32, why: &str) -> Result<(), PgError> {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        self.with_client(|c, _| {
            c.execute(
                "UPDATE webhook_outbox SET state = $4, attempts = $2, last_error = $3
                 WHERE id = $1",
                &[&id, &attempts, &no_nul(why).as_ref(), &State::Dead.as_str()],
            )
            .map(drop)
        })
    }

    /// Delete up to `limit` of this collector's finished rows, oldest first, as SQLite's
    /// `Outbox::prune` does: delivered ones delivered before `delivered_before_us`, dead ones
    /// whose last try was before `dead_before_us`; `None` keeps that kind; never a pending row.
    pub fn prune(
        &mut self,
        delivered_before_us: Option<i64>,
        dead_before_us: Option<i64>,
        limit: usize,
    ) -> Result<usize, PgError> {
        if delivered_before_us.is_none() && dead_before_us.is_none() {
            return Ok(0);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(|c, ctx| {
            let n = c.execute(
                "DELETE FROM webhook_outbox WHERE id IN (
                     SELECT id FROM webhook_outbox
                     WHERE collector_id = $1
                       AND ((state = $7 AND $2 AND COALESCE(delivered_at, created_at) < $3)
                         OR (state = $8 AND $4
                             AND GREATEST(created_at, next_attempt_at) < $5))
                     ORDER BY id LIMIT $6)",
                &[
                    &ctx.collector,
                    &delivered_before_us.is_some(),
                    &at(delivered_before_us.unwrap_or(0)),
                    &dead_before_us.is_some(),
                    &at(dead_before_us.unwrap_or(0)),
                    &limit,
                    &State::Delivered.as_str(),
                    &State::Dead.as_str(),
                ],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}
