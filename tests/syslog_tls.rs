//! Syslog over TLS (RFC 5425): real clients (openssl s_client, a rustls client, rsyslog) in, rows
//! with transport `tls` out; mutual TLS; clients that are not TLS or never finish the handshake.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// A daemon env with the TLS listener on its own free port; `mutual` requires client certificates.
fn tls_env(mutual: bool, idle_timeout_seconds: u64) -> (Env, u16) {
    let env = Env::new(Setup::default());
    let port = free_port();
    let ca = if mutual {
        format!("    client_ca_file: {}\n", data("ca.pem").display())
    } else {
        String::new()
    };
    add_listener_yaml(
        &env,
        &format!(
            "  syslog_tls:\n    enabled: true\n    bind: 127.0.0.1\n    port: {port}\n    \
             cert_file: {}\n    key_file: {}\n{ca}    idle_timeout_seconds: {idle_timeout_seconds}\n",
            data("server.pem").display(),
            data("server.key").display(),
        ),
    );
    (env, port)
}

fn octet_counted(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(format!("{} {l}", l.len()).as_bytes());
    }
    out
}

/// A rustls client configuration trusting the test CA, with a client certificate if named.
fn client_config(cert: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(data("ca.pem")).expect("ca.pem"))
        .expect("add CA");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = match cert {
        Some((c, k)) => {
            let chain = CertificateDer::pem_file_iter(data(c))
                .expect("cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("cert");
            let key = PrivateKeyDer::from_pem_file(data(k)).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client auth")
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Connect, write `bytes`, close cleanly. Err when the server refused the handshake (seen as an
/// error on the write or on the read that waits for the server's close).
fn send_rustls(port: u16, config: Arc<rustls::ClientConfig>, bytes: &[u8]) -> Result<(), String> {
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(bytes).map_err(|e| e.to_string())?;
    tls.flush().map_err(|e| e.to_string())?;
    tls.conn.send_close_notify();
    tls.flush().map_err(|e| e.to_string())?;
    // The server says nothing on success; a refusal arrives as an alert.
    let mut rest = Vec::new();
    match tls.read_to_end(&mut rest) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn raw_rows(env: &Env, transport: &str) -> Vec<String> {
    let db = env.db();
    let mut st = db
        .prepare("SELECT raw_message FROM messages WHERE transport = ?1 ORDER BY wal_seq")
        .expect("prepare");
    let rows = st
        .query_map([transport], |r| r.get::<_, String>(0))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    rows
}

#[test]
#[ignore = "needs openssl"]
fn openssl_s_client_lines_arrive_as_tls_rows_with_the_raw_message() {
    need_tool("openssl");
    let (env, port) = tls_env(false, 600);
    let daemon = env.start();
    let counted = [
        "<134>1 2024-11-27T10:00:00Z router1 app 1 - - tls octet counted one",
        "<134>Nov 27 10:00:01 router2 app[7]: tls octet counted two",
    ];
    let mut input = octet_counted(&counted);
    input.extend_from_slice(b"<134>Nov 27 10:00:02 router3 app[7]: tls lf framed\n");
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-no_ign_eof", "-verify_return_error"])
        .args([
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            "localhost",
        ])
        .arg("-CAfile")
        .arg(data("ca.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write to s_client");
    let out = child.wait_with_output().expect("s_client");
    assert!(
        out.status.success(),
        "s_client failed (certificate not verified?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.wait_rows(3, Duration::from_secs(10)), 3);
    let rows = raw_rows(&env, "tls");
    assert_eq!(
        rows,
        vec![
            counted[0].to_string(),
            counted[1].to_string(),
            "<134>Nov 27 10:00:02 router3 app[7]: tls lf framed".to_string()
        ]
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM syslog_messages").unwrap(),
        3
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success());
    assert!(stderr.contains("accepted_syslog_tls=3"), "{stderr}");
}

#[test]
fn mutual_tls_stores_a_certified_client_and_refuses_one_without_or_with_a_stranger_s_certificate() {
    let (env, port) = tls_env(true, 600);
    let daemon = env.start();
    let refused = [None, Some(("rogue.pem", "rogue.key"))];
    for cert in refused {
        let line = octet_counted(&["<134>Nov 27 10:00:00 intruder app: must not be stored"]);
        let r = send_rustls(port, client_config(cert), &line);
        assert!(
            r.is_err(),
            "the handshake without a valid client certificate was accepted"
        );
    }
    let good = "<134>Nov 27 10:00:00 router1 app: certified client";
    send_rustls(
        port,
        client_config(Some(("client.pem", "client.key"))),
        &octet_counted(&[good]),
    )
    .expect("certified client");
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    assert_eq!(raw_rows(&env, "tls"), vec![good.to_string()]);
    let (status, stderr) = daemon.terminate();
    assert!(status.success());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages").unwrap(),
        1,
        "nothing else stored"
    );
    assert!(stderr.contains("tls_handshake_failed=2"), "{stderr}");
    assert!(stderr.contains("TLS handshake failed"), "{stderr}");
}

#[test]
fn a_plain_tcp_client_on_the_tls_port_is_dropped_and_the_listener_keeps_serving() {
    let (env, port) = tls_env(false, 600);
    let daemon = env.start();
    let mut plain = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"<13>Nov 27 10:00:00 host app: plain text on the TLS port\n")
        .expect("write");
    // The server answers with at most an alert, then closes.
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(answer.len() < 64, "answer: {answer:?}");
    let good = "<134>Nov 27 10:00:00 router1 app: after the plain client";
    send_rustls(port, client_config(None), &octet_counted(&[good])).expect("TLS client");
    assert_eq!(env.wait_rows(1, Duration::from_secs(10)), 1);
    assert_eq!(raw_rows(&env, "tls"), vec![good.to_string()]);
    let (status, stderr) = daemon.terminate();
    assert!(status.success());
    assert_eq!(env.count("SELECT COUNT(*) FROM messages").unwrap(), 1);
    assert!(stderr.contains("tls_handshake_failed=1"), "{stderr}");
}

#[test]
fn a_client_that_never_completes_the_handshake_is_closed_by_the_idle_timeout() {
    let (env, port) = tls_env(false, 1);
    let daemon = env.start();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let n = silent.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    let (status, stderr) = daemon.terminate();
    assert!(status.success());
    assert!(stderr.contains("tls_handshake_failed=1"), "{stderr}");
    assert!(stderr.contains("tcp_idle_closed=1"), "{stderr}");
}

#[test]
fn a_key_that_cannot_be_read_stops_the_start_with_a_config_error() {
    let (env, _port) = tls_env(false, 600);
    let text = file_text(&env.config_path()).replace(
        &data("server.key").display().to_string(),
        "/nonexistent/server.key",
    );
    std::fs::write(env.config_path(), text).expect("write config");
    let out = env.mutt(&["run"]).output().expect("run mutt");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listeners.syslog_tls.key_file")
            && stderr.contains("/nonexistent/server.key"),
        "{stderr}"
    );
}

/// Fail unless rsyslogd and its TLS driver (Debian: rsyslog-gnutls) are installed.
fn need_rsyslog_gtls() {
    need_tool("rsyslogd");
    let found = std::fs::read_dir("/usr/lib")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .any(|e| e.path().join("rsyslog/lmnsd_gtls.so").exists())
        })
        .unwrap_or(false);
    assert!(
        found,
        "rsyslog's gtls driver is not installed; .ci/run installs rsyslog-gnutls"
    );
}

#[test]
#[ignore = "needs rsyslogd with rsyslog-gnutls"]
fn rsyslog_forwards_over_mutual_tls_with_octet_counting() {
    need_rsyslog_gtls();
    let (env, port) = tls_env(true, 600);
    let daemon = env.start();
    let udp_port = free_port();
    let work = env.path("rsyslog");
    std::fs::create_dir_all(&work).expect("rsyslog dir");
    let conf = format!(
        "global(workDirectory=\"{work}\" defaultNetstreamDriverCAFile=\"{ca}\"\n\
         \x20      defaultNetstreamDriverCertFile=\"{cert}\" defaultNetstreamDriverKeyFile=\"{key}\")\n\
         module(load=\"imudp\")\n\
         input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp_port}\")\n\
         action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" protocol=\"tcp\"\n\
         \x20      streamDriver=\"gtls\" streamDriverMode=\"1\" streamDriverAuthMode=\"x509/name\"\n\
         \x20      streamDriverPermittedPeers=\"localhost\" tcp_framing=\"octet-counted\"\n\
         \x20      template=\"RSYSLOG_SyslogProtocol23Format\")\n",
        work = work.display(),
        ca = data("ca.pem").display(),
        cert = data("client.pem").display(),
        key = data("client.key").display(),
    );
    let conf_path = work.join("rsyslog.conf");
    std::fs::write(&conf_path, conf).expect("write rsyslog.conf");
    let mut rsyslog = Command::new("rsyslogd")
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(work.join("rsyslog.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rsyslogd");
    wait_udp_bound(&mut rsyslog, udp_port, Duration::from_secs(20));
    let n = 50;
    env.send_udp(udp_port, &numbered_lines("via-rsyslog", n));
    let got = env.wait_rows(n as i64, Duration::from_secs(20));
    let _ = rsyslog.kill();
    let _ = rsyslog.wait();
    assert_eq!(got, n as i64);
    let rows = raw_rows(&env, "tls");
    assert_eq!(rows.len(), n);
    for (i, raw) in rows.iter().enumerate() {
        assert!(
            raw.starts_with("<134>1 ") && raw.contains(&format!("via-rsyslog message {i:06}")),
            "RFC 5424 as rsyslog formats it: {raw}"
        );
    }
    let (status, _) = daemon.terminate();
    assert!(status.success());
}

#[test]
fn a_burst_over_one_tls_connection_is_stored_once_each() {
    let (env, port) = tls_env(false, 600);
    let daemon = env.start();
    let n = 5_000;
    let lines = numbered_lines("tls-burst", n);
    let mut bytes = Vec::new();
    for l in &lines {
        // Octet counting and LF framing alternate, on frames that straddle TLS records.
        if bytes.len() % 2 == 0 {
            bytes.extend_from_slice(format!("{} ", l.len()).as_bytes());
            bytes.extend_from_slice(l);
        } else {
            bytes.extend_from_slice(l);
            bytes.push(b'\n');
        }
    }
    let started = Instant::now();
    send_rustls(port, client_config(None), &bytes).expect("TLS client");
    assert_eq!(env.wait_rows(n as i64, Duration::from_secs(60)), n as i64);
    eprintln!("{n} lines over TLS stored in {:?}", started.elapsed());
    assert_eq!(
        env.count("SELECT COUNT(DISTINCT raw_message) FROM messages WHERE transport = 'tls'")
            .unwrap(),
        n as i64
    );
    let (status, _) = daemon.terminate();
    assert!(status.success());
}
