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
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
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
        Ok(())
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
}
