//! The webhook sender: a thread that POSTs queued alerts from `webhook_outbox` and records each
//! outcome there.
//!
//! It has its own SQLite connection (the journal is in WAL mode, so its short updates sit beside
//! the writer's transactions). Each pass takes, per configured target, the pending rows whose
//! `next_attempt_at` has come, oldest due first (for never-tried rows that is created order):
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
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::http::{self, PostOutcome};
use super::{OutputsSection, WebhookTarget, DEFAULT_TARGET};
use crate::timefmt::{iso8601_us, now_us};

/// How often an idle sender looks for new alerts.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Rows taken per target per pass.
const PASS_ROWS: usize = 64;
/// How often finished rows past their retention are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows deleted per statement (one short write transaction).
pub const PRUNE_ROWS: usize = 500;
const DAY_US: i64 = 86_400_000_000;

/// Sends one alert body; the seam the unit tests fake.
pub trait Poster {
    fn post(&mut self, target: &WebhookTarget, alert_id: i64, body: &[u8]) -> PostOutcome;
}

/// The real thing: HTTP/1.1 POST with the target's headers and `X-MUTT-Alert-Id`.
pub struct HttpPoster;

impl Poster for HttpPoster {
    fn post(&mut self, target: &WebhookTarget, alert_id: i64, body: &[u8]) -> PostOutcome {
        let mut headers = target.headers.clone();
        headers.push(("X-MUTT-Alert-Id".into(), alert_id.to_string()));
        http::post(&target.url, &headers, body, target.timeout())
    }
}

/// A target that gave no answer: its rows wait until `retry_at_us`.
#[derive(Debug, Clone, Copy)]
struct Outage {
    failures: u32,
    retry_at_us: i64,
}

/// One due outbox row.
struct Due {
    id: i64,
    body: String,
    attempts: u32,
    fold_count: i64,
}

/// The sender's state over one connection; [`Sender::pass`] does one round of work.
pub struct Sender<P: Poster> {
    conn: Connection,
    outputs: OutputsSection,
    poster: P,
    outages: HashMap<String, Outage>,
    /// Rows up to this id have been checked for an unconfigured target.
    checked_id: i64,
}

impl<P: Poster> Sender<P> {
    pub fn new(conn: Connection, outputs: OutputsSection, poster: P) -> Sender<P> {
        Sender {
            conn,
            outputs,
            poster,
            outages: HashMap::new(),
            checked_id: 0,
        }
    }

    /// One round: mark alerts for unconfigured targets dead, then try due alerts target by
    /// target. `clock` gives Unix microseconds; `stop` ends the round between POSTs. Returns how
    /// many rows changed.
    pub fn pass(&mut self, clock: &dyn Fn() -> i64, stop: &AtomicBool) -> rusqlite::Result<usize> {
        let mut changed = self.mark_unconfigured_dead()?;
        let mut names: Vec<String> = self.outputs.webhooks.keys().cloned().collect();
        if self.outputs.webhook.is_some() {
            names.push(DEFAULT_TARGET.to_string());
        }
        for name in names {
            if stop.load(Ordering::Relaxed) {
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
        stop: &AtomicBool,
    ) -> rusqlite::Result<usize> {
        let now = clock();
        if self.outages.get(name).is_some_and(|o| o.retry_at_us > now) {
            return Ok(0);
        }
        let due = self.due(name, now)?;
        let mut changed = 0;
        for row in due {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            changed += 1;
            let Some(body) = send_body(&row) else {
                self.finish(row.id, row.attempts, "stored body is not JSON")?;
                continue;
            };
            match self.poster.post(target, row.id, body.as_bytes()) {
                PostOutcome::Answered { status, .. } if (200..300).contains(&status) => {
                    self.delivered(name, row.id, clock())?;
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

    fn due(&self, target: &str, now: i64) -> rusqlite::Result<Vec<Due>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, body, attempts, fold_count FROM webhook_outbox
             WHERE state = 'pending' AND target = ?1 AND next_attempt_at <= ?2
             ORDER BY next_attempt_at, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![target, iso8601_us(now), PASS_ROWS as i64], |r| {
            Ok(Due {
                id: r.get(0)?,
                body: r.get(1)?,
                attempts: r.get::<_, i64>(2)?.clamp(0, i64::from(u32::MAX)) as u32,
                fold_count: r.get(3)?,
            })
        })?;
        rows.collect()
    }

    /// Delete up to [`PRUNE_ROWS`] finished rows past `outputs.retention` at `now_us` (Unix
    /// microseconds), oldest first; never a pending row. Returns how many went: [`PRUNE_ROWS`]
    /// means more may be due.
    pub fn prune(&self, now_us: i64) -> rusqlite::Result<usize> {
        let keep = self.outputs.retention;
        if keep.delivered_days == 0 && keep.dead_days == 0 {
            return Ok(0);
        }
        let cutoff = |days: u64| {
            let age = i64::try_from(days).map_or(i64::MAX, |d| d.saturating_mul(DAY_US));
            iso8601_us(now_us.saturating_sub(age))
        };
        // Rowid order finds the oldest rows first and stops at the limit.
        self.conn
            .prepare_cached(
                "DELETE FROM webhook_outbox WHERE id IN (
                     SELECT id FROM webhook_outbox
                     WHERE (state = 'delivered' AND ?1
                            AND COALESCE(delivered_at, created_at) < ?2)
                        OR (state = 'dead' AND ?3
                            AND MAX(created_at, next_attempt_at) < ?4)
                     ORDER BY id LIMIT ?5)",
            )?
            .execute(params![
                keep.delivered_days > 0,
                cutoff(keep.delivered_days),
                keep.dead_days > 0,
                cutoff(keep.dead_days),
                PRUNE_ROWS as i64,
            ])
    }

    /// Rows queued since the last check whose target is not configured become dead, with why.
    fn mark_unconfigured_dead(&mut self) -> rusqlite::Result<usize> {
        let max: i64 = self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM webhook_outbox")?
            .query_row([], |r| r.get(0))?;
        if max <= self.checked_id {
            return Ok(0);
        }
        let mut configured: Vec<&str> = self.outputs.webhooks.keys().map(String::as_str).collect();
        if self.outputs.webhook.is_some() {
            configured.push(DEFAULT_TARGET);
        }
        let configured = serde_json::to_string(&configured).unwrap_or_else(|_| "[]".into());
        let n = self
            .conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = 'dead',
                 last_error = 'no webhook target ' || quote(target) || ' is configured ('
                     || CASE target WHEN 'default' THEN 'outputs.webhook'
                        ELSE 'outputs.webhooks.' || target END || ')'
             WHERE id > ?1 AND id <= ?2 AND state = 'pending'
               AND target NOT IN (SELECT value FROM json_each(?3))",
            )?
            .execute(params![self.checked_id, max, configured])?;
        if n > 0 {
            warn!(
                alerts = n,
                "webhook alerts for unconfigured targets marked dead"
            );
        }
        self.checked_id = max;
        Ok(n)
    }

    fn delivered(&mut self, target: &str, id: i64, now: i64) -> rusqlite::Result<()> {
        self.recovered(target);
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = 'delivered', delivered_at = ?2, last_error = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, iso8601_us(now)])?;
        Ok(())
    }

    fn refused(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        row: &Due,
        now: i64,
        why: &str,
    ) -> rusqlite::Result<()> {
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
            return self.finish(row.id, attempts, &why);
        }
        debug!(
            target = name,
            alert = row.id,
            attempts,
            error = why,
            "webhook alert refused"
        );
        let next = now.saturating_add(target.backoff.delay_us(attempts));
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
                 WHERE id = ?1",
            )?
            .execute(params![row.id, attempts, iso8601_us(next), why])?;
        Ok(())
    }

    fn unreachable(
        &mut self,
        name: &str,
        target: &WebhookTarget,
        id: i64,
        now: i64,
        why: &str,
    ) -> rusqlite::Result<()> {
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
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
            )?
            .execute(params![
                id,
                iso8601_us(retry_at_us),
                format!("unreachable: {why}")
            ])?;
        Ok(())
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

    /// Mark a row dead with the reason.
    fn finish(&self, id: i64, attempts: u32, why: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE webhook_outbox SET state = 'dead', attempts = ?2, last_error = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id, attempts, why])?;
        Ok(())
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

/// The running sender thread.
pub struct WebhookSender {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<()>,
}

impl WebhookSender {
    /// Start the thread. It waits for the writer to create the outbox table, then polls.
    /// Start the sender thread; `guard` lives as long as the thread (it reports a thread that
    /// ends on its own to `/health`).
    pub fn start(
        db_path: &Path,
        outputs: &OutputsSection,
        guard: crate::health::ThreadGuard,
    ) -> std::io::Result<WebhookSender> {
        let stop = Arc::new(AtomicBool::new(false));
        let (path, outputs, flag) = (db_path.to_path_buf(), outputs.clone(), stop.clone());
        let handle = thread::Builder::new()
            .name("mutt-webhook".into())
            .spawn(move || {
                let _guard = guard;
                run(path, outputs, &flag)
            })?;
        Ok(WebhookSender { stop, handle })
    }

    /// Ask the thread to stop and wait for it; an in-flight POST finishes first (bounded by the
    /// target's timeout).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.handle.join().is_err() {
            warn!("webhook sender thread panicked");
        }
    }
}

fn run(path: PathBuf, outputs: OutputsSection, stop: &AtomicBool) {
    let Some(conn) = open_when_ready(&path, stop) else {
        return;
    };
    let mut sender = Sender::new(conn, outputs, HttpPoster);
    let mut failures = 0u32;
    let mut next_prune = Instant::now();
    while !stop.load(Ordering::Relaxed) {
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
            Ok(0) => nap(POLL_INTERVAL, stop),
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures % 10 == 0 {
                    warn!(error = %e, failures, "webhook outbox not readable; retrying");
                }
                nap(Duration::from_secs(1), stop);
            }
        }
    }
}

/// The sender's connection, once the writer has created the database and its outbox table.
fn open_when_ready(path: &Path, stop: &AtomicBool) -> Option<Connection> {
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
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
        nap(Duration::from_millis(500), stop);
        waited += Duration::from_millis(500);
    }
    None
}

/// Sleep up to `d`, waking early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let s = left.min(step);
        thread::sleep(s);
        left -= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::VecDeque;

    /// Answers from a script; records (alert id, body) of every POST.
    #[derive(Default)]
    struct Script {
        answers: VecDeque<PostOutcome>,
        sent: Vec<(i64, Value)>,
    }

    impl Poster for &mut Script {
        fn post(&mut self, _t: &WebhookTarget, id: i64, body: &[u8]) -> PostOutcome {
            self.sent
                .push((id, serde_json::from_slice(body).unwrap_or(Value::Null)));
            self.answers.pop_front().unwrap_or(ok())
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

    fn db(alerts: &[&str]) -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        for (i, target) in alerts.iter().enumerate() {
            c.execute(
                "INSERT INTO webhook_outbox (message_id, rule_id, target, body, next_attempt_at,
                     created_at, fold_count, fold_key)
                 VALUES (?1, 'r1', ?2, '{\"rule\":{\"id\":\"r1\"}}', ?3, ?3, ?4, 0)",
                params![format!("m{i}"), target, iso8601_us(0), i as i64 + 1],
            )
            .unwrap();
        }
        c
    }

    fn states(c: &Connection) -> Vec<(String, i64, Option<String>)> {
        let mut s = c
            .prepare("SELECT state, attempts, last_error FROM webhook_outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn pass(sender: &mut Sender<&mut Script>, now_s: i64) -> usize {
        let stop = AtomicBool::new(false);
        sender.pass(&|| now_s * 1_000_000, &stop).unwrap()
    }

    #[test]
    fn a_2xx_delivers_with_alert_id_and_fold_count_in_the_body() {
        let mut script = Script::default();
        let mut s = Sender::new(
            db(&["default", "default"]),
            outputs(DEFAULT_ONLY),
            &mut script,
        );
        assert_eq!(pass(&mut s, 10), 2);
        assert_eq!(pass(&mut s, 11), 0, "nothing left to send");
        let got = states(&s.conn);
        assert!(got.iter().all(|(st, _, _)| st == "delivered"), "{got:?}");
        drop(s);
        let ids: Vec<i64> = script.sent.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(script.sent[1].1["alert_id"], 2);
        assert_eq!(script.sent[1].1["fold_count"], 2);
        assert_eq!(script.sent[1].1["rule"]["id"], "r1");
    }

    #[test]
    fn refusals_back_off_then_the_alert_is_dead_after_max_retries() {
        let mut script = Script {
            answers: [status(500), status(500), status(400)].into(),
            ..Script::default()
        };
        let mut s = Sender::new(db(&["default"]), outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(pass(&mut s, 0), 1);
        assert_eq!(states(&s.conn)[0].1, 1);
        let next: String = s
            .conn
            .query_row("SELECT next_attempt_at FROM webhook_outbox", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(next, iso8601_us(1_000_000), "initial backoff: 1 s");
        assert_eq!(pass(&mut s, 0), 0, "not due yet");
        assert_eq!(pass(&mut s, 1), 1);
        assert_eq!(pass(&mut s, 2), 0, "second delay is 2 s");
        assert_eq!(pass(&mut s, 3), 1);
        let got = states(&s.conn);
        assert_eq!(got[0].0, "dead");
        assert_eq!(got[0].1, 3);
        assert!(
            got[0].2.as_deref().unwrap_or("").contains("HTTP 400"),
            "{got:?}"
        );
    }

    #[test]
    fn an_unreachable_endpoint_costs_no_attempt_and_holds_the_whole_target() {
        let mut script = Script {
            answers: std::iter::repeat_with(down).take(10_000).collect(),
            ..Script::default()
        };
        let mut s = Sender::new(
            db(&["default", "default", "default"]),
            outputs(DEFAULT_ONLY),
            &mut script,
        );
        // An hour of outage, probed every second: nothing dies, one probe per backoff.
        let mut probes = 0;
        for t in 0..3600 {
            probes += pass(&mut s, t);
        }
        let got = states(&s.conn);
        assert!(
            got.iter().all(|(st, a, _)| st == "pending" && *a == 0),
            "{got:?}"
        );
        assert!(got[0].2.as_deref().unwrap_or("").starts_with("unreachable"));
        assert!(probes < 3600 / 4 + 5, "backoff caps the probing: {probes}");
        script_answers_run_out_then(&mut s, 3601);
    }

    fn script_answers_run_out_then(s: &mut Sender<&mut Script>, t: i64) {
        // The script is empty now: the endpoint is back and every alert goes out.
        s.poster.answers.clear();
        let mut n = 0;
        for dt in 0..10 {
            n += pass(s, t + dt);
        }
        assert_eq!(n, 3);
        assert!(states(&s.conn).iter().all(|(st, _, _)| st == "delivered"));
    }

    #[test]
    fn alerts_for_an_unconfigured_target_are_dead_with_the_reason() {
        let mut script = Script::default();
        let mut s = Sender::new(db(&["noc", "default"]), outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(pass(&mut s, 0), 2);
        let got = states(&s.conn);
        assert_eq!(got[0].0, "dead");
        assert!(
            got[0]
                .2
                .as_deref()
                .unwrap_or("")
                .contains("outputs.webhooks.noc"),
            "{got:?}"
        );
        assert_eq!(got[1].0, "delivered");
        let mut s = Sender::new(db(&["default"]), OutputsSection::default(), &mut script);
        assert_eq!(pass(&mut s, 0), 1);
        assert!(states(&s.conn)[0]
            .2
            .as_deref()
            .unwrap_or("")
            .contains("outputs.webhook)"));
    }

    const DAY_S: i64 = 86_400;

    /// Set row `id`'s state and times, in seconds since the epoch.
    fn age(c: &Connection, id: i64, state: &str, created_s: i64, last_s: i64) {
        c.execute(
            "UPDATE webhook_outbox SET state = ?2, created_at = ?3, next_attempt_at = ?4,
                 delivered_at = CASE ?2 WHEN 'delivered' THEN ?4 END
             WHERE id = ?1",
            params![
                id,
                state,
                iso8601_us(created_s * 1_000_000),
                iso8601_us(last_s * 1_000_000)
            ],
        )
        .unwrap();
    }

    fn ids(c: &Connection) -> Vec<i64> {
        let mut s = c
            .prepare("SELECT id FROM webhook_outbox ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn finished_alerts_past_retention_are_deleted_and_pending_ones_never() {
        let now = 100 * DAY_S;
        let mut script = Script::default();
        let c = db(&["default"; 7]);
        age(&c, 1, "delivered", now - 9 * DAY_S, now - 8 * DAY_S); // delivered 8 days ago: goes
        age(&c, 2, "delivered", now - 30 * DAY_S, now - 6 * DAY_S); // delivered 6 days ago: kept
        age(&c, 3, "dead", now - 31 * DAY_S, now - 31 * DAY_S); // dead 31 days ago: goes
        age(&c, 4, "dead", now - 40 * DAY_S, now - 20 * DAY_S); // last try 20 days ago: kept
        age(&c, 5, "pending", now - 90 * DAY_S, now - 90 * DAY_S); // pending: never
        age(&c, 6, "pending", now - 90 * DAY_S, now + 60); // a long outage: never
        age(&c, 7, "dead", now - DAY_S, now - DAY_S); // dead yesterday: kept
        let s = Sender::new(c, outputs(DEFAULT_ONLY), &mut script);
        assert_eq!(s.prune(now * 1_000_000).unwrap(), 2);
        assert_eq!(ids(&s.conn), [2, 4, 5, 6, 7]);
        assert_eq!(s.prune(now * 1_000_000).unwrap(), 0);
        // A week later the rest of what finished is old enough; pending rows stay.
        assert_eq!(s.prune((now + 30 * DAY_S) * 1_000_000).unwrap(), 3);
        assert_eq!(ids(&s.conn), [5, 6]);
    }

    #[test]
    fn pruning_goes_in_small_batches_and_zero_days_keeps_rows_for_ever() {
        let mut script = Script::default();
        let targets = vec!["default"; PRUNE_ROWS * 2 + 10];
        let c = db(&targets);
        c.execute(
            "UPDATE webhook_outbox SET state = 'delivered', delivered_at = ?1",
            [iso8601_us(0)],
        )
        .unwrap();
        let now = 365 * DAY_S * 1_000_000;
        let keep_all = "outputs:\n  webhook: {url: http://127.0.0.1:9/}\n  retention: {delivered_days: 0, dead_days: 0}\n";
        let s = Sender::new(c, outputs(keep_all), &mut script);
        assert_eq!(s.prune(now).unwrap(), 0);
        let mut s = Sender::new(s.conn, outputs(DEFAULT_ONLY), s.poster);
        s.outputs.retention.dead_days = 0;
        let batches: Vec<usize> = std::iter::from_fn(|| match s.prune(now).unwrap() {
            0 => None,
            n => Some(n),
        })
        .collect();
        assert_eq!(batches, [PRUNE_ROWS, PRUNE_ROWS, 10]);
        assert!(ids(&s.conn).is_empty());
    }
}
