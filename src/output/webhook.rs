//! The webhook sender: the loop ([`run`], on a thread the daemon starts) that POSTs queued alerts
//! from `webhook_outbox` and records each outcome there.
//!
//! The table is [`Outbox`]'s (SQLite) or [`PgOutbox`]'s (PostgreSQL, where each collector sends
//! only the alerts it queued); the sender decides what happens to each row, through [`Queue`],
//! the same for both. It has its own connection (SQLite's journal is in WAL mode, so its short
//! updates sit beside the writer's transactions; PostgreSQL's rows lock one at a time). Each pass
//! takes, per configured target, the pending rows whose `next_attempt_at` has come, oldest due
//! first (for never-tried rows that is created order):
//!
//! - 2xx: `delivered`, with `delivered_at`, at once.
//! - Another status (the endpoint answered and refused): `attempts + 1`, `last_error`, and
//!   `next_attempt_at = now + min(initial * 2^(attempts-1), max)`; when `attempts` exceeds
//!   `max_retries` the row is `dead`.
//! - No answer (refused, reset, timed out, unresolvable): the target is down. The row keeps its
//!   `attempts` (an outage is not the alert's fault, so an endpoint down for an hour or a day
//!   loses nothing), gets `last_error` and the outage's backoff as `next_attempt_at`, and the
//!   target's other rows wait until the outage's backoff ends; then the oldest due row probes.
//! - A target that is not configured: `dead` with the reason, at once (the daemon also warns at
//!   start-up).
//!
//! Retention (`outputs.retention`): once a minute the sender deletes delivered rows older than
//! `delivered_days` (by `delivered_at`) and dead rows older than `dead_days` (by their last try:
//! the later of `created_at` and `next_attempt_at`), at most [`PRUNE_ROWS`] per statement, each
//! its own short transaction, so the writer never waits long for the table; while more are due it
//! goes on at every pass. Pending rows are never deleted.
//!
//! Every POST carries `X-MUTT-Alert-Id: <outbox id>`. Delivery is at least once: a crash between
//! the endpoint's 2xx and the `delivered` update sends that alert again after the restart, with
//! the same id, so a receiver that wants exactly once de-duplicates on the header.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::http::{Client, PostOutcome};
use crate::config::{OutputsSection, WebhookTarget, DEFAULT_TARGET};
use crate::store::outbox::{Due, Outbox};
use crate::store::postgres::{PgError, PgOutbox};
use crate::timefmt::now_us;

/// How often an idle sender looks for new alerts.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Rows taken per target per pass.
const PASS_ROWS: usize = 64;
/// How often finished rows past their retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per statement (one short write transaction).
pub const PRUNE_ROWS: usize = 500;
const DAY_US: i64 = 86_400_000_000;

/// How the daemon stops the sender: it drops the other end. Nothing is ever sent on it, so a wait
/// on it ends either at its timeout or at the stop.
pub type Stop = Receiver<Infallible>;

/// Whether the daemon has asked the sender to stop.
fn stopped(stop: &Stop) -> bool {
    matches!(stop.try_recv(), Err(TryRecvError::Disconnected))
}

/// Sends one alert body; the seam the unit tests fake.
pub trait Poster {
    fn post(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        alert_id: i64,
        body: &[u8],
    ) -> PostOutcome;
}

/// The real thing: one HTTP client per target (its deadline and trust roots), POSTing with the
/// target's headers and `X-MUTT-Alert-Id`.
pub struct HttpPoster {
    clients: HashMap<String, Client>,
}

impl HttpPoster {
    pub fn new(outputs: &OutputsSection) -> HttpPoster {
        let named = outputs.webhooks.iter().map(|(n, t)| (n.as_str(), t));
        let clients = named
            .chain(outputs.webhook.iter().map(|t| (DEFAULT_TARGET, t)))
            .map(|(n, t)| {
                let client = Client::new(t.timeout(), t.tls_ca_file.as_ref());
                (n.to_string(), client)
            })
            .collect();
        HttpPoster { clients }
    }
}

impl Poster for HttpPoster {
    fn post(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        alert_id: i64,
        body: &[u8],
    ) -> PostOutcome {
        let client = self
            .clients
            .entry(name.to_string())
            .or_insert_with(|| Client::new(target.timeout(), target.tls_ca_file.as_ref()));
        let mut headers = target.headers.clone();
        headers.push(("X-MUTT-Alert-Id".into(), alert_id.to_string()));
        client.post(&target.url, &headers, body)
    }
}

/// What the sender does to `webhook_outbox`; [`Outbox`] (SQLite) and [`PgOutbox`] (PostgreSQL)
/// are the table, the unit tests keep rows in memory. Times are Unix microseconds.
pub trait Queue {
    /// The database's error.
    type Error: std::fmt::Display;
    fn due(&mut self, target: &str, now_us: i64, limit: usize) -> Result<Vec<Due>, Self::Error>;
    fn max_id(&mut self) -> Result<i64, Self::Error>;
    fn kill_unconfigured(
        &mut self,
        after: i64,
        upto: i64,
        configured: &[&str],
    ) -> Result<usize, Self::Error>;
    fn delivered(&mut self, id: i64, now_us: i64) -> Result<(), Self::Error>;
    fn retry(&mut self, id: i64, attempts: u32, next_us: i64, why: &str)
        -> Result<(), Self::Error>;
    fn postpone(&mut self, id: i64, next_us: i64, why: &str) -> Result<(), Self::Error>;
    fn dead(&mut self, id: i64, attempts: u32, why: &str) -> Result<(), Self::Error>;
    fn prune(
        &mut self,
        delivered_before_us: Option<i64>,
        dead_before_us: Option<i64>,
        limit: usize,
    ) -> Result<usize, Self::Error>;
}

impl Queue for Outbox {
    type Error = rusqlite::Error;
    fn due(&mut self, target: &str, now_us: i64, limit: usize) -> rusqlite::Result<Vec<Due>> {
        Outbox::due(self, target, now_us, limit)
    }
    fn max_id(&mut self) -> rusqlite::Result<i64> {
        Outbox::max_id(self)
    }
    fn kill_unconfigured(
        &mut self,
        after: i64,
        upto: i64,
        configured: &[&str],
    ) -> rusqlite::Result<usize> {
        Outbox::kill_unconfigured(self, after, upto, configured)
    }
    fn delivered(&mut self, id: i64, now_us: i64) -> rusqlite::Result<()> {
        Outbox::delivered(self, id, now_us)
    }
    fn retry(&mut self, id: i64, attempts: u32, next_us: i64, why: &str) -> rusqlite::Result<()> {
        Outbox::retry(self, id, attempts, next_us, why)
    }
    fn postpone(&mut self, id: i64, next_us: i64, why: &str) -> rusqlite::Result<()> {
        Outbox::postpone(self, id, next_us, why)
    }
    fn dead(&mut self, id: i64, attempts: u32, why: &str) -> rusqlite::Result<()> {
        Outbox::dead(self, id, attempts, why)
    }
    fn prune(
        &mut self,
        delivered_before_us: Option<i64>,
        dead_before_us: Option<i64>,
        limit: usize,
    ) -> rusqlite::Result<usize> {
        Outbox::prune(self, delivered_before_us, dead_before_us, limit)
    }
}

impl Queue for PgOutbox {
    type Error = PgError;
    fn due(&mut self, target: &str, now_us: i64, limit: usize) -> Result<Vec<Due>, PgError> {
        PgOutbox::due(self, target, now_us, limit)
    }
    fn max_id(&mut self) -> Result<i64, PgError> {
        PgOutbox::max_id(self)
    }
    fn kill_unconfigured(
        &mut self,
        after: i64,
        upto: i64,
        configured: &[&str],
    ) -> Result<usize, PgError> {
        PgOutbox::kill_unconfigured(self, after, upto, configured)
    }
    fn delivered(&mut self, id: i64, now_us: i64) -> Result<(), PgError> {
        PgOutbox::delivered(self, id, now_us)
    }
    fn retry(&mut self, id: i64, attempts: u32, next_us: i64, why: &str) -> Result<(), PgError> {
        PgOutbox::retry(self, id, attempts, next_us, why)
    }
    fn postpone(&mut self, id: i64, next_us: i64, why: &str) -> Result<(), PgError> {
        PgOutbox::postpone(self, id, next_us, why)
    }
    fn dead(&mut self, id: i64, attempts: u32, why: &str) -> Result<(), PgError> {
        PgOutbox::dead(self, id, attempts, why)
    }
    fn prune(
        &mut self,
        delivered_before_us: Option<i64>,
        dead_before_us: Option<i64>,
        limit: usize,
    ) -> Result<usize, PgError> {
        PgOutbox::prune(self, delivered_before_us, dead_before_us, limit)
    }
}

/// A target that gave no answer: its rows wait until `retry_at_us`.
#[derive(Debug, Clone, Copy)]
struct Outage {
    failures: u32,
    retry_at_us: i64,
}

/// The sender's state over one queue; [`Sender::pass`] does one round of work.
pub struct Sender<P: Poster, Q: Queue> {
    queue: Q,
    outputs: OutputsSection,
    poster: P,
    outages: HashMap<String, Outage>,
    /// Rows up to this id have been checked for an unconfigured target.
    checked_id: i64,
}

impl<P: Poster, Q: Queue> Sender<P, Q> {
    pub fn new(queue: Q, outputs: OutputsSection, poster: P) -> Sender<P, Q> {
        Sender {
            queue,
            outputs,
            poster,
            outages: HashMap::new(),
            checked_id: 0,
        }
    }

    /// One round: mark alerts for unconfigured targets dead, then try due alerts target by
    /// target. `clock` gives Unix microseconds; `stop` ends the round between POSTs. Returns how
    /// many rows changed.
    pub fn pass(&mut self, clock: &dyn Fn() -> i64, stop: &Stop) -> Result<usize, Q::Error> {
        let mut changed = self.mark_unconfigured_dead()?;
        let mut names: Vec<String> = self.outputs.webhooks.keys().cloned().collect();
        if self.outputs.webhook.is_some() {
            names.push(DEFAULT_TARGET.to_string());
        }
        for name in names {
            if stopped(stop) {
                break;
            }
            let Some(target) = self.outputs.target(&name).cloned() else {
                continue;
            };
            changed += self.pass_target(&name, &target, clock, stop)?;
        }
        Ok(changed)
    }

    fn pass_target(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        clock: &dyn Fn() -> i64,
        stop: &Stop,
    ) -> Result<usize, Q::Error> {
        let now = clock();
        if self.outages.get(name).is_some_and(|o| o.retry_at_us > now) {
            return Ok(0);
        }
        let due = self.queue.due(name, now, PASS_ROWS)?;
        let mut changed = 0;
        for row in due {
            if stopped(stop) {
                break;
            }
            changed += 1;
            let Some(body) = send_body(&row) else {
                self.queue
                    .dead(row.id, row.attempts, "stored body is not JSON")?;
                continue;
            };
            match self.poster.post(name, target, row.id, body.as_bytes()) {
                PostOutcome::Answered { status, .. } if (200..300).contains(&status) => {
                    self.recovered(name);
                    self.queue.delivered(row.id, clock())?;
                }
                PostOutcome::Answered { status, reason } => {
                    self.recovered(name);
                    let why = format!("HTTP {status} {reason}");
                    self.refused(name, target, &row, clock(), why.trim_end())?;
                }
                PostOutcome::Unreachable(why) => {
                    self.unreachable(name, target, row.id, clock(), &why)?;
                    break;
                }
            }
        }
        Ok(changed)
    }

    /// Delete up to [`PRUNE_ROWS`] finished rows past `outputs.retention` at `now_us` (Unix
    /// microseconds), oldest first; never a pending row. Returns how many went: [`PRUNE_ROWS`]
    /// means more may be due.
    pub fn prune(&mut self, now_us: i64) -> Result<usize, Q::Error> {
        let keep = self.outputs.retention;
        let cutoff = |days: u64| {
            let age = i64::try_from(days).map_or(i64::MAX, |d| d.saturating_mul(DAY_US));
            (days > 0).then(|| now_us.saturating_sub(age))
        };
        self.queue.prune(
            cutoff(keep.delivered_days),
            cutoff(keep.dead_days),
            PRUNE_ROWS,
        )
    }

    /// Rows queued since the last check whose target is not configured become dead, with why.
    fn mark_unconfigured_dead(&mut self) -> Result<usize, Q::Error> {
        let max = self.queue.max_id()?;
        if max <= self.checked_id {
            return Ok(0);
        }
        let mut configured: Vec<&str> = self.outputs.webhooks.keys().map(String::as_str).collect();
        if self.outputs.webhook.is_some() {
            configured.push(DEFAULT_TARGET);
        }
        let n = self
            .queue
            .kill_unconfigured(self.checked_id, max, &configured)?;
        if n > 0 {
            warn!(
                alerts = n,
                "webhook alerts for unconfigured targets marked dead"
            );
        }
        self.checked_id = max;
        Ok(n)
    }

    fn refused(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        row: &Due,
        now: i64,
        why: &str,
    ) -> Result<(), Q::Error> {
        let attempts = row.attempts.saturating_add(1);
        if attempts > target.max_retries {
            warn!(
                target = name,
                alert = row.id,
                attempts,
                error = why,
                "webhook alert dead"
            );
            let why = format!("{why} (gave up after {attempts} attempts)");
            return self.queue.dead(row.id, attempts, &why);
        }
        debug!(
            target = name,
            alert = row.id,
            attempts,
            error = why,
            "webhook alert refused"
        );
        let next = now.saturating_add(target.backoff.delay_us(attempts));
        self.queue.retry(row.id, attempts, next, why)
    }

    fn unreachable(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        id: i64,
        now: i64,
        why: &str,
    ) -> Result<(), Q::Error> {
        let failures = self.outages.get(name).map_or(0, |o| o.failures) + 1;
        let retry_at_us = now.saturating_add(target.backoff.delay_us(failures));
        self.outages.insert(
            name.to_string(),
            Outage {
                failures,
                retry_at_us,
            },
        );
        if failures == 1 {
            warn!(
                target = name,
                url = target.url.as_str(),
                error = why,
                "webhook target unreachable; its alerts stay queued and are retried"
            );
        }
        // The probed row steps back, so a row the endpoint chokes on cannot stall the others.
        self.queue
            .postpone(id, retry_at_us, &format!("unreachable: {why}"))
    }

    fn recovered(&mut self, target: &str) {
        if let Some(o) = self.outages.remove(target) {
            info!(
                target,
                failures = o.failures,
                "webhook target reachable again"
            );
        }
    }
}

/// The stored body with `alert_id` and the fold count at send time.
fn send_body(row: &Due) -> Option<String> {
    let mut v: Value = serde_json::from_str(&row.body).ok()?;
    let obj = v.as_object_mut()?;
    obj.insert("alert_id".into(), row.id.into());
    obj.insert("fold_count".into(), row.fold_count.into());
    Some(v.to_string())
}

/// The sender's loop over the SQLite outbox, for a thread of its own: waits for the writer to
/// create the outbox table, then runs [`run`].
pub fn run_sqlite(db_path: &Path, outputs: &OutputsSection, stop: &Stop) {
    if let Some(conn) = open_when_ready(db_path, stop) {
        run(Outbox::new(conn), outputs, stop);
    }
}

/// The sender's loop, for a thread of its own: sends, prunes and polls `queue` until `stop`'s
/// other end is dropped; its waits end at once then. An in-flight POST finishes first (bounded
/// by the target's timeout). A database error is logged and the pass tried again a second later.
pub fn run<Q: Queue>(queue: Q, outputs: &OutputsSection, stop: &Stop) {
    let poster = HttpPoster::new(outputs);
    let mut sender = Sender::new(queue, outputs.clone(), poster);
    let mut failures = 0u32;
    let mut next_prune = Instant::now();
    while !stopped(stop) {
        if Instant::now() >= next_prune {
            next_prune = match sender.prune(now_us()) {
                // More are due: go on at the next pass, after this round of sending.
                Ok(PRUNE_ROWS) => Instant::now(),
                Ok(n) => {
                    if n > 0 {
                        debug!(
                            rows = n,
                            "webhook_outbox: finished alerts past retention deleted"
                        );
                    }
                    Instant::now() + PRUNE_EVERY
                }
                Err(e) => {
                    warn!(error = %e, "webhook_outbox: finished alerts not pruned; retrying");
                    Instant::now() + PRUNE_EVERY
                }
            };
        }
        match sender.pass(&now_us, stop) {
            Ok(0) => wait(POLL_INTERVAL, stop),
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures % 10 == 0 {
                    warn!(error = %e, failures, "webhook outbox not readable; retrying");
                }
                wait(Duration::from_secs(1), stop);
            }
        }
    }
}

/// The sender's connection, once the writer has created the database and its outbox table.
fn open_when_ready(path: &Path, stop: &Stop) -> Option<Connection> {
    let mut waited = Duration::ZERO;
    while !stopped(stop) {
        let ready = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'webhook_outbox'",
                [],
                |r| r.get(0),
            )?;
            Ok((n > 0).then_some(c))
        });
        match ready {
            Ok(Some(c)) => return Some(c),
            Ok(None) => {}
            Err(e) if waited >= Duration::from_secs(30) && waited.as_millis() % 30_000 < 500 => {
                warn!(error = %e, "webhook sender still waiting for the database");
            }
            Err(_) => {}
        }
        wait(Duration::from_millis(500), stop);
        waited += Duration::from_millis(500);
    }
    None
}

/// Wait up to `d`, ending at once when the sender is stopped.
fn wait(d: Duration, stop: &Stop) {
    // Only a timeout or the stop (a dropped sender) can end it: nothing is sent on `stop`.
    let _ = stop.recv_timeout(d);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::outbox::State;
    use std::collections::VecDeque;

    /// Answers from a script; records (target, alert id, body) of every POST.
    #[derive(Default)]
    struct Script {
        answers: VecDeque<PostOutcome>,
        sent: Vec<(String, i64, Value)>,
    }

    impl Poster for &mut Script {
        fn post(&mut self, name: &str, _t: &WebhookTarget, id: i64, body: &[u8]) -> PostOutcome {
            let body = serde_json::from_slice(body).unwrap_or(Value::Null);
            self.sent.push((name.to_string(), id, body));
            self.answers.pop_front().unwrap_or(ok())
        }
    }

    /// One outbox row as the sender sees it.
    #[derive(Debug, Clone)]
    struct Row {
        id: i64,
        target: String,
        body: String,
        state: State,
        attempts: u32,
        next_us: i64,
        last_error: Option<String>,
        created_us: i64,
        delivered_us: Option<i64>,
        fold_count: i64,
    }

    /// The outbox in memory, with the semantics of [`Outbox`]'s statements.
    #[derive(Default)]
    struct Mem {
        rows: Vec<Row>,
    }

    impl Mem {
        fn with(targets: &[&str]) -> Mem {
            let rows = targets
                .iter()
                .enumerate()
                .map(|(i, t)| Row {
                    id: i as i64 + 1,
                    target: t.to_string(),
                    body: r#"{"rule":{"id":"r1"}}"#.into(),
                    state: State::Pending,
                    attempts: 0,
                    next_us: 0,
                    last_error: None,
                    created_us: 0,
                    delivered_us: None,
                    fold_count: i as i64 + 1,
                })
                .collect();
            Mem { rows }
        }

        fn row(&mut self, id: i64) -> &mut Row {
            let i = self.rows.iter().position(|r| r.id == id);
            &mut self.rows[i.expect("a row the sender was given")]
        }
    }

    impl Queue for Mem {
        type Error = rusqlite::Error;
        fn due(&mut self, target: &str, now_us: i64, limit: usize) -> rusqlite::Result<Vec<Due>> {
            let mut due: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| r.state == State::Pending && r.target == target && r.next_us <= now_us)
                .collect();
            due.sort_by_key(|r| (r.next_us, r.id));
            Ok(due
                .into_iter()
                .take(limit)
                .map(|r| Due {
                    id: r.id,
                    body: r.body.clone(),
                    attempts: r.attempts,
                    fold_count: r.fold_count,
                })
                .collect())
        }
        fn max_id(&mut self) -> rusqlite::Result<i64> {
            Ok(self.rows.iter().map(|r| r.id).max().unwrap_or(0))
        }
        fn kill_unconfigured(
            &mut self,
            after: i64,
            upto: i64,
            configured: &[&str],
        ) -> rusqlite::Result<usize> {
            let mut n = 0;
            for r in &mut self.rows {
                let hit = r.id > after && r.id <= upto && r.state == State::Pending;
                if hit && !configured.contains(&r.target.as_str()) {
                    r.state = State::Dead;
                    r.last_error = Some(format!("no target {}", r.target));
                    n += 1;
                }
            }
            Ok(n)
        }
        fn delivered(&mut self, id: i64, now_us: i64) -> rusqlite::Result<()> {
            let r = self.row(id);
            (r.state, r.delivered_us, r.last_error) = (State::Delivered, Some(now_us), None);
            Ok(())
        }
        fn retry(
            &mut self,
            id: i64,
            attempts: u32,
            next_us: i64,
            why: &str,
        ) -> rusqlite::Result<()> {
            let r = self.row(id);
            (r.attempts, r.next_us, r.last_error) = (attempts, next_us, Some(why.into()));
            Ok(())
        }
        fn postpone(&mut self, id: i64, next_us: i64, why: &str) -> rusqlite::Result<()> {
            let r = self.row(id);
            (r.next_us, r.last_error) = (next_us, Some(why.into()));
            Ok(())
        }
        fn dead(&mut self, id: i64, attempts: u32, why: &str) -> rusqlite::Result<()> {
            let r = self.row(id);
            (r.state, r.attempts, r.last_error) = (State::Dead, attempts, Some(why.into()));
            Ok(())
        }
        fn prune(
            &mut self,
            delivered_before_us: Option<i64>,
            dead_before_us: Option<i64>,
            limit: usize,
        ) -> rusqlite::Result<usize> {
            let goes = |r: &Row| match r.state {
                State::Pending => false,
                State::Delivered => {
                    delivered_before_us.is_some_and(|t| r.delivered_us.unwrap_or(r.created_us) < t)
                }
                State::Dead => dead_before_us.is_some_and(|t| r.created_us.max(r.next_us) < t),
            };
            let ids: Vec<i64> = self
                .rows
                .iter()
                .filter(|r| goes(r))
                .map(|r| r.id)
                .take(limit)
                .collect();
            self.rows.retain(|r| !ids.contains(&r.id));
            Ok(ids.len())
        }
    }

    fn ok() -> PostOutcome {
        PostOutcome::Answered {
            status: 200,
            reason: "OK".into(),
        }
    }

    fn status(code: u16) -> PostOutcome {
        PostOutcome::Answered {
            status: code,
            reason: "Nope".into(),
        }
    }

    fn down() -> PostOutcome {
        PostOutcome::Unreachable("connection refused".into())
    }

    fn outputs(yaml: &str) -> OutputsSection {
        Config::from_yaml(yaml, Path::new("c.yaml"))
            .unwrap()
            .outputs
    }

    const DEFAULT_ONLY: &str = "outputs:\n  webhook:\n    url: http://127.0.0.1:9/\n    max_retries: 2\n    backoff: {initial_seconds: 1, max_seconds: 4}\n";

    fn pass(sender: &mut Sender<&mut Script, Mem>, now_s: i64) -> usize {
        let (_running, stop) = crossbeam_channel::bounded(0);
        sender.pass(&|| now_s * 1_000_000, &stop).unwrap()
    }

    #[test]
    fn a_stopped_sender_posts_nothing() {
        let mut script = Script::default();
        let queue = Mem::with(&["default"]);
        let mut s = Sender::new(queue, outputs(DEFAULT_ONLY), &mut script);
        let (running, stop) = crossbeam_channel::bounded(0);
        drop(running);
        assert_eq!(s.pass(&|| 10_000_000, &stop).unwrap(), 0);
        assert!(script.sent.is_empty());
    }

    #[test]
    fn run_ends_when_stopped_while_it_waits_for_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("not-yet.db");
        let (running, stop) = crossbeam_channel::bounded(0);
        let (ended_tx, ended) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            run_sqlite(&db, &outputs(DEFAULT_ONLY), &stop);
            let _ = ended_tx.send(());
        });
        assert!(
            ended.recv_timeout(Duration::from_millis(200)).is_err(),
            "still waiting"
        );
        drop(running);
        ended.recv_timeout(Duration::from_secs(5)).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn a_2xx_delivers_with_alert_id_and_fold_count_in_the_body() {
        let mut script = Script::default();
        let queue = Mem::with(&["default", "default"]);
        let mut s = Sender::new(queue, outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(pass(&mut s, 10), 2);
        assert_eq!(pass(&mut s, 11), 0, "nothing left to send");
        let rows = &s.queue.rows;
        assert!(rows.iter().all(|r| r.state == State::Delivered), "{rows:?}");
        assert_eq!(rows[0].delivered_us, Some(10_000_000));
        drop(s);
        let ids: Vec<i64> = script.sent.iter().map(|(_, id, _)| *id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(script.sent[1].2["alert_id"], 2);
        assert_eq!(script.sent[1].2["fold_count"], 2);
        assert_eq!(script.sent[1].2["rule"]["id"], "r1");
    }

    #[test]
    fn refusals_back_off_then_the_alert_is_dead_after_max_retries() {
        let mut script = Script {
            answers: [status(500), status(500), status(400)].into(),
            ..Script::default()
        };
        let mut s = Sender::new(Mem::with(&["default"]), outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(pass(&mut s, 0), 1);
        assert_eq!(s.queue.rows[0].attempts, 1);
        assert_eq!(s.queue.rows[0].next_us, 1_000_000, "initial backoff: 1 s");
        assert_eq!(pass(&mut s, 0), 0, "not due yet");
        assert_eq!(pass(&mut s, 1), 1);
        assert_eq!(pass(&mut s, 2), 0, "second delay is 2 s");
        assert_eq!(pass(&mut s, 3), 1);
        let row = &s.queue.rows[0];
        assert_eq!((row.state, row.attempts), (State::Dead, 3));
        assert!(
            row.last_error.as_deref().unwrap_or("").contains("HTTP 400"),
            "{row:?}"
        );
    }

    #[test]
    fn an_unreachable_endpoint_costs_no_attempt_and_holds_the_whole_target() {
        let mut script = Script {
            answers: std::iter::repeat_with(down).take(10_000).collect(),
            ..Script::default()
        };
        let queue = Mem::with(&["default", "default", "default"]);
        let mut s = Sender::new(queue, outputs(DEFAULT_ONLY), &mut script);
        // An hour of outage, probed every second: nothing dies, one probe per backoff.
        let mut probes = 0;
        for t in 0..3600 {
            probes += pass(&mut s, t);
        }
        let rows = &s.queue.rows;
        assert!(
            rows.iter()
                .all(|r| r.state == State::Pending && r.attempts == 0),
            "{rows:?}"
        );
        let why = rows[0].last_error.as_deref().unwrap_or("");
        assert!(why.starts_with("unreachable"), "{why}");
        assert!(probes < 3600 / 4 + 5, "backoff caps the probing: {probes}");
        // The script is empty now: the endpoint is back and every alert goes out.
        s.poster.answers.clear();
        let n: usize = (0..10).map(|dt| pass(&mut s, 3601 + dt)).sum();
        assert_eq!(n, 3);
        assert!(s.queue.rows.iter().all(|r| r.state == State::Delivered));
    }

    #[test]
    fn one_target_down_does_not_hold_another() {
        let two = "outputs:\n  webhook: {url: http://127.0.0.1:9/}\n  webhooks:\n    a: {url: http://127.0.0.1:9/a}\n";
        let mut script = Script {
            answers: [down()].into(),
            ..Script::default()
        };
        let mut s = Sender::new(Mem::with(&["a", "default"]), outputs(two), &mut script);
        assert_eq!(pass(&mut s, 0), 2);
        let states: Vec<State> = s.queue.rows.iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Pending, State::Delivered]);
    }

    #[test]
    fn alerts_for_an_unconfigured_target_are_dead_at_once() {
        let mut script = Script::default();
        let queue = Mem::with(&["noc", "default"]);
        let mut s = Sender::new(queue, outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(pass(&mut s, 0), 2);
        let states: Vec<State> = s.queue.rows.iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Dead, State::Delivered]);
        let mut s = Sender::new(
            Mem::with(&["default"]),
            OutputsSection::default(),
            &mut script,
        );
        assert_eq!(pass(&mut s, 0), 1);
        assert_eq!(s.queue.rows[0].state, State::Dead);
    }

    const DAY_S: i64 = 86_400;

    /// A finished or pending row created and last tried (or delivered) at these seconds.
    fn aged(id: i64, state: State, created_s: i64, last_s: i64) -> Row {
        let mut r = Mem::with(&["default"]).rows.remove(0);
        r.id = id;
        r.state = state;
        r.created_us = created_s * 1_000_000;
        r.next_us = last_s * 1_000_000;
        r.delivered_us = (state == State::Delivered).then_some(last_s * 1_000_000);
        r
    }

    #[test]
    fn finished_alerts_past_retention_are_deleted_and_pending_ones_never() {
        let now = 100 * DAY_S;
        let mut script = Script::default();
        let rows = vec![
            aged(1, State::Delivered, now - 9 * DAY_S, now - 8 * DAY_S), // 8 days ago: goes
            aged(2, State::Delivered, now - 30 * DAY_S, now - 6 * DAY_S), // 6 days ago: kept
            aged(3, State::Dead, now - 31 * DAY_S, now - 31 * DAY_S),    // dead 31 days: goes
            aged(4, State::Dead, now - 40 * DAY_S, now - 20 * DAY_S),    // last try 20 days: kept
            aged(5, State::Pending, now - 90 * DAY_S, now - 90 * DAY_S), // pending: never
            aged(6, State::Pending, now - 90 * DAY_S, now + 60),         // a long outage: never
            aged(7, State::Dead, now - DAY_S, now - DAY_S),              // dead yesterday: kept
        ];
        let mut s = Sender::new(Mem { rows }, outputs(DEFAULT_ONLY), &mut script);
        let ids = |s: &Sender<&mut Script, Mem>| -> Vec<i64> {
            s.queue.rows.iter().map(|r| r.id).collect()
        };
        assert_eq!(s.prune(now * 1_000_000).unwrap(), 2);
        assert_eq!(ids(&s), [2, 4, 5, 6, 7]);
        assert_eq!(s.prune(now * 1_000_000).unwrap(), 0);
        // A month later the rest of what finished is old enough; pending rows stay.
        assert_eq!(s.prune((now + 30 * DAY_S) * 1_000_000).unwrap(), 3);
        assert_eq!(ids(&s), [5, 6]);
    }

    #[test]
    fn zero_days_keeps_finished_alerts_for_ever() {
        let mut script = Script::default();
        let rows = vec![aged(1, State::Delivered, 0, 0), aged(2, State::Dead, 0, 0)];
        let keep_all = "outputs:\n  webhook: {url: http://127.0.0.1:9/}\n  retention: {delivered_days: 0, dead_days: 0}\n";
        let mut s = Sender::new(Mem { rows }, outputs(keep_all), &mut script);
        assert_eq!(s.prune(365 * DAY_S * 1_000_000).unwrap(), 0);
        s.outputs.retention.delivered_days = 1;
        assert_eq!(s.prune(365 * DAY_S * 1_000_000).unwrap(), 1);
        assert_eq!(s.queue.rows[0].state, State::Dead);
    }
}
