//! Connecting to PostgreSQL: the settings the daemon hands the store, TLS as libpq's `sslmode`
//! says, and a name for the server that never includes the password.

use std::sync::Arc;

use postgres::Client;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::PgError;

/// TLS toward the server, as libpq's `sslmode`.
#[derive(Debug, Clone)]
pub enum PgTls {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, unverified (libpq `prefer`).
    Prefer,
    /// TLS or no connection, unverified (libpq `require`).
    Require,
    /// TLS, the certificate checked against these CAs and the host name (libpq `verify-full`).
    VerifyFull(Vec<CertificateDer<'static>>),
}

/// Everything the PostgreSQL sink needs: where, as whom (the password is in `config`), how, and
/// this collector's name.
#[derive(Clone)]
pub struct PgSettings {
    pub config: postgres::Config,
    pub tls: PgTls,
    pub collector_id: String,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgSettings({}, {})", self.target(), self.collector_id)
    }
}

impl PgSettings {
    /// `user@host:port/dbname`, for messages: never the password.
    pub fn target(&self) -> String {
        let c = &self.config;
        let host = match c.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{host}:{port}/{}",
            c.get_user().unwrap_or(""),
            c.get_dbname().unwrap_or("")
        )
    }

    /// Open one connection.
    pub fn connect(&self) -> Result<Client, PgError> {
        let err = |source| PgError::Db {
            target: self.target(),
            source,
        };
        let mut config = self.config.clone();
        let mode = match self.tls {
            PgTls::Disable => postgres::config::SslMode::Disable,
            PgTls::Prefer => postgres::config::SslMode::Prefer,
            PgTls::Require | PgTls::VerifyFull(_) => postgres::config::SslMode::Require,
        };
        config.ssl_mode(mode);
        if matches!(self.tls, PgTls::Disable) {
            return config.connect(postgres::NoTls).map_err(err);
        }
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.client_config()?);
        config.connect(tls).map_err(err)
    }

    fn client_config(&self) -> Result<rustls::ClientConfig, PgError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls_err = |e: rustls::Error| PgError::Tls {
            target: self.target(),
            message: e.to_string(),
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        Ok(match &self.tls {
            PgTls::VerifyFull(cas) => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in cas {
                    roots.add(ca.clone()).map_err(tls_err)?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
                .with_no_client_auth(),
        })
    }
}

/// `prefer` and `require` as libpq means them: encrypted, the certificate not checked (that is
/// `verify-full`). Signatures are still checked, so the session is with whoever holds the key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
