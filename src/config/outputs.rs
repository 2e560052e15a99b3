//! `outputs:` in mutt_config.yaml: where webhook alerts go, how they are retried, folded and
//! kept, with the values checked as they are read (`WebhookUrl`, `CaFile`). The sender that uses
//! them is `crate::output::webhook`.
//!
//! ```yaml
//! outputs:
//!   webhook:                     # the default target: rules with action webhook and no `webhook:`
//!     url: https://alerts.example.net/mutt    # http:// or https://
//!     tls_ca_file: /etc/mutt/alerts-ca.pem    # https: trust only this PEM CA (default: the
//!                                             # operating system's roots)
//!     headers: {Authorization: "Bearer s3cret"}  # sent with every POST (default: none)
//!     timeout_seconds: 10        # the whole request: connect, TLS, send, answer (0 < t ≤ 3600)
//!     max_retries: 10            # answered failures retried this often, then the alert is dead
//!     backoff: {initial_seconds: 2, max_seconds: 300}   # delay doubles per failure, capped
//!   webhooks:                    # named targets, for rules with `webhook: NAME`
//!     noc: {url: "http://noc.example.net/hook"}
//!   storm_window_seconds: 60     # fold identical alerts (0 = off)
//!   retention: {delivered_days: 7, dead_days: 30}   # then finished rows are deleted (0 = keep)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::{Deserialize, Deserializer};

use crate::rules::{Action, RuleSet};

/// The target name of `outputs.webhook`, stored in `webhook_outbox.target` for rules that name
/// no target. Reserved: no `outputs.webhooks` entry may take it.
pub const DEFAULT_TARGET: &str = "default";

/// `outputs.storm_window_seconds`' default, also the window a `Store` folds with unless told
/// otherwise.
pub const DEFAULT_STORM_WINDOW: Duration = Duration::from_secs(60);

/// A checked `http://` or `https://` webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    text: String,
    https: bool,
}

impl WebhookUrl {
    /// Parse and check a webhook URL; the error says what to write instead.
    pub fn parse(text: &str) -> Result<WebhookUrl, String> {
        let text = text.trim();
        if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!(
                "{text:?} contains spaces or control characters; percent-encode them"
            ));
        }
        let uri: ureq::http::Uri = text.parse().map_err(|e| {
            format!("{text:?} is not a URL ({e}); expected http(s)://host[:port]/path")
        })?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => {
                return Err(format!(
                    "{text:?}: unsupported scheme {s:?}; expected http:// or https://"
                ))
            }
            None => {
                return Err(format!(
                    "{text:?} is not a URL; expected http(s)://host[:port]/path"
                ))
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(format!("{text:?}: no host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "{text:?}: credentials in the URL are not supported; set an Authorization header \
                 under headers:"
            ));
        }
        if authority.host().is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        // The text after the host (IPv6 hosts keep their brackets in `host()`).
        let rest = authority
            .as_str()
            .get(authority.host().len()..)
            .unwrap_or("");
        let port = rest.strip_prefix(':').map(str::parse::<u16>);
        if matches!(port, Some(Ok(0) | Err(_))) {
            return Err(format!("{text:?}: the port must be 1 to 65535"));
        }
        Ok(WebhookUrl {
            text: text.to_string(),
            https,
        })
    }

    /// The URL as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

/// The certificates of a `tls_ca_file`, read and checked when the config is loaded.
#[derive(Clone)]
pub struct CaFile {
    path: PathBuf,
    certs: Arc<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for CaFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CaFile({}, {} certificates)",
            self.path.display(),
            self.certs.len()
        )
    }
}

impl CaFile {
    /// Read a PEM file of one or more CA certificates; the error names the file and the reason.
    pub fn load(path: &Path) -> Result<CaFile, String> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown}: not a PEM certificate file ({e})"))?;
        if certs.is_empty() {
            return Err(format!("{shown}: no CERTIFICATE in this PEM file"));
        }
        // Refuse what rustls would refuse later, at the first POST.
        let mut roots = rustls::RootCertStore::empty();
        for c in &certs {
            roots
                .add(c.clone())
                .map_err(|e| format!("{shown}: not a usable CA certificate ({e})"))?;
        }
        Ok(CaFile {
            path: path.to_path_buf(),
            certs: Arc::new(certs),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The CA certificates, DER-encoded, in file order.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// `outputs:` in mutt_config.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputsSection {
    /// The default target. None: alerts of rules without `webhook:` are queued and marked dead.
    pub webhook: Option<WebhookTarget>,
    /// Named targets. `default` is reserved for `outputs.webhook`.
    #[serde(deserialize_with = "targets")]
    pub webhooks: BTreeMap<String, WebhookTarget>,
    /// An alert identical to one still pending, or queued less than this long ago, is folded
    /// into it (its `fold_count` grows) instead of queued again. 0 turns folding off. Default 60.
    pub storm_window_seconds: u64,
    /// How long finished alerts stay in `webhook_outbox`.
    pub retention: Retention,
}

impl Default for OutputsSection {
    fn default() -> Self {
        OutputsSection {
            webhook: None,
            webhooks: BTreeMap::new(),
            storm_window_seconds: DEFAULT_STORM_WINDOW.as_secs(),
            retention: Retention::default(),
        }
    }
}

/// `outputs.retention`: finished `webhook_outbox` rows older than this are deleted by the
/// sender, a few hundred at a time. Pending rows are never deleted, however old.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days a delivered alert is kept after its delivery (default 7: a week of "what did we
    /// send?"). 0 keeps them for ever.
    pub delivered_days: u64,
    /// Days a dead alert (retries used up, or no such target) is kept after its last try
    /// (default 30: time to notice, fix the receiver and look at what was lost). 0 keeps them
    /// for ever.
    pub dead_days: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            delivered_days: 7,
            dead_days: 30,
        }
    }
}

impl OutputsSection {
    /// The target a rule's alerts go to: its `webhook:` name, or the default.
    pub fn target(&self, name: &str) -> Option<&WebhookTarget> {
        if name == DEFAULT_TARGET {
            self.webhook.as_ref()
        } else {
            self.webhooks.get(name)
        }
    }

    /// The storm window as a duration (zero: off).
    pub fn storm_window(&self) -> Duration {
        Duration::from_secs(self.storm_window_seconds)
    }

    /// One line per enabled webhook rule whose target is not configured; the daemon logs them at
    /// start-up. Such alerts are still queued and then marked dead with the reason.
    pub fn unconfigured_rule_targets(&self, rules: &RuleSet) -> Vec<String> {
        rules
            .rules()
            .iter()
            .filter(|r| r.enabled && r.action == Action::Webhook)
            .filter_map(|r| {
                let name = r.webhook.as_deref().unwrap_or(DEFAULT_TARGET);
                self.target(name).is_none().then(|| {
                    let key = if name == DEFAULT_TARGET {
                        "outputs.webhook".to_string()
                    } else {
                        format!("outputs.webhooks.{name}")
                    };
                    format!(
                        "rule {} (line {}) sends webhook alerts to target {name:?}, but {key} is \
                         not configured: its alerts are stored and queued as dead",
                        r.id, r.line
                    )
                })
            })
            .collect()
    }
}

/// One webhook endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// `http(s)://host[:port][/path][?query]`; checked at load. Redirects are not followed.
    pub url: WebhookUrl,
    /// A PEM file of CA certificates that `https://` servers are checked against instead of the
    /// operating system's roots (a private CA). Read and checked at load: a missing or bad file
    /// is a config error naming this key. Default: none (the platform roots).
    #[serde(default, deserialize_with = "ca_file")]
    pub tls_ca_file: Option<CaFile>,
    /// Extra request headers (default: none). Host, Content-Length, Connection and
    /// X-MUTT-Alert-Id are MUTT's own; Content-Type may be overridden.
    #[serde(default, deserialize_with = "headers")]
    pub headers: Vec<(String, String)>,
    /// Bounds each request as a whole: name lookup, connect, TLS handshake, sending and the
    /// answer. Default 10, more than 0, at most 3600.
    #[serde(default = "default_timeout", deserialize_with = "seconds")]
    pub timeout_seconds: f64,
    /// An alert the endpoint answers with a non-2xx status is retried this many times, then
    /// marked dead. Tries that get no answer (endpoint down) do not count: an outage of any
    /// length loses nothing. Default 10.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    #[serde(default)]
    pub backoff: Backoff,
}

impl WebhookTarget {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }
}

/// Delay before retry n (n ≥ 1): `min(initial_seconds * 2^(n-1), max_seconds)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// Default 2; more than 0, at most 3600.
    #[serde(deserialize_with = "seconds")]
    pub initial_seconds: f64,
    /// Default 300; more than 0, at most 3600. Below `initial_seconds` it caps every delay.
    #[serde(deserialize_with = "seconds")]
    pub max_seconds: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_seconds: 2.0,
            max_seconds: 300.0,
        }
    }
}

impl Backoff {
    /// The delay after the `n`th consecutive failure (1-based), in microseconds.
    pub fn delay_us(&self, n: u32) -> i64 {
        let exp = n.saturating_sub(1).min(62);
        let secs = (self.initial_seconds * 2f64.powi(exp as i32)).min(self.max_seconds);
        (secs * 1e6) as i64
    }
}

fn default_timeout() -> f64 {
    10.0
}

fn default_retries() -> u32 {
    10
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WebhookUrl, D::Error> {
        let text = String::deserialize(d)?;
        WebhookUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A CA file is read where the section is parsed, so `mutt check-config` and the daemon's start
/// both refuse a bad one with the key and line, before any alert waits on it.
fn ca_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CaFile>, D::Error> {
    let path = PathBuf::deserialize(d)?;
    CaFile::load(&path)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!(
            "expected more than 0 and at most 3600 seconds, got {v}"
        )))
    }
}

/// Header names MUTT writes itself.
const OWN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "x-mutt-alert-id",
];

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let map = BTreeMap::<String, String>::deserialize(d)?;
    for (name, value) in &map {
        // RFC 9110 §5.6.2 token characters; values without CR, LF or NUL (no header injection).
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(serde::de::Error::custom(format!(
                "{name:?} is not a valid header name"
            )));
        }
        if OWN_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(serde::de::Error::custom(format!(
                "header {name} is set by MUTT and cannot be configured"
            )));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(serde::de::Error::custom(format!(
                "the value of header {name} contains a line break"
            )));
        }
    }
    Ok(map.into_iter().collect())
}

fn targets<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, WebhookTarget>, D::Error> {
    let map = BTreeMap::<String, WebhookTarget>::deserialize(d)?;
    if map.contains_key(DEFAULT_TARGET) {
        return Err(serde::de::Error::custom(
            "the name \"default\" is reserved for outputs.webhook; configure it there",
        ));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parse(outputs: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(outputs, Path::new("mutt_config.yaml"))
    }

    #[test]
    fn defaults_apply_to_every_key_left_out() {
        let cfg = parse("outputs:\n  webhook:\n    url: http://127.0.0.1:9/h\n").unwrap();
        let t = cfg.outputs.webhook.as_ref().unwrap();
        assert_eq!(t.timeout_seconds, 10.0);
        assert_eq!(t.max_retries, 10);
        assert_eq!(
            (t.backoff.initial_seconds, t.backoff.max_seconds),
            (2.0, 300.0)
        );
        assert!(t.headers.is_empty());
        assert_eq!(cfg.outputs.storm_window_seconds, 60);
        assert_eq!(
            cfg.outputs.retention,
            Retention {
                delivered_days: 7,
                dead_days: 30
            }
        );
        assert!(parse("").unwrap().outputs.webhook.is_none());
    }

    #[test]
    fn named_targets_and_headers_load() {
        let cfg = parse(
            "outputs:\n  webhooks:\n    noc:\n      url: http://noc:8080/in\n      headers: {X-Key: abc}\n      backoff: {initial_seconds: 0.1, max_seconds: 1}\n  storm_window_seconds: 0\n",
        )
        .unwrap();
        let noc = cfg.outputs.target("noc").unwrap();
        assert_eq!(noc.url.as_str(), "http://noc:8080/in");
        assert!(noc.tls_ca_file.is_none());
        assert_eq!(noc.headers, vec![("X-Key".to_string(), "abc".to_string())]);
        assert!(cfg.outputs.target(DEFAULT_TARGET).is_none());
        assert_eq!(cfg.outputs.storm_window(), Duration::ZERO);
    }

    #[test]
    fn a_bad_url_names_its_key_and_line() {
        let e = parse("outputs:\n  webhook:\n    url: ftp://x/h\n").unwrap_err();
        assert_eq!(e.key, "outputs.webhook.url");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("unsupported scheme"), "{e}");
        assert!(parse("outputs:\n  webhook:\n    url: https://x/h\n").is_ok());
    }

    #[test]
    fn a_bad_ca_file_is_a_config_error_naming_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("ca.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.path().join("missing.pem");
        for (file, why) in [(&bad, "ca.pem"), (&missing, "missing.pem")] {
            let yaml = format!(
                "outputs:\n  webhooks:\n    noc:\n      url: https://noc/in\n      tls_ca_file: {}\n",
                file.display()
            );
            let e = parse(&yaml).unwrap_err();
            assert_eq!(e.key, "outputs.webhooks.noc.tls_ca_file", "{e}");
            assert_eq!(e.line, Some(5), "{e}");
            assert!(e.message.contains(why), "{e}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let cases = [
            (
                "    url: http://x/\n    timeout_seconds: 0\n",
                "outputs.webhook.timeout_seconds",
                "more than 0",
            ),
            (
                "    url: http://x/\n    headers: {Host: y}\n",
                "outputs.webhook.headers",
                "set by MUTT",
            ),
            (
                "    url: http://x/\n    headers: {\"a b\": y}\n",
                "outputs.webhook.headers",
                "header name",
            ),
            (
                "    url: http://x/\n    retries: 3\n",
                "outputs.webhook.retries",
                "max_retries",
            ),
            ("    headers: {}\n", "outputs.webhook", "url"),
        ];
        for (body, key, text) in cases {
            let e = parse(&format!("outputs:\n  webhook:\n{body}")).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(text), "{e}");
        }
        let e = parse("outputs:\n  webhooks:\n    default: {url: http://x/}\n").unwrap_err();
        assert!(e.message.contains("reserved"), "{e}");
    }

    #[test]
    fn backoff_doubles_from_initial_and_stops_at_max() {
        let b = Backoff::default();
        let secs: Vec<i64> = (1..=10).map(|n| b.delay_us(n) / 1_000_000).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.delay_us(u32::MAX), 300_000_000);
    }

    #[test]
    fn webhook_rules_without_a_configured_target_are_reported() {
        let rules = RuleSet::from_yaml(
            "rules:\n  - {id: a, pattern_type: keyword, keywords: [x], action: webhook}\n  - {id: b, pattern_type: keyword, keywords: [y], action: webhook, webhook: noc}\n  - {id: c, pattern_type: keyword, keywords: [z], action: store}\n",
            "rules.yaml",
        )
        .unwrap();
        let cfg = parse("outputs:\n  webhook: {url: http://x/}\n").unwrap();
        let missing = cfg.outputs.unconfigured_rule_targets(&rules);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(missing[0].contains("rule b") && missing[0].contains("outputs.webhooks.noc"));
        assert_eq!(
            OutputsSection::default()
                .unconfigured_rule_targets(&rules)
                .len(),
            2
        );
    }

    #[test]
    fn http_and_https_urls_parse() {
        let u = WebhookUrl::parse("http://alerts.example.net/hook?x=1").unwrap();
        assert!(!u.is_https());
        assert_eq!(u.as_str(), "http://alerts.example.net/hook?x=1");
        assert!(WebhookUrl::parse("HTTPS://[::1]:8443").unwrap().is_https());
        assert!(WebhookUrl::parse("http://10.0.0.1:9000?a=b").is_ok());
    }

    #[test]
    fn bad_urls_say_what_to_write_instead() {
        assert!(WebhookUrl::parse("ftp://x/")
            .unwrap_err()
            .contains("scheme"));
        assert!(WebhookUrl::parse("x.example/hook")
            .unwrap_err()
            .contains("not a URL"));
        assert!(WebhookUrl::parse("http://u:p@x/")
            .unwrap_err()
            .contains("Authorization"));
        assert!(WebhookUrl::parse("http://x:0/")
            .unwrap_err()
            .contains("port"));
        assert!(WebhookUrl::parse("http://x:99999/")
            .unwrap_err()
            .contains("port"));
        assert!(WebhookUrl::parse("http:///path").is_err());
        assert!(WebhookUrl::parse("http://a b/")
            .unwrap_err()
            .contains("spaces"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, "not pem at all\n").unwrap();
        let e = CaFile::load(&p).unwrap_err();
        assert!(e.contains("ca.pem") && e.contains("no CERTIFICATE"), "{e}");
        let e = CaFile::load(&dir.path().join("missing.pem")).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
    }
}
