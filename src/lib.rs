//! MUTT, the Multi-Use Telemetry Tool: a collector for SNMP traps and syslog that never loses an
//! accepted message.
//!
//! The modules follow the data, in order:
//!
//! ```text
//! ingest    mio loop: UDP/TCP receive, TCP framing; appends raw records to the WAL (no parsing)
//! wal       append-only, CRC-checked segment files; the source of truth (opaque bytes)
//! pipeline  drain the WAL from the checkpoint → rayon: decode → validate → rules → route → writer
//! decode    syslog (RFC 3164/5424 and dialects) and SNMP (v1/v2c) into message fields; pure
//! rules     alert_rules.yaml → one compiled matcher; first enabled match wins
//! store     SQLite schema, migrations and the single writer (rows + checkpoint in one transaction)
//! archive   `mutt archive`: old messages out of the database into files, exactly once
//! ```
//!
//! `config`, `cli` and `metrics` sit beside them. `daemon` starts and stops the threads of
//! `mutt run`; the pipeline's writer and decode pool are the pipeline's own.

pub mod agent;
pub mod archive;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod enrich;
pub mod health;
pub mod hex;
pub mod ingest;
pub mod loadgen;
pub mod log_file;
pub mod log_limit;
pub mod metrics;
pub mod metrics_http;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod rules;
pub mod store;
pub mod timefmt;
pub mod wal;
