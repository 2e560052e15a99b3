//! `storage.backend`, `storage.postgresql` and `collector_id` in mutt_config.yaml: where the writer
//! stores (SQLite, the default, or a PostgreSQL shared by several collectors), checked as read.
//!
//! ```yaml
//! storage:
//!   backend: postgresql          # sqlite (default) | postgresql
//!   postgresql:
//!     url: postgresql://mutt@db.example.net:5432/mutt   # no password in it
//!     password_file: /etc/mutt/pgpass   # else the PGPASSWORD environment variable
//!     sslmode: prefer            # disable | prefer | require | verify-full (default prefer)
//!     ca_file: /etc/mutt/db-ca.pem      # verify-full: the CA that signed the server's certificate
//!     pool_size: 4               # 1-64 (default 4)
//!     partition: daily           # none | daily | weekly (default none)
//!   collector_id: dc1-mutt-01    # or at the top level; default: the host name
//! ```
//!
//! The password is read once, at load, and kept in a [`Password`] whose `Debug` shows nothing;
//! no error text ever contains it (a URL that carries one is refused without being echoed).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

/// Where processed messages are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    #[serde(alias = "postgres")]
    Postgresql,
}

/// As libpq's `sslmode`: `prefer` tries TLS and falls back to plain text, `require` insists on
/// TLS without checking the certificate, `verify-full` checks it against `ca_file` and the host
/// name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyFull,
}

/// `storage.postgresql.partition`: whether `messages` is partitioned by `received_at`, and by
/// which period. Chosen when the table is created (or empty): see ARCHITECTURE.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partition {
    /// One table (the default).
    #[default]
    None,
    /// One partition per UTC day.
    Daily,
    /// One partition per ISO week (Monday 00:00 UTC to the next Monday).
    Weekly,
}

/// A database password. Never shown: `Debug` prints `Password(..)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(secret: String) -> Password {
        Password(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// `storage.postgresql.url`: `postgresql://USER@HOST:PORT/DBNAME`, parsed at load. One with a
/// password in it is refused (the password goes in `password_file` or PGPASSWORD), and the
/// refusal does not repeat the URL.
#[derive(Clone)]
pub struct PgUrl(pub postgres::Config);

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({:?}@{:?})", self.0.get_user(), self.0.get_hosts())
    }
}

impl<'de> Deserialize<'de> for PgUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PgUrl, D::Error> {
        let text = String::deserialize(d)?;
        if !(text.starts_with("postgresql://") || text.starts_with("postgres://")) {
            return Err(serde::de::Error::custom(
                "expected a URL postgresql://USER@HOST:PORT/DBNAME",
            ));
        }
        let config: postgres::Config = text.parse().map_err(|_| {
            serde::de::Error::custom(
                "not a valid PostgreSQL URL (expected postgresql://USER@HOST:PORT/DBNAME)",
            )
        })?;
        if config.get_password().is_some() {
            return Err(serde::de::Error::custom(
                "the URL carries a password; put it in storage.postgresql.password_file or \
                 the PGPASSWORD environment variable instead",
            ));
        }
        Ok(PgUrl(config))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresqlSection {
    /// Required with `backend: postgresql`.
    pub url: Option<PgUrl>,
    /// A file holding the password (one line; the trailing newline is not part of it).
    pub password_file: Option<PathBuf>,
    pub sslmode: SslMode,
    /// The PEM CA certificate(s) `verify-full` trusts; required with it.
    pub ca_file: Option<PathBuf>,
    /// Connections the collector may hold, 1-64 (default 4). The writer uses one: one
    /// transaction per batch, in WAL order.
    pub pool_size: usize,
    /// `messages` partitioned by `received_at`, per UTC day or ISO week, so that the archiver's
    /// retention drops whole partitions (default none).
    pub partition: Partition,
    /// From `password_file` or PGPASSWORD, read at load. Not a key.
    #[serde(skip)]
    pub password: Option<Password>,
    /// `ca_file`, read and checked at load. Not a key.
    #[serde(skip)]
    pub ca: Option<super::CaFile>,
}

impl Default for PostgresqlSection {
    fn default() -> Self {
        PostgresqlSection {
            url: None,
            password_file: None,
            sslmode: SslMode::Prefer,
            ca_file: None,
            pool_size: 4,
            partition: Partition::None,
            password: None,
            ca: None,
        }
    }
}

/// A collector's name in a shared database (`mutt_checkpoint.collector_id`): 1-128 letters,
/// digits, `.`, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorId(pub String);

impl CollectorId {
    fn parse(s: &str) -> Result<CollectorId, String> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if ok {
            Ok(CollectorId(s.to_string()))
        } else {
            Err(format!(
                "expected 1 to 128 letters, digits, '.', '-' or '_', got {s:?}"
            ))
        }
    }

    /// The host name, as a collector id (characters it cannot hold become `-`).
    pub fn from_host_name() -> CollectorId {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name: String = if rc == 0 { &buf[..end] } else { &[][..] }
            .iter()
            .take(128)
            .map(|&b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                    b as char
                } else {
                    '-'
                }
            })
            .collect();
        if name.is_empty() {
            CollectorId("mutt".to_string())
        } else {
            CollectorId(name)
        }
    }
}

impl<'de> Deserialize<'de> for CollectorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CollectorId, D::Error> {
        let s = String::deserialize(d)?;
        CollectorId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The checks that need more than one key or a file: (key, message) of the first failure. Fills
/// in the password and the CA.
pub(super) fn load_secrets(
    backend: Backend,
    pg: &mut PostgresqlSection,
    pgpassword: Option<String>,
) -> Result<(), (&'static str, String)> {
    if !(1..=64).contains(&pg.pool_size) {
        return Err((
            "storage.postgresql.pool_size",
            format!("expected 1 to 64, got {}", pg.pool_size),
        ));
    }
    if backend != Backend::Postgresql {
        return Ok(());
    }
    if pg.url.is_none() {
        return Err((
            "storage.postgresql.url",
            "required with storage.backend: postgresql".into(),
        ));
    }
    if let Some(path) = &pg.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            (
                "storage.postgresql.password_file",
                format!("{}: {e}", path.display()),
            )
        })?;
        let secret = text.strip_suffix('\n').unwrap_or(&text);
        let secret = secret.strip_suffix('\r').unwrap_or(secret);
        if secret.is_empty() {
            return Err((
                "storage.postgresql.password_file",
                format!("{}: the file is empty", path.display()),
            ));
        }
        pg.password = Some(Password::new(secret.to_string()));
    } else {
        pg.password = pgpassword.filter(|p| !p.is_empty()).map(Password::new);
    }
    match (&pg.ca_file, pg.sslmode) {
        (None, SslMode::VerifyFull) => {
            return Err((
                "storage.postgresql.ca_file",
                "sslmode verify-full needs the CA that signed the server's certificate".into(),
            ))
        }
        (Some(path), _) => {
            pg.ca = Some(super::CaFile::load(path).map_err(|m| ("storage.postgresql.ca_file", m))?);
        }
        (None, _) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_id_holds_only_name_characters() {
        assert!(CollectorId::parse("dc1-mutt_01.example").is_ok());
        assert!(CollectorId::parse("").is_err());
        assert!(CollectorId::parse("a b").is_err());
        assert!(CollectorId::parse(&"x".repeat(129)).is_err());
        assert!(!CollectorId::from_host_name().0.is_empty());
    }

    fn parse(text: &str) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::Config::from_yaml(text, std::path::Path::new("config/mutt_config.yaml"))
    }

    #[test]
    fn the_backend_is_sqlite_unless_postgresql_is_chosen() {
        let cfg = parse("daemon: {}\n").expect("loads");
        assert_eq!(cfg.storage.backend, Backend::Sqlite);
        assert!(!cfg.collector_id().0.is_empty());
        let cfg = parse(
            "collector_id: dc1\nstorage:\n  backend: postgresql\n  postgresql:\n    \
             url: postgresql://mutt@127.0.0.1:5433/mutt\n    sslmode: disable\n",
        )
        .expect("loads");
        assert_eq!(cfg.storage.backend, Backend::Postgresql);
        assert_eq!(cfg.storage.postgresql.sslmode, SslMode::Disable);
        assert_eq!(cfg.collector_id().0, "dc1");
    }

    #[test]
    fn a_bad_sslmode_names_file_line_and_key() {
        let text = "storage:\n  backend: postgresql\n  postgresql:\n    \
                    url: postgresql://mutt@db/mutt\n    sslmode: allow\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "storage.postgresql.sslmode");
        assert_eq!(e.line, Some(5));
        assert!(
            e.to_string()
                .starts_with("config/mutt_config.yaml:5: storage.postgresql.sslmode: "),
            "{e}"
        );
    }

    #[test]
    fn a_partition_period_is_none_daily_or_weekly_and_a_bad_one_names_file_line_and_key() {
        assert_eq!(
            parse("daemon: {}\n")
                .expect("loads")
                .storage
                .postgresql
                .partition,
            Partition::None
        );
        let cfg = parse("storage:\n  postgresql:\n    partition: weekly\n").expect("loads");
        assert_eq!(cfg.storage.postgresql.partition, Partition::Weekly);
        let e = parse("storage:\n  postgresql:\n    partition: monthly\n").unwrap_err();
        assert_eq!(e.key, "storage.postgresql.partition");
        assert_eq!(e.line, Some(3));
        let text = e.to_string();
        assert!(
            text.starts_with("config/mutt_config.yaml:3: storage.postgresql.partition: "),
            "{text}"
        );
        assert!(text.contains("daily") && text.contains("weekly"), "{text}");
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_showing_it() {
        let text = "storage:\n  postgresql:\n    url: postgresql://mutt:hunter2@db/mutt\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key, "storage.postgresql.url");
        assert_eq!(e.line, Some(3));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("password_file"), "{e}");
    }

    #[test]
    fn the_password_comes_from_its_file_and_no_error_shows_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pgpass");
        std::fs::write(&file, "s3cret-pw\n").expect("write");
        let text = format!(
            "storage:\n  backend: postgresql\n  postgresql:\n    url: postgresql://mutt@db/mutt\n    \
             password_file: {}\n",
            file.display()
        );
        let cfg = parse(&text).expect("loads");
        let pw = cfg.storage.postgresql.password.as_ref().expect("password");
        assert_eq!(pw.expose(), "s3cret-pw");
        assert!(!format!("{cfg:?}").contains("s3cret-pw"));
        let e =
            parse(&text.replace("url: postgresql://mutt@db/mutt\n", "pool_size: 0\n")).unwrap_err();
        assert_eq!(e.key, "storage.postgresql.pool_size");
        assert!(!e.to_string().contains("s3cret-pw"));
    }

    #[test]
    fn without_a_password_file_the_password_is_pgpassword() {
        let mut pg = PostgresqlSection {
            url: Some(PgUrl("postgresql://m@db/m".parse().expect("url"))),
            ..PostgresqlSection::default()
        };
        load_secrets(Backend::Postgresql, &mut pg, Some("from-env".into())).expect("loads");
        assert_eq!(pg.password.as_ref().map(Password::expose), Some("from-env"));
        let mut pg = PostgresqlSection {
            url: Some(PgUrl("postgresql://m@db/m".parse().expect("url"))),
            ..PostgresqlSection::default()
        };
        load_secrets(Backend::Postgresql, &mut pg, None).expect("loads");
        assert_eq!(pg.password, None);
    }

    #[test]
    fn postgresql_needs_a_url_and_verify_full_a_ca() {
        let e = parse("storage:\n  backend: postgresql\n").unwrap_err();
        assert_eq!(e.key, "storage.postgresql.url");
        let e = parse(
            "storage:\n  backend: postgresql\n  postgresql:\n    url: postgresql://m@db/m\n    \
             sslmode: verify-full\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "storage.postgresql.ca_file");
    }

    #[test]
    fn the_collector_id_is_set_in_one_place() {
        let e = parse("collector_id: a\nstorage:\n  collector_id: b\n").unwrap_err();
        assert_eq!(e.key, "storage.collector_id");
        assert_eq!(e.line, Some(3));
        let e = parse("collector_id: \"a b\"\n").unwrap_err();
        assert_eq!(e.key, "collector_id");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let p = Password::new("hunter2".into());
        assert_eq!(format!("{p:?}"), "Password(..)");
    }
}
