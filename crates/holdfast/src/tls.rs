//! HTTPS (issue #15): rustls with the ring provider, TLS 1.2 and 1.3 only, a certificate
//! chain and key read from PEM files and reloaded without a restart (on SIGHUP, and when
//! either file changes, checked every `reload_secs`). A reload that fails (unreadable file,
//! key that does not match the certificate, a half-written renewal) keeps the certificate
//! in use and says why in the log; the next change of either file is tried again.

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// `[tls]` as the server uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// How often the two files are checked for a change.
    pub reload_every: Duration,
}

fn provider() -> Arc<CryptoProvider> {
    // rustls 0.23.48 marks ring's provider deprecated for its lack of post-quantum key
    // exchange; aws-lc-rs, which has it, needs cmake to build. X25519 and the NIST curves remain.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks a certificate chain and its key.
pub fn load_certified_key(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("the TLS certificate {} is not valid PEM", cert.display()))?;
    if chain.is_empty() {
        bail!("the TLS certificate file {} holds no CERTIFICATE block", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            anyhow::anyhow!("the TLS key file {} holds no PRIVATE KEY block", key.display())
        }
        e => anyhow::anyhow!("cannot read the TLS key {}: {e}", key.display()),
    })?;
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .with_context(|| format!("the TLS key {} is not a usable private key", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!("the TLS key {} does not belong to the certificate {}", key.display(), cert.display())
    })?;
    Ok(certified)
}

/// Hands every handshake the certificate loaded last.
#[derive(Debug)]
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner)))
    }
}

impl Certificates {
    fn replace(&self, key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
    }
}

/// The server side of HTTPS: the acceptor and what reloads its certificate.
pub struct Tls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    certificates: Arc<Certificates>,
    settings: TlsSettings,
}

impl Tls {
    /// Loads the certificate (a bad one fails the start).
    pub fn new(settings: &TlsSettings) -> anyhow::Result<Self> {
        let key = load_certified_key(&settings.cert, &settings.key)?;
        let certificates = Arc::new(Certificates { current: RwLock::new(Arc::new(key)) });
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .context("TLS 1.2 and 1.3 with the ring provider")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificates) as Arc<dyn ResolvesServerCert>);
        // S3 clients speak HTTP/1.1; hyper's auto builder still serves HTTP/2 with prior knowledge.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificates,
            settings: settings.clone(),
        })
    }

    /// Reloads now; the certificate in use stays when the files do not make a good pair.
    pub fn reload(&self, why: &str) -> bool {
        match load_certified_key(&self.settings.cert, &self.settings.key) {
            Ok(key) => {
                self.certificates.replace(key);
                tracing::info!(why, cert = %self.settings.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                tracing::error!(why, error = format!("{e:#}"), "TLS certificate not reloaded: the one in use stays");
                false
            }
        }
    }

    /// Reloads on SIGHUP and whenever the certificate or key file changes.
    pub fn spawn_reload(self: &Arc<Self>) -> anyhow::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut seen = this.fingerprint();
            let mut tick = tokio::time::interval(this.settings.reload_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        seen = this.fingerprint();
                        this.reload("SIGHUP");
                    }
                    _ = tick.tick() => {
                        let now = this.fingerprint();
                        if now != seen {
                            seen = now;
                            this.reload("file changed");
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// What tells a renewed file from the old one: inode, length and modification time of both.
    fn fingerprint(&self) -> [Option<(u64, u64, i64, i64)>; 2] {
        use std::os::unix::fs::MetadataExt as _;
        let of = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()));
        [of(&self.settings.cert), of(&self.settings.key)]
    }
}

/// What the first bytes of a connection to the HTTPS port say.
pub enum FirstBytes {
    /// A TLS handshake record (content type 22).
    Tls,
    /// Anything else: most likely plain HTTP sent to the HTTPS port.
    Plain,
    /// The peer closed before sending anything.
    Closed,
}

/// Peeks at the first byte without consuming it.
pub async fn first_bytes(stream: &tokio::net::TcpStream) -> FirstBytes {
    let mut b = [0u8; 1];
    match stream.peek(&mut b).await {
        Ok(0) | Err(_) => FirstBytes::Closed,
        Ok(_) if b[0] == 0x16 => FirstBytes::Tls,
        Ok(_) => FirstBytes::Plain,
    }
}

/// The answer to plain HTTP on the HTTPS port: a 400 that says what to do, then close.
pub const PLAIN_HTTP_REFUSAL: &[u8] = b"HTTP/1.1 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Connection: close\r\n\
Content-Length: 60\r\n\
\r\n\
This port speaks HTTPS only: use https:// (TLS 1.2 or 1.3).\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_declares_its_length() {
        let text = std::str::from_utf8(PLAIN_HTTP_REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head:?} / {}", body.len());
    }
}
