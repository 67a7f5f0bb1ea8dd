//! Webhooks (docs/serving.md): a provider or municipality registers a URL and receives every feed
//! entry it may see, POSTed as JSON and signed, at least once, in feed order.
//!
//! Each request carries `Spiegel-Delivery: <subscription>.<cursor>` (also the body's `id`: the
//! same entry always has the same id, so a subscriber deduplicates by it) and
//! `Spiegel-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is HMAC-SHA256 with the
//! subscription's secret (the string shown once at registration, as UTF-8 bytes) over
//! `<t>.<raw body>`. A subscriber verifies it as follows: recompute the HMAC over the timestamp
//! from the header, a dot and the body exactly as received; compare it with `v1` in constant
//! time; refuse a timestamp more than five minutes from its own clock (a replay); and ignore an
//! id it has already processed.
//!
//! A subscriber that does not answer 2xx is retried with exponential back-off and full jitter
//! (from `first_retry`, doubling up to `max_backoff`) for `retry_for` (48 hours by default);
//! only then is that entry given up (counted, logged; the feed still has it). Every
//! subscription is delivered by a task of its own, away from the pipeline, so a dead
//! subscriber slows nobody.

mod addresses;
mod routes;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::header;

use self::addresses::{PublicAddressesOnly, is_public, resolves_publicly};
pub(crate) use self::routes::{create, list, remove};
use crate::feed::entry_for;
use crate::server::App;
use crate::{Action, Outcome, Principal, Result, ServeError};

/// The most subscriptions one principal may hold.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 10;

/// The registry file in the data directory (it holds the secrets: keep it private).
pub const WEBHOOKS_FILE: &str = "webhooks.json";

/// Which URLs a subscription may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookTargets {
    /// HTTPS to a public host (an IP literal in a private, loopback or link-local range is
    /// refused): production.
    Public,
    /// HTTP or HTTPS to this machine only (127.0.0.1, ::1, localhost): trials and tests.
    Loopback,
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Which URLs may be registered.
    pub targets: WebhookTargets,
    /// The first retry's delay (before jitter).
    pub first_retry: Duration,
    /// The longest delay between two attempts (before jitter).
    pub max_backoff: Duration,
    /// How long one entry is retried before it is given up.
    pub retry_for: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The HTTP(S) proxy deliveries go through, set by the operator for webhooks alone; None
    /// (the default) connects directly, whatever `HTTPS_PROXY` or `HTTP_PROXY` say: a proxy
    /// resolves the target itself, out of reach of the public-address check made when the
    /// connection is made.
    pub proxy: Option<String>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            targets: WebhookTargets::Public,
            first_retry: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            retry_for: Duration::from_secs(48 * 3600),
            timeout: Duration::from_secs(10),
            proxy: None,
        }
    }
}

/// The most characters of a webhook URL, as the OpenAPI document says.
pub(crate) const MAX_URL_LENGTH: usize = 2000;

/// One subscription as stored.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Subscription {
    id: String,
    principal: Principal,
    url: String,
    secret: String,
    created: String,
    /// The feed position delivered up to.
    delivered: u64,
    /// Since when the entry after `delivered` keeps failing, and why (no BSN, no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failing: Option<Failing>,
    /// The id of the bearer token it was registered with: revoking that token disables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// When and why it was disabled; a disabled subscription delivers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disabled: Option<Disabled>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Disabled {
    since: String,
    reason: String,
}

impl Subscription {
    /// Whether it may still deliver: not disabled, and its token (if it was registered with
    /// one) not revoked.
    async fn active(&self, app: &App) -> Result<bool> {
        if self.disabled.is_some() {
            return Ok(false);
        }
        let credential = crate::server::Credential {
            token: self.token.clone(),
            certificate: None,
        };
        app.still_valid(&credential, &self.principal).await
    }
}

/// The longest webhook URL (the OpenAPI document's `maxLength`).
pub(crate) const MAX_URL_CHARS: usize = 2000;

/// Disables, recording each first, the subscriptions whose token was revoked. One that cannot
/// be recorded stays enabled on disk, and is tried again; it delivers nothing meanwhile, since
/// every delivery checks its token first.
/// A subscription whose token cannot be looked up now is left as it is.
pub(crate) async fn disable_revoked(app: &App) {
    let enabled: Vec<Subscription> = match app.webhooks.subscriptions.lock() {
        Ok(subscriptions) => subscriptions
            .values()
            .filter(|s| s.disabled.is_none())
            .cloned()
            .collect(),
        Err(_) => return,
    };
    for subscription in enabled {
        if !matches!(subscription.active(app).await, Ok(false)) {
            continue;
        }
        let token = subscription.token.as_deref().unwrap_or_default();
        let recorded = app.audit.append(
            crate::Entry {
                actor: crate::Actor::System("serve"),
                on_behalf_of: Some(subscription.principal.clone()),
                action: Action::Subscription,
                object: format!(
                    "webhook.{} disabled: token {token} revoked",
                    subscription.id
                ),
                outcome: Outcome::Success,
            },
            &crate::now(),
        );
        if let Err(e) = recorded {
            tracing::error!(error = %e, "disabling a revoked token's webhook cannot be recorded; it delivers nothing meanwhile");
            continue;
        }
        let saved = app.webhooks.update(&subscription.id, |s| {
            s.disabled = Some(Disabled {
                since: crate::now(),
                reason: format!("token {token} revoked"),
            });
        });
        match saved {
            Ok(()) => {
                tracing::info!(subscription = %subscription.id, token, "webhook disabled: its token was revoked")
            }
            Err(e) => tracing::error!(error = %e, "the webhook registry cannot be written"),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Failing {
    since: String,
    attempts: u32,
    last_error: String,
}

/// The subscriptions, their delivery state and the delivery counters.
#[derive(Debug)]
pub(crate) struct Webhooks {
    path: PathBuf,
    config: WebhookConfig,
    subscriptions: Mutex<BTreeMap<String, Subscription>>,
    client: reqwest::Client,
    delivered: AtomicU64,
    failed: AtomicU64,
    given_up: AtomicU64,
}

impl Webhooks {
    pub(crate) fn open(data_dir: &Path, config: WebhookConfig) -> Result<Self> {
        let path = data_dir.join(WEBHOOKS_FILE);
        let subscriptions = crate::error::read_json_or_default(&path)?;
        // Another part of the process may have installed it already; either is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect could lead anywhere, a private address included.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("spiegel-webhooks/", env!("CARGO_PKG_VERSION")));
        client = match &config.proxy {
            // The environment's proxy settings are for the process's other traffic.
            None => {
                if config.targets == WebhookTargets::Public {
                    client = client.dns_resolver(Arc::new(PublicAddressesOnly));
                }
                client.no_proxy()
            }
            // The resolver would check the proxy's address, which is usually private; the
            // target is checked before each request instead (`post`).
            // Without the URL in the error: it may hold the proxy's credentials.
            Some(proxy) => client.proxy(reqwest::Proxy::all(proxy.as_str()).map_err(|e| {
                ServeError::Io(std::io::Error::other(format!(
                    "the webhook proxy is not a usable URL: {} / de webhook-proxy is geen \
                     bruikbare URL",
                    e.without_url()
                )))
            })?),
        };
        let client = client
            .build()
            .map_err(|e| ServeError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Self {
            path,
            config,
            subscriptions: Mutex::new(subscriptions),
            client,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            given_up: AtomicU64::new(0),
        })
    }

    fn get(&self, id: &str) -> Option<Subscription> {
        self.subscriptions.lock().ok()?.get(id).cloned()
    }

    /// Changes one subscription (if it still exists) and writes the registry.
    fn update(&self, id: &str, change: impl FnOnce(&mut Subscription)) -> Result<()> {
        let mut subscriptions = self
            .subscriptions
            .lock()
            .map_err(|_| ServeError::Io(std::io::Error::other("webhook registry poisoned")))?;
        if let Some(subscription) = subscriptions.get_mut(id) {
            change(subscription);
            self.save(&subscriptions)?;
        }
        Ok(())
    }

    fn save(&self, subscriptions: &BTreeMap<String, Subscription>) -> Result<()> {
        // It holds every subscription's secret.
        crate::error::write_json_private(&self.path, subscriptions)
    }

    /// Delivery counters in Prometheus text format.
    pub(crate) fn metrics(&self) -> String {
        format!(
            "# HELP spiegel_webhook_deliveries_total Webhook requests answered 2xx.\n\
             # TYPE spiegel_webhook_deliveries_total counter\n\
             spiegel_webhook_deliveries_total {}\n\
             # HELP spiegel_webhook_failures_total Webhook attempts that failed (retried).\n\
             # TYPE spiegel_webhook_failures_total counter\n\
             spiegel_webhook_failures_total {}\n\
             # HELP spiegel_webhook_given_up_total Webhook entries given up after retrying.\n\
             # TYPE spiegel_webhook_given_up_total counter\n\
             spiegel_webhook_given_up_total {}\n",
            self.delivered.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.given_up.load(Ordering::Relaxed),
        )
    }

    /// Whether `url` may be registered; the reason, in Dutch and English, when not.
    fn check_url(&self, url: &str) -> std::result::Result<(), String> {
        if url.chars().count() > MAX_URL_LENGTH {
            return Err(format!(
                "a URL is at most {MAX_URL_LENGTH} characters / een URL is hoogstens \
                 {MAX_URL_LENGTH} tekens"
            ));
        }
        let parsed = reqwest::Url::parse(url).map_err(|_| "not a URL / geen URL".to_owned())?;
        let host = parsed.host_str().unwrap_or_default();
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let loopback = ip.is_some_and(|ip| ip.is_loopback()) || host == "localhost";
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(
                "a URL may not hold credentials / een URL mag geen inloggegevens bevatten".into(),
            );
        }
        match self.config.targets {
            WebhookTargets::Loopback => {
                if matches!(parsed.scheme(), "http" | "https") && loopback {
                    Ok(())
                } else {
                    Err(
                        "this server delivers to loopback addresses only / deze server levert \
                         alleen af op loopback-adressen"
                            .into(),
                    )
                }
            }
            WebhookTargets::Public => {
                let private = ip.is_some_and(|ip| !is_public(ip));
                if parsed.scheme() != "https" || host.is_empty() || private || loopback {
                    Err(
                        "use an https URL of a public host / gebruik een https-URL van een \
                         publieke host"
                            .into(),
                    )
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Starts the delivery task of every stored subscription.
pub(crate) fn start_deliveries(app: &Arc<App>) {
    let ids: Vec<String> = app
        .webhooks
        .subscriptions
        .lock()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    for id in ids {
        tokio::spawn(deliver(Arc::clone(app), id));
    }
}

/// Delivers one subscription's entries in feed order until it is removed.
async fn deliver(app: Arc<App>, id: String) {
    let webhooks = &app.webhooks;
    let mut changed = app.feed.subscribe();
    let mut attempts: u32 = 0;
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut credentials = app.credentials_changed.subscribe();
    loop {
        changed.borrow_and_update();
        let Some(subscription) = webhooks.get(&id) else {
            return;
        };
        match subscription.active(&app).await {
            Ok(true) => {}
            // Disabled, or its token revoked: nothing more goes out (disable_revoked records
            // and stores it).
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, subscription = %id, "the state database cannot be read; delivering later");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        let sharing = app.sharing_now();
        let mut next = None;
        let mut passed = subscription.delivered;
        for event in app.feed.after(subscription.delivered, usize::MAX) {
            if let Some(entry) = entry_for(&subscription.principal, &event, &sharing) {
                next = Some((event.seq, entry));
                break;
            }
            passed = event.seq;
        }
        if passed > subscription.delivered {
            // Releases that changed nothing this subscriber may see.
            let _ = webhooks.update(&id, |s| s.delivered = s.delivered.max(passed));
        }
        let Some((seq, entry)) = next else {
            // Nothing to send: wait for the next release (and look again now and then, to
            // notice the subscription being removed).
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = credentials.changed() => {}
                }
            })
            .await;
            continue;
        };
        let delivery = format!("{id}.{seq}");
        let mut body = entry;
        if let Some(object) = body.as_object_mut() {
            object.insert("id".into(), delivery.clone().into());
            object.insert("subscription".into(), id.clone().into());
        }
        let body = body.to_string();
        match post(webhooks, &subscription, &delivery, body).await {
            Ok(()) => {
                webhooks.delivered.fetch_add(1, Ordering::Relaxed);
                attempts = 0;
                failing_since = None;
                if let Err(e) = webhooks.update(&id, |s| {
                    s.delivered = s.delivered.max(seq);
                    s.failing = None;
                }) {
                    tracing::error!(error = %e, "the webhook registry cannot be written");
                }
            }
            Err(why) => {
                webhooks.failed.fetch_add(1, Ordering::Relaxed);
                attempts += 1;
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= webhooks.config.retry_for {
                    webhooks.given_up.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(subscription = %id, cursor = seq, attempts, "webhook entry given up after retrying; the feed still has it");
                    attempts = 0;
                    failing_since = None;
                    let _ = webhooks.update(&id, |s| {
                        s.delivered = s.delivered.max(seq);
                        s.failing = None;
                    });
                    continue;
                }
                tracing::info!(subscription = %id, cursor = seq, attempts, error = %why, "webhook delivery failed; retrying");
                let _ = webhooks.update(&id, |s| {
                    let since = s
                        .failing
                        .as_ref()
                        .map_or_else(crate::now, |f| f.since.clone());
                    s.failing = Some(Failing {
                        since,
                        attempts,
                        last_error: why,
                    });
                });
                tokio::time::sleep(backoff(&webhooks.config, attempts)).await;
            }
        }
    }
}

/// The delay before retry `attempt` (from 1): exponential, capped, with full jitter over its
/// upper half so that many subscriptions failing together do not retry in step.
fn backoff(config: &WebhookConfig, attempt: u32) -> Duration {
    let doubled = config
        .first_retry
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let delay = doubled.min(config.max_backoff);
    let mut random = [0u8; 8];
    let fraction =
        match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random) {
            Ok(()) => u64::from_le_bytes(random) as f64 / u64::MAX as f64,
            Err(_) => 0.5,
        };
    delay / 2 + delay.mul_f64(fraction / 2.0)
}

/// The signature header of `body` sent at unix time `timestamp`.
pub(crate) fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(tag.as_ref()))
}

async fn post(
    webhooks: &Webhooks,
    subscription: &Subscription,
    delivery: &str,
    body: String,
) -> std::result::Result<(), String> {
    if webhooks.config.proxy.is_some() && webhooks.config.targets == WebhookTargets::Public {
        let url = reqwest::Url::parse(&subscription.url).map_err(|e| e.to_string())?;
        resolves_publicly(url.host_str().unwrap_or_default()).await?;
    }
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let response = webhooks
        .client
        .post(&subscription.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header("spiegel-delivery", delivery)
        .header(
            "spiegel-signature",
            signature(&subscription.secret, timestamp, &body),
        )
        .body(body)
        .send()
        .await
        // Without the URL: a subscriber's URL may carry a token of its own.
        .map_err(|e| e.without_url().to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status().as_u16()))
    }
}

#[cfg(test)]
mod tests;
