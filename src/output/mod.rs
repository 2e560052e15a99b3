//! Outputs besides the database: webhook alerts, delivered from an outbox table.
//!
//! STUB: the interface the config, store writer and daemon program against; the webhook work
//! replaces the bodies.

use serde::Deserialize;

/// `outputs:` in mutt_config.yaml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsSection {}
