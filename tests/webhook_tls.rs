//! Webhook alerts over HTTPS: delivered to a receiver whose certificate comes from the CA in
//! `tls_ca_file`, refused (and kept pending, never lost) when the CA is another one or the
//! platform roots do not know it.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const RULES: &str = r#"rules:
  - {id: good, pattern_type: keyword, keywords: ["to good"], action: webhook}
  - {id: wrong, pattern_type: keyword, keywords: ["to wrong"], action: webhook, webhook: wrong}
  - {id: platform, pattern_type: keyword, keywords: ["to platform"], action: webhook, webhook: platform}
"#;

/// A CA: its PEM certificate and what signs with it.
fn ca() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

/// An HTTPS receiver on 127.0.0.1 whose certificate `issuer` signed; records each request's
/// body.
fn https_receiver(issuer: &Issuer<'static, KeyPair>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.signed_by(&key, issuer).expect("server certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            if let Some(body) = read_request(&mut tls) {
                seen.lock().expect("lock").push(body);
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = tls.flush();
            }
        }
    });
    (port, bodies)
}

/// One request's body, or None when the handshake or the request failed.
fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.is_empty() {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

fn line(text: &str) -> Vec<u8> {
    format!("<130>Nov 27 10:00:00 rack7 envmon: {text}").into_bytes()
}

fn wait_sql(env: &Env, sql: &str, want: i64, timeout: Duration) -> i64 {
    env.wait_count(sql, timeout, |n| n >= want)
}

#[test]
fn https_alerts_reach_a_receiver_of_the_configured_ca_and_no_other_ca_is_trusted() {
    let (right_pem, right) = ca();
    let (wrong_pem, _) = ca();
    let (port, bodies) = https_receiver(&right);
    let env = Env::new(Setup {
        rules: RULES.into(),
        ..Setup::default()
    });
    let (right_file, wrong_file) = (env.path("right-ca.pem"), env.path("wrong-ca.pem"));
    std::fs::write(&right_file, right_pem).expect("write CA");
    std::fs::write(&wrong_file, wrong_pem).expect("write CA");
    let url = format!("https://127.0.0.1:{port}/alerts");
    let backoff = "timeout_seconds: 2, backoff: {initial_seconds: 0.2, max_seconds: 1}";
    let env = Env::new(Setup {
        rules: RULES.into(),
        extra: format!(
            "outputs:\n  webhook: {{url: \"{url}\", tls_ca_file: {}, {backoff}}}\n  webhooks:\n    \
             wrong: {{url: \"{url}\", tls_ca_file: {}, {backoff}}}\n    \
             platform: {{url: \"{url}\", {backoff}}}\n",
            right_file.display(),
            wrong_file.display()
        ),
        ..Setup::default()
    });
    let daemon = env.start();
    env.send_udp(
        env.syslog_port,
        &[line("to wrong"), line("to platform"), line("to good")],
    );
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    let delivered = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE rule_id = 'good' AND state = 'delivered'",
        1,
        Duration::from_secs(15),
    );
    assert_eq!(delivered, 1, "the alert to the private CA's receiver");
    // Both others were tried, refused at the handshake, and wait for a retry.
    let refused = wait_sql(
        &env,
        "SELECT COUNT(*) FROM webhook_outbox WHERE rule_id IN ('wrong', 'platform')
         AND state = 'pending' AND attempts = 0
         AND last_error LIKE 'unreachable%' AND last_error LIKE '%certificate%'",
        2,
        Duration::from_secs(15),
    );
    assert_eq!(
        refused,
        2,
        "{:?}",
        env.count("SELECT COUNT(*) FROM webhook_outbox").unwrap()
    );
    let got = bodies.lock().expect("lock").clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("to good"), "{got:?}");
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn a_ca_file_that_is_not_pem_stops_the_start_naming_its_key() {
    let env = Env::new(Setup::default());
    let bad = env.path("bad-ca.pem");
    std::fs::write(&bad, "hello\n").expect("write");
    let env = Env::new(Setup {
        extra: format!(
            "outputs:\n  webhooks:\n    noc:\n      url: https://127.0.0.1:9/\n      tls_ca_file: {}\n",
            bad.display()
        ),
        ..Setup::default()
    });
    let out = env.mutt(&["check-config"]).output().expect("run mutt");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("outputs.webhooks.noc.tls_ca_file") && err.contains("bad-ca.pem"),
        "{err}"
    );
}
