//! Running the server: both listeners, the feed, audit anchoring and the watch on revoked
//! credentials, until SIGTERM or SIGINT.

use std::sync::Arc;

use crate::Result;
use crate::ServeConfig;
use crate::admin::admin;
use crate::connections::Incoming;
use crate::server::{App, api};
use crate::submissions::Intake;
use crate::tls::TlsListener;

/// Binds the API and admin listeners, reports their addresses through `bound`, and serves
/// until SIGTERM or SIGINT, finishing the requests in flight. Beside the listeners it follows
/// the feed of releases and delivers webhooks.
pub fn run(
    config: ServeConfig,
    intake: Option<Intake>,
    listen: std::net::SocketAddr,
    admin_listen: std::net::SocketAddr,
    bound: impl FnOnce(std::net::SocketAddr, std::net::SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = App::open(config, intake).await?;
        // Cursors the feed handed out before a restart are valid from the first request on.
        if let Err(e) = app.feed.refresh(app.store.as_ref()).await {
            tracing::warn!(error = %e, "the feed cannot be read yet");
        }
        let api_listener = tokio::net::TcpListener::bind(listen).await?;
        let admin_listener = tokio::net::TcpListener::bind(admin_listen).await?;
        let api_address = api_listener.local_addr()?;
        let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
        let stopped = |stop: &tokio::sync::broadcast::Sender<()>| {
            let mut receiver = stop.subscribe();
            async move {
                let _ = receiver.recv().await;
            }
        };
        let limits = app.config.connections;
        let slots = || Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
        let api_slots = slots();
        // Unusable TLS files stop the start, before anyone is told the server listens.
        let api_incoming = match app.config.tls.clone() {
            None => Incoming::Plain(api_listener),
            Some(tls) => Incoming::Tls(TlsListener::new(
                api_listener,
                tls,
                Arc::clone(&app.metrics.failed_handshakes),
                Arc::clone(&api_slots),
            )?),
        };
        let api_server = crate::connections::serve(
            api_incoming,
            api(Arc::clone(&app)),
            limits,
            api_slots,
            stopped(&stop),
        );
        bound(api_address, admin_listener.local_addr()?);
        let feed = tokio::spawn(crate::feed::follow(Arc::clone(&app), stopped(&stop)));
        let anchor = tokio::spawn(anchor_audit_log(Arc::clone(&app)));
        let credentials = tokio::spawn(poll_credentials_revision(Arc::clone(&app)));
        crate::webhooks::start_deliveries(&app);
        let admin_server = crate::connections::serve(
            Incoming::Plain(admin_listener),
            admin(Arc::clone(&app)),
            limits,
            slots(),
            stopped(&stop),
        );
        let signal = async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing the requests in flight");
            let _ = stop.send(());
        };
        tokio::join!(api_server, admin_server, signal);
        feed.abort();
        anchor.abort();
        credentials.abort();
        // What was recorded since the last checkpoint is anchored before the process ends.
        if let Err(e) = app.audit.checkpoint() {
            tracing::error!(error = %e, "the audit log's last records could not be anchored");
        }
        Ok(())
    })
}

/// Anchors the audit log's head now and then, so records written since the last periodic
/// checkpoint are anchored even when few follow.
async fn anchor_audit_log(app: Arc<App>) {
    let mut every = tokio::time::interval(app.config.audit_checkpoint_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let writer = Arc::clone(&app);
        match tokio::task::spawn_blocking(move || writer.audit.checkpoint()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the audit log could not be anchored; trying again")
            }
            Err(e) => tracing::error!(error = %e, "anchoring the audit log panicked"),
        }
    }
}

/// Polls the state database's credentials revision: a change made by `spiegel tokens revoke`,
/// `spiegel certs remove` or another replica wakes whatever holds a credential and disables the
/// webhooks of revoked tokens. Every change, and every failed poll, also makes the in-memory
/// credentials stale, whatever their own change signal saw.
async fn poll_credentials_revision(app: Arc<App>) {
    let mut seen = None;
    let mut every = tokio::time::interval(app.config.credentials_poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match app.state.credentials_revision().await {
            Ok(now) if seen != Some(now) => {
                app.credentials.invalidate();
                if seen.is_some() {
                    app.credentials_changed
                        .send_modify(|generation| *generation += 1);
                }
                seen = Some(now);
            }
            Ok(_) => {}
            Err(e) => {
                app.credentials.invalidate();
                tracing::warn!(error = %e, "the credentials revision cannot be read");
            }
        }
        // Every time, not only on a change: a disabling that could not be recorded is
        // tried again.
        crate::webhooks::disable_revoked(&app).await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
