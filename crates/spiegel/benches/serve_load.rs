//! `cargo bench -p spiegel --bench serve_load`: the HTTP API of the real binary under load on
//! loopback, with the load generator on the same machine.
//!
//! 1. Upload: one provider's file of `SPIEGEL_BENCH_RECORDS` (default 1M) records as CSV,
//!    streamed with a Content-Length; the time until the `202` (validated and tokenised while
//!    it arrives, sent on to the pipeline) gives MB/s; then the time until it is published.
//! 2. Feed: 342 municipalities, each with its own token and a keep-alive connection, poll
//!    `GET /v1/feed?after=CURSOR` back to back for `SPIEGEL_BENCH_SECONDS` (default 20):
//!    requests per second and the latency distribution.
//! 3. Long poll: four providers deliver, then the 342 municipalities wait on
//!    `GET /v1/feed?after=CURSOR&wait=30` while one provider's correction is uploaded: how long
//!    after the release every municipality whose reports it changed has it.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod common;

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

impl Connection {
    fn open(address: &str) -> Self {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            host: address.to_owned(),
        }
    }

    /// GET `path`: status and body.
    fn get(&mut self, path: &str, bearer: &str) -> (u16, Vec<u8>) {
        write!(
            self.writer,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {bearer}\r\n\r\n",
            self.host
        )
        .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }
}

fn cursor_of(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    value["cursor"].as_str().unwrap().to_owned()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let records = common::bench_records();
    let seconds: u64 = std::env::var("SPIEGEL_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let text = |p: &Path| p.to_str().unwrap().to_owned();
    let input = dir.path().join("input");
    common::run(&[
        "generate",
        "--out",
        &text(&input),
        "--records",
        &records.to_string(),
        "--providers",
        "1",
        "--periods",
        "2026-H1",
        "--seed",
        "1",
    ]);
    let file = std::fs::read_dir(&input)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let agb = agb_of(&file);
    let data = dir.path().join("data");
    let reports = dir.path().join("reports");
    let token = |flag: &str, id: &str| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args(["tokens", "create", flag, id, "--data-dir", &text(&data)])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .find(|w| w.starts_with("spiegel_"))
            .unwrap()
            .to_owned()
    };
    let provider = token("--provider", &agb);
    let reference: Vec<String> = spiegel_core::Reference::embedded()
        .gemeenten()
        .iter()
        .map(|g| g.code.to_string())
        .collect();
    assert_eq!(reference.len(), 342, "the 342 municipalities of 2026");
    let municipalities: Vec<(String, String)> = reference
        .iter()
        .map(|g| (g.clone(), token("--gemeente", g)))
        .collect();

    let mut server = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--reports",
            &text(&reports),
            "--data-dir",
            &text(&data),
            "--webhook-targets",
            "loopback",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let api = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    println!(
        "spiegel serve load benchmark, {} cores, load generator on the same machine",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // 1. Upload.
    let upload = |path: &Path, provider: &str| -> (Duration, u64, String) {
        let size = std::fs::metadata(path).unwrap().len();
        let mut stream = TcpStream::connect(&api).unwrap();
        let started = Instant::now();
        write!(
            stream,
            "POST /v1/submissions?period=2026-H1 HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {provider}\r\nContent-Type: text/csv\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        std::io::copy(&mut std::fs::File::open(path).unwrap(), &mut stream).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let took = started.elapsed();
        assert!(
            response.starts_with("HTTP/1.1 202"),
            "{}",
            &response[..200.min(response.len())]
        );
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        let id = serde_json::from_str::<serde_json::Value>(body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (took, size, id)
    };
    let published = |id: &str, provider: &str| -> Duration {
        let started = Instant::now();
        let mut connection = Connection::open(&api);
        loop {
            let (_, body) = connection.get(&format!("/v1/submissions/{id}"), provider);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if value["status"] == "published" {
                return started.elapsed();
            }
            // A submission that never publishes is a finding, not a reason to wait forever.
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "submission {id} not published after 600 s: {value}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let (took, size, id) = upload(&file, &provider);
    let mib = size as f64 / (1 << 20) as f64;
    println!(
        "upload  {records} records, {mib:.1} MiB CSV: 202 after {:.2} s = {:.1} MiB/s ({:.0} records/s); published {:.2} s later",
        took.as_secs_f64(),
        mib / took.as_secs_f64(),
        records as f64 / took.as_secs_f64(),
        published(&id, &provider).as_secs_f64()
    );

    // 2. Feed, polled back to back by 342 municipalities.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let pollers: Vec<_> = municipalities
        .iter()
        .cloned()
        .map(|(_, bearer)| {
            let api = api.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut connection = Connection::open(&api);
                let (status, body) = connection.get("/v1/feed", &bearer);
                assert_eq!(status, 200);
                let cursor = cursor_of(&body);
                let path = format!("/v1/feed?after={cursor}");
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let (status, _) = connection.get(&path, &bearer);
                    latencies.push(sent.elapsed());
                    assert_eq!(status, 200);
                }
                latencies
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut latencies: Vec<Duration> = pollers
        .into_iter()
        .flat_map(|p| p.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "feed    342 municipalities polling back to back for {seconds} s: {} requests, {:.0} requests/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // 3. Long poll. Four providers deliver (the first one's 1M-record submission is replaced),
    // so that municipality and national figures pass the contributor minimum and a correction
    // changes what municipalities read; then every municipality waits while a correction is
    // published: when has each one it?
    let more = dir.path().join("more");
    common::run(&[
        "generate",
        "--out",
        &text(&more),
        "--records",
        "40000",
        "--providers",
        "4",
        "--periods",
        "2026-H1",
        "--seed",
        "2",
    ]);
    let mut deliveries: Vec<(std::path::PathBuf, String)> = std::fs::read_dir(&more)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let agb = agb_of(&path);
            (path, token("--provider", &agb))
        })
        .collect();
    deliveries.sort();
    let ids: Vec<(String, String)> = deliveries
        .iter()
        .map(|(path, bearer)| (upload(path, bearer).2, bearer.clone()))
        .collect();
    for (id, bearer) in &ids {
        published(id, bearer);
    }
    std::thread::sleep(Duration::from_secs(1));
    let waiting: Vec<_> = municipalities
        .iter()
        .cloned()
        .map(|(_, bearer)| {
            let api = api.clone();
            std::thread::spawn(move || {
                let mut connection = Connection::open(&api);
                let (_, body) = connection.get("/v1/feed", &bearer);
                let cursor = cursor_of(&body);
                // One long poll: it returns with the release if it changed a report of this
                // municipality, or after its 30 seconds.
                let (_, body) =
                    connection.get(&format!("/v1/feed?after={cursor}&wait=30"), &bearer);
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
                (Instant::now(), value["entries"].as_array().unwrap().len())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let (first, first_bearer) = &deliveries[0];
    let text_file = std::fs::read_to_string(first).unwrap();
    // Every 20th record dropped: a correction that touches most municipalities.
    let lines: Vec<&str> = text_file
        .lines()
        .enumerate()
        .filter(|(i, _)| *i == 0 || i % 20 != 0)
        .map(|(_, l)| l)
        .collect();
    let corrected = dir.path().join(first.file_name().unwrap());
    std::fs::write(&corrected, format!("{}\n", lines.join("\n"))).unwrap();
    let (_, _, corrected_id) = upload(&corrected, first_bearer);
    let publish_wait = published(&corrected_id, first_bearer);
    let release_seen = Instant::now();
    let done: Vec<(Instant, usize)> = waiting.into_iter().map(|w| w.join().unwrap()).collect();
    let with_news = done.iter().filter(|(_, n)| *n > 0).count();
    let last = done
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, _)| *t)
        .max()
        .unwrap_or(release_seen);
    println!(
        "long poll 342 municipalities waiting: the correction was published {:.2} s after its upload; {with_news} municipalities with a changed report had it within {:.2} s of the status saying published ({} had nothing new and waited out their time)",
        publish_wait.as_secs_f64(),
        last.saturating_duration_since(release_seen).as_secs_f64(),
        342 - with_news,
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// The AGB code of a submission file `<AGB>_<PERIOD>.csv`.
fn agb_of(file: &Path) -> String {
    let name = file.file_name().unwrap().to_string_lossy();
    name.split('_').next().unwrap().to_owned()
}
