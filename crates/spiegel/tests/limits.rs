//! Issue 26, end to end on loopback: what one client can no longer do to `spiegel serve` —
//! exhaust its memory with a receipt, hold its connections with half a request, reach this
//! machine through a webhook behind a proxy — and the smaller hardening items, each shown by
//! a test of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::server::{Answer, Server, call, get, peak_memory, send};
use common::world::World;
use common::{generate, p, spiegel, token};

/// What these tests add to the shared [`World`].
impl World {
    /// Provider 0's file uploaded and published; its bearer and the id of one of its mirror
    /// reports.
    fn published(&self) -> (String, String) {
        let bearer = self.bearer(["--provider", &self.agb(0)]);
        let answer = self.upload(&bearer, &fs::read(&self.files[0]).unwrap(), &[]);
        assert_eq!(answer.status, 202);
        self.wait_for(&bearer, answer.json()["id"].as_str().unwrap(), "published");
        let listed = self.get(&bearer, "/v1/reports").json();
        let mirror = listed["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "mirror")
            .expect("a mirror report")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (bearer, mirror)
    }

    fn audit(&self) -> Vec<Value> {
        fs::read_to_string(self.data.join("audit-log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn header_row(&self) -> String {
        fs::read_to_string(&self.files[0])
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
    }
}

#[test]
fn a_hundred_thousand_junk_rows_are_answered_422_with_a_bounded_receipt_and_memory() {
    let world = World::new(200, &[]);
    let bearer = world.bearer(["--provider", &world.agb(0)]);
    let pid = world.server.child.id();
    // Warm up: one real upload, so the baseline holds the pipeline's working set.
    let warm = world.upload(&bearer, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(warm.status, 202);
    world.wait_for(&bearer, warm.json()["id"].as_str().unwrap(), "published");
    let baseline = peak_memory(pid);

    // Every field wrong, so every row adds findings under many codes.
    let header = world.header_row();
    let columns = header.split(',').count();
    let junk_row = format!("{}\n", vec!["x"; columns].join(","));
    let mut junk = format!("{header}\n").into_bytes();
    for _ in 0..100_000 {
        junk.extend_from_slice(junk_row.as_bytes());
    }
    let answer = send(
        &world.server.api,
        "POST",
        "/v1/submissions?period=2026-H1",
        &[("Authorization", &bearer), ("Content-Type", "text/csv")],
        Some(junk.len() as u64),
        junk.chunks(64 << 10)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>(),
    );
    assert_eq!(answer.status, 422);
    assert!(
        answer.body.len() < 1 << 20,
        "a 422 body of {} bytes",
        answer.body.len()
    );
    let body = answer.json();
    let receipt = &body["receipt"];
    assert_eq!(receipt["counts"]["rejected"], 100_000);
    let issues = receipt["issues"].as_array().unwrap();
    assert!(issues.len() <= 1_000, "{} issues listed", issues.len());
    // Every code's total is there, far beyond what is listed.
    let totals = receipt["issue_counts"].as_object().unwrap();
    assert!(totals.len() > 3, "{totals:?}");
    assert!(totals.values().all(|n| n.as_u64().unwrap() >= 100_000));
    // The stored receipt is the same bounded one.
    let id = body["id"].as_str().unwrap();
    let stored = world.get(&bearer, &format!("/v1/submissions/{id}"));
    assert!(stored.body.len() < 1 << 20);

    let grown = peak_memory(pid).saturating_sub(baseline);
    println!(
        "peak memory: baseline {} MiB, grown by {} MiB",
        baseline >> 20,
        grown >> 20
    );
    assert!(grown < 100 << 20, "peak memory grew by {} MiB", grown >> 20);
}

/// Reads from `stream` until the server closes it or `deadline` passes; whether it closed.
fn closed_by(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            // Closed, possibly after a 408.
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            // Reset: closed too.
            Err(_) => return true,
        }
    }
}

#[test]
fn two_hundred_half_request_lines_are_closed_within_the_header_timeout() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let world = World::new(
        100,
        &[
            "--header-read-timeout-ms",
            &HEADER_TIMEOUT.as_millis().to_string(),
        ],
    );
    let bearer = world.bearer(["--gemeente", "GM0363"]);
    let opened = Instant::now();
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut stream = TcpStream::connect(&world.server.api).unwrap();
            stream.write_all(b"GET /v1/rep").unwrap();
            stream
        })
        .collect();
    // Meanwhile everyone else is served as usual.
    for _ in 0..5 {
        assert_eq!(world.get(&bearer, "/v1/reports").status, 200);
    }
    // Closed once the header timeout has passed (with slack for a loaded machine), where
    // before they stayed open for as long as the client liked.
    let deadline = opened + HEADER_TIMEOUT + Duration::from_secs(5);
    let still_open = slow
        .iter_mut()
        .map(|stream| closed_by(stream, deadline))
        .filter(|closed| !closed)
        .count();
    assert_eq!(
        still_open, 0,
        "connections still open after the header timeout"
    );
    assert_eq!(world.get(&bearer, "/v1/reports").status, 200);
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let world = World::new(
        100,
        &[
            "--header-read-timeout-ms",
            "2000",
            "--max-connections",
            "20",
        ],
    );
    let bearer = world.bearer(["--gemeente", "GM0363"]);
    let _holding: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut stream = TcpStream::connect(&world.server.api).unwrap();
            stream.write_all(b"GET /v1/rep").unwrap();
            stream
        })
        .collect();
    // Let the server accept the twenty before the next one arrives.
    std::thread::sleep(Duration::from_millis(500));
    let mut next = TcpStream::connect(&world.server.api).unwrap();
    next.write_all(
        format!(
            "GET /v1/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: \
             {bearer}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    next.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut first = [0u8; 64];
    assert!(
        next.read(&mut first).is_err(),
        "not served while twenty connections hold every slot"
    );
    // Once the header timeout closed the twenty, it is served.
    next.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    next.read_to_end(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn behind_an_environment_proxy_a_webhook_to_a_loopback_name_reaches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (reports, data, manifest) = common::released(dir.path(), 400, 3, 7);
    let gemeente = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "municipality")
        .unwrap()["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let subscriber = TcpListener::bind("127.0.0.1:0").unwrap();
    subscriber.set_nonblocking(true).unwrap();
    // Registered while the name was public, then pointed at this machine: `localhost` stands
    // for such a name (registration itself refuses it, see below).
    let subscription = serde_json::json!({"w1": {
        "id": "w1",
        "principal": {"kind": "gemeente", "id": gemeente},
        "url": format!("https://localhost:{}/hook", subscriber.local_addr().unwrap().port()),
        "secret": "whsec_test",
        "created": "2026-01-01T00:00:00Z",
        "delivered": 0,
    }});
    fs::write(data.join("webhooks.json"), subscription.to_string()).unwrap();

    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    // The production setting: public targets only.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spiegel"));
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--reports",
        p(&reports),
        "--data-dir",
        p(&data),
        "--webhook-targets",
        "public",
        "--webhook-first-retry-ms",
        "100",
    ]);
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
        command.env(name, &proxy_url);
        command.env(name.to_ascii_lowercase(), &proxy_url);
    }
    command.env_remove("NO_PROXY").env_remove("no_proxy");
    let server = Server::spawn(&mut command);

    // Delivery was tried (and failed) several times ...
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, metrics) = get(&server.admin, "/metrics", &[]);
        let metrics = String::from_utf8(metrics).unwrap();
        let failures: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("spiegel_webhook_failures_total "))
            .unwrap()
            .parse()
            .unwrap();
        if failures >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "never tried: {metrics}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ... and neither the proxy nor the subscriber on this machine heard of it.
    assert!(proxy.accept().is_err(), "the proxy was asked to CONNECT");
    assert!(subscriber.accept().is_err(), "the subscriber was reached");

    // Registration refuses every reserved range, and URLs over 2,000 characters.
    let bearer = format!(
        "Bearer {}",
        token(&data, ["--gemeente", &gemeente], "setup")
    );
    let long = format!("https://gemeente.example.nl/{}", "a".repeat(2000));
    for url in [
        "https://[64:ff9b::a00:1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[::10.0.0.1]/hook",
        "https://[::127.0.0.1]/hook",
        "https://[2002:a00:1::1]/hook",
        "https://[fec0::1]/hook",
        "https://198.18.0.1/hook",
        "https://198.19.1.1/hook",
        "https://192.0.0.8/hook",
        "https://240.0.0.1/hook",
        "https://255.255.255.255/hook",
        "https://10.0.0.1/hook",
        "https://[fd00::1]/hook",
        "https://localhost/hook",
        long.as_str(),
    ] {
        let answer = call(
            &server.api,
            "POST",
            "/v1/webhooks",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            serde_json::json!({"url": url}).to_string().as_bytes(),
        );
        assert_eq!(answer.status, 422, "{}", &url[..url.len().min(60)]);
    }
    let accepted = call(
        &server.api,
        "POST",
        "/v1/webhooks",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        br#"{"url": "https://gemeente.example.nl/hook"}"#,
    );
    assert_eq!(accepted.status, 201);
}

#[test]
fn a_header_only_csv_withdraws_the_period_only_when_the_upload_says_so() {
    let world = World::new(200, &[]);
    let bearer = world.bearer(["--provider", &world.agb(0)]);
    let file = fs::read(&world.files[0]).unwrap();
    let first = world.upload(&bearer, &file, &[]);
    assert_eq!(first.status, 202);
    let first_id = first.json()["id"].as_str().unwrap().to_owned();
    world.wait_for(&bearer, &first_id, "published");

    let header_only = format!("{}\n", world.header_row());
    let refused = world.upload(&bearer, header_only.as_bytes(), &[]);
    assert_eq!(refused.status, 422);
    let refused = refused.json();
    assert_eq!(refused["error"], "withdrawal_not_confirmed");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("withdraw=true")
    );
    // Nothing changed: the first submission is still the published one.
    assert_eq!(
        world
            .get(&bearer, &format!("/v1/submissions/{first_id}"))
            .json()["status"],
        "published"
    );
    assert_eq!(
        world
            .upload_with(&bearer, "&withdraw=maybe", header_only.as_bytes(), &[])
            .status,
        400
    );

    let withdrawn = world.upload_with(&bearer, "&withdraw=true", header_only.as_bytes(), &[]);
    assert_eq!(withdrawn.status, 202);
    let withdrawn = withdrawn.json();
    assert_eq!(withdrawn["withdrawn"], true);
    assert_eq!(
        withdrawn["receipt"]["notices"][0]["code"],
        "EMPTY_SUBMISSION"
    );
    assert!(
        withdrawn["receipt"]["notices"][0]["message_en"]
            .as_str()
            .unwrap()
            .contains("withdrawn")
    );
    let id = withdrawn["id"].as_str().unwrap();
    assert_eq!(
        world.get(&bearer, &format!("/v1/submissions/{id}")).json()["withdrawn"],
        true
    );
}

#[test]
fn the_same_bytes_as_csv_and_as_json_lines_are_two_submissions() {
    let world = World::new(200, &[]);
    let bearer = world.bearer(["--provider", &world.agb(0)]);
    let file = fs::read(&world.files[0]).unwrap();
    let csv = world.upload(&bearer, &file, &[]);
    assert_eq!(csv.status, 202);
    let ndjson = world.upload(&bearer, &file, &[("Content-Type", "application/x-ndjson")]);
    assert_eq!(ndjson.status, 422);
    let (csv, ndjson) = (csv.json(), ndjson.json());
    assert_eq!(csv["sha256"], ndjson["sha256"]);
    assert_ne!(csv["id"], ndjson["id"]);
    // The rejected one did not overwrite the accepted one's status.
    let id = csv["id"].as_str().unwrap();
    let status = world.wait_for(&bearer, id, "published");
    assert_eq!(status["format"], "csv");
}

#[test]
fn concurrent_uploads_with_one_idempotency_key_get_one_202_and_409s() {
    let world = World::new(200, &[]);
    let bearer = world.bearer(["--provider", &world.agb(0)]);
    let file = fs::read(&world.files[0]).unwrap();
    let key = ("Idempotency-Key", "upload-2026-h1-1");

    // The first upload sends half its body and waits.
    let mut first = TcpStream::connect(&world.server.api).unwrap();
    first
        .write_all(
            format!(
                "POST /v1/submissions?period=2026-H1 HTTP/1.1\r\nHost: x\r\nConnection: \
                 close\r\nAuthorization: {bearer}\r\nContent-Type: text/csv\r\n\
                 Idempotency-Key: {}\r\nContent-Length: {}\r\n\r\n",
                key.1,
                file.len()
            )
            .as_bytes(),
        )
        .unwrap();
    let half = file.len() / 2;
    first.write_all(&file[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // Three more with the same key while it is in progress: each refused.
    let others: Vec<std::thread::JoinHandle<Answer>> = (0..3)
        .map(|_| {
            let api = world.server.api.clone();
            let bearer = bearer.clone();
            let file = file.clone();
            std::thread::spawn(move || {
                call(
                    &api,
                    "POST",
                    "/v1/submissions?period=2026-H1",
                    &[
                        ("Authorization", &bearer),
                        ("Content-Type", "text/csv"),
                        key,
                    ],
                    &file,
                )
            })
        })
        .collect();
    for other in others {
        let answer = other.join().unwrap();
        assert_eq!(answer.status, 409);
        assert_eq!(answer.json()["error"], "idempotency_key_in_use");
    }

    first.write_all(&file[half..]).unwrap();
    let mut response = Vec::new();
    first.read_to_end(&mut response).unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 202"),
        "{}",
        String::from_utf8_lossy(&response[..200.min(response.len())])
    );
    // Once it is answered, a retry with the key gets the same answer.
    let retry = world.upload(&bearer, &file, &[key]);
    assert_eq!(retry.status, 202);
}

#[test]
fn an_explanation_holding_a_bsn_is_refused_in_dutch_and_english() {
    let world = World::new(200, &[]);
    let (bearer, mirror) = world.published();
    // mirror.PERIOD.AGB.GMxxxx
    let parts: Vec<&str> = mirror.split('.').collect();
    let path = format!("/v1/mirror/{}/{}/annotation", parts[1], parts[3]);
    let annotate = |text: &str| {
        call(
            &world.server.api,
            "POST",
            &path,
            &[("Authorization", &bearer), ("Content-Type", "text/plain")],
            text.as_bytes(),
        )
    };
    for text in [
        "Eén jeugdige (BSN 123456782) stopte vroeg.",
        "Zie dossier 1234 56 782.",
    ] {
        let answer = annotate(text);
        assert_eq!(answer.status, 422, "{text}");
        let body = String::from_utf8_lossy(&answer.body).into_owned();
        assert!(!body.contains("782"), "the number is not repeated: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "annotation_holds_bsn");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("11-proef") && message.contains("could be a BSN"));
        assert!(message.contains("kan zijn"), "{message}");
    }
    let fine = annotate("Wachttijd gedaald van 60 naar 42 dagen in 2026.");
    assert_eq!(fine.status, 200);
}

#[test]
fn an_oversized_explanation_is_answered_413_in_the_json_error_format() {
    let world = World::new(200, &[]);
    let (bearer, mirror) = world.published();
    let parts: Vec<&str> = mirror.split('.').collect();
    let path = format!("/v1/mirror/{}/{}/annotation", parts[1], parts[3]);
    let text = "a".repeat(3 << 20);
    let answer = call(
        &world.server.api,
        "POST",
        &path,
        &[("Authorization", &bearer), ("Content-Type", "text/plain")],
        text.as_bytes(),
    );
    assert_eq!(answer.status, 413);
    let body = answer.json();
    assert_eq!(body["error"], "annotation_too_large");
    assert!(body["message"].as_str().unwrap().contains(" / "));
}

#[test]
fn listings_the_feed_and_every_401_are_in_the_audit_log() {
    let world = World::new(100, &[]);
    let gemeente = token(&world.data, ["--gemeente", "GM0363"], "setup");
    let bearer = format!("Bearer {gemeente}");
    for path in ["/v1/reports", "/v1/feed", "/v1/webhooks"] {
        assert_eq!(world.get(&bearer, path).status, 200, "{path}");
    }
    assert_eq!(
        call(&world.server.api, "GET", "/v1/reports", &[], b"").status,
        401
    );
    assert_eq!(world.get("Bearer nonsense", "/v1/feed").status, 401);
    assert_eq!(
        world
            .get("Bearer nonsense", "/v1/reports/national.2026-H1")
            .status,
        401
    );

    let records = world.audit();
    let has = |actor: &str, action: &str, object: &str, outcome: &str| {
        records.iter().any(|r| {
            r["actor"] == actor
                && r["action"] == action
                && r["object"] == object
                && r["outcome"] == outcome
        })
    };
    assert!(has("gemeente:GM0363", "report_read", "reports", "success"));
    assert!(has("gemeente:GM0363", "report_read", "feed", "success"));
    assert!(has(
        "gemeente:GM0363",
        "subscription",
        "webhooks",
        "success"
    ));
    assert!(has(
        "system:anonymous",
        "report_read",
        "/v1/reports",
        "denied"
    ));
    assert!(has("system:anonymous", "report_read", "/v1/feed", "denied"));
    assert!(has(
        "system:anonymous",
        "report_read",
        "/v1/reports/{id}",
        "denied"
    ));
    let log = fs::read_to_string(world.data.join("audit-log.jsonl")).unwrap();
    assert!(!log.contains(&gemeente) && !log.contains("nonsense"));
    let verified = spiegel(&[
        "audit",
        "verify",
        "--data-dir",
        p(&world.data),
        "--by",
        "auditor",
    ]);
    assert!(String::from_utf8_lossy(&verified.stdout).contains("intact"));
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let world = World::new(100, &[]);
    let token = token(&world.data, ["--gemeente", "GM0363"], "setup");
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = world.get(&format!("{scheme} {token}"), "/v1/reports");
        assert_eq!(answer.status, 200, "{scheme}");
    }
    for refused in [format!("Basic {token}"), format!("Bearer{token}"), token] {
        assert_eq!(world.get(&refused, "/v1/reports").status, 401);
    }
}

#[test]
fn pages_carry_a_content_security_policy_and_nosniff_headers() {
    let world = World::new(200, &[]);
    let (bearer, mirror) = world.published();
    let page = world.get(&bearer, &format!("/v1/reports/{mirror}.html"));
    assert_eq!(page.status, 200);
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.header("x-content-type-options").unwrap(), "nosniff");
    // Every answer is nosniff; only pages need the policy.
    let listing = world.get(&bearer, "/v1/reports");
    assert_eq!(listing.header("x-content-type-options").unwrap(), "nosniff");
}

#[test]
fn spiegel_validate_writes_the_same_bounded_receipt() {
    let dir = tempfile::tempdir().unwrap();
    generate(&dir.path().join("input"), 50, 1, 3, "2026-H1");
    let header = fs::read_dir(dir.path().join("input"))
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let columns = header.split(',').count();
    let junk_row = format!("{}\n", vec!["x"; columns].join(","));
    let mut junk = format!("{header}\n");
    for _ in 0..20_000 {
        junk.push_str(&junk_row);
    }
    let file = dir.path().join("12345678_2026-H1.csv");
    fs::write(&file, junk).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["validate", "--json", p(&file)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "rejected");
    assert!(
        output.stdout.len() < 1 << 20,
        "{} bytes",
        output.stdout.len()
    );
    let receipt: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(receipt["issues"].as_array().unwrap().len() <= 1_000);
    let totals = receipt["issue_counts"].as_object().unwrap();
    assert!(totals.values().all(|n| n.as_u64().unwrap() >= 20_000));
}
