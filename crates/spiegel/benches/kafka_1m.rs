//! `cargo bench -p spiegel --features kafka --bench kafka_1m`: the four stages as separate
//! processes over a real Kafka broker, on 1M generated records.
//!
//! Measures (1) sustained throughput: from the start of `spiegel submit` of every file until
//! the publish stage has written the release that the embedded `spiegel run` computes for the
//! same input (whose reports must be byte-identical), and (2) correction latency: for each of
//! `SPIEGEL_BENCH_CORRECTIONS` (default 50) one-provider corrections, from the moment
//! `spiegel submit` starts to the moment a new release's manifest is written, median and p99.
//!
//! Uses the broker in `SPIEGEL_TEST_KAFKA` if set, else starts one with `scripts/kafka.sh`.
//! `SPIEGEL_BENCH_RECORDS` sets another size.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{generated, report, run};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

/// The broker to use, and the directory of one this benchmark started (stopped on drop).
struct Broker {
    address: String,
    started: Option<PathBuf>,
}

impl Broker {
    fn get(dir: &Path) -> Self {
        if let Ok(address) = std::env::var("SPIEGEL_TEST_KAFKA") {
            return Self {
                address,
                started: None,
            };
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
        let broker_dir = dir.join("broker");
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(&broker_dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "starting the broker: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            address: String::from_utf8(output.stdout).unwrap().trim().to_owned(),
            started: Some(broker_dir),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .arg(dir)
                .status();
        }
    }
}

struct Stages(Vec<Child>);

impl Drop for Stages {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn release_of(out: &Path) -> Option<String> {
    let bytes = std::fs::read(out.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    manifest["release"].as_str().map(str::to_owned)
}

/// The manifest and every file it lists.
fn release_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut files: Vec<(String, Vec<u8>)> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap().to_owned();
            let bytes = std::fs::read(out.join(&path)).unwrap();
            (path, bytes)
        })
        .collect();
    files.push(("manifest.json".to_owned(), manifest));
    files
}

fn wait_for_release(out: &Path, accept: impl Fn(&str) -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        if release_of(out).as_deref().is_some_and(&accept) {
            return Instant::now();
        }
        assert!(Instant::now() < deadline, "no release within 30 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    let records = env_number("SPIEGEL_BENCH_RECORDS", 1_000_000);
    let corrections = env_number("SPIEGEL_BENCH_CORRECTIONS", 50) as usize;
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::get(dir.path());
    let (input, keys) = generated(dir.path(), records);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    println!(
        "Kafka pipeline benchmark, {} cores, broker {}, {records} records in {} files",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        broker.address,
        files.len()
    );

    let embedded_out = dir.path().join("embedded-out");
    let embedded = run(&[
        "run",
        "--input",
        &path(&input),
        "--out",
        &path(&embedded_out),
        "--data-dir",
        &path(&dir.path().join("embedded-data")),
        "--keys",
        &path(&keys),
    ]);
    report("embedded spiegel run (reference)", records, &[embedded]);
    let expected = release_of(&embedded_out).unwrap();

    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"kafka": {"partitions": {"submissions": 6, "pseudonymised": 6}}})
            .to_string(),
    )
    .unwrap();
    let prefix = format!("bench-{}.", std::process::id());
    let command = |args: &[String]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
        command
            .args(args)
            .env("SPIEGEL_KAFKA_BROKERS", &broker.address)
            .env("SPIEGEL_KAFKA_TOPIC_PREFIX", &prefix)
            .env("SPIEGEL_CONFIG", &config)
            .stdout(Stdio::null());
        command
    };
    let strings = |args: &[&str]| args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    assert!(
        command(&strings(&["topics", "create"]))
            .status()
            .unwrap()
            .success()
    );
    let out = dir.path().join("kafka-out");
    let data = |stage: &str| path(&dir.path().join(format!("data-{stage}")));
    let _stages = Stages(
        [
            strings(&[
                "pseudonymise",
                "--keys",
                &path(&keys),
                "--data-dir",
                &data("pseudonymise"),
            ]),
            strings(&["aggregate", "--data-dir", &data("aggregate")]),
            strings(&[
                "publish",
                "--out",
                &path(&out),
                "--data-dir",
                &data("publish"),
            ]),
        ]
        .iter()
        .map(|args| command(args).spawn().unwrap())
        .collect(),
    );
    // The consumers join their groups before the clock starts.
    std::thread::sleep(Duration::from_secs(5));

    let submit = |files: &[PathBuf], data_dir: &str| {
        let mut args = strings(&["submit", "--keys", &path(&keys), "--data-dir", data_dir]);
        args.extend(files.iter().map(|f| path(f)));
        let status = command(&args).status().unwrap();
        assert!(status.success(), "spiegel submit failed");
    };
    let started = Instant::now();
    submit(&files, &data("submit"));
    let submitted = started.elapsed();
    let published = wait_for_release(&out, |r| r == expected).duration_since(started);
    println!(
        "four stages over Kafka: {records} records submitted in {:.1} s ({:.0} records/s through \
         ingest), published in {:.1} s: {:.0} records/s sustained end to end",
        submitted.as_secs_f64(),
        records as f64 / submitted.as_secs_f64(),
        published.as_secs_f64(),
        records as f64 / published.as_secs_f64()
    );
    assert!(
        release_files(&embedded_out) == release_files(&out),
        "Kafka reports differ from the embedded run's"
    );
    println!("reports byte-identical to the embedded run");

    // (latency, spiegel submit's part of it, correction, file), for every correction.
    let mut measured = Vec::new();
    let corrected = dir.path().join("corrected");
    std::fs::create_dir_all(&corrected).unwrap();
    for i in 0..corrections {
        let file = &files[(i * 7) % files.len()];
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Each correction leaves a file a state it has not had: one record fewer than the
        // last correction of the same file, if any (the header and a record always stay).
        let dropped = (1 + i / files.len()).min(lines.len() - 2);
        let target = corrected.join(file.file_name().unwrap());
        std::fs::write(&target, lines[..lines.len() - dropped].join("\n") + "\n").unwrap();
        let before = release_of(&out).unwrap();
        let started = Instant::now();
        submit(std::slice::from_ref(&target), &data("submit"));
        let submitted = started.elapsed();
        let published = wait_for_release(&out, |r| r != before).duration_since(started);
        measured.push((
            published,
            submitted,
            i,
            target.file_name().unwrap().to_owned(),
        ));
    }
    // Whether the slow ones lose their time in `spiegel submit` or in the stages after it.
    measured.sort();
    for (published, submitted, i, name) in measured.iter().rev().take(3) {
        println!(
            "slow correction {i} ({}): {:.2} s, of which spiegel submit {:.2} s",
            name.to_string_lossy(),
            published.as_secs_f64(),
            submitted.as_secs_f64()
        );
    }
    if !measured.is_empty() {
        let latencies: Vec<Duration> = measured.iter().map(|m| m.0).collect();
        let mut submits: Vec<Duration> = measured.iter().map(|m| m.1).collect();
        submits.sort();
        println!(
            "spiegel submit of one correction: median {:.2} s, max {:.2} s",
            submits[submits.len() / 2].as_secs_f64(),
            submits[submits.len() - 1].as_secs_f64()
        );
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        println!(
            "correction latency over {} corrections (submit started to manifest written): \
             median {:.2} s, p99 {:.2} s, max {:.2} s",
            latencies.len(),
            at(0.5).as_secs_f64(),
            at(0.99).as_secs_f64(),
            latencies[latencies.len() - 1].as_secs_f64()
        );
    }
}
