//! Outputs besides the database: webhook alerts, delivered from an outbox table.
//!
//! The writer queues an alert in `webhook_outbox` in the same transaction as its message
//! ([`crate::store::outbox`]), so an alert exists exactly when its message does; the sender
//! ([`webhook`]) POSTs queued alerts and records each outcome in the same table, over the HTTP
//! client of [`http`]. Where alerts go is configured in `outputs:` ([`crate::config::OutputsSection`]).

pub mod http;
pub mod webhook;
