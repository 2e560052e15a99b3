//! snmpv3_auth_failures on PostgreSQL: the SQLite writer's rules (store/auth_failures.rs) — one
//! row per untrusted user, counted until a trusted message clears it, at most `max_users` rows —
//! written so that two collectors counting the same user never conflict: a new user is an
//! `INSERT ... ON CONFLICT (username) DO UPDATE`, so whichever collector comes second adds to
//! the first one's row.

use postgres::Transaction;

use super::{at, Ctx, PgError};
use crate::store::auth_failures::admin_string;
use crate::store::row::{Detail, MessageRow};

/// Count the batch's failures and clear the users a trusted message clears, in row order.
/// Returns the failures not recorded because the table was full.
pub(super) fn record(
    tx: &mut Transaction<'_>,
    ctx: &Ctx<'_>,
    rows: &[MessageRow],
    max_users: usize,
) -> Result<u64, PgError> {
    let mut v3 = rows
        .iter()
        .filter_map(|r| match &r.detail {
            Detail::Snmp(m) if m.auth_failure.is_some() || m.auth_ok_user.is_some() => Some((r, m)),
            _ => None,
        })
        .peekable();
    if v3.peek().is_none() {
        return Ok(0);
    }
    let err = |e| ctx.err(e);
    let bump = tx
        .prepare(
            "UPDATE snmpv3_auth_failures SET num_failures = num_failures + 1,
                 hostname = $2, last_failure = GREATEST(last_failure, $3)
             WHERE username = $1",
        )
        .map_err(err)?;
    let add = tx
        .prepare(
            "INSERT INTO snmpv3_auth_failures (id, username, hostname, num_failures, last_failure)
             VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (username) DO UPDATE SET
                 num_failures = snmpv3_auth_failures.num_failures + 1,
                 hostname = excluded.hostname,
                 last_failure = GREATEST(snmpv3_auth_failures.last_failure,
                                         excluded.last_failure)",
        )
        .map_err(err)?;
    let clear = tx
        .prepare("DELETE FROM snmpv3_auth_failures WHERE username = $1")
        .map_err(err)?;
    let mut over_cap = 0u64;
    for (row, msg) in v3 {
        if let Some(user) = &msg.auth_failure {
            let user = admin_string(user);
            let when = at(row.received_at_us);
            let device = super::copy::no_nul(&row.source_device);
            let user = super::copy::no_nul(user);
            if tx
                .execute(&bump, &[&user.as_ref(), &device.as_ref(), &when])
                .map_err(err)?
                > 0
            {
                continue;
            }
            let n: i64 = tx
                .query_one("SELECT COUNT(*) FROM snmpv3_auth_failures", &[])
                .map_err(err)?
                .get(0);
            if n as usize >= max_users {
                over_cap += 1;
                continue;
            }
            let id = uuid::Uuid::now_v7().to_string();
            tx.execute(&add, &[&id, &user.as_ref(), &device.as_ref(), &when])
                .map_err(err)?;
        } else if let Some(user) = &msg.auth_ok_user {
            let user = super::copy::no_nul(admin_string(user));
            tx.execute(&clear, &[&user.as_ref()]).map_err(err)?;
        }
    }
    Ok(over_cap)
}
