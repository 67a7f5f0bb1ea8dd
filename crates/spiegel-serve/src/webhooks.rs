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

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::feed::entry_for;
use crate::server::{App, Caller, error, not_found, unavailable};
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
    fn active(&self, app: &App) -> bool {
        let credential = crate::server::Credential {
            token: self.token.clone(),
            certificate: None,
        };
        self.disabled.is_none() && app.still_valid(&credential, &self.principal)
    }
}

/// The longest webhook URL (the OpenAPI document's `maxLength`).
pub(crate) const MAX_URL_CHARS: usize = 2000;

/// Disables, recording each first, the subscriptions whose token was revoked. One that cannot
/// be recorded stays enabled on disk, and is tried again; it delivers nothing meanwhile, since
/// every delivery checks its token first.
pub(crate) fn disable_revoked(app: &App) {
    let revoked: Vec<Subscription> = match app.webhooks.subscriptions.lock() {
        Ok(subscriptions) => subscriptions
            .values()
            .filter(|s| s.disabled.is_none() && !s.active(app))
            .cloned()
            .collect(),
        Err(_) => return,
    };
    for subscription in revoked {
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

/// Whether an address is on the public internet. A tenant's webhook must never reach the
/// TTP's own network (SSRF), so every range that the IANA special-purpose address registries
/// do not mark globally reachable is refused, and so are the ranges that embed or translate
/// to an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible), whose IPv4 end could be
/// anything. Sources, as of 2025:
/// <https://www.iana.org/assignments/iana-ipv4-special-registry/> and
/// <https://www.iana.org/assignments/iana-ipv6-special-registry/>; IPv6 outside 2000::/3
/// is not global unicast (RFC 4291 §2.4) and is refused whole.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let address = u32::from(v4);
            !RESERVED_V4
                .iter()
                .any(|&(network, length)| in_prefix_v4(address, network, length))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let address = u128::from(v6);
                in_prefix_v6(address, 0x2000 << 112, 3)
                    && !RESERVED_V6
                        .iter()
                        .any(|&(network, length)| in_prefix_v6(address, network, length))
            }
        },
    }
}

/// IPv4 ranges that are not globally reachable unicast (IANA IPv4 special-purpose registry,
/// plus multicast, RFC 5771).
const RESERVED_V4: &[(u32, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network" (RFC 791)
    (0x0a00_0000, 8),  // 10.0.0.0/8 private (RFC 1918)
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space, CGNAT (RFC 6598)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback (RFC 1122)
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local (RFC 3927)
    (0xac10_0000, 12), // 172.16.0.0/12 private (RFC 1918)
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments (RFC 6890)
    (0xc000_0200, 24), // 192.0.2.0/24 documentation, TEST-NET-1 (RFC 5737)
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526)
    (0xc0a8_0000, 16), // 192.168.0.0/16 private (RFC 1918)
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking (RFC 2544)
    (0xc633_6400, 24), // 198.51.100.0/24 documentation, TEST-NET-2 (RFC 5737)
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation, TEST-NET-3 (RFC 5737)
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast (RFC 5771)
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, with 255.255.255.255 broadcast (RFC 1112)
];

/// IPv6 ranges inside 2000::/3 that are not globally reachable unicast (IANA IPv6
/// special-purpose registry); everything outside 2000::/3 — ::/128, ::1, ::/96
/// IPv4-compatible, 64:ff9b::/96 and 64:ff9b:1::/48 NAT64, 100::/64 discard, 5f00::/16 SRv6,
/// fc00::/7 unique-local, fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast —
/// is refused before this list is consulted.
const RESERVED_V6: &[(u128, u32)] = &[
    // 2001::/23 IETF protocol assignments, Teredo 2001::/32 included (RFC 2928, RFC 4380).
    (0x2001_0000 << 96, 23),
    // 2001:db8::/32 documentation (RFC 3849).
    (0x2001_0db8 << 96, 32),
    // 2002::/16 6to4 (RFC 3056).
    (0x2002 << 112, 16),
    // 3fff::/20 documentation (RFC 9637).
    (0x3fff << 112, 20),
];

fn in_prefix_v4(address: u32, network: u32, length: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
    address & mask == network & mask
}

fn in_prefix_v6(address: u128, network: u128, length: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
    address & mask == network & mask
}

/// Whether every address `host` resolves to is public: what a delivery through a proxy is
/// checked against before the proxy is asked to connect (it resolves the name again itself,
/// so a name with any private address is refused outright).
async fn resolves_publicly(host: &str) -> std::result::Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if is_public(ip) {
            Ok(())
        } else {
            Err("the target is not a public address".into())
        };
    }
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|e| e.to_string())?
        .collect();
    if addresses.is_empty() || addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(format!("{bare} has an address that is not public"));
    }
    Ok(())
}

/// The resolver of production webhook deliveries: a host name is connected to only at its
/// public addresses, checked when the connection is made, so a name that resolves (or is
/// re-pointed after registration) to a private address reaches nothing.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
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
    let mut credentials = app.credentials.subscribe();
    loop {
        changed.borrow_and_update();
        let Some(subscription) = webhooks.get(&id) else {
            return;
        };
        if !subscription.active(&app) {
            // Disabled, or its token revoked: nothing more goes out (disable_revoked records
            // and stores it).
            return;
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    url: String,
    /// Deliver from after this feed cursor (default: from now on).
    after: Option<String>,
}

fn listed(subscription: &Subscription) -> serde_json::Value {
    serde_json::json!({
        "id": subscription.id,
        "url": subscription.url,
        "created": subscription.created,
        "cursor": subscription.delivered.to_string(),
        "failing": subscription.failing.as_ref().map(|f| serde_json::json!({
            "since": f.since,
            "attempts": f.attempts,
            "last_error": f.last_error,
        })),
        "disabled": subscription.disabled.as_ref().map(|d| serde_json::json!({
            "since": d.since,
            "reason": d.reason,
        })),
    })
}

/// `POST /v1/webhooks`: registers a URL; the answer shows the secret, once.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    credential: crate::server::Credential,
    body: axum::body::Bytes,
) -> Response {
    if matches!(principal, Principal::Operator(_)) {
        return app.refuse(&principal, Action::Subscription, "webhooks");
    }
    let invalid = |message: &str| {
        app.record(
            &principal,
            Action::Subscription,
            "webhooks",
            Outcome::Rejected,
        );
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_subscription",
            message,
        )
    };
    let Ok(request) = serde_json::from_slice::<CreateRequest>(&body) else {
        return invalid("expected {\"url\": \"https://…\"} / verwacht {\"url\": \"https://…\"}");
    };
    if !crate::server::within(&request.url, MAX_URL_CHARS) {
        return invalid(&format!(
            "a webhook URL has at most {MAX_URL_CHARS} characters / een webhook-URL heeft \
             hoogstens {MAX_URL_CHARS} tekens"
        ));
    }
    if let Err(why) = app.webhooks.check_url(&request.url) {
        return invalid(&why);
    }
    let latest = app.feed.latest();
    let after = request
        .after
        .as_deref()
        .filter(|a| a.len() <= 18 && a.bytes().all(|b| b.is_ascii_digit()));
    let start = match (request.after.is_some(), after.map(str::parse::<u64>)) {
        (false, _) => latest,
        (true, Some(Ok(cursor))) if cursor <= latest => cursor,
        _ => {
            return invalid("after is a cursor from the feed / after is een cursor uit de feed");
        }
    };
    let random = |n: usize| -> Option<String> {
        let mut bytes = vec![0u8; n];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).ok()?;
        Some(hex::encode(bytes))
    };
    let (Some(id), Some(secret)) = (random(8), random(32)) else {
        return unavailable();
    };
    let subscription = Subscription {
        id: id.clone(),
        principal: principal.clone(),
        url: request.url,
        secret: format!("whsec_{secret}"),
        created: crate::now(),
        delivered: start,
        failing: None,
        token: credential.token,
        disabled: None,
    };
    // Recorded before it is stored: a subscription that cannot be recorded is not made.
    if !app.record(
        &principal,
        Action::Subscription,
        &format!("webhook.{id}"),
        Outcome::Success,
    ) {
        return unavailable();
    }
    let saved = match app.webhooks.subscriptions.lock() {
        Ok(mut subscriptions) => {
            if subscriptions
                .values()
                .filter(|s| s.principal == principal)
                .count()
                >= MAX_SUBSCRIPTIONS
            {
                drop(subscriptions);
                return invalid(&format!(
                    "at most {MAX_SUBSCRIPTIONS} webhooks per account; remove one first / \
                     hoogstens {MAX_SUBSCRIPTIONS} webhooks per account; verwijder er eerst een"
                ));
            }
            subscriptions.insert(id.clone(), subscription.clone());
            let saved = app.webhooks.save(&subscriptions);
            if saved.is_err() {
                subscriptions.remove(&id);
            }
            saved
        }
        Err(_) => return unavailable(),
    };
    if let Err(e) = saved {
        tracing::error!(error = %e, "the webhook registry cannot be written");
        app.record(
            &principal,
            Action::Subscription,
            &format!("webhook.{id}"),
            Outcome::Error,
        );
        return unavailable();
    }
    tokio::spawn(deliver(Arc::clone(&app), id.clone()));
    let mut body = listed(&subscription);
    if let Some(object) = body.as_object_mut() {
        object.insert("secret".into(), subscription.secret.clone().into());
    }
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/webhooks/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `GET /v1/webhooks`: the caller's subscriptions and how their delivery goes.
pub(crate) async fn list(State(app): State<Arc<App>>, Caller(principal): Caller) -> Response {
    // Every read is recorded; one that cannot be is not answered.
    if !app.record(
        &principal,
        Action::Subscription,
        "webhooks",
        Outcome::Success,
    ) {
        return unavailable();
    }
    let Ok(subscriptions) = app.webhooks.subscriptions.lock() else {
        return unavailable();
    };
    let mine: Vec<serde_json::Value> = subscriptions
        .values()
        .filter(|s| s.principal == principal)
        .map(listed)
        .collect();
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"webhooks": mine})),
    )
        .into_response()
}

/// `DELETE /v1/webhooks/{id}`: the caller's own subscriptions only.
pub(crate) async fn remove(
    State(app): State<Arc<App>>,
    Caller(principal): Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    if !crate::server::within(&id, 64) {
        app.record(
            &principal,
            Action::Subscription,
            "webhook",
            Outcome::Rejected,
        );
        return crate::server::invalid_parameter("id", "at most 64 characters");
    }
    let removed = match app.webhooks.subscriptions.lock() {
        Ok(mut subscriptions) => match subscriptions.get(&id) {
            Some(s) if s.principal == principal => {
                // Recorded before it is removed: a removal that cannot be recorded does not
                // happen.
                if !app.record(
                    &principal,
                    Action::Subscription,
                    &format!("webhook.{id}"),
                    Outcome::Success,
                ) {
                    return unavailable();
                }
                let kept = subscriptions.remove(&id);
                let saved = app.webhooks.save(&subscriptions);
                if saved.is_err()
                    && let Some(kept) = kept
                {
                    subscriptions.insert(id.clone(), kept);
                }
                saved.map(|()| true)
            }
            _ => Ok(false),
        },
        Err(_) => return unavailable(),
    };
    match removed {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => {
            app.record(&principal, Action::Subscription, "webhook", Outcome::Denied);
            not_found()
        }
        Err(e) => {
            tracing::error!(error = %e, "the webhook registry cannot be written");
            unavailable()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_its_cap_and_stays_in_the_upper_half() {
        let config = WebhookConfig {
            first_retry: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            ..WebhookConfig::default()
        };
        for (attempt, nominal) in [(1, 10), (2, 20), (3, 40), (10, 3600), (40, 3600)] {
            let delay = backoff(&config, attempt);
            let nominal = Duration::from_secs(nominal);
            assert!(
                delay >= nominal / 2 && delay <= nominal,
                "{attempt}: {delay:?}"
            );
        }
        let spread: std::collections::BTreeSet<Duration> =
            (0..20).map(|_| backoff(&config, 5)).collect();
        assert!(spread.len() > 10, "jittered");
    }

    #[test]
    fn signatures_cover_timestamp_and_body() {
        let a = signature("whsec_x", 1_700_000_000, "{\"a\":1}");
        assert!(a.starts_with("t=1700000000,v1="));
        assert_ne!(a, signature("whsec_x", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(a, signature("whsec_x", 1_700_000_000, "{\"a\":2}"));
        assert_ne!(a, signature("whsec_y", 1_700_000_000, "{\"a\":1}"));
    }

    fn loopback_only(data_dir: &Path) -> Webhooks {
        let config = WebhookConfig {
            targets: WebhookTargets::Loopback,
            ..WebhookConfig::default()
        };
        Webhooks::open(data_dir, config).unwrap()
    }

    #[test]
    fn public_targets_are_https_on_public_hosts_only() {
        let dir = tempfile::tempdir().unwrap();
        let public = Webhooks::open(dir.path(), WebhookConfig::default()).unwrap();
        assert!(public.check_url("https://gemeente.example.nl/hook").is_ok());
        for refused in [
            "http://gemeente.example.nl/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://[::1]/hook",
            "https://localhost/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://[fd00::1]/hook",
            "https://[fe80::1]/hook",
            "https://[64:ff9b::a00:1]/hook",
            "https://[::127.0.0.1]/hook",
            "https://[2002:a00:1::1]/hook",
            "https://[fec0::1]/hook",
            "https://198.18.0.1/hook",
            "https://192.0.0.8/hook",
            "https://240.0.0.1/hook",
            "https://2130706433/hook",
            "https://user:pw@gemeente.example.nl/hook",
            "not a url",
        ] {
            assert!(public.check_url(refused).is_err(), "{refused}");
        }
        let loopback = loopback_only(dir.path());
        assert!(loopback.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(
            loopback
                .check_url("https://gemeente.example.nl/hook")
                .is_err()
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for public in ["93.184.216.34", "145.97.39.1", "2a00:1450:4001:80b::2004"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.100.100.100",
            "0.1.2.3",
            "224.0.0.1",
            "192.0.2.7",
            "::1",
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:192.168.1.1",
            // The reserved ranges issue 26 found accepted, and the rest of the registries.
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "::7f00:1",
            "::a00:1",
            "2002:7f00:1::1",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.254",
            "192.0.0.170",
            "240.0.0.1",
            "255.255.255.255",
            "100::1",
            "2001::1",
            "2001:1ff:ffff::1",
            "3fff::1",
            "5f00::1",
            "192.88.99.1",
            "198.51.100.1",
            "203.0.113.9",
            "172.31.255.255",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "172.32.0.1",
            "198.20.0.1",
            "2001:200::1",
            "2003::1",
            "1.1.1.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_webhook_url_is_at_most_2000_characters() {
        let dir = tempfile::tempdir().unwrap();
        let public = Webhooks::open(dir.path(), WebhookConfig::default()).unwrap();
        let base = "https://gemeente.example.nl/";
        let fits = format!("{base}{}", "a".repeat(MAX_URL_LENGTH - base.len()));
        assert!(public.check_url(&fits).is_ok());
        let over = format!("{fits}a");
        let why = public.check_url(&over).unwrap_err();
        assert!(why.contains("2000"), "{why}");
    }

    #[tokio::test]
    async fn through_an_explicit_proxy_a_private_target_is_refused_before_the_proxy_is_asked() {
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        proxy.set_nonblocking(true).unwrap();
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        target.set_nonblocking(true).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = WebhookConfig {
            proxy: Some(format!("http://{}", proxy.local_addr().unwrap())),
            timeout: Duration::from_millis(500),
            ..WebhookConfig::default()
        };
        let webhooks = Webhooks::open(dir.path(), config).unwrap();
        let port = target.local_addr().unwrap().port();
        for url in [
            format!("https://localhost:{port}/hook"),
            format!("https://127.0.0.1:{port}/hook"),
            format!("https://[::ffff:127.0.0.1]:{port}/hook"),
        ] {
            let subscription = Subscription {
                id: "x".into(),
                principal: Principal::Gemeente("GM0363".into()),
                url,
                secret: "whsec_x".into(),
                created: crate::now(),
                delivered: 0,
                failing: None,
                token: None,
                disabled: None,
            };
            assert!(
                post(&webhooks, &subscription, "x.1", "{}".into())
                    .await
                    .is_err()
            );
        }
        assert!(proxy.accept().is_err(), "the proxy was never asked");
        assert!(target.accept().is_err(), "the target was never reached");
    }

    #[tokio::test]
    async fn a_public_delivery_never_connects_to_a_name_that_resolves_to_this_machine() {
        use reqwest::dns::Resolve as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let public = Webhooks::open(dir.path(), WebhookConfig::default()).unwrap();
        let refused = public
            .client
            .post(format!("https://localhost:{port}/hook"))
            .send()
            .await;
        assert!(refused.is_err());
        assert!(
            PublicAddressesOnly
                .resolve("localhost".parse().unwrap())
                .await
                .is_err()
        );
        assert!(
            listener.accept().is_err(),
            "nothing connected to this machine"
        );
        // The same request from a loopback-only server does reach the listener: the check
        // above would see a connection.
        let loopback = loopback_only(dir.path());
        let _ = loopback
            .client
            .post(format!("http://localhost:{port}/hook"))
            .timeout(Duration::from_millis(300))
            .send()
            .await;
        assert!(listener.accept().is_ok(), "a loopback delivery connects");
    }
}
