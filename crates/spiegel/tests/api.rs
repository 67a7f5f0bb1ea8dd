//! The HTTP API end to end on loopback, with the embedded pipeline behind `spiegel serve`:
//! uploads (validated while streaming, idempotent, corrections, receipts), their limits under
//! a memory bound, the feed with its long poll, and webhooks that survive a subscriber being
//! down, verified as a subscriber would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod common;
use common::server::{call, peak_memory, send};
use common::world::World;
use common::{bsns, p};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn uploads_are_validated_while_streaming_idempotent_and_replaced_by_corrections() {
    let world = World::new(3000, &[]);
    let (a, b) = (world.agb(0), world.agb(1));
    let bearer_a = world.bearer(["--provider", &a]);
    let bearer_b = world.bearer(["--provider", &b]);
    let bearer_g = world.bearer(["--gemeente", "GM0363"]);
    let operator = world.bearer(["--operator", "ops"]);
    let file_a = fs::read(&world.files[0]).unwrap();

    // Who may upload: providers only; without a token nobody.
    let anonymous = call(
        &world.server.api,
        "POST",
        "/v1/submissions?period=2026-H1",
        &[("Content-Type", "text/csv")],
        &file_a,
    );
    assert_eq!(anonymous.status, 401);
    assert_eq!(world.upload(&bearer_g, &file_a, &[]).status, 404);
    assert_eq!(world.upload(&operator, &file_a, &[]).status, 404);

    // What the request must say.
    let no_period = call(
        &world.server.api,
        "POST",
        "/v1/submissions",
        &[("Authorization", &bearer_a), ("Content-Type", "text/csv")],
        &file_a,
    );
    assert_eq!(no_period.status, 400);
    assert_eq!(no_period.json()["error"], "invalid_period");
    let wrong_type = world.upload(&bearer_a, &file_a, &[("Content-Type", "text/plain")]);
    assert_eq!(wrong_type.status, 415);
    let not_gzip = world.upload(&bearer_a, &file_a, &[("Content-Encoding", "gzip")]);
    assert_eq!(not_gzip.status, 400);
    assert_eq!(not_gzip.json()["error"], "unreadable_upload");

    // Accepted: 202, an id, a Location; published once the pipeline has run.
    let first = world.upload(&bearer_a, &file_a, &[]);
    assert_eq!(
        first.status,
        202,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let id = first.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        first.header("location").as_deref(),
        Some(format!("/v1/submissions/{id}").as_str())
    );
    assert_eq!(first.json()["receipt"]["status"], "accepted");
    let published = world.wait_for(&bearer_a, &id, "published");
    let reports = world.get(&bearer_a, "/v1/reports").json();
    assert_eq!(published["release"], reports["release"]);
    assert!(
        reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] == "mirror"),
        "a provider reads its mirror reports"
    );
    assert!(!reports["reports"].as_array().unwrap().is_empty());

    // The same file again, plain or gzip, is the same submission and changes nothing.
    let again = world.upload(&bearer_a, &file_a, &[]);
    assert_eq!(
        (again.status, again.json()["id"].clone()),
        (202, id.clone().into())
    );
    assert_eq!(again.json()["status"], "published");
    let zipped = world.upload(&bearer_a, &gzip(&file_a), &[("Content-Encoding", "gzip")]);
    assert_eq!(
        (zipped.status, zipped.json()["id"].clone()),
        (202, id.clone().into())
    );
    assert_eq!(world.get(&bearer_a, "/v1/reports").json(), reports);

    // An Idempotency-Key ties a retry to its first attempt and refuses another file.
    let keyed = world.upload(&bearer_a, &file_a, &[("Idempotency-Key", "delivery-42")]);
    assert_eq!(
        (keyed.status, keyed.json()["id"].clone()),
        (202, id.clone().into())
    );
    let text = String::from_utf8(file_a.clone()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    let corrected = format!("{}\n", lines.join("\n"));
    let reused = world.upload(
        &bearer_a,
        corrected.as_bytes(),
        &[("Idempotency-Key", "delivery-42")],
    );
    assert_eq!(reused.status, 422);
    assert_eq!(reused.json()["error"], "idempotency_key_reused");

    // Another provider's submission does not exist for this one; nor for a municipality.
    assert_eq!(
        world
            .get(&bearer_b, &format!("/v1/submissions/{id}"))
            .status,
        404
    );
    assert_eq!(
        world
            .get(&bearer_g, &format!("/v1/submissions/{id}"))
            .status,
        404
    );
    assert_eq!(
        world
            .get(
                &bearer_a,
                "/v1/submissions/0123456789abcdef0123456789abcdef"
            )
            .status,
        404
    );

    // A correction replaces the earlier submission.
    let correction = world.upload(&bearer_a, corrected.as_bytes(), &[]);
    assert_eq!(correction.status, 202);
    let corrected_id = correction.json()["id"].as_str().unwrap().to_owned();
    assert_ne!(corrected_id, id);
    world.wait_for(&bearer_a, &corrected_id, "published");
    world.wait_for(&bearer_a, &id, "superseded");

    // A file validation rejects: 422 with its receipt, kept under its id.
    let rejected = world.upload(&bearer_a, b"foo,bar\n1,2\n", &[]);
    assert_eq!(rejected.status, 422);
    let body = rejected.json();
    assert_eq!(body["status"], "rejected");
    assert_eq!(body["receipt"]["status"], "rejected");
    let rejected_id = body["id"].as_str().unwrap();
    assert_eq!(
        world
            .get(&bearer_a, &format!("/v1/submissions/{rejected_id}"))
            .json()["status"],
        "rejected"
    );
    // The correction stays in force.
    assert_eq!(
        world
            .get(&bearer_a, &format!("/v1/submissions/{corrected_id}"))
            .json()["status"],
        "published"
    );

    // Provider B's upload is applied beside A's.
    let from_b = world.upload(&bearer_b, &fs::read(&world.files[1]).unwrap(), &[]);
    assert_eq!(from_b.status, 202);
    world.wait_for(
        &bearer_b,
        from_b.json()["id"].as_str().unwrap(),
        "published",
    );

    // The raw files never reach the disk: no BSN in any file of the data directory (the
    // audit log, receipts, registries, the transport's tokenised records) nor in the reports.
    let secrets: BTreeSet<String> = bsns(&world.files[0])
        .into_iter()
        .chain(bsns(&world.files[1]))
        .collect();
    assert!(secrets.len() > 100);
    let mut stack = vec![world.data.clone(), world.data.join("../reports")];
    let mut checked = 0;
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for bsn in &secrets {
                assert!(!text.contains(bsn.as_str()), "a BSN in {}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 10);

    // One upload record per upload, by the uploading provider.
    let log = fs::read_to_string(world.data.join("audit-log.jsonl")).unwrap();
    let uploads: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["action"] == "submission_upload")
        .collect();
    let by_a = uploads
        .iter()
        .filter(|r| r["actor"] == format!("provider:{a}").as_str() && r["outcome"] == "success")
        .count();
    assert_eq!(by_a, 5, "first, again, gzip, keyed, correction");
    assert!(log.contains("\"action\":\"release\""));
    assert!(log.contains("\"action\":\"key_use\""));
}

#[test]
fn upload_limits_are_refused_while_streaming_within_a_memory_bound() {
    const MAX_BYTES: u64 = 16 << 20;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    fs::write(
        &config,
        format!(r#"{{"ingest": {{"limits": {{"max_bytes": {MAX_BYTES}}}}}}}"#),
    )
    .unwrap();
    let world = World::new(200, &["--config", p(&config)]);
    let bearer = world.bearer(["--provider", &world.agb(0)]);
    let header = fs::read_to_string(&world.files[0])
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let pid = world.server.child.id();
    // Warm up: one real upload, so the baseline holds the pipeline's working set.
    let warm = world.upload(&bearer, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(warm.status, 202);
    world.wait_for(&bearer, warm.json()["id"].as_str().unwrap(), "published");
    let baseline = peak_memory(pid);
    let upload = |headers: &[(&str, &str)],
                  length: Option<u64>,
                  chunks: Box<dyn Iterator<Item = Vec<u8>>>| {
        let mut all = vec![("Authorization", bearer.as_str())];
        all.extend_from_slice(headers);
        send(
            &world.server.api,
            "POST",
            "/v1/submissions?period=2026-H1",
            &all,
            length,
            chunks,
        )
    };
    let csv = [("Content-Type", "text/csv")];
    let mut refused = BTreeMap::new();

    // A declared length over the limit: refused before a byte of the body is read.
    let declared = upload(&csv, Some(1 << 40), Box::new(std::iter::empty()));
    refused.insert(
        "declared 1 TiB",
        (declared.status, declared.json()["error"].clone()),
    );

    // 1 GiB streamed without a length (rows of bare delimiters, which validation skips, so
    // only the byte limit can stop it): refused once the limit has passed.
    let row = format!("{header}\n").into_bytes();
    let blank_rows = b",\n".repeat(1 << 19);
    let filler = std::iter::once(row).chain(std::iter::repeat_n(blank_rows, 1024));
    let streamed = upload(&csv, None, Box::new(filler));
    refused.insert(
        "1 GiB streamed",
        (streamed.status, streamed.json()["error"].clone()),
    );

    // A gzip bomb: 1 GiB of zeros in about 1 MiB (the expansion limit itself is shown by a
    // unit test of spiegel-serve; here the byte limit after decompression stops it first).
    let bomb = {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap()
    };
    let exploded = upload(
        &[("Content-Type", "text/csv"), ("Content-Encoding", "gzip")],
        Some(bomb.len() as u64),
        Box::new(
            bomb.chunks(64 << 10)
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    );
    // Whichever limit the decompressed stream reaches first: the byte limit, or the expansion
    // limit when the compressed bytes arrived more slowly than they were inflated.
    let bomb_error = exploded.json()["error"].clone();
    assert!(
        bomb_error == "upload_too_large" || bomb_error == "decompression_limit",
        "{bomb_error}"
    );
    refused.insert("gzip bomb", (exploded.status, "upload_too_large".into()));

    // A CSV with a 10 MB field.
    let mut wide = format!("{header}\n").into_bytes();
    wide.extend(std::iter::repeat_n(b'9', 10 << 20));
    wide.extend_from_slice(b",19900101,M\n");
    let field = upload(
        &csv,
        Some(wide.len() as u64),
        Box::new(
            wide.chunks(64 << 10)
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
                .into_iter(),
        ),
    );
    refused.insert(
        "10 MB field",
        (
            field.status,
            field.json()["receipt"]["rejection"]["code"].clone(),
        ),
    );

    // A deeply nested JSON line, long (1 MiB) and short (within the record limit).
    let jsonl = [("Content-Type", "application/x-ndjson")];
    let nested = |depth: usize| -> Vec<u8> {
        let mut line = b"{\"bsn\":".to_vec();
        line.extend(std::iter::repeat_n(b'[', depth));
        line.extend(std::iter::repeat_n(b']', depth));
        line.extend_from_slice(b"}\n");
        line
    };
    let deep = nested(512 << 10);
    let long = upload(
        &jsonl,
        Some(deep.len() as u64),
        Box::new(std::iter::once(deep)),
    );
    refused.insert(
        "nested JSON, 1 MiB",
        (
            long.status,
            long.json()["receipt"]["rejection"]["code"].clone(),
        ),
    );
    let shallow = nested(4000);
    let short = upload(
        &jsonl,
        Some(shallow.len() as u64),
        Box::new(std::iter::once(shallow)),
    );
    refused.insert(
        "nested JSON, 8 KB",
        (short.status, short.json()["receipt"]["status"].clone()),
    );

    let expected: BTreeMap<&str, (u16, Value)> = [
        ("declared 1 TiB", (413, "upload_too_large".into())),
        ("1 GiB streamed", (413, "upload_too_large".into())),
        ("gzip bomb", (413, "upload_too_large".into())),
        ("10 MB field", (400, "RECORD_TOO_LONG".into())),
        ("nested JSON, 1 MiB", (400, "RECORD_TOO_LONG".into())),
        ("nested JSON, 8 KB", (422, "rejected".into())),
    ]
    .into_iter()
    .collect();
    assert_eq!(refused, expected);

    // Nothing was buffered whole: the server's peak memory grew by far less than what was
    // sent (over 2 GiB once decompressed).
    let grown = peak_memory(pid).saturating_sub(baseline);
    println!(
        "peak memory: baseline {} MiB, grown by {} MiB",
        baseline >> 20,
        grown >> 20
    );
    assert!(grown < 64 << 20, "peak memory grew by {} MiB", grown >> 20);
    // And the server still works.
    let after = world.upload(&bearer, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(after.status, 202);
}

/// A request as a subscriber received it: lower-cased headers and the body.
type Received = (BTreeMap<String, String>, String);

/// A webhook subscriber on loopback: records every request's headers and body, answers 200.
struct Subscriber {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Subscriber {
    fn listen(listener: TcpListener) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let Some((name, value)) = line.trim_end().split_once(':') else {
                        break;
                    };
                    headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
                }
                let length: usize = headers["content-length"].parse().unwrap();
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                log.lock()
                    .unwrap()
                    .push((headers, String::from_utf8(body).unwrap()));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { received }
    }
}

/// The verification recipe of the API's documentation, as a subscriber implements it:
/// HMAC-SHA256 with the secret over `<t>.<body>`, compared in constant time, the timestamp no
/// more than five minutes from `now`.
fn verify(secret: &str, signature: &str, body: &str, now: u64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    if now.abs_diff(t) > 300 {
        return false;
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &v1).is_ok()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn the_feed_long_polls_and_webhooks_reach_a_subscriber_that_was_down() {
    let world = World::new(3000, &["--webhook-first-retry-ms", "100"]);
    let (a, b) = (world.agb(0), world.agb(1));
    let bearer_a = world.bearer(["--provider", &a]);
    let bearer_b = world.bearer(["--provider", &b]);
    // A municipality both providers deliver for.
    let gemeente = {
        let codes = |file: &Path| -> BTreeSet<String> {
            let text = fs::read_to_string(file).unwrap();
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap().split(',').collect();
            let column = header.iter().position(|c| *c == "gemeentecode").unwrap();
            lines
                .map(|l| l.split(',').nth(column).unwrap().to_owned())
                .collect()
        };
        codes(&world.files[0])
            .intersection(&codes(&world.files[1]))
            .next()
            .unwrap()
            .clone()
    };
    let bearer_g = world.bearer(["--gemeente", &gemeente]);
    let operator = world.bearer(["--operator", "ops"]);

    // Nothing for the municipality yet (at most the release of the empty state, which holds
    // no report).
    let empty = world.get(&bearer_g, "/v1/feed").json();
    assert_eq!(empty["entries"], serde_json::json!([]));
    let start: u64 = empty["cursor"].as_str().unwrap().parse().unwrap();
    assert_eq!(world.get(&operator, "/v1/feed").status, 404);
    assert_eq!(
        world.get(&bearer_g, "/v1/feed?after=99").status,
        404,
        "a cursor never handed out"
    );
    assert_eq!(world.get(&bearer_g, "/v1/feed?wait=31").status, 400);

    // The subscriber is down: its port is free, nothing listens.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let created = call(
        &world.server.api,
        "POST",
        "/v1/webhooks",
        &[
            ("Authorization", &bearer_g),
            ("Content-Type", "application/json"),
        ],
        format!(r#"{{"url": "http://127.0.0.1:{port}/hook"}}"#).as_bytes(),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed = world.get(&bearer_g, "/v1/webhooks").json();
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is shown once"
    );
    let refused = call(
        &world.server.api,
        "POST",
        "/v1/webhooks",
        &[
            ("Authorization", &bearer_g),
            ("Content-Type", "application/json"),
        ],
        br#"{"url": "http://192.0.2.1/hook"}"#,
    );
    assert_eq!(refused.status, 422, "this server delivers to loopback only");

    // A long poll waits for the first release and returns with it.
    let api = world.server.api.clone();
    let waiting = {
        let bearer = bearer_g.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            // Each poll waits at most the API's 30 s; on a busy machine the release may take
            // longer, and the subscriber then simply polls again.
            let deadline = started + RELEASE_WITHIN;
            loop {
                let answer = call(
                    &api,
                    "GET",
                    &format!("/v1/feed?after={start}&wait=30"),
                    &[("Authorization", &bearer)],
                    b"",
                );
                let empty = answer.status == 200
                    && answer.json()["entries"]
                        .as_array()
                        .is_some_and(|entries| entries.is_empty());
                if !empty || Instant::now() >= deadline {
                    break (answer, started.elapsed());
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let first = world.upload(&bearer_a, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(first.status, 202);
    let (polled, took) = waiting.join().unwrap();
    let polled = polled.json();
    assert_eq!(polled["entries"].as_array().unwrap().len(), 1, "{polled}");
    // The first release with a report for the municipality (the empty state's release, if the
    // pipeline made it in between, holds none and is passed over).
    let first_cursor: u64 = polled["cursor"].as_str().unwrap().parse().unwrap();
    assert!(first_cursor > start);
    assert_eq!(polled["entries"][0]["cursor"], polled["cursor"]);
    println!("the long poll returned after {took:?}");
    let ids = report_ids(&polled["entries"][0]);
    assert!(
        ids.contains(format!("municipality.2026-H1.{gemeente}").as_str()),
        "{ids:?}"
    );
    assert!(ids.contains("national.2026-H1"), "{ids:?}");
    assert!(
        ids.iter().all(|id| !id.starts_with("mirror.")),
        "no mirror report unshared"
    );

    // A second release while the subscriber is still down; publication does not wait for it.
    let second = world.upload(&bearer_b, &fs::read(&world.files[1]).unwrap(), &[]);
    assert_eq!(second.status, 202);
    world.wait_for(
        &bearer_b,
        second.json()["id"].as_str().unwrap(),
        "published",
    );
    // The server follows the report store's feed every half second.
    let deadline = Instant::now() + RELEASE_WITHIN;
    let (feed, cursors) = loop {
        let feed = world.get(&bearer_g, "/v1/feed").json();
        let cursors: Vec<String> = feed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cursor"].as_str().unwrap().to_owned())
            .collect();
        if cursors.len() >= 2 || Instant::now() > deadline {
            break (feed, cursors);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        cursors,
        [first_cursor.to_string(), (first_cursor + 1).to_string()]
    );
    let deadline = Instant::now() + RELEASE_WITHIN;
    loop {
        let status = world.get(&bearer_g, "/v1/webhooks").json();
        if status["webhooks"][0]["failing"]["attempts"]
            .as_u64()
            .unwrap_or(0)
            >= 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The provider's feed: its own mirror reports only.
    let feed_a = world.get(&bearer_a, "/v1/feed").json();
    for entry in feed_a["entries"].as_array().unwrap() {
        for report in entry["reports"].as_array().unwrap() {
            let id = report["id"].as_str().unwrap();
            assert!(id.starts_with(&format!("mirror.2026-H1.{a}.")), "{id}");
        }
    }

    // The subscriber comes back and receives every entry, exactly as signed.
    let subscriber = Subscriber::listen(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let deadline = Instant::now() + RELEASE_WITHIN;
    let delivered = loop {
        let received = subscriber.received.lock().unwrap().clone();
        let mut by_id: BTreeMap<String, Received> = BTreeMap::new();
        for (headers, body) in received {
            // At least once: a subscriber deduplicates by the delivery id.
            by_id
                .entry(headers["spiegel-delivery"].clone())
                .or_insert((headers, body));
        }
        if by_id.len() >= 2 {
            break by_id;
        }
        assert!(Instant::now() < deadline, "delivered: {:?}", by_id.keys());
        std::thread::sleep(Duration::from_millis(100));
    };
    let now = unix_now();
    let mut delivered_cursors = Vec::new();
    for (id, (headers, body)) in &delivered {
        let signature = &headers["spiegel-signature"];
        assert!(
            verify(&secret, signature, body, now),
            "a genuine delivery verifies"
        );
        let value: Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["id"].as_str(), Some(id.as_str()));
        let cursor = value["cursor"].as_str().unwrap().to_owned();
        let entry = feed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["cursor"] == cursor.as_str())
            .unwrap();
        assert_eq!(
            value["reports"], entry["reports"],
            "the delivery is the feed entry"
        );
        delivered_cursors.push(cursor);

        // Forged or replayed: detectable by the same recipe.
        let t: u64 = signature
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        let tampered = body.replacen("2026-H1", "2026-H2", 1);
        assert!(
            !verify(&secret, signature, &tampered, now),
            "an altered body"
        );
        assert!(
            !verify("whsec_guess", signature, body, now),
            "another secret"
        );
        let forged_time = signature.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1);
        assert!(
            !verify(&secret, &forged_time, body, now),
            "an altered timestamp"
        );
        assert!(
            !verify(&secret, signature, body, t + 301),
            "a replay after five minutes"
        );
    }
    delivered_cursors.sort();
    assert_eq!(delivered_cursors, cursors);
    let status = world.get(&bearer_g, "/v1/webhooks").json();
    assert_eq!(
        status["webhooks"][0]["cursor"],
        (first_cursor + 1).to_string()
    );
    assert!(status["webhooks"][0]["failing"].is_null(), "{status}");

    // Only the owner removes a subscription.
    let hook = format!("/v1/webhooks/{}", created.json()["id"].as_str().unwrap());
    assert_eq!(
        call(
            &world.server.api,
            "DELETE",
            &hook,
            &[("Authorization", &bearer_a)],
            b""
        )
        .status,
        404
    );
    assert_eq!(
        call(
            &world.server.api,
            "DELETE",
            &hook,
            &[("Authorization", &bearer_g)],
            b""
        )
        .status,
        204
    );
    assert_eq!(
        world.get(&bearer_g, "/v1/webhooks").json()["webhooks"],
        serde_json::json!([])
    );

    let (_, metrics) = common::server::get(&world.server.admin, "/metrics", &[]);
    let metrics = String::from_utf8(metrics).unwrap();
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(
        counter("spiegel_webhook_deliveries_total") >= 2,
        "{metrics}"
    );
    assert!(counter("spiegel_webhook_failures_total") >= 2, "{metrics}");
}

/// The ids of the reports a feed entry lists.
fn report_ids(entry: &Value) -> BTreeSet<&str> {
    entry["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

/// The manifest of the release published now.
fn manifest(reports: &Path) -> Value {
    serde_json::from_slice(&fs::read(reports.join("manifest.json")).unwrap()).unwrap()
}

/// How long a test waits for a release: a guard against a hang, not a performance target
/// (the publish stage's attacker audit of a release takes seconds, several times that on a
/// busy 2-core machine).
const RELEASE_WITHIN: Duration = Duration::from_secs(300);

/// Long-polls the feed after `cursor` until it holds an entry: each poll waits at most the
/// API's 30 s, and a busy machine may need more than one before the release is out.
fn poll_feed(world: &World, bearer: &str, cursor: &str) -> Value {
    let deadline = Instant::now() + RELEASE_WITHIN;
    loop {
        let polled = world
            .get(bearer, &format!("/v1/feed?after={cursor}&wait=30"))
            .json();
        if !polled["entries"].as_array().unwrap().is_empty() || Instant::now() >= deadline {
            return polled;
        }
    }
}

/// Waits until the published release is `wanted` (or, without one, any other than `not`).
fn wait_for_release(reports: &Path, not: &str, wanted: Option<&str>) -> Value {
    let deadline = Instant::now() + RELEASE_WITHIN;
    loop {
        let now = manifest(reports);
        let release = now["release"].as_str().unwrap();
        if release != not && wanted.is_none_or(|w| w == release) {
            return now;
        }
        assert!(Instant::now() < deadline, "still release {release}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sharing_a_mirror_report_publishes_again_and_the_municipality_hears_of_it_at_once() {
    let world = World::new(3000, &[]);
    let a = world.agb(0);
    let bearer_a = world.bearer(["--provider", &a]);
    let upload = world.upload(&bearer_a, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(upload.status, 202);
    let id = upload.json()["id"].as_str().unwrap().to_owned();
    let release = world.wait_for(&bearer_a, &id, "published")["release"]
        .as_str()
        .unwrap()
        .to_owned();
    // One of A's mirror reports, and the municipality it is about.
    let mirror = manifest(&world.reports)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "mirror")
        .unwrap()
        .clone();
    assert_eq!(mirror["shared"], false);
    let gemeente = mirror["municipality"].as_str().unwrap().to_owned();
    let report = format!("/v1/reports/mirror.2026-H1.{a}.{gemeente}");
    let bearer_g = world.bearer(["--gemeente", &gemeente]);
    // The feed as of that release (the server follows the report store every half second).
    let deadline = Instant::now() + RELEASE_WITHIN;
    let cursor = loop {
        let feed = world.get(&bearer_g, "/v1/feed").json();
        let last = feed["entries"].as_array().unwrap().last().cloned();
        if last.is_some_and(|e| e["release"] == release.as_str()) {
            break feed["cursor"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "{feed}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(world.get(&bearer_g, &report).status, 404);

    let share = |shared: bool| {
        let answer = call(
            &world.server.api,
            "POST",
            &format!("/v1/mirror/2026-H1/{gemeente}/share"),
            &[
                ("Authorization", &bearer_a),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"shared": {shared}}}"#).as_bytes(),
        );
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json()
    };
    // A is the municipality's only provider: sharing leaves nobody to protect, so the request
    // takes effect (NB-4), with the release published again for it (its id tells the sharing
    // apart), which reaches the municipality's feed without any new data.
    let answer = share(true);
    assert_eq!(answer["state"], "in_effect", "{answer}");
    let polled = poll_feed(&world, &bearer_g, &cursor);
    let entries = polled["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{polled}");
    let shared_release = entries[0]["release"].as_str().unwrap().to_owned();
    assert!(
        shared_release.starts_with(&format!("{release}-s")),
        "{shared_release} after {release}"
    );
    let ids = report_ids(&entries[0]);
    assert!(
        ids.contains(format!("mirror.2026-H1.{a}.{gemeente}").as_str()),
        "{ids:?}"
    );
    assert_eq!(world.get(&bearer_g, &report).status, 200);
    let now = wait_for_release(&world.reports, &release, Some(&shared_release));
    let shared_file = |manifest: &Value| {
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == "mirror" && f["municipality"] == gemeente.as_str())
            .unwrap()["shared"]
            .clone()
    };
    assert_eq!(shared_file(&now), true);
    assert_eq!(
        now["submissions"],
        manifest(&world.reports)["submissions"],
        "the same data"
    );
    let listed = world.get(&bearer_a, "/v1/mirror/shares").json();
    assert_eq!(listed["shares"][0]["state"], "in_effect", "{listed}");
    // The submission stays published, now in the release published again.
    let status = world
        .get(&bearer_a, &format!("/v1/submissions/{id}"))
        .json();
    assert_eq!(status["status"], "published");

    // Withdrawn: unreadable at once, and published again as no longer shared; the share
    // that took effect still counts for NB-3 (the municipality keeps what it read), so the
    // release is not the one from before the share.
    assert_eq!(share(false)["state"], "withdrawn");
    assert_eq!(world.get(&bearer_g, &report).status, 404);
    let back = wait_for_release(&world.reports, &shared_release, None);
    assert_ne!(back["release"], release.as_str());
    assert_eq!(shared_file(&back), false);
    let listed = world.get(&bearer_a, "/v1/mirror/shares").json();
    assert_eq!(listed["shares"], serde_json::json!([]), "{listed}");
    // The worker records a release when its pass returns, a moment after the manifest.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let log = fs::read_to_string(world.data.join("audit-log.jsonl")).unwrap();
        let releases = log
            .lines()
            .filter(|l| l.contains(r#""action":"release""#))
            .count();
        if releases >= 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "each publication is in the audit log: {releases}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn after_uploads_the_metrics_parse_as_prometheus_text_with_plausible_values() {
    let world = World::new(3000, &[]);
    let mut rows = 0.0;
    let mut last_id = String::new();
    let mut bearer = String::new();
    for i in 0..2 {
        bearer = world.bearer(["--provider", &world.agb(i)]);
        let file = fs::read(&world.files[i]).unwrap();
        rows += (file.iter().filter(|b| **b == b'\n').count() - 1) as f64;
        let answer = world.upload(&bearer, &file, &[]);
        assert_eq!(answer.status, 202);
        last_id = answer.json()["id"].as_str().unwrap().to_owned();
    }
    let rejected = world.upload(&bearer, b"not,a,submission\n1,2,3\n", &[]);
    assert_eq!(rejected.status, 422);
    world.wait_for(&bearer, &last_id, "published");
    let manifest = manifest(&world.reports);
    let suppressed: u64 = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["suppressed"].as_u64().unwrap())
        .sum();

    let answer = call(&world.server.admin, "GET", "/metrics", &[], b"");
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    common::prometheus::parse(&String::from_utf8(answer.body).unwrap());
    let files = manifest["files"].as_array().unwrap().len() as f64;
    let samples = common::prometheus::scrape_until(&world.server.admin, |samples| {
        common::prometheus::find(samples, "spiegel_release_files", &[]) == Some(files)
    });
    let value =
        |name: &str, labels: &[(&str, &str)]| common::prometheus::value(&samples, name, labels);
    // The uploads: two accepted with every row read, one rejected.
    assert_eq!(
        value("spiegel_submissions_total", &[("outcome", "accepted")]),
        2.0
    );
    assert_eq!(
        value("spiegel_submissions_total", &[("outcome", "rejected")]),
        1.0
    );
    assert!(value("spiegel_submission_records_total", &[("kind", "read")]) >= rows);
    assert!(value("spiegel_submission_records_total", &[("kind", "accepted")]) > 0.0);
    assert_eq!(
        value(
            "spiegel_http_requests_total",
            &[("route", "/v1/submissions"), ("status", "202")]
        ),
        2.0
    );
    // The embedded pipeline's stages: what they handled, and the release published.
    assert!(value("spiegel_stage_handled_total", &[("stage", "pseudonymise")]) >= 2.0);
    assert!(value("spiegel_stage_handled_total", &[("stage", "aggregate")]) >= 2.0);
    assert!(value("spiegel_stage_releases_total", &[("stage", "aggregate")]) >= 1.0);
    assert!(value("spiegel_stage_releases_total", &[("stage", "publish")]) >= 1.0);
    for stage in ["pseudonymise", "aggregate", "publish"] {
        assert_eq!(value("spiegel_stage_ready", &[("stage", stage)]), 1.0);
        assert_eq!(
            value("spiegel_stage_step_failures_total", &[("stage", stage)]),
            0.0
        );
        let steps = value("spiegel_stage_steps_total", &[("stage", stage)]);
        assert!(steps >= 1.0);
        assert_eq!(
            value("spiegel_stage_step_seconds_count", &[("stage", stage)]),
            steps
        );
    }
    assert_eq!(value("spiegel_release_files", &[]), files);
    assert_eq!(
        value("spiegel_release_suppressed_cells", &[]),
        suppressed as f64
    );
    assert_eq!(value("spiegel_audit_write_failures_total", &[]), 0.0);
    assert_eq!(value("spiegel_tls_handshake_failures_total", &[]), 0.0);
}

/// The audit log's records, parsed.
fn audit_records(data: &Path) -> Vec<Value> {
    fs::read_to_string(data.join("audit-log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `spiegel audit verify` on `data`: exit code and what it said.
fn audit_verify(data: &Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["audit", "verify", "--data-dir", p(data), "--by", "auditor"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Provider A's first mirror report of the current release: its municipality.
fn a_mirror_municipality(reports: &Path, agb: &str) -> String {
    manifest(reports)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "mirror" && f["recipient"] == agb)
        .unwrap()["municipality"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_long_report_path_jams_nothing_and_what_follows_is_answered_and_recorded() {
    // Issue 26: `/v1/reports/` and 21,000 × `%01` wrote a 126 KB audit line, after which every
    // audited call answered 503 and changes went through unrecorded.
    let world = World::new(3000, &[]);
    let (a, b) = (world.agb(0), world.agb(1));
    let bearer_a = world.bearer(["--provider", &a]);
    let bearer_b = world.bearer(["--provider", &b]);
    let first = world.upload(&bearer_a, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(first.status, 202);
    world.wait_for(&bearer_a, first.json()["id"].as_str().unwrap(), "published");

    let long = format!("/v1/reports/{}", "%01".repeat(21_000));
    let answer = world.get(&bearer_a, &long);
    assert_eq!(
        answer.status,
        414,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["error"], "uri_too_long");
    // Within the target limit but over the id's maxLength (200): refused too.
    let answer = world.get(&bearer_a, &format!("/v1/reports/{}", "%01".repeat(201)));
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"], "invalid_parameter");
    for path in [
        format!("/v1/mirror/2026-H1/{}/share", "X".repeat(300)),
        "/v1/mirror/2026-H9/GM0363/annotation".to_owned(),
        format!("/v1/submissions/{}", "a".repeat(65)),
        format!("/v1/webhooks/{}", "a".repeat(65)),
    ] {
        let method = if path.contains("webhooks") {
            "DELETE"
        } else if path.contains("submissions") {
            "GET"
        } else {
            "POST"
        };
        let answer = call(
            &world.server.api,
            method,
            &path,
            &[("Authorization", &bearer_a)],
            br#"{"shared": true}"#,
        );
        assert_eq!(answer.status, 400, "{method} {path}");
    }
    let hook = call(
        &world.server.api,
        "POST",
        "/v1/webhooks",
        &[
            ("Authorization", &bearer_a),
            ("Content-Type", "application/json"),
        ],
        format!(r#"{{"url": "http://127.0.0.1:9/{}"}}"#, "a".repeat(2000)).as_bytes(),
    );
    assert_eq!(hook.status, 422, "a webhook URL over 2000 characters");

    // An upload, a share and a revocation, each answered as normal.
    let second = world.upload(&bearer_b, &fs::read(&world.files[1]).unwrap(), &[]);
    assert_eq!(second.status, 202);
    let upload_id = second.json()["id"].as_str().unwrap().to_owned();
    world.wait_for(&bearer_b, &upload_id, "published");
    let gemeente = a_mirror_municipality(&world.reports, &a);
    let shared = call(
        &world.server.api,
        "POST",
        &format!("/v1/mirror/2026-H1/{gemeente}/share"),
        &[
            ("Authorization", &bearer_a),
            ("Content-Type", "application/json"),
        ],
        br#"{"shared": true}"#,
    );
    assert_eq!(
        shared.status,
        200,
        "{}",
        String::from_utf8_lossy(&shared.body)
    );
    let revoked_id = bearer_b["Bearer spiegel_".len().."Bearer spiegel_".len() + 8].to_owned();
    common::spiegel(&[
        "tokens",
        "revoke",
        &revoked_id,
        "--data-dir",
        p(&world.data),
        "--by",
        "alice",
    ]);

    let records = audit_records(&world.data);
    let has = |action: &str, object: &str, outcome: &str| {
        records
            .iter()
            .any(|r| r["action"] == action && r["object"] == object && r["outcome"] == outcome)
    };
    assert!(has(
        "report_read",
        &format!("request target of {} bytes", long.len()),
        "rejected"
    ));
    assert!(has("submission_upload", &upload_id, "success"));
    assert!(has(
        "share",
        &format!("mirror.2026-H1.{gemeente}"),
        "success"
    ));
    assert!(has("token_revoke", &revoked_id, "success"));
    assert!(records.iter().any(|r| r["action"] == "release"));
    let longest = fs::read_to_string(world.data.join("audit-log.jsonl"))
        .unwrap()
        .lines()
        .map(str::len)
        .max()
        .unwrap();
    assert!(longest < 2048, "an audit line of {longest} bytes");
    let (code, said) = audit_verify(&world.data);
    assert_eq!(code, 0, "{said}");
}

#[test]
fn a_change_the_audit_log_cannot_record_does_not_happen() {
    let world = World::new(3000, &[]);
    let a = world.agb(0);
    let bearer_a = world.bearer(["--provider", &a]);
    let first = world.upload(&bearer_a, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(first.status, 202);
    let release =
        world.wait_for(&bearer_a, first.json()["id"].as_str().unwrap(), "published")["release"]
            .as_str()
            .unwrap()
            .to_owned();
    let gemeente = a_mirror_municipality(&world.reports, &a);
    let share = |shared: bool| {
        call(
            &world.server.api,
            "POST",
            &format!("/v1/mirror/2026-H1/{gemeente}/share"),
            &[
                ("Authorization", &bearer_a),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"shared": {shared}}}"#).as_bytes(),
        )
    };
    // A is the municipality's only provider: the share takes effect, in a release of its own.
    assert_eq!(share(true).status, 200);
    let shared = wait_for_release(&world.reports, &release, None)["release"]
        .as_str()
        .unwrap()
        .to_owned();

    // The log is broken: its last line is no record; nothing can be appended to it.
    let log_path = world.data.join("audit-log.jsonl");
    let intact = fs::read(&log_path).unwrap();
    let mut broken = intact.clone();
    broken.extend_from_slice(b"{\"not\": \"a record\"}\n");
    fs::write(&log_path, &broken).unwrap();
    let state = |name: &str| fs::read(world.data.join(name)).ok();
    let files = |dir: &str| {
        fs::read_dir(world.data.join(dir))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let (sharing, annotations, webhooks, submissions) = (
        state("sharing.json"),
        state("annotations.json"),
        state("webhooks.json"),
        files("submissions"),
    );

    // An upload (a correction: one row fewer).
    let original = fs::read_to_string(&world.files[0]).unwrap();
    let mut rows: Vec<&str> = original.lines().collect();
    rows.pop();
    let corrected = rows.join("\n") + "\n";
    let answer = world.upload(&bearer_a, corrected.as_bytes(), &[]);
    assert_eq!(
        answer.status,
        503,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // A share withdrawn, an explanation, a webhook.
    assert_eq!(share(false).status, 503);
    let annotated = call(
        &world.server.api,
        "POST",
        &format!("/v1/mirror/2026-H1/{gemeente}/annotation"),
        &[("Authorization", &bearer_a), ("Content-Type", "text/plain")],
        "Het verhaal achter de cijfers.".as_bytes(),
    );
    assert_eq!(annotated.status, 503);
    let hooked = call(
        &world.server.api,
        "POST",
        "/v1/webhooks",
        &[
            ("Authorization", &bearer_a),
            ("Content-Type", "application/json"),
        ],
        br#"{"url": "http://127.0.0.1:9/hook"}"#,
    );
    assert_eq!(hooked.status, 503);
    assert_eq!(state("sharing.json"), sharing);
    assert_eq!(state("annotations.json"), annotations);
    assert_eq!(state("webhooks.json"), webhooks);
    assert_eq!(files("submissions"), submissions);
    // A release: the share withdrawn behind the API's back would be published again without
    // it, but cannot be recorded, so it is not.
    assert!(sharing.is_some());
    fs::write(world.data.join("sharing.json"), r#"{"shares": []}"#).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(manifest(&world.reports)["release"], shared.as_str());
    assert_eq!(fs::read(&log_path).unwrap(), broken, "nothing appended");

    // Repaired, the release waiting goes out, recorded first.
    fs::write(&log_path, &intact).unwrap();
    let after = wait_for_release(&world.reports, &shared, None)["release"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        audit_records(&world.data)
            .iter()
            .any(|r| r["action"] == "release" && r["object"] == format!("release {after}").as_str())
    );
    let (code, said) = audit_verify(&world.data);
    assert_eq!(code, 0, "{said}");
}

#[test]
fn a_revoked_token_ends_its_long_poll_at_once_and_its_webhook_stops() {
    let world = World::new(3000, &["--webhook-first-retry-ms", "100"]);
    let a = world.agb(0);
    let bearer_a = world.bearer(["--provider", &a]);
    let revoked = world.bearer(["--provider", &a]);
    let kept = world.bearer(["--provider", &a]);
    let revoked_id = revoked["Bearer spiegel_".len().."Bearer spiegel_".len() + 8].to_owned();
    let listen = || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        (Subscriber::listen(listener), port)
    };
    let register = |bearer: &str, port: u16| -> String {
        let created = call(
            &world.server.api,
            "POST",
            "/v1/webhooks",
            &[
                ("Authorization", bearer),
                ("Content-Type", "application/json"),
            ],
            format!(r#"{{"url": "http://127.0.0.1:{port}/hook"}}"#).as_bytes(),
        );
        assert_eq!(
            created.status,
            201,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        created.json()["id"].as_str().unwrap().to_owned()
    };
    let (stopped, stopped_port) = listen();
    let (control, control_port) = listen();
    let stopped_id = register(&revoked, stopped_port);
    register(&kept, control_port);

    // A long poll with the token to be revoked, waiting at the head of the feed.
    let head = world.get(&revoked, "/v1/feed").json()["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = world.server.api.clone();
    let waiting = {
        let bearer = revoked.clone();
        std::thread::spawn(move || {
            let answer = call(
                &api,
                "GET",
                &format!("/v1/feed?after={head}&wait=30"),
                &[("Authorization", &bearer)],
                b"",
            );
            (answer, Instant::now())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    common::spiegel(&[
        "tokens",
        "revoke",
        &revoked_id,
        "--data-dir",
        p(&world.data),
        "--by",
        "alice",
    ]);
    let revoked_at = Instant::now();
    let (answer, ended) = waiting.join().unwrap();
    assert_eq!(
        answer.status,
        401,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let took = ended.saturating_duration_since(revoked_at);
    assert!(
        took < Duration::from_secs(1),
        "the long poll ended {took:?} after the revocation"
    );

    // A release for A: the control webhook receives it, the revoked token's does not.
    let upload = world.upload(&bearer_a, &fs::read(&world.files[0]).unwrap(), &[]);
    assert_eq!(upload.status, 202);
    let deadline = Instant::now() + RELEASE_WITHIN;
    while control.received.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the control webhook received nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Deliveries of one release go out together; give the stopped one the same chance.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        stopped.received.lock().unwrap().is_empty(),
        "delivered after revocation"
    );

    // Disabled, shown so, and recorded.
    let listed = world.get(&kept, "/v1/webhooks").json();
    let hook = listed["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == stopped_id.as_str())
        .unwrap()
        .clone();
    assert!(
        hook["disabled"]["reason"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{hook}"
    );
    let records = audit_records(&world.data);
    assert!(records.iter().any(|r| r["action"] == "subscription"
        && r["object"]
            == format!("webhook.{stopped_id} disabled: token {revoked_id} revoked").as_str()));
    let (code, said) = audit_verify(&world.data);
    assert_eq!(code, 0, "{said}");
}
