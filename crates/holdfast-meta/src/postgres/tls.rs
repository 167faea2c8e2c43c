//! TLS to PostgreSQL (issue #15), with libpq's `sslmode` meanings:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (the default) | when the server offers it | no |
//! | `require` | always | no; with a CA (`sslrootcert` or `[meta] ca_file`): as `verify-ca` |
//! | `verify-ca` | always | chain up to the CA, any host name |
//! | `verify-full` | always | chain up to the CA and the host name |
//!
//! tokio-postgres knows `disable`, `prefer` and `require` and neither `verify-*` nor
//! `sslrootcert`; [`split_url`] takes them out of a URL-form connection string and hands
//! tokio-postgres `sslmode=require` in their place. The CA is a PEM file (several
//! certificates allowed). `require` with a CA checks the chain, as libpq's does when it
//! finds a root certificate file.

use crate::{MetaError, MetaResult};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How the server's certificate is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encryption only (`prefer`, `require` without a CA).
    Nothing,
    /// Chain up to the CA (`verify-ca`, `require` with a CA).
    Chain,
    /// Chain and host name (`verify-full`).
    Full,
}

/// What the connection string asked for beyond what tokio-postgres reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsChoice {
    pub verify: Verify,
    pub ca: Option<PathBuf>,
}

/// Splits `sslmode=verify-ca|verify-full` and `sslrootcert=` off a `postgres://` URL; the URL
/// returned is what tokio-postgres parses. `ca_file` (`[meta] ca_file`) is used when the URL
/// names no `sslrootcert`.
pub fn split_url(url: &str, ca_file: Option<&Path>) -> MetaResult<(String, TlsChoice)> {
    let mut mode = None;
    let mut ca = None;
    let rewritten = match url.split_once('?') {
        Some((base, query)) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match k {
                    "sslrootcert" => ca = Some(PathBuf::from(percent_decode(v))),
                    "sslmode" => {
                        mode = Some(v.to_owned());
                        let native = if v.starts_with("verify-") { "require" } else { v };
                        kept.push(format!("sslmode={native}"));
                    }
                    _ => kept.push(pair.to_owned()),
                }
            }
            if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
        }
        _ => url.to_owned(),
    };
    let ca = ca.or_else(|| ca_file.map(Path::to_path_buf));
    let verify = match (mode.as_deref(), &ca) {
        (Some("verify-full"), Some(_)) => Verify::Full,
        (Some("verify-ca"), Some(_)) => Verify::Chain,
        (Some(m @ ("verify-full" | "verify-ca")), None) => {
            return Err(MetaError::Internal(format!(
                "sslmode={m} needs the CA that signed the database's certificate: sslrootcert=<PEM file> in the URL or [meta] ca_file"
            )));
        }
        (Some("require"), Some(_)) => Verify::Chain,
        _ => Verify::Nothing,
    };
    Ok((rewritten, TlsChoice { verify, ca }))
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    // rustls 0.23.48 marks ring's provider deprecated for its lack of post-quantum key
    // exchange; aws-lc-rs, which has it, needs cmake to build.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls connector for the pool (used only when the server agrees to TLS, or required).
pub fn connector(choice: &TlsChoice) -> MetaResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| MetaError::Internal(format!("TLS to PostgreSQL: {e}")))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (&choice.ca, choice.verify) {
        (_, Verify::Nothing) | (None, _) => Arc::new(EncryptOnly(provider)),
        (Some(ca), verify) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca)?), provider)
                .build()
                .map_err(|e| MetaError::Internal(format!("TLS to PostgreSQL: {e}")))?;
            match verify {
                Verify::Chain => Arc::new(AnyName(webpki)),
                _ => webpki,
            }
        }
    };
    let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn roots(ca: &Path) -> MetaResult<RootCertStore> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .and_then(Iterator::collect)
        .map_err(|e| MetaError::Internal(format!("cannot read the PostgreSQL CA {}: {e}", ca.display())))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(MetaError::Internal(format!(
            "the PostgreSQL CA file {} holds no usable certificate",
            ca.display()
        )));
    }
    Ok(store)
}

/// `prefer` / `require` without a CA: encrypted, the certificate not judged (libpq's meaning).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to the CA; the name in the certificate is not compared.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_taken_out_of_the_url() {
        let ca = Some(Path::new("/etc/ca.pem"));
        let (url, c) = split_url("postgres://u:p@h:5432/db", None).unwrap();
        assert_eq!((url.as_str(), c.verify), ("postgres://u:p@h:5432/db", Verify::Nothing));
        let (url, c) = split_url("postgres://h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem", None).unwrap();
        assert_eq!(url, "postgres://h/db?sslmode=require");
        assert_eq!(c, TlsChoice { verify: Verify::Full, ca: Some(PathBuf::from("/tmp/ca.pem")) });
        let (url, c) = split_url("postgres://h/db?application_name=x&sslmode=verify-ca", ca).unwrap();
        assert_eq!(url, "postgres://h/db?application_name=x&sslmode=require");
        assert_eq!(c.verify, Verify::Chain);
        assert_eq!(split_url("postgres://h/db?sslmode=require", ca).unwrap().1.verify, Verify::Chain);
        assert_eq!(split_url("postgres://h/db?sslmode=require", None).unwrap().1.verify, Verify::Nothing);
        assert_eq!(split_url("postgres://h/db?sslmode=disable", ca).unwrap().1.verify, Verify::Nothing);
        let err = split_url("postgres://h/db?sslmode=verify-full", None).unwrap_err();
        assert!(err.to_string().contains("sslrootcert"), "{err}");
        let (url, _) = split_url("host=h sslmode=require", None).unwrap();
        assert_eq!(url, "host=h sslmode=require", "the key=value form goes to tokio-postgres as it is");
    }
}
