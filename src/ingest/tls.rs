//! Syslog over TLS (RFC 5425): the server's rustls configuration, loaded from PEM files, and the
//! non-blocking stream that decrypts one connection for the TCP connection code.
//!
//! RFC 5425 frames messages by octet counting (`MSG-LEN SP SYSLOG-MSG`, section 4.3); the
//! framer after this stream also accepts LF-terminated frames, detected per frame, as on TCP.
//!
//! Memory per connection is bounded: rustls reassembles at most one TLS record (about 18 KiB) or
//! one handshake message (at most 64 KiB), keeps decrypted bytes up to its own 16 KiB limit (and
//! one record: we read them out before more is decrypted), and queues at most
//! [`PLAINTEXT_LIMIT`] to send; the connection's frame buffer is bounded as for plain TCP. A connection is read only as fast as the
//! WAL takes its frames, so a fast sender is held back by TCP, not by memory.
//!
//! Handshakes run on the ingest thread, bounded: a connection gets at most one handshake step
//! (one `read_tls` and the `process_new_packets` that answers it, so at most one flight of the
//! client's) per turn of the ingest loop, and the loop caps the handshaking connections it serves
//! per turn (`HANDSHAKES_PER_TURN` in connections.rs). The costly step, the server's signature or
//! the check of a client certificate, is about a millisecond, so a turn stays short and the UDP
//! sockets are read between turns. Moving handshakes to a thread of their own would cost a
//! hand-over of every connection (socket and rustls state) between threads and a second owner of
//! the connection cap, for work that is small per turn once bounded.

use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

/// Bytes rustls may queue to send (handshake messages, alerts). Decrypted bytes are capped by
/// rustls itself (16 KiB): `set_buffer_limit` does not apply to them.
const PLAINTEXT_LIMIT: usize = 64 * 1024;

/// A bound TLS listener and the configuration every connection on it uses.
pub struct TlsListener {
    pub listener: TcpListener,
    pub config: Arc<ServerConfig>,
}

/// Which configured file a [`TlsError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    Cert,
    Key,
    ClientCa,
}

impl TlsFile {
    /// The config key naming the file.
    pub fn key(self) -> &'static str {
        match self {
            TlsFile::Cert => "cert_file",
            TlsFile::Key => "key_file",
            TlsFile::ClientCa => "client_ca_file",
        }
    }
}

/// Certificates or keys that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {error}", path.display())]
    Read {
        file: TlsFile,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{} holds no PEM {what}", path.display())]
    Empty {
        file: TlsFile,
        path: PathBuf,
        what: &'static str,
    },
    #[error("{} is not usable: {error}", path.display())]
    Invalid {
        file: TlsFile,
        path: PathBuf,
        error: String,
    },
}

impl TlsError {
    pub fn file(&self) -> TlsFile {
        match self {
            TlsError::Read { file, .. }
            | TlsError::Empty { file, .. }
            | TlsError::Invalid { file, .. } => *file,
        }
    }
}

/// Build the server configuration: the certificate chain and key, and, when `client_ca` is given,
/// mandatory client certificates verified against it (mutual TLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = read_certs(TlsFile::Cert, cert)?;
    let key_der = read_key(key)?;
    let invalid = |file: TlsFile, path: &Path| {
        let path = path.to_path_buf();
        move |e: rustls::Error| TlsError::Invalid {
            file,
            path,
            error: e.to_string(),
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(invalid(TlsFile::Cert, cert))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in read_certs(TlsFile::ClientCa, ca)? {
                roots.add(c).map_err(invalid(TlsFile::ClientCa, ca))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Invalid {
                    file: TlsFile::ClientCa,
                    path: ca.to_path_buf(),
                    error: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    // A key that does not match the certificate is reported here, against the key file.
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(invalid(TlsFile::Key, key))?;
    Ok(Arc::new(config))
}

fn read_certs(file: TlsFile, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(file, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            file,
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            file,
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(TlsFile::Key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            file: TlsFile::Key,
            path: path.to_path_buf(),
            what: "private key",
        },
        other => TlsError::Invalid {
            file: TlsFile::Key,
            path: path.to_path_buf(),
            error: other.to_string(),
        },
    })
}

fn read(file: TlsFile, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        file,
        path: path.to_path_buf(),
        error,
    })
}

/// One accepted TLS connection: the socket and rustls' state. Reading it yields plaintext; the
/// handshake, alerts and session tickets are written as a side effect of reading.
pub struct TlsStream {
    pub sock: TcpStream,
    tls: ServerConnection,
    /// Why the TLS layer failed, once it has.
    failure: Option<rustls::Error>,
    /// A handshake step was taken in this turn ([`TlsStream::begin_turn`]).
    stepped: bool,
}

impl TlsStream {
    pub fn new(sock: TcpStream, config: Arc<ServerConfig>) -> Result<TlsStream, rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        tls.set_buffer_limit(Some(PLAINTEXT_LIMIT));
        Ok(TlsStream {
            sock,
            tls,
            failure: None,
            stepped: false,
        })
    }

    /// A new turn of the ingest loop: one more handshake step may be taken.
    pub fn begin_turn(&mut self) {
        self.stepped = false;
    }

    /// This turn's handshake step was taken and the handshake is not over: reading stopped
    /// early, not because the socket is empty.
    pub fn turn_spent(&self) -> bool {
        self.stepped && self.tls.is_handshaking()
    }

    /// The handshake has not completed (yet, or ever).
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// The TLS error that ended the connection, if one did.
    pub fn failure(&self) -> Option<&rustls::Error> {
        self.failure.as_ref()
    }

    /// Send what rustls has queued (handshake messages, alerts) as far as the socket takes it;
    /// the rest goes on the next writable event.
    fn flush(&mut self) {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

impl Read for TlsStream {
    /// Plaintext, `Ok(0)` at the end of the stream, `WouldBlock` when the socket has nothing more,
    /// `InvalidData` when the peer broke the TLS protocol (the handshake failed, for one).
    /// While handshaking, at most one step per turn: then `WouldBlock` with
    /// [`TlsStream::turn_spent`] set.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                // Ok(0): the peer sent close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.flush();
            if self.turn_spent() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    self.stepped |= self.tls.is_handshaking();
                    if let Err(e) = self.tls.process_new_packets() {
                        self.failure = Some(e.clone());
                        // Tell the peer why (the alert rustls queued), then give up.
                        self.flush();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                }
                Err(e) => {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        self.flush();
                    }
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/tls")
            .join(name)
    }

    #[test]
    fn the_test_certificates_make_a_server_config_with_and_without_client_auth() {
        assert!(server_config(&data("server.pem"), &data("server.key"), None).is_ok());
        assert!(server_config(
            &data("server.pem"),
            &data("server.key"),
            Some(&data("ca.pem"))
        )
        .is_ok());
    }

    #[test]
    fn a_missing_key_file_is_reported_against_the_key() {
        let e = server_config(&data("server.pem"), &data("nope.key"), None).unwrap_err();
        assert_eq!(e.file(), TlsFile::Key);
        assert!(e.to_string().contains("nope.key"), "{e}");
    }

    #[test]
    fn a_key_given_as_the_certificate_holds_no_certificate() {
        let e = server_config(&data("server.key"), &data("server.key"), None).unwrap_err();
        assert!(
            matches!(
                e,
                TlsError::Empty {
                    file: TlsFile::Cert,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_certificate_given_as_the_key_holds_no_key() {
        let e = server_config(&data("server.pem"), &data("server.pem"), None).unwrap_err();
        assert!(
            matches!(
                e,
                TlsError::Empty {
                    file: TlsFile::Key,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_refused() {
        let e = server_config(&data("server.pem"), &data("client.key"), None).unwrap_err();
        assert_eq!(e.file(), TlsFile::Key, "{e}");
    }
}
