//! The sections of mutt_config.yaml as written, with their defaults, and the value types that
//! explain their own errors (`Port`, `Protocols`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::values::{AddressBlock, EngineId, LogFormat, LogLevel, UtcOffset, WalSync};
use crate::wal::SyncPolicy;

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
    /// DEBUG, INFO (the default), WARNING, ERROR or CRITICAL; `MUTT_LOG` overrides it.
    pub log_level: LogLevel,
    /// `text` (the default) or `json`: one JSON object per line, on stderr and in `log_file`.
    pub log_format: LogFormat,
    /// Appended to (mode 0600), besides stderr; rotated by size as the next two keys say.
    pub log_file: Option<PathBuf>,
    /// Past this size (MiB; fractions allowed) the log file is renamed `.1` (older ones shift
    /// up) and a new one started, between two lines. Default 100; 0 turns rotation off (for
    /// logrotate with `copytruncate`, or journald).
    #[serde(deserialize_with = "megabytes")]
    pub log_max_size_mb: f64,
    /// Rotated files kept (`mutt.log.1` … `mutt.log.N`); older ones are deleted. Default 5.
    pub log_keep: usize,
    pub pid_file: Option<PathBuf>,
    /// How long SIGINT/SIGTERM waits for the WAL to drain into the database. Past it MUTT exits
    /// 1, saying how many records stay in the WAL for the next start. Default 30, at least 1.
    pub shutdown_timeout_seconds: u64,
}

impl DaemonSection {
    pub fn shutdown_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_timeout_seconds.max(1))
    }

    /// The size at which the log file rotates, in bytes; None: never (`log_max_size_mb: 0`).
    pub fn log_max_bytes(&self) -> Option<u64> {
        let bytes = (self.log_max_size_mb * 1024.0 * 1024.0) as u64;
        (self.log_max_size_mb > 0.0).then_some(bytes.max(1))
    }
}

/// A size in MiB: a finite number, 0 or more.
fn megabytes<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected a size in MiB, 0 or more, got {v}"
        )))
    }
}

impl Default for DaemonSection {
    fn default() -> Self {
        DaemonSection {
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            log_file: Some("./logs/mutt.log".into()),
            log_max_size_mb: 100.0,
            log_keep: 5,
            pid_file: Some("./mutt.pid".into()),
            shutdown_timeout_seconds: 30,
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
    /// Most rows in `devices` (default 100,000, at least 1). Messages from further new source
    /// addresses are stored without a device row and counted in `devices_over_cap`; devices
    /// already in the table keep being updated.
    pub max_devices: usize,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            path: "./data/messages.db".into(),
            connection_timeout: 30.0,
            max_devices: crate::store::devices::DEFAULT_MAX_DEVICES,
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

/// The format of archive files: JSON lines or CSV (RFC 4180; `archive/records.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveFormat {
    #[serde(alias = "json")]
    Jsonl,
    Csv,
}

/// `storage.archiver`: where `mutt archive` and the daemon's archiver write, and when the daemon
/// archives. Checked at load (`Config::check`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiverSection {
    /// The daemon archives on its own (default true; `mutt archive` works either way).
    pub enabled: bool,
    pub path: PathBuf,
    /// `jsonl` (`json` too) or `csv`, the seed's default.
    pub format: ArchiveFormat,
    /// The database's size (MiB, at least 1) above which the daemon archives the oldest
    /// messages until it is under 80% of it. Default 500.
    pub size_threshold_mb: u64,
    /// Messages received more than this many days ago are archived by the daemon (default 7;
    /// 0 archives every message at each check, which is only for tests and demos).
    pub time_threshold_days: u64,
    pub compress: bool,
    /// Minutes between the daemon's checks (default 10, 1 to 1440); one check runs at start.
    pub check_interval_minutes: u64,
    /// Archive files written more than this many days ago are deleted (with their manifests)
    /// and their `archives` rows marked expired. Unset: kept.
    pub keep_days: Option<u64>,
    /// The archive files' total size (MiB) above which the oldest are deleted. Unset: no cap.
    pub max_total_mb: Option<u64>,
    /// `dead_letters` rows older than this many days are deleted by the archiver's checks.
    /// Unset: kept. (The webhook outbox has its own: `outputs.retention`.)
    pub dead_letters_keep_days: Option<u64>,
}

impl Default for ArchiverSection {
    fn default() -> Self {
        ArchiverSection {
            enabled: true,
            path: "./data/archives".into(),
            format: ArchiveFormat::Csv,
            size_threshold_mb: 500,
            time_threshold_days: 7,
            compress: false,
            check_interval_minutes: 10,
            keep_days: None,
            max_total_mb: None,
            dead_letters_keep_days: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `sqlite` (the default) or `postgresql` (postgresql.rs).
    pub backend: super::Backend,
    pub database: DatabaseSection,
    pub postgresql: super::PostgresqlSection,
    /// This collector's name in a shared database; the top-level `collector_id` is the same key.
    pub collector_id: Option<super::CollectorId>,
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
    /// When the WAL is fsynced: `interval` (the default: at most every `sync_interval_ms`),
    /// `always` (every batch) or `never` (the OS decides).
    pub sync: WalSync,
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
            sync: WalSync(SyncPolicy::Interval),
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
    pub engine_id: Option<EngineId>,
    /// Keep v3 messages that are not trusted (validated = 0, the reason as a validation error,
    /// never matched against rules) instead of only counting them. Default false.
    pub store_unauthenticated: bool,
    /// Most users in snmpv3_auth_failures (default 10,000, at least 1); failures of further
    /// users are counted in `v3_auth_failures_over_cap`.
    pub max_auth_failure_users: usize,
}

impl Default for Snmpv3Section {
    fn default() -> Self {
        Snmpv3Section {
            credentials_file: Some("./config/snmpv3_credentials.yaml".into()),
            engine_id: None,
            store_unauthenticated: false,
            max_auth_failure_users: crate::store::auth_failures::DEFAULT_MAX_USERS,
        }
    }
}

impl Snmpv3Section {
    /// `engine_id` as octets (checked at load).
    pub fn engine_id_octets(&self) -> Option<&[u8]> {
        self.engine_id.as_ref().map(|e| e.0.as_slice())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogSection {
    /// Offset for syslog stamps that carry no zone: `UTC`, `+02:00`, `-0530`.
    pub default_timezone: UtcOffset,
    /// Per-source overrides of `default_timezone`, first match wins: devices in another time zone
    /// that stamp local time without saying so.
    pub source_timezones: Vec<SourceTimezone>,
}

impl Default for SyslogSection {
    fn default() -> Self {
        SyslogSection {
            default_timezone: UtcOffset(0),
            source_timezones: Vec::new(),
        }
    }
}

/// `{sources: [10.1.0.0/16, 192.0.2.7], timezone: "+05:30"}`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceTimezone {
    pub sources: Vec<AddressBlock>,
    pub timezone: UtcOffset,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpSection {
    /// v1/v2c communities accepted; empty accepts all. Others are counted and not stored.
    pub communities: Vec<String>,
    /// Directories of MIB files (SMIv1/SMIv2) whose names are added to the built-in ones.
    pub mib_dirs: Vec<PathBuf>,
}

/// `enrichment:` in mutt_config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentSection {
    /// Resolve source addresses to names for `source_device`.
    pub reverse_dns: bool,
    /// Most addresses remembered (answers, failures and lookups under way); beyond it one is
    /// forgotten for each new one.
    pub dns_cache_size: usize,
    pub dns_positive_ttl_seconds: u64,
    pub dns_negative_ttl_seconds: u64,
    /// Lookups running at once.
    pub dns_threads: usize,
}

impl Default for EnrichmentSection {
    fn default() -> Self {
        EnrichmentSection {
            reverse_dns: true,
            dns_cache_size: 100_000,
            dns_positive_ttl_seconds: 3600,
            dns_negative_ttl_seconds: 300,
            dns_threads: 2,
        }
    }
}

/// `metrics:` in mutt_config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub enabled: bool,
    /// Address of the listener; keep it on loopback or a management network.
    pub listen: SocketAddr,
    /// `/health` answers 503 when storage has not advanced for this long while records wait in
    /// the WAL. Default 30, at least 1.
    pub stall_after_seconds: u64,
}

impl MetricsSection {
    pub fn stall_after(&self) -> Duration {
        Duration::from_secs(self.stall_after_seconds.max(1))
    }
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9162)),
            stall_after_seconds: 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(text, Path::new("mutt_config.yaml"))
    }

    #[test]
    fn bounded_state_keys_have_their_defaults_and_load() {
        let cfg = parse("").unwrap();
        assert_eq!(cfg.storage.database.max_devices, 100_000);
        assert_eq!(cfg.daemon.log_max_bytes(), Some(100 * 1024 * 1024));
        assert_eq!(cfg.daemon.log_keep, 5);
        let cfg = parse(
            "daemon:\n  log_max_size_mb: 0.5\n  log_keep: 2\nstorage:\n  database:\n    max_devices: 7\n",
        )
        .unwrap();
        assert_eq!(cfg.daemon.log_max_bytes(), Some(512 * 1024));
        assert_eq!(cfg.daemon.log_keep, 2);
        assert_eq!(cfg.storage.database.max_devices, 7);
        let off = parse("daemon:\n  log_max_size_mb: 0\n").unwrap();
        assert_eq!(off.daemon.log_max_bytes(), None);
    }

    #[test]
    fn a_negative_log_size_is_refused_with_its_key() {
        let e = parse("daemon:\n  log_max_size_mb: -1\n").unwrap_err();
        assert_eq!(e.key, "daemon.log_max_size_mb");
        assert!(e.message.contains("0 or more"), "{e}");
    }
}
