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

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::rules::Cidr;
use crate::wal::{SyncPolicy, WalConfig};

/// A configuration error with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted key path, e.g. `listeners.syslog.port`; empty for whole-file errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A UDP/TCP port, 1-65535, with an error message a network engineer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        match v.as_u64() {
            Some(n @ 1..=65535) => Ok(Port(n as u16)),
            _ => Err(serde::de::Error::custom(format!(
                "expected an integer 1-65535, got {}",
                show_value(&v)
            ))),
        }
    }
}

fn show_value(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => format!("{s:?}"),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".to_string()),
    }
}

/// Syslog transports on the one port: `udp`, `tcp`, or a list `[udp, tcp]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    pub udp: bool,
    pub tcp: bool,
}

impl<'de> Deserialize<'de> for Protocols {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Protocols, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        let names: Vec<String> = match &v {
            serde_yaml::Value::String(s) => vec![s.clone()],
            serde_yaml::Value::Sequence(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| show_value(i))
                })
                .collect(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected udp, tcp or a list of them, got {}",
                    show_value(other)
                )))
            }
        };
        let mut p = Protocols::default();
        for name in &names {
            match name.to_ascii_lowercase().as_str() {
                "udp" => p.udp = true,
                "tcp" => p.tcp = true,
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "expected udp, tcp or a list of them, got {name:?}"
                    )))
                }
            }
        }
        if !p.udp && !p.tcp {
            return Err(serde::de::Error::custom("the list of protocols is empty"));
        }
        Ok(p)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSection {
    pub log_level: String,
    pub log_file: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            log_level: "INFO".into(),
            log_file: Some("./logs/mutt.log".into()),
            pid_file: Some("./mutt.pid".into()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerSection {
    pub enabled: bool,
    /// Address to bind; all interfaces by default.
    pub bind: IpAddr,
    /// Defaults to 5162 for snmp and 5514 for syslog.
    pub port: Option<Port>,
    pub protocol: Protocols,
    /// Largest datagram or TCP frame kept whole (bytes); longer ones are stored truncated and
    /// flagged. 512 to 1 MiB.
    pub buffer_size: usize,
    /// Kernel receive buffer asked for per socket (MiB). Root gets it with SO_RCVBUFFORCE; others
    /// are capped at net.core.rmem_max, which is logged.
    pub socket_receive_buffer_mb: usize,
    /// Most TCP connections open at once; further ones are refused and counted.
    pub max_connections: usize,
    /// A TCP connection silent this long is closed.
    pub idle_timeout_seconds: u64,
}

impl ListenerSection {
    /// The port to bind (the listener's default filled in at load).
    pub fn port(&self) -> u16 {
        self.port.map(|p| p.0).unwrap_or(0)
    }

    fn defaults(port: u16) -> Self {
        ListenerSection {
            port: Some(Port(port)),
            ..ListenerSection::default()
        }
    }
}

impl Default for ListenerSection {
    fn default() -> Self {
        ListenerSection {
            enabled: true,
            bind: IpAddr::from([0, 0, 0, 0]),
            port: None,
            protocol: Protocols {
                udp: true,
                tcp: false,
            },
            buffer_size: 65535,
            socket_receive_buffer_mb: 32,
            max_connections: 1024,
            idle_timeout_seconds: 600,
        }
    }
}

/// `listeners.syslog_tls`: syslog over TLS (RFC 5425). Off unless enabled; the certificate and key
/// are read and checked when the config is loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogTlsSection {
    pub enabled: bool,
    /// Address to bind; all interfaces by default.
    pub bind: IpAddr,
    /// 6514, the port RFC 5425 assigns.
    pub port: Port,
    /// PEM: the server certificate, then any intermediates. Required when enabled.
    pub cert_file: Option<PathBuf>,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1). Required when enabled.
    pub key_file: Option<PathBuf>,
    /// PEM: CA certificates for client certificates. When set, every client must present a
    /// certificate that chains to one of them (mutual TLS); when not, none is asked for.
    pub client_ca_file: Option<PathBuf>,
    /// Largest frame kept whole (bytes, 512 to 1 MiB); longer ones are stored truncated and flagged.
    pub buffer_size: usize,
    /// Most TLS connections open at once; further ones are refused and counted.
    pub max_connections: usize,
    /// A connection silent this long, or still handshaking this long after it opened, is closed.
    pub idle_timeout_seconds: u64,
}

impl Default for SyslogTlsSection {
    fn default() -> Self {
        SyslogTlsSection {
            enabled: false,
            bind: IpAddr::from([0, 0, 0, 0]),
            port: Port(6514),
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            buffer_size: 65535,
            max_connections: 1024,
            idle_timeout_seconds: 600,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenersSection {
    #[serde(default = "snmp_listener_default")]
    pub snmp: ListenerSection,
    #[serde(default = "syslog_listener_default")]
    pub syslog: ListenerSection,
    #[serde(default)]
    pub syslog_tls: SyslogTlsSection,
}

fn snmp_listener_default() -> ListenerSection {
    ListenerSection::defaults(5162)
}

fn syslog_listener_default() -> ListenerSection {
    ListenerSection::defaults(5514)
}

impl Default for ListenersSection {
    fn default() -> Self {
        ListenersSection {
            snmp: snmp_listener_default(),
            syslog: syslog_listener_default(),
            syslog_tls: SyslogTlsSection::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSection {
    /// Most messages decoded but not yet committed (bounds memory between the stages).
    pub queue_max_size: usize,
    /// Rows per SQLite transaction under load.
    pub batch_write_size: usize,
    /// Longest a received message waits before its batch is committed.
    pub batch_timeout_seconds: f64,
}

impl Default for ProcessorSection {
    fn default() -> Self {
        ProcessorSection {
            queue_max_size: 10_000,
            batch_write_size: 100,
            batch_timeout_seconds: 5.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    pub path: PathBuf,
    /// Seconds SQLite waits on a lock held by another process (a reader) before a retry.
    pub connection_timeout: f64,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            path: "./data/messages.db".into(),
            connection_timeout: 30.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileBufferSection {
    pub enabled: bool,
    pub path: PathBuf,
    pub max_size_mb: Option<u64>,
}

impl Default for FileBufferSection {
    fn default() -> Self {
        FileBufferSection {
            enabled: true,
            path: "./data/overflow.jsonl".into(),
            max_size_mb: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiverSection {
    pub enabled: bool,
    pub path: PathBuf,
    pub format: String,
    pub size_threshold_mb: u64,
    pub time_threshold_days: u64,
    pub compress: bool,
}

impl Default for ArchiverSection {
    fn default() -> Self {
        ArchiverSection {
            enabled: true,
            path: "./data/archives".into(),
            format: "csv".into(),
            size_threshold_mb: 500,
            time_threshold_days: 7,
            compress: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    pub database: DatabaseSection,
    pub file_buffer: FileBufferSection,
    pub archiver: ArchiverSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatternMatchingSection {
    pub rules_file: Option<PathBuf>,
    pub reload_interval_seconds: u64,
}

impl Default for PatternMatchingSection {
    fn default() -> Self {
        PatternMatchingSection {
            rules_file: Some("./config/alert_rules.yaml".into()),
            reload_interval_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalSection {
    pub path: PathBuf,
    pub segment_size_mb: u64,
    pub sync: String,
    pub sync_interval_ms: u64,
    pub max_size_mb: Option<u64>,
    /// Keep processed segments (renamed) instead of deleting them.
    pub keep_processed: bool,
}

impl Default for WalSection {
    fn default() -> Self {
        WalSection {
            path: "./wal".into(),
            segment_size_mb: 64,
            sync: "interval".into(),
            sync_interval_ms: 200,
            max_size_mb: None,
            keep_processed: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Snmpv3Section {
    pub credentials_file: Option<PathBuf>,
    /// MUTT's snmpEngineID for v3 informs, hex (5 to 32 octets); unset: generated at first
    /// start and kept in the WAL directory.
    pub engine_id: Option<String>,
}

impl Default for Snmpv3Section {
    fn default() -> Self {
        Snmpv3Section {
            credentials_file: Some("./config/snmpv3_credentials.yaml".into()),
            engine_id: None,
        }
    }
}

impl Snmpv3Section {
    /// `engine_id` as octets (checked at load).
    pub fn engine_id_octets(&self) -> Option<Vec<u8>> {
        self.engine_id
            .as_deref()
            .and_then(crate::ingest::engine_file::parse_hex)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    /// Offset for syslog stamps that carry no zone: `UTC`, `+02:00`, `-0530`.
    pub default_timezone: String,
    /// Per-source overrides of `default_timezone`, first match wins: devices in another time zone
    /// that stamp local time without saying so.
    pub source_timezones: Vec<SourceTimezone>,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection {
            default_timezone: "UTC".into(),
            source_timezones: Vec::new(),
        }
    }
}

/// `{sources: [10.1.0.0/16, 192.0.2.7], timezone: "+05:30"}`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTimezone {
    pub sources: Vec<String>,
    pub timezone: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpSection {
    /// v1/v2c communities accepted; empty accepts all. Others are counted and not stored.
    pub communities: Vec<String>,
    /// Directories of MIB files (SMIv1/SMIv2) whose names are added to the built-in ones.
    pub mib_dirs: Vec<PathBuf>,
}

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
    pub outputs: crate::output::OutputsSection,
    pub enrichment: crate::enrich::EnrichmentSection,
    pub metrics: crate::metrics_http::MetricsSection,
    /// Where the file was read from (for messages); not a key.
    #[serde(skip)]
    pub source: PathBuf,
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
        Ok(cfg)
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
        self.check_tls(text)?;
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
        if self.sync_policy().is_none() {
            return Err(err(
                "wal.sync",
                format!(
                    "expected interval, always or never, got {:?}",
                    self.wal.sync
                ),
            ));
        }
        if self.wal.sync_interval_ms == 0 || self.wal.sync_interval_ms > 60_000 {
            return Err(err(
                "wal.sync_interval_ms",
                format!("expected 1 to 60000, got {}", self.wal.sync_interval_ms),
            ));
        }
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
        if parse_utc_offset(&self.syslog.default_timezone).is_none() {
            return Err(err(
                "syslog.default_timezone",
                format!(
                    "expected UTC or an offset like +02:00, got {:?}",
                    self.syslog.default_timezone
                ),
            ));
        }
        if let Some(id) = &self.snmpv3.engine_id {
            if crate::ingest::engine_file::parse_hex(id).is_none() {
                return Err(err(
                    "snmpv3.engine_id",
                    format!("expected 5 to 32 octets in hex, not all zero, got {id:?}"),
                ));
            }
        }
        for (i, st) in self.syslog.source_timezones.iter().enumerate() {
            let key = format!("syslog.source_timezones[{i}]");
            let at = |k: &str, m: String| ConfigError {
                file: self.source.clone(),
                line: line_of_key(text, "syslog.source_timezones"),
                key: format!("{key}.{k}"),
                message: m,
            };
            if parse_utc_offset(&st.timezone).is_none() {
                return Err(at(
                    "timezone",
                    format!(
                        "expected UTC or an offset like +02:00, got {:?}",
                        st.timezone
                    ),
                ));
            }
            for (j, src) in st.sources.iter().enumerate() {
                Cidr::parse(src).map_err(|m| at(&format!("sources[{j}]"), m))?;
            }
        }
        if log_filter(&self.daemon.log_level).is_none() {
            return Err(err(
                "daemon.log_level",
                format!(
                    "expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {:?}",
                    self.daemon.log_level
                ),
            ));
        }
        Ok(())
    }

    fn check_tls(&self, text: &str) -> Result<(), ConfigError> {
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
            return Ok(());
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
            .map(drop)
            .map_err(|e| err(e.file().key(), e.to_string()))
    }

    fn sync_policy(&self) -> Option<SyncPolicy> {
        match self.wal.sync.to_ascii_lowercase().as_str() {
            "interval" => Some(SyncPolicy::Interval),
            "always" => Some(SyncPolicy::Always),
            "never" => Some(SyncPolicy::Never),
            _ => None,
        }
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
            sync: self.sync_policy().unwrap_or(SyncPolicy::Interval),
            sync_interval: Duration::from_millis(self.wal.sync_interval_ms),
            max_size: self.wal_max_size_mb() << 20,
            keep_released: self.wal.keep_processed,
        }
    }

    /// Offset east of UTC in seconds for zone-less syslog stamps.
    pub fn default_utc_offset_secs(&self) -> i32 {
        parse_utc_offset(&self.syslog.default_timezone).unwrap_or(0)
    }

    /// `syslog.source_timezones` as (address block, seconds east of UTC), in file order.
    pub fn source_utc_offsets(&self) -> Vec<(Cidr, i32)> {
        let mut out = Vec::new();
        for st in &self.syslog.source_timezones {
            let offset = parse_utc_offset(&st.timezone).unwrap_or(0);
            out.extend(
                st.sources
                    .iter()
                    .filter_map(|s| Cidr::parse(s).ok())
                    .map(|c| (c, offset)),
            );
        }
        out
    }

    /// The tracing filter for `daemon.log_level` (the seed's Python level names).
    pub fn log_filter(&self) -> &'static str {
        log_filter(&self.daemon.log_level).unwrap_or("info")
    }
}

fn log_filter(level: &str) -> Option<&'static str> {
    match level.to_ascii_uppercase().as_str() {
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARNING" | "WARN" => Some("warn"),
        "ERROR" | "CRITICAL" => Some("error"),
        "TRACE" => Some("trace"),
        _ => None,
    }
}

/// yaml_serde writes `path: message at line N column M`; the path and line are shown separately.
fn strip_yaml_decoration(message: &str) -> String {
    let mut m = message;
    if let Some(cut) = m.find(" at line ") {
        m = &m[..cut];
    }
    // A leading `a.b.c: ` is the parser's own path (no spaces in it).
    if let Some((head, rest)) = m.split_once(": ") {
        if !head.is_empty() && !head.contains(' ') {
            m = rest;
        }
    }
    m.to_string()
}

/// `UTC`, `Z`, `+02:00`, `-0530`, `+2` → seconds east of UTC.
pub fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("gmt")
    {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// The 1-based line where a dotted key path is written, found by following indentation: each
/// segment is a key of the mapping the previous one opened (the first at the top level). None
/// when the key is not in the text (a default).
pub fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let mut want = dotted.split('.');
    let mut target = want.next()?;
    // Indent of the mapping being searched; None until its first key sets it.
    let mut level: Option<usize> = Some(0);
    let mut parent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if parent.is_some_and(|p| indent <= p) {
            return None;
        }
        let at = *level.get_or_insert(indent);
        if indent != at {
            continue;
        }
        let key = body
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if key == target && body.contains(':') {
            match want.next() {
                None => return Some(i + 1),
                Some(next) => {
                    target = next;
                    parent = Some(indent);
                    level = None;
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../tests/data/config/seed_config.yaml");

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
    fn utc_offsets_parse_in_the_usual_spellings() {
        assert_eq!(parse_utc_offset("UTC"), Some(0));
        assert_eq!(parse_utc_offset("+02:00"), Some(7200));
        assert_eq!(parse_utc_offset("-0530"), Some(-19800));
        assert_eq!(parse_utc_offset("+2"), Some(7200));
        assert_eq!(parse_utc_offset("Europe/Paris"), None);
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
