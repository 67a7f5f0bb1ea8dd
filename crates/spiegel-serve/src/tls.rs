//! TLS on the API listener (rustls, docs/serving.md): the server's certificate chain and key and,
//! optionally, the client CAs whose certificates authenticate callers. A client certificate
//! is asked for, never required, so bearer tokens keep working on the same listener.
//!
//! Handshakes run on tasks of their own with a deadline, so a client that stalls its
//! handshake holds up nobody else. The certificate, key and client CA files are read again
//! when they change (a renewed certificate from cert-manager, a new client CA), from the next
//! connection on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::certificates::CertificateSubject;
use crate::{Result, ServeError};

/// A handshake not finished by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPTED_BACKLOG: usize = 64;

/// Where the API listener's TLS material is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file: the server's certificate, then its intermediates.
    pub certificate_chain: PathBuf,
    /// PEM file: the server's private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// PEM file of the CA certificates that issue client certificates; without it no client
    /// certificate is asked for and only bearer tokens authenticate.
    pub client_ca: Option<PathBuf>,
}

impl TlsConfig {
    fn files(&self) -> Vec<&PathBuf> {
        let mut files = vec![&self.certificate_chain, &self.private_key];
        files.extend(&self.client_ca);
        files
    }

    /// Reads the files as the server will, so a command can refuse a missing or unusable file
    /// before it sets anything up; errors name the file, never its content.
    pub fn check(&self) -> Result<()> {
        self.server_config().map(|_| ())
    }

    /// Reads the files into a rustls configuration; errors name the file and what is wrong
    /// with it, never its content.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let invalid =
            |path: &PathBuf, what: String| ServeError::Tls(format!("{}: {what}", path.display()));
        let chain = CertificateDer::pem_file_iter(&self.certificate_chain)
            .and_then(|certificates| certificates.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|e| invalid(&self.certificate_chain, e.to_string()))?;
        if chain.is_empty() {
            return Err(invalid(
                &self.certificate_chain,
                "no CERTIFICATE block".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_file(&self.private_key)
            .map_err(|e| invalid(&self.private_key, e.to_string()))?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for certificate in
                    CertificateDer::pem_file_iter(path).map_err(|e| invalid(path, e.to_string()))?
                {
                    let certificate = certificate.map_err(|e| invalid(path, e.to_string()))?;
                    roots
                        .add(certificate)
                        .map_err(|e| invalid(path, e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| invalid(path, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(&self.private_key, e.to_string()))?;
        // The API speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// What an API connection proves about its caller: the subject of the client certificate it
/// presented and a configured client CA verified, if any.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) certificate: Option<Arc<CertificateSubject>>,
}

/// A listener that hands the server connections whose TLS handshake has finished.
#[derive(Debug)]
pub(crate) struct TlsListener {
    connections: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, Peer, OwnedSemaphorePermit)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `listener`, each connection once it holds one of `slots` (so a
    /// flood of stalled handshakes is bounded like any other connections); `failed_handshakes`
    /// counts the handshakes that failed or timed out.
    pub(crate) fn new(
        listener: TcpListener,
        config: TlsConfig,
        failed_handshakes: Arc<AtomicU64>,
        slots: Arc<Semaphore>,
    ) -> Result<Self> {
        let mut current = Current::load(config)?;
        let (sender, connections) = tokio::sync::mpsc::channel(ACCEPTED_BACKLOG);
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (tcp, address) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let acceptor = TlsAcceptor::from(current.server_config());
                let sender = sender.clone();
                let failed_handshakes = Arc::clone(&failed_handshakes);
                tokio::spawn(async move {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(e)) => {
                                failed_handshakes.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(error = %e, %address, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                failed_handshakes.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%address, "TLS handshake timed out");
                                return;
                            }
                        };
                    let certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|der| CertificateSubject::of_certificate(der).ok())
                        .map(Arc::new);
                    // A closed receiver means the server stopped; the connection just ends.
                    let _ = sender.send((stream, Peer { certificate }, permit)).await;
                });
            }
        });
        Ok(Self {
            connections,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl TlsListener {
    /// The next handshaken connection; None once the accept loop has ended.
    pub(crate) async fn next(
        &mut self,
    ) -> Option<(TlsStream<TcpStream>, Peer, OwnedSemaphorePermit)> {
        self.connections.recv().await
    }
}

/// The rustls configuration in use and the versions of the files it was read from.
struct Current {
    config: TlsConfig,
    stamps: Vec<Option<FileStamp>>,
    server: Arc<ServerConfig>,
}

impl Current {
    fn load(config: TlsConfig) -> Result<Self> {
        let stamps = config.files().into_iter().map(|f| file_stamp(f)).collect();
        let server = config.server_config()?;
        Ok(Self {
            config,
            stamps,
            server,
        })
    }

    /// The configuration for the next handshake: read again when a file changed, the last
    /// good one kept (and the problem logged) when the changed files do not make a valid one,
    /// for example halfway through a renewal that replaces the chain and the key one by one.
    fn server_config(&mut self) -> Arc<ServerConfig> {
        let stamps: Vec<_> = self
            .config
            .files()
            .into_iter()
            .map(|f| file_stamp(f))
            .collect();
        if stamps != self.stamps {
            // Read once per change, not on every connection while the files stay broken.
            self.stamps = stamps;
            match self.config.server_config() {
                Ok(server) => {
                    tracing::info!("TLS certificate, key or client CA changed; using the new ones");
                    self.server = server;
                }
                Err(e) => {
                    tracing::error!(error = %e, "the changed TLS files are not usable; keeping the previous ones");
                }
            }
        }
        Arc::clone(&self.server)
    }
}

/// What identifies one version of a file: a change (in place or by rename) changes it.
type FileStamp = (Option<std::time::SystemTime>, u64, u64);

/// The stamp of the file at `path` (following symbolic links, as mounted Kubernetes secrets
/// are), or None when there is none.
fn file_stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.modified().ok(), metadata.len(), inode))
}
