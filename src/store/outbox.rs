//! The webhook outbox: alerts written in the same transaction as their messages.
//!
//! STUB: filled in by the webhook work.

use rusqlite::Transaction;

use super::row::MessageRow;

/// Queue one alert per row whose rule asks for a webhook.
pub fn enqueue_alerts(_tx: &Transaction<'_>, _rows: &[MessageRow]) -> rusqlite::Result<()> {
    Ok(())
}
