//! mutt_config.yaml: the seed design's keys and defaults, plus `wal:` and `snmpv3:`.
//!
//! A config written for the seed loads unchanged. Every error names the file, the line and the key
//! path: `config/mutt_config.yaml:12: listeners.syslog.port: expected an integer 1-65535, got "abc"`.
//! Relative paths resolve against the working directory, as the seed's `./data` does.
//!
//! The seed's `storage.file_buffer` (an overflow JSONL file that was cleared when full) is replaced
//! by the WAL, which holds every accepted message until it is in the database:
//! - `file_buffer.max_size_mb` is the WAL's disk budget when `wal.max_size_mb` is not set;
//! - reaching the budget never deletes data: ingest sheds new load instead (UDP drops counted, TCP
//!   stops reading);
//! - `file_buffer.path` and `file_buffer.enabled` are accepted and ignored (the WAL cannot be
//!   turned off), with a note in the log.

mod outputs;
mod postgresql;
mod sections;
mod values;
mod web;
mod yaml;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use outputs::{
    Backoff, CaFile, OutputsSection, Retention, WebhookTarget, WebhookUrl, DEFAULT_STORM_WINDOW,
    DEFAULT_TARGET,
};
pub use postgresql::{
    Backend, CollectorId, Partition, Password, PgUrl, PostgresqlSection, SslMode,
};
pub use sections::*;
pub use values::{
    parse_utc_offset, AddressBlock, EngineId, LogFormat, LogLevel, UtcOffset, WalSync,
};
pub use web::WebSection;
pub use yaml::{line_of_key, ConfigError};

use crate::rules::Cidr;
use crate::wal::WalConfig;
use yaml::strip_yaml_decoration;

/// The whole file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonSection,
    pub listeners: ListenersSection,
    pub processor: ProcessorSection,
    pub storage: StorageSection,
    pub pattern_matching: PatternMatchingSection,
    pub wal: WalSection,
    pub snmpv3: Snmpv3Section,
    pub snmp: SnmpSection,
    pub syslog: SyslogSection,
    pub outputs: OutputsSection,
    pub enrichment: EnrichmentSection,
    pub metrics: MetricsSection,
    pub web: WebSection,
    /// This collector's name in a shared database (default: the host name); also accepted as
    /// `storage.collector_id`. Resolved at load into `storage.collector_id`.
    pub collector_id: Option<CollectorId>,
    /// Where the file was read from (for messages); not a key.
    #[serde(skip)]
    pub source: PathBuf,
    /// The TLS listener's server configuration, built from `listeners.syslog_tls` at load (its
    /// files read and checked once); None when that listener is off. Not a key.
    #[serde(skip)]
    pub syslog_tls_server: Option<std::sync::Arc<rustls::ServerConfig>>,
}

const WAL_DEFAULT_MAX_MB: u64 = 4096;

impl Config {
    /// Read, parse and check a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Config::from_yaml(&text, path)
    }

    /// Parse and check config text; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = serde_yaml::Deserializer::from_str(text);
        let mut cfg: Config = match serde_path_to_error::deserialize(de) {
            Ok(cfg) => cfg,
            Err(e) => {
                let key = e.path().to_string();
                let key = if key == "." { String::new() } else { key };
                let inner = e.into_inner();
                // The key's own line beats the parser's mark, which for a value checked after it was
                // read points at the enclosing mapping.
                let line = line_of_key(text, &key).or(inner.location().map(|l| l.line()));
                let message = strip_yaml_decoration(&inner.to_string());
                return Err(ConfigError {
                    file: path.to_path_buf(),
                    line,
                    key,
                    message,
                });
            }
        };
        cfg.source = path.to_path_buf();
        cfg.listeners.snmp.port.get_or_insert(Port(5162));
        cfg.listeners.syslog.port.get_or_insert(Port(5514));
        cfg.check(text)?;
        cfg.resolve_storage(text, std::env::var("PGPASSWORD").ok())?;
        cfg.syslog_tls_server = cfg.tls_server_config(text)?;
        Ok(cfg)
    }

    /// The collector id (top level or under storage, not both), the PostgreSQL password and CA.
    fn resolve_storage(
        &mut self,
        text: &str,
        pgpassword: Option<String>,
    ) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: self.source.clone(),
            line: line_of_key(text, key),
            key: key.to_string(),
            message,
        };
        let id = match (self.collector_id.take(), self.storage.collector_id.take()) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "storage.collector_id",
                    "also set at the top level (collector_id); keep one".into(),
                ))
            }
            (Some(id), None) | (None, Some(id)) => id,
            (None, None) => CollectorId::from_host_name(),
        };
        self.storage.collector_id = Some(id);
        postgresql::load_secrets(
            self.storage.backend,
            &mut self.storage.postgresql,
            pgpassword,
        )
        .map_err(|(key, message)| err(key, message))
    }

    /// This collector's id (resolved at load; the host name when the file names none).
    pub fn collector_id(&self) -> CollectorId {
        self.storage
            .collector_id
            .clone()
            .unwrap_or_else(CollectorId::from_host_name)
    }

    fn check(&self, text: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| ConfigError {
            file: self.source.clone(),
            line: line_of_key(text, key),
            key: key.to_string(),
            message,
        };
        for (name, l) in [
            ("snmp", &self.listeners.snmp),
            ("syslog", &self.listeners.syslog),
        ] {
            if !(512..=1 << 20).contains(&l.buffer_size) {
                return Err(err(
                    &format!("listeners.{name}.buffer_size"),
                    format!("expected 512 to 1048576 bytes, got {}", l.buffer_size),
                ));
            }
            if l.max_connections == 0 {
                return Err(err(
                    &format!("listeners.{name}.max_connections"),
                    "must be at least 1".into(),
                ));
            }
        }
        if self.listeners.snmp.protocol.tcp {
            return Err(err(
                "listeners.snmp.protocol",
                "SNMP traps are received over udp only".into(),
            ));
        }
        if self.listeners.snmp.enabled
            && self.listeners.syslog.enabled
            && self.listeners.snmp.port == self.listeners.syslog.port
            && self.listeners.syslog.protocol.udp
        {
            return Err(err(
                "listeners.syslog.port",
                format!(
                    "UDP port {} is also the SNMP listener's",
                    self.listeners.syslog.port()
                ),
            ));
        }
        if let Err((key, message)) = self.web.check(&self.metrics) {
            return Err(err(key, message));
        }
        if !(1..=1_000_000).contains(&self.processor.batch_write_size) {
            return Err(err(
                "processor.batch_write_size",
                format!(
                    "expected 1 to 1000000, got {}",
                    self.processor.batch_write_size
                ),
            ));
        }
        if self.processor.queue_max_size < self.processor.batch_write_size {
            return Err(err(
                "processor.queue_max_size",
                format!(
                    "must be at least batch_write_size ({}), got {}",
                    self.processor.batch_write_size, self.processor.queue_max_size
                ),
            ));
        }
        let t = self.processor.batch_timeout_seconds;
        if !(t > 0.0 && t <= 3600.0) {
            return Err(err(
                "processor.batch_timeout_seconds",
                format!("expected more than 0 and at most 3600, got {t}"),
            ));
        }
        if !(1..=4096).contains(&self.wal.segment_size_mb) {
            return Err(err(
                "wal.segment_size_mb",
                format!("expected 1 to 4096, got {}", self.wal.segment_size_mb),
            ));
        }
        if self.wal.sync_interval_ms == 0 || self.wal.sync_interval_ms > 60_000 {
            return Err(err(
                "wal.sync_interval_ms",
                format!("expected 1 to 60000, got {}", self.wal.sync_interval_ms),
            ));
        }
        self.check_archiver(&err)?;
        if self.wal_max_size_mb() < 2 * self.wal.segment_size_mb {
            return Err(err(
                if self.wal.max_size_mb.is_some() {
                    "wal.max_size_mb"
                } else {
                    "storage.file_buffer.max_size_mb"
                },
                format!(
                    "the WAL budget must hold at least two segments ({} MiB), got {} MiB",
                    2 * self.wal.segment_size_mb,
                    self.wal_max_size_mb()
                ),
            ));
        }
        Ok(())
    }

    /// `storage.archiver`'s thresholds: each must mean something the archiver can act on.
    fn check_archiver(&self, err: &dyn Fn(&str, String) -> ConfigError) -> Result<(), ConfigError> {
        let a = &self.storage.archiver;
        let key = |k: &str| format!("storage.archiver.{k}");
        if !(1..=1440).contains(&a.check_interval_minutes) {
            return Err(err(
                &key("check_interval_minutes"),
                format!("expected 1 to 1440, got {}", a.check_interval_minutes),
            ));
        }
        if a.size_threshold_mb == 0 {
            return Err(err(
                &key("size_threshold_mb"),
                "must be at least 1 (MiB of database file)".into(),
            ));
        }
        if a.time_threshold_days > 36_500 {
            return Err(err(
                &key("time_threshold_days"),
                format!("expected 0 to 36500, got {}", a.time_threshold_days),
            ));
        }
        if a.keep_days == Some(0) {
            return Err(err(
                &key("keep_days"),
                "0 would delete every archive as it is written; leave it unset to keep them".into(),
            ));
        }
        if a.max_total_mb == Some(0) {
            return Err(err(
                &key("max_total_mb"),
                "must be at least 1; leave it unset for no cap".into(),
            ));
        }
        if a.dead_letters_keep_days == Some(0) {
            return Err(err(
                &key("dead_letters_keep_days"),
                "must be at least 1; leave it unset to keep them".into(),
            ));
        }
        if a.path.as_os_str().is_empty() {
            return Err(err(&key("path"), "must not be empty".into()));
        }
        Ok(())
    }

    /// Check `listeners.syslog_tls` and, when it is enabled, read its certificate and key.
    fn tls_server_config(
        &self,
        text: &str,
    ) -> Result<Option<std::sync::Arc<rustls::ServerConfig>>, ConfigError> {
        let tls = &self.listeners.syslog_tls;
        let err = |key: &str, message: String| {
            let key = format!("listeners.syslog_tls.{key}");
            ConfigError {
                file: self.source.clone(),
                // A missing key has no line of its own: point at the section.
                line: line_of_key(text, &key).or_else(|| line_of_key(text, "listeners.syslog_tls")),
                key,
                message,
            }
        };
        if !(512..=1 << 20).contains(&tls.buffer_size) {
            return Err(err(
                "buffer_size",
                format!("expected 512 to 1048576 bytes, got {}", tls.buffer_size),
            ));
        }
        if tls.max_connections == 0 {
            return Err(err("max_connections", "must be at least 1".into()));
        }
        if !tls.enabled {
            return Ok(None);
        }
        let syslog = &self.listeners.syslog;
        if syslog.enabled && syslog.protocol.tcp && syslog.port == Some(tls.port) {
            return Err(err(
                "port",
                format!("TCP port {} is also the syslog TCP listener's", tls.port.0),
            ));
        }
        let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) else {
            let missing = if tls.cert_file.is_none() {
                "cert_file"
            } else {
                "key_file"
            };
            return Err(err(missing, "required when syslog_tls is enabled".into()));
        };
        crate::ingest::tls::server_config(cert, key, tls.client_ca_file.as_deref())
            .map(Some)
            .map_err(|e| err(e.file().key(), e.to_string()))
    }

    /// The WAL budget: `wal.max_size_mb`, else the seed's `file_buffer.max_size_mb`, else 4 GiB.
    pub fn wal_max_size_mb(&self) -> u64 {
        self.wal
            .max_size_mb
            .or(self.storage.file_buffer.max_size_mb)
            .unwrap_or(WAL_DEFAULT_MAX_MB)
    }

    /// The WAL settings, for `wal::open`; `dir` overrides `wal.path` (for `mutt replay DIR`).
    pub fn wal_config(&self, dir: Option<&Path>) -> WalConfig {
        WalConfig {
            dir: dir
                .map(Path::to_path_buf)
                .unwrap_or_else(|| self.wal.path.clone()),
            segment_size: self.wal.segment_size_mb << 20,
            sync: self.wal.sync.0,
            sync_interval: Duration::from_millis(self.wal.sync_interval_ms),
            max_size: self.wal_max_size_mb() << 20,
            keep_released: self.wal.keep_processed,
        }
    }

    /// Offset east of UTC in seconds for zone-less syslog stamps.
    pub fn default_utc_offset_secs(&self) -> i32 {
        self.syslog.default_timezone.0
    }

    /// `syslog.source_timezones` as (address block, seconds east of UTC), in file order.
    pub fn source_utc_offsets(&self) -> Vec<(Cidr, i32)> {
        self.syslog
            .source_timezones
            .iter()
            .flat_map(|st| st.sources.iter().map(|s| (s.0, st.timezone.0)))
            .collect()
    }

    /// The tracing filter for `daemon.log_level` (the seed's Python level names).
    pub fn log_filter(&self) -> &'static str {
        self.daemon.log_level.filter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/data/config/seed_config.yaml");

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_yaml(text, Path::new("config/mutt_config.yaml"))
    }

    #[test]
    fn the_seed_config_loads_unchanged_with_its_defaults() {
        let cfg = parse(SEED).expect("seed config loads");
        assert_eq!(cfg.listeners.snmp.port(), 5162);
        assert_eq!(cfg.listeners.syslog.port(), 5514);
        assert!(cfg.listeners.syslog.protocol.udp && !cfg.listeners.syslog.protocol.tcp);
        assert_eq!(cfg.processor.queue_max_size, 10_000);
        assert_eq!(cfg.processor.batch_write_size, 100);
        assert_eq!(
            cfg.storage.database.path,
            PathBuf::from("./data/messages.db")
        );
        // The seed's overflow budget becomes the WAL budget.
        assert_eq!(cfg.wal_max_size_mb(), 500);
    }

    #[test]
    fn a_bad_port_names_file_line_and_key() {
        let text = SEED.replace("port: 5514", "port: abc");
        let e = parse(&text).unwrap_err();
        let line = text.lines().position(|l| l.contains("port: abc")).unwrap() + 1;
        assert_eq!(
            e.to_string(),
            format!(
                "config/mutt_config.yaml:{line}: listeners.syslog.port: expected an integer 1-65535, got \"abc\""
            )
        );
    }

    #[test]
    fn protocol_accepts_one_name_or_a_list() {
        let cfg = parse(&SEED.replace("protocol: udp  # or tcp", "protocol: [udp, tcp]")).unwrap();
        assert!(cfg.listeners.syslog.protocol.udp && cfg.listeners.syslog.protocol.tcp);
        let e = parse(&SEED.replace("protocol: udp  # or tcp", "protocol: sctp")).unwrap_err();
        assert_eq!(e.key, "listeners.syslog.protocol");
        assert!(e.message.contains("sctp"), "{e}");
    }

    #[test]
    fn a_misspelt_key_is_an_error_with_its_line() {
        let text = SEED.replace("batch_write_size", "batch_wrte_size");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("batch_wrte_size"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn semantic_checks_point_at_the_key_line() {
        let text = SEED.replace("batch_write_size: 100", "batch_write_size: 0");
        let e = parse(&text).unwrap_err();
        let line = text
            .lines()
            .position(|l| l.contains("batch_write_size: 0"))
            .unwrap()
            + 1;
        assert_eq!(e.line, Some(line));
        assert_eq!(e.key, "processor.batch_write_size");
        let e = parse(&format!("{SEED}\nwal:\n  sync: sometimes\n")).unwrap_err();
        assert_eq!(e.key, "wal.sync");
    }

    #[test]
    fn source_timezones_resolve_in_order_and_bad_entries_name_their_key() {
        let cfg = parse(&format!(
            "{SEED}\nsyslog:\n  source_timezones:\n    - sources: [10.1.0.0/16]\n      timezone: \"+05:30\"\n    - sources: [10.0.0.0/8, 2001:db8::1]\n      timezone: \"-04:00\"\n"
        ))
        .unwrap();
        let offsets = cfg.source_utc_offsets();
        assert_eq!(offsets.len(), 3);
        let first = |ip: &str| {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            offsets
                .iter()
                .find(|(c, _)| c.contains(ip))
                .map(|(_, o)| *o)
        };
        assert_eq!(first("10.1.2.3"), Some(19_800));
        assert_eq!(first("10.9.2.3"), Some(-14_400));
        assert_eq!(first("192.0.2.1"), None);
        let e = parse(&format!(
            "{SEED}\nsyslog:\n  source_timezones:\n    - sources: [10.0.0.0/33]\n      timezone: UTC\n"
        ))
        .unwrap_err();
        assert_eq!(e.key, "syslog.source_timezones[0].sources[0]");
        assert!(e.line.is_some());
    }

    #[test]
    fn checked_values_are_typed_at_load_and_a_bad_one_names_its_line() {
        let cfg = parse(&format!(
            "{SEED}\nwal:\n  sync: Always\nsyslog:\n  default_timezone: \"-05:30\"\nsnmpv3:\n  engine_id: \"0x8000000001020304\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.wal_config(None).sync, crate::wal::SyncPolicy::Always);
        assert_eq!(cfg.default_utc_offset_secs(), -19_800);
        assert_eq!(
            cfg.snmpv3.engine_id_octets(),
            Some(&[0x80, 0, 0, 0, 1, 2, 3, 4][..])
        );
        for (yaml, key, said) in [
            (
                "wal:\n  sync: sometimes\n",
                "wal.sync",
                "expected interval, always or never, got \"sometimes\"",
            ),
            (
                "syslog:\n  default_timezone: Europe/Paris\n",
                "syslog.default_timezone",
                "expected UTC or an offset like +02:00, got \"Europe/Paris\"",
            ),
            (
                "daemon:\n  log_level: LOUD\n",
                "daemon.log_level",
                "expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got \"LOUD\"",
            ),
            (
                "daemon:\n  log_format: xml\n",
                "daemon.log_format",
                "expected text or json, got \"xml\"",
            ),
            (
                "snmpv3:\n  engine_id: \"00\"\n",
                "snmpv3.engine_id",
                "expected 5 to 32 octets in hex, not all zero, got \"00\"",
            ),
        ] {
            let text = format!("processor:\n  batch_write_size: 10\n{yaml}");
            let e = parse(&text).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("config/mutt_config.yaml:4: {key}: {said}")
            );
        }
        let e = parse(
            "syslog:\n  source_timezones:\n    - sources: [10.0.0.0/8]\n      timezone: Mars\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "syslog.source_timezones[0].timezone");
        assert!(e.message.contains("\"Mars\""), "{e}");
    }

    fn tls_data(name: &str) -> String {
        format!("{}/tests/data/tls/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn syslog_tls_is_off_by_default_on_port_6514() {
        let cfg = parse(SEED).unwrap();
        assert!(!cfg.listeners.syslog_tls.enabled);
        assert_eq!(cfg.listeners.syslog_tls.port, Port(6514));
    }

    #[test]
    fn syslog_tls_loads_its_certificate_and_key_at_load_time() {
        let text = format!(
            "listeners:\n  syslog_tls:\n    enabled: true\n    cert_file: {}\n    key_file: {}\n    client_ca_file: {}\n",
            tls_data("server.pem"),
            tls_data("server.key"),
            tls_data("ca.pem")
        );
        let cfg = parse(&text).expect("good certificates load");
        assert!(cfg.listeners.syslog_tls.client_ca_file.is_some());
    }

    #[test]
    fn a_missing_tls_key_file_names_file_line_and_key() {
        let text = format!(
            "listeners:\n  syslog_tls:\n    enabled: true\n    cert_file: {}\n    key_file: /nonexistent/server.key\n",
            tls_data("server.pem")
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "listeners.syslog_tls.key_file");
        assert_eq!(e.line, Some(5));
        assert!(e.to_string().starts_with("config/mutt_config.yaml:5: listeners.syslog_tls.key_file: cannot read /nonexistent/server.key"), "{e}");
    }

    #[test]
    fn an_enabled_tls_listener_without_a_certificate_is_an_error() {
        let e = parse("listeners:\n  syslog_tls:\n    enabled: true\n").unwrap_err();
        assert_eq!(e.key, "listeners.syslog_tls.cert_file");
        assert_eq!(e.line, Some(2), "points at the section: {e}");
    }

    #[test]
    fn a_file_that_is_no_certificate_is_an_error_on_cert_file() {
        let text = format!(
            "listeners:\n  syslog_tls:\n    enabled: true\n    cert_file: {}\n    key_file: {}\n",
            tls_data("README.md"),
            tls_data("server.key")
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.key, "listeners.syslog_tls.cert_file", "{e}");
    }
}
