//! SQLite storage: the schema and its migrations, and the single writer connection. (PostgreSQL,
//! for several collectors into one database, is in postgres/ behind the same `MessageSink`.)
//!
//! Exactly one connection writes. Each batch is one transaction holding its rows, the device
//! registry updates, the rule counters and the new WAL checkpoint, so a batch is stored whole or
//! not at all, and the checkpoint never runs ahead of the rows it covers.

pub mod alert;
pub mod auth_failures;
pub mod blocks;
mod checkpoints;
pub mod devices;
mod insert;
pub mod outbox;
pub mod postgres;
mod row;
pub mod schema;
mod static_bind;
mod writer;

pub use row::{rule_counts, Detail, MessageRow, Rejection, RuleCount, RuleHit};
pub use writer::{MessageSink, Store, StoreError};
