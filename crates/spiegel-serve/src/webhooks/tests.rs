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
