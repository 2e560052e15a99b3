//! A minimal HTTP/1.1 client (RFC 9112): one `POST` per connection, plain `http://` only.
//!
//! Webhooks need one request shape: a JSON body, a few headers, a status code back. That subset is
//! short enough to own (no dependency, no TLS stack): the request is written with
//! `Content-Length` and `Connection: close`, and only the status line of the answer is read —
//! the body of the answer is not needed, and closing the connection ends the exchange.
//! `https://` is refused at config load: MUTT carries no TLS; point it at a local TLS-terminating
//! proxy when the receiver is only reachable over HTTPS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A parsed `http://host[:port][/path][?query]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// A name, an IPv4 address, or an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    /// Path and query as written; `/` when the URL has none. The fragment is dropped.
    pub path: String,
    text: String,
}

impl HttpUrl {
    /// Parse and check a webhook URL; the error says what to write instead.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        let text = text.trim();
        if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(format!(
                "{text:?} contains spaces or control characters; percent-encode them"
            ));
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!(
                "{text:?} is not a URL; expected http://host[:port]/path"
            ));
        };
        if scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "{text:?}: https is not supported (MUTT has no TLS); use http://, for example to a \
                 local TLS-terminating proxy"
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(format!(
                "{text:?}: unsupported scheme {scheme:?}; expected http://"
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err(format!(
                "{text:?}: credentials in the URL are not supported; set an Authorization header \
                 under headers:"
            ));
        }
        let (host, port) = split_host_port(authority).map_err(|m| format!("{text:?}: {m}"))?;
        let tail = tail.split('#').next().unwrap_or("");
        let path = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        Ok(HttpUrl {
            host,
            port,
            path,
            text: text.to_string(),
        })
    }

    /// The URL as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `Host` header value (RFC 9112 §3.2): brackets around IPv6, the port when not 80.
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            return Err("an IPv6 address needs its closing ]".into());
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        match after {
            "" => (host, None),
            p => match p.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err("expected :port after the IPv6 address".into()),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the host is missing".into());
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
    {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("port {p:?} is not 1-65535")),
        },
    };
    Ok((host.to_string(), port))
}

/// What came of one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// The endpoint answered with this status line.
    Answered { status: u16, reason: String },
    /// No answer: name resolution, connect, write or read failed or timed out.
    Unreachable(String),
}

/// Send one POST and read the status line. `timeout` bounds the connect to each address and each
/// read or write (name resolution uses the system resolver's own timeout).
pub fn post(
    url: &HttpUrl,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> PostOutcome {
    let addrs: Vec<SocketAddr> = match (url.host.as_str(), url.port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => return PostOutcome::Unreachable(format!("cannot resolve {}: {e}", url.host)),
    };
    let mut last = format!("{} resolves to no address", url.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return exchange(stream, url, headers, body, timeout),
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    PostOutcome::Unreachable(last)
}

fn exchange(
    mut stream: TcpStream,
    url: &HttpUrl,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> PostOutcome {
    let unreachable =
        |what: &str, e: std::io::Error| PostOutcome::Unreachable(format!("{what}: {e}"));
    if let Err(e) = stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
    {
        return unreachable("socket setup", e);
    }
    let _ = stream.set_nodelay(true);
    let head = request_head(url, headers, body.len());
    if let Err(e) = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
    {
        return unreachable("sending the request", e);
    }
    read_status(&mut stream)
}

/// The request line and headers. Header names and values were checked at config load (no CR/LF).
fn request_head(url: &HttpUrl, headers: &[(String, String)], body_len: usize) -> String {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mutt/{}\r\nContent-Length: {body_len}\r\n\
         Connection: close\r\n",
        url.path,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Read until a final (non-1xx) status line; only that line is parsed.
fn read_status(stream: &mut impl Read) -> PostOutcome {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        match parse_status(&buf) {
            Some(Ok((status, reason, used))) => {
                if (100..200).contains(&status) {
                    // An interim answer (100 Continue, 103 Early Hints): the final one follows.
                    buf.drain(..used);
                    continue;
                }
                return PostOutcome::Answered { status, reason };
            }
            Some(Err(m)) => {
                return PostOutcome::Answered {
                    status: 0,
                    reason: m,
                }
            }
            None => {}
        }
        if buf.len() > 16 * 1024 {
            return PostOutcome::Answered {
                status: 0,
                reason: "answer headers longer than 16 KiB".into(),
            };
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return PostOutcome::Unreachable(
                    "the connection closed before an HTTP status line".into(),
                )
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return PostOutcome::Unreachable(format!("waiting for the answer: {e}")),
        }
    }
}

/// `HTTP/1.1 200 OK` up to the end of its header block: (status, reason, bytes used), None when
/// more bytes are needed, or why it is not HTTP.
fn parse_status(buf: &[u8]) -> Option<Result<(u16, String, usize), String>> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("").trim().to_string();
    if !version.starts_with("HTTP/1.") {
        let shown: String = line.chars().take(60).collect();
        return Some(Err(format!("not an HTTP answer: {shown:?}")));
    }
    let Ok(status) = code.parse::<u16>() else {
        return Some(Err(format!("bad status code {code:?}")));
    };
    // The whole header block must be in to skip past an interim answer.
    let used = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buf.len(), |p| p + 4);
    Some(Ok((status, reason, used)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_parse_with_default_port_path_and_ipv6() {
        let u = HttpUrl::parse("http://alerts.example.net/hook?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("alerts.example.net", 80, "/hook?x=1")
        );
        let u = HttpUrl::parse("HTTP://[::1]:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        let u = HttpUrl::parse("http://10.0.0.1:9000?a=b").unwrap();
        assert_eq!(u.path, "/?a=b");
    }

    #[test]
    fn bad_urls_say_what_to_write_instead() {
        let e = HttpUrl::parse("https://x/").unwrap_err();
        assert!(e.contains("https is not supported"), "{e}");
        assert!(HttpUrl::parse("ftp://x/").unwrap_err().contains("scheme"));
        assert!(HttpUrl::parse("x.example/hook")
            .unwrap_err()
            .contains("not a URL"));
        assert!(HttpUrl::parse("http://u:p@x/")
            .unwrap_err()
            .contains("Authorization"));
        assert!(HttpUrl::parse("http://x:0/").unwrap_err().contains("port"));
        assert!(HttpUrl::parse("http://x:99999/")
            .unwrap_err()
            .contains("port"));
        assert!(HttpUrl::parse("http:///path").unwrap_err().contains("host"));
        assert!(HttpUrl::parse("http://a b/")
            .unwrap_err()
            .contains("spaces"));
    }

    #[test]
    fn interim_answers_are_skipped_and_garbage_is_not_a_success() {
        let mut r: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(
            read_status(&mut r),
            PostOutcome::Answered {
                status: 204,
                reason: "No Content".into()
            }
        );
        let mut r: &[u8] = b"SSH-2.0-OpenSSH\r\n";
        assert!(matches!(
            read_status(&mut r),
            PostOutcome::Answered { status: 0, .. }
        ));
        let mut r: &[u8] = b"HTTP/1.1 20";
        assert!(matches!(read_status(&mut r), PostOutcome::Unreachable(_)));
    }

    #[test]
    fn a_post_carries_length_type_and_configured_headers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while !got.ends_with(b"{\"a\":1}") {
                let n = s.read(&mut chunk).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            s.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/in")).unwrap();
        let headers = vec![("X-Token".to_string(), "t0k".to_string())];
        let out = post(&url, &headers, b"{\"a\":1}", Duration::from_secs(5));
        assert_eq!(
            out,
            PostOutcome::Answered {
                status: 201,
                reason: "Created".into()
            }
        );
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /in HTTP/1.1\r\n"), "{req}");
        for h in [
            &format!("Host: 127.0.0.1:{port}\r\n"),
            "Content-Length: 7\r\n",
            "Content-Type: application/json\r\n",
            "X-Token: t0k\r\n",
        ] {
            assert!(req.contains(h), "{h:?} missing from {req}");
        }
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let out = post(&url, &[], b"{}", Duration::from_secs(2));
        assert!(matches!(out, PostOutcome::Unreachable(_)), "{out:?}");
    }
}
