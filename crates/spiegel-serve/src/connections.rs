//! The connection loop of the API and admin listeners: HTTP/1.1 served by hyper with a
//! deadline on every request head (which also bounds an idle kept-alive connection, since
//! hyper starts the same timer while it waits for the next request), a deadline between two
//! pieces of a request body, and at most so many connections at once. axum's own `serve`
//! has none of these, so a client that opens connections and sends half a request line could
//! hold every file descriptor of the process.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use hyper::body::Body as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

use crate::tls::{Peer, TlsListener};

/// How long a client may take, and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head (request line and headers) not complete by then closes the connection;
    /// the same deadline closes a kept-alive connection on which no next request begins.
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long is cut off (the upload answers 400).
    /// The whole body may take longer: a large submission over a slow line keeps going as
    /// long as it keeps arriving.
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait in the kernel's accept queue until one
    /// closes, so they cost no file descriptor of the server.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// A byte stream of one connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where connections come from.
pub(crate) enum Incoming {
    Plain(TcpListener),
    /// Connections whose handshake finished; the listener takes a connection slot before it
    /// accepts, so handshakes in progress count too.
    Tls(TlsListener),
}

impl Incoming {
    /// The next connection, with the slot it holds while it is open.
    async fn accept(
        &mut self,
        slots: &Arc<Semaphore>,
    ) -> Option<(Box<dyn Io>, Peer, OwnedSemaphorePermit)> {
        match self {
            Self::Plain(listener) => {
                let permit = Arc::clone(slots).acquire_owned().await.ok()?;
                loop {
                    match listener.accept().await {
                        Ok((tcp, _)) => {
                            return Some((Box::new(tcp), Peer { certificate: None }, permit));
                        }
                        Err(e) => {
                            // Out of file descriptors and the like: back off instead of
                            // spinning.
                            tracing::error!(error = %e, "accepting a connection failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            }
            Self::Tls(listener) => {
                let (stream, peer, permit) = listener.next().await?;
                Some((Box::new(stream), peer, permit))
            }
        }
    }
}

/// The body was silent for longer than the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
struct BodyTimeout(Duration);

/// `body`, failing once no piece of it arrives within `limit` of asking for the next one.
fn timed(body: Body, limit: Duration) -> Body {
    let pieces = body.into_data_stream();
    Body::from_stream(futures_util::stream::unfold(
        Some(pieces),
        move |pieces| async move {
            let mut pieces = pieces?;
            match tokio::time::timeout(limit, pieces.next()).await {
                Ok(Some(piece)) => Some((piece, Some(pieces))),
                Ok(None) => None,
                Err(_) => Some((Err(axum::Error::new(BodyTimeout(limit))), None)),
            }
        },
    ))
}

/// Serves `router` on the connections of `incoming` until `stop` completes, then lets the
/// requests in flight finish and returns when every connection has closed.
pub(crate) async fn serve(
    mut incoming: Incoming,
    router: Router,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    stop: impl Future<Output = ()>,
) {
    let (shutdown, shutting_down) = watch::channel(false);
    let (open, open_connections) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = incoming.accept(&slots) => accepted,
            () = &mut stop => break,
        };
        let Some((io, peer, permit)) = accepted else {
            break;
        };
        let router = router.clone();
        let mut shutting_down = shutting_down.clone();
        let open_connection = open_connections.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer.clone()));
                    let request = if request.body().is_end_stream() {
                        request.map(Body::new)
                    } else {
                        request.map(|body| timed(Body::new(body), limits.body_read_timeout))
                    };
                    router.clone().oneshot(request)
                },
            );
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            // The guard `wait_for` answers with is dropped at once: it may not be held across
            // an await of this (sendable) task.
            let stopping = async move {
                let _ = shutting_down.wait_for(|stopping| *stopping).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopping => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = result {
                // Header timeouts, resets and malformed requests: the client's business.
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
            drop(open_connection);
        });
    }
    drop(open_connections);
    let _ = shutdown.send(true);
    open.closed().await;
}
