//! `web:`: the web UI (the `mutt-web` crate), served by `mutt run` when `enabled` and by
//! `mutt web` always. It reads the database (`storage.database.path`) read-only and the daemon's
//! counters from `metrics.listen`.

use std::net::SocketAddr;

use serde::Deserialize;

use super::MetricsSection;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSection {
    /// Whether `mutt run` serves the UI. Default false (the shipped config turns it on).
    pub enabled: bool,
    /// Address of the UI. Default 127.0.0.1:8080; the pages show every message stored, so keep
    /// it on loopback or a management network.
    pub listen: SocketAddr,
    /// Login: when set, every page asks for one of these users (HTTP Basic). Default none.
    pub auth: Option<WebAuth>,
}

/// `web.auth`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebAuth {
    /// At least one; each `name` once, without `:`.
    pub users: Vec<WebUserEntry>,
}

/// One of `web.auth.users`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebUserEntry {
    pub name: String,
    /// The password's argon2 hash, a PHC string: `printf %s PASSWORD | argon2 SALT -id -e`.
    pub password_hash: String,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            auth: None,
        }
    }
}

impl WebSection {
    /// What cannot work together with the rest of the file: (key, message).
    pub(super) fn check(&self, metrics: &MetricsSection) -> Result<(), (&'static str, String)> {
        if metrics.enabled && self.listen == metrics.listen && self.listen.port() != 0 {
            return Err((
                "web.listen",
                format!("{} is also metrics.listen", self.listen),
            ));
        }
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if auth.users.is_empty() {
            return Err(("web.auth.users", "give at least one user".into()));
        }
        for (i, u) in auth.users.iter().enumerate() {
            if u.name.is_empty() || u.name.contains(':') {
                return Err((
                    "web.auth.users",
                    format!("user {}: a name is not empty and has no ':'", i + 1),
                ));
            }
            if auth.users[..i].iter().any(|o| o.name == u.name) {
                return Err(("web.auth.users", format!("user {} is given twice", u.name)));
            }
            if let Err(e) = mutt_web::auth::check_hash(&u.password_hash) {
                return Err((
                    "web.auth.users",
                    format!("user {}: password_hash: {e}", u.name),
                ));
            }
        }
        Ok(())
    }

    /// The users who may log in, for the UI; None: no login.
    pub fn users(&self) -> Option<Vec<mutt_web::auth::WebUser>> {
        self.auth.as_ref().map(|a| {
            a.users
                .iter()
                .map(|u| mutt_web::auth::WebUser {
                    name: u.name.clone(),
                    password_hash: u.password_hash.clone(),
                })
                .collect()
        })
    }

    /// The daemon's Prometheus endpoint the health page reads, when metrics are on.
    pub fn metrics_url(metrics: &MetricsSection) -> Option<String> {
        metrics
            .enabled
            .then(|| format!("http://{}/metrics", metrics.listen))
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
    fn the_web_ui_is_off_by_default_on_loopback_8080() {
        let cfg = parse("").unwrap();
        assert!(!cfg.web.enabled);
        assert_eq!(cfg.web.listen.to_string(), "127.0.0.1:8080");
        let cfg = parse("web:\n  enabled: true\n  listen: 0.0.0.0:8443\n").unwrap();
        assert!(cfg.web.enabled);
        assert_eq!(cfg.web.listen.port(), 8443);
    }

    #[test]
    fn a_bad_web_key_names_file_line_and_key() {
        let e = parse("metrics:\n  enabled: true\nweb:\n  enabled: true\n  listen: localhost\n")
            .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key, "web.listen");
        let e = parse("web:\n  colour: red\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = parse("web:\n  listen: 127.0.0.1:9162\n").unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("web.listen", Some(2)));
        assert!(e.to_string().contains("also metrics.listen"), "{e}");
    }

    #[test]
    fn web_auth_users_need_an_argon2_hash_and_a_name_once() {
        const HASH: &str = "$argon2id$v=19$m=64,t=1,p=1$bXV0dC10ZXN0LXNhbHQ$\
                            iQisuIqe+G77/mbHZpwsCJnKkcD0sso0EIePr6xN1NU";
        let ok = format!(
            "web:\n  auth:\n    users:\n      - name: ops\n        password_hash: \"{HASH}\"\n"
        );
        let cfg = parse(&ok).unwrap();
        assert_eq!(cfg.web.users().unwrap()[0].name, "ops");
        for (text, says) in [
            ("web:\n  auth:\n    users: []\n", "at least one"),
            ("web:\n  auth:\n    users:\n      - name: ops\n        password_hash: hunter2\n", "password_hash"),
            (&format!("web:\n  auth:\n    users:\n      - name: a\n        password_hash: \"{HASH}\"\n      - name: a\n        password_hash: \"{HASH}\"\n"), "twice"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.key.as_str(), e.line), ("web.auth.users", Some(3)), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
