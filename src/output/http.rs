//! Webhook POSTs over HTTP/1.1 (`http://` and `https://`), through the `ureq` client.
//!
//! What a webhook sender needs from HTTP, and how it is set here:
//! - One deadline for the whole request ([`Client::new`]'s `timeout`): name lookup, connect, TLS
//!   handshake, sending, the status line and the body. A receiver that trickles its answer a byte
//!   at a time cannot hold the only sender thread longer than that.
//! - Redirects are not followed: a 3xx is an answer like any other non-2xx, retried with backoff
//!   (a webhook that moved is a configuration to fix, not a place to POST alerts blindly).
//! - At most [`BODY_LIMIT`] bytes of the answer are read; only its status decides the outcome.
//! - No proxy from the environment: alerts go where `url` says.
//! - TLS is rustls on the ring provider (the one the syslog TLS listener uses). Servers are
//!   checked against the operating system's trust store through `rustls-platform-verifier`, so a
//!   receiver with a certificate from the company CA that the host already trusts works with no
//!   MUTT setting, and a CA removed from the host is removed from MUTT. `tls_ca_file` replaces
//!   those roots with the certificates of one PEM file (a private CA).

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use ureq::config::Config;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::Agent;

use crate::config::{CaFile, WebhookUrl};

/// Bytes of an answer's body read at most (the rest is left unread and the connection closed).
pub const BODY_LIMIT: u64 = 64 * 1024;

/// What a POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// The endpoint answered with this status (any status, 2xx or not).
    Answered { status: u16, reason: String },
    /// No answer: refused, reset, timed out, a TLS failure, a name that does not resolve.
    Unreachable(String),
}

/// One target's HTTP client: its deadline and trust roots, and a pool of kept-alive
/// connections.
pub struct Client {
    agent: Agent,
}

impl Client {
    /// A client whose requests each end within `timeout`; `ca` replaces the platform roots.
    pub fn new(timeout: Duration, ca: Option<&CaFile>) -> Client {
        let roots = match ca {
            Some(ca) => RootCerts::Specific(Arc::new(
                ca.certificates()
                    .iter()
                    .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                    .collect(),
            )),
            None => RootCerts::PlatformVerifier,
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(roots)
            .build();
        let config = Config::builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .proxy(None)
            .user_agent(concat!("mutt/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build();
        Client {
            agent: Agent::new_with_config(config),
        }
    }

    /// POST `body` as `application/json` (unless `headers` sets Content-Type) with `headers`.
    pub fn post(&self, url: &WebhookUrl, headers: &[(String, String)], body: &[u8]) -> PostOutcome {
        let mut req = self.agent.post(url.as_str());
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(name.as_str(), value.as_str());
        }
        match req.send(body) {
            Ok(mut resp) => {
                let status = resp.status();
                // Drain a bounded part of the body so a short answer leaves the connection
                // reusable; what it says is not needed, and a failure here changes nothing.
                let mut sink = Vec::new();
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(BODY_LIMIT)
                    .read_to_end(&mut sink);
                PostOutcome::Answered {
                    status: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("").to_string(),
                }
            }
            Err(e) => PostOutcome::Unreachable(describe(&e)),
        }
    }
}

/// An error as one line, with the TLS reason spelled out (ureq's own text for these is short).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => match io.get_ref() {
            Some(inner) => format!("{io}: {inner}"),
            None => io.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::time::Instant;

    /// Serve one connection: read the request until `until` is in it, then answer `answer`.
    fn serve_once(
        answer: &'static [u8],
        until: &'static [u8],
    ) -> (u16, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while !got.windows(until.len()).any(|w| w == until) {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            s.write_all(answer).unwrap();
            String::from_utf8(got).unwrap()
        });
        (port, server)
    }

    #[test]
    fn a_post_carries_length_type_and_configured_headers() {
        let (port, server) = serve_once(
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            b"{\"a\":1}",
        );
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
        let headers = vec![("X-Token".to_string(), "t0k".to_string())];
        let out = Client::new(Duration::from_secs(5), None).post(&url, &headers, b"{\"a\":1}");
        assert_eq!(
            out,
            PostOutcome::Answered {
                status: 201,
                reason: "Created".into()
            }
        );
        let req = server.join().unwrap().to_ascii_lowercase();
        assert!(req.starts_with("post /in http/1.1\r\n"), "{req}");
        for h in [
            &format!("host: 127.0.0.1:{port}\r\n"),
            "content-length: 7\r\n",
            "content-type: application/json\r\n",
            "x-token: t0k\r\n",
        ] {
            assert!(req.contains(h), "{h:?} missing from {req}");
        }
    }

    #[test]
    fn a_redirect_is_an_answer_and_is_not_followed() {
        let (port, server) = serve_once(
            b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n",
            b"{}",
        );
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
        let out = Client::new(Duration::from_secs(5), None).post(&url, &[], b"{}");
        assert!(
            matches!(out, PostOutcome::Answered { status: 302, .. }),
            "{out:?}"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let out = Client::new(Duration::from_secs(2), None).post(&url, &[], b"{}");
        assert!(matches!(out, PostOutcome::Unreachable(_)), "{out:?}");
    }

    #[test]
    fn a_trickled_status_line_ends_at_the_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // One byte every 100 ms: each read succeeds well within any per-read timeout.
            for b in b"HTTP/1.1 200 OK, eventually, after a long while\r\n"
                .iter()
                .cycle()
            {
                if done_rx.try_recv().is_ok() || s.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let started = Instant::now();
        let out = Client::new(Duration::from_millis(700), None).post(&url, &[], b"{}");
        let took = started.elapsed();
        let _ = done_tx.send(());
        server.join().unwrap();
        assert!(matches!(out, PostOutcome::Unreachable(_)), "{out:?}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
    }
}
