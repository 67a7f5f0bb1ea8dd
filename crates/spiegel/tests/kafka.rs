//! The four stages as separate OS processes over a real Kafka broker (`scripts/kafka.sh`, started
//! by `scripts/test.sh`, which passes its address in `SPIEGEL_TEST_KAFKA`). Each test uses its
//! own topic prefix, so tests share the broker without seeing each other's messages.
#![cfg(feature = "kafka")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

mod common;
use common::s3::S3;
use common::server::{Server, call, get};
use common::{assert_same, p, published, spiegel, token, tree};

/// The drain timeout of the tests' configuration: after SIGTERM, a stage has this long to
/// finish and commit the work in hand.
const DRAIN_TIMEOUT_MS: u64 = 20_000;

fn broker() -> String {
    std::env::var("SPIEGEL_TEST_KAFKA").expect(
        "SPIEGEL_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts a \
         Kafka broker on 127.0.0.1",
    )
}

/// Where the broker keeps its partitions (for watching a transaction in flight).
fn broker_data() -> PathBuf {
    PathBuf::from(std::env::var("SPIEGEL_TEST_KAFKA_DIR").expect("SPIEGEL_TEST_KAFKA_DIR"))
        .join("data")
}

/// One test's world: generated submissions, keys, a topic prefix, the stage processes.
struct World {
    dir: tempfile::TempDir,
    prefix: String,
    stages: BTreeMap<&'static str, Child>,
    /// How many processes of each instance were started, each logging its admin address once.
    starts: BTreeMap<&'static str, usize>,
    /// The S3-compatible store the publish stage writes to, instead of a local directory.
    s3: Option<S3>,
}

impl World {
    fn new(name: &str, records: &str, periods: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        spiegel(&[
            "generate",
            "--out",
            p(&dir.path().join("input")),
            "--records",
            records,
            "--seed",
            "11",
            "--providers",
            "4",
            "--periods",
            periods,
        ]);
        spiegel(&["keys", "generate", "--out", p(&dir.path().join("keys"))]);
        let nonce = common::nonce();
        let world = Self {
            dir,
            prefix: format!("{name}-{nonce:08x}."),
            stages: BTreeMap::new(),
            starts: BTreeMap::new(),
            s3: None,
        };
        fs::write(
            world.config(),
            serde_json::json!({"kafka": {
                "partitions": {"submissions": 3, "pseudonymised": 3},
                "chunk_bytes": 64 * 1024,
                "poll_timeout_ms": 300,
                "transaction_timeout_ms": 10_000,
                "drain_timeout_ms": DRAIN_TIMEOUT_MS,
                // The broker's minimum: a killed consumer's partitions move on within seconds.
                "consumer_properties": {"session.timeout.ms": "6000"},
            }})
            .to_string(),
        )
        .unwrap();
        world
            .kafka(&["topics", "create"])
            .status
            .success()
            .then_some(())
            .unwrap();
        world
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self) -> PathBuf {
        self.path("config.json")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
        command
            .args(args)
            .env("SPIEGEL_KAFKA_BROKERS", broker())
            .env("SPIEGEL_KAFKA_TOPIC_PREFIX", &self.prefix)
            .env("SPIEGEL_CONFIG", self.config())
            .env("SPIEGEL_LOG", "info");
        if let Some(s3) = &self.s3 {
            s3.env(&mut command);
        }
        command
    }

    /// `spiegel submit` of `files`, remembering what it sent in data directory `data`.
    fn submit_args(&self, data: &str, files: &[PathBuf]) -> Vec<String> {
        let mut args = vec![
            "submit".to_owned(),
            "--keys".to_owned(),
            p(&self.path("keys")).to_owned(),
            "--data-dir".to_owned(),
            p(&self.path(data)).to_owned(),
        ];
        args.extend(files.iter().map(|f| p(f).to_owned()));
        args
    }

    fn kafka(&self, args: &[&str]) -> std::process::Output {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "spiegel {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn stage_args(&self, name: &str, stage: &str) -> Vec<String> {
        let keys = p(&self.path("keys")).to_owned();
        let data = p(&self.path(&format!("data-{name}"))).to_owned();
        let mut args = vec![stage.to_owned(), "--data-dir".to_owned(), data];
        match stage {
            "ingest" => args.extend([
                "--keys".into(),
                keys,
                "--inbox".into(),
                p(&self.inbox()).into(),
            ]),
            "pseudonymise" => args.extend(["--keys".into(), keys]),
            "publish" => args.extend([
                "--out".into(),
                match &self.s3 {
                    Some(s3) => s3.url("reports"),
                    None => p(&self.out()).into(),
                },
                // Where `spiegel serve` keeps what providers shared, as on a shared volume.
                "--sharing".into(),
                p(&self.path("data-serve").join("sharing.json")).into(),
            ]),
            _ => {}
        }
        args
    }

    /// Starts (or restarts) a stage process, its log appended to `<stage>.log`.
    fn start(&mut self, stage: &'static str) {
        self.start_instance(stage, stage);
    }

    /// Starts instance `name` of `stage`, with a data directory and log of its own.
    fn start_instance(&mut self, name: &'static str, stage: &str) {
        self.start_with(name, stage, &[]);
    }

    /// Starts instance `name` of `stage` with extra environment variables.
    fn start_with(&mut self, name: &'static str, stage: &str, env: &[(&str, &str)]) {
        let mut args = self.stage_args(name, stage);
        args.extend(["--instance".to_owned(), name.to_owned()]);
        args.extend(["--admin-listen".to_owned(), "127.0.0.1:0".to_owned()]);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(name))
            .unwrap();
        let child = self
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.stages.insert(name, child);
        *self.starts.entry(name).or_default() += 1;
    }

    fn log(&self, name: &str) -> PathBuf {
        self.path(&format!("{name}.log"))
    }

    /// Where the latest process of instance `name` serves its admin endpoints, as its log says.
    /// A process just started may not have logged it yet (the log then names the address of
    /// the one before it, which is gone): waits for the line of the latest start.
    fn admin(&self, name: &str) -> String {
        let started = self.starts.get(name).copied().unwrap_or(1);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = fs::read_to_string(self.log(name)).unwrap();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("admin endpoints"))
                .collect();
            if lines.len() >= started {
                let (_, after) = lines[lines.len() - 1].split_once("admin=").unwrap();
                return after.split_whitespace().next().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{name} logged no admin address since it was started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The partition of every submission an aggregate instance forwarded, as its log says.
    fn forwarded(&self, name: &str) -> Vec<u32> {
        fs::read_to_string(self.log(name))
            .unwrap()
            .lines()
            .filter(|l| l.contains("submission forwarded to the changelog"))
            .map(|l| {
                let (_, after) = l.split_once("partition=").unwrap();
                after.trim().parse().unwrap()
            })
            .collect()
    }

    fn kill(&mut self, stage: &'static str) {
        if let Some(mut child) = self.stages.remove(stage) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM to every stage; each must leave cleanly (exit 0) within 30 s.
    fn terminate_all(&mut self) -> BTreeMap<&'static str, ExitStatus> {
        for child in self.stages.values() {
            signal("TERM", child.id());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut statuses = BTreeMap::new();
        for (stage, mut child) in std::mem::take(&mut self.stages) {
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    statuses.insert(stage, status);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{stage} did not stop within 30 s of SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        statuses
    }

    fn inbox(&self) -> PathBuf {
        self.path("inbox")
    }

    fn out(&self) -> PathBuf {
        self.path("kafka-out")
    }

    /// Drops a file into the ingest inbox as an upload would: written under a temporary name,
    /// then renamed.
    fn deliver(&self, file: &Path, name: &str) {
        fs::create_dir_all(self.inbox()).unwrap();
        let temporary = self.inbox().join(format!(".{name}.part"));
        fs::copy(file, &temporary).unwrap();
        fs::rename(&temporary, self.inbox().join(name)).unwrap();
    }

    /// The reports of `spiegel run` on the files of `input`.
    fn embedded(&self, input: &Path, name: &str) -> (String, BTreeMap<String, Vec<u8>>) {
        let out = self.path(&format!("{name}-out"));
        spiegel(&[
            "run",
            "--input",
            p(input),
            "--out",
            p(&out),
            "--data-dir",
            p(&self.path(&format!("{name}-data"))),
            "--keys",
            p(&self.path("keys")),
        ]);
        (release_of(&out).unwrap(), tree(&out))
    }

    /// Fails the test at once when a stage process has exited.
    fn all_running(&mut self) {
        for (stage, child) in &mut self.stages {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{stage} exited with {status}; see its log in the test directory");
            }
        }
    }

    /// Waits until the Kafka pipeline has published `release`, then returns its reports.
    fn published(&mut self, release: &str, within: Duration) -> BTreeMap<String, Vec<u8>> {
        let deadline = Instant::now() + within;
        while release_of(&self.out()).as_deref() != Some(release) {
            self.all_running();
            assert!(
                Instant::now() < deadline,
                "release {release} not published within {within:?} (manifest has {:?})",
                release_of(&self.out())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // The manifest is written after every file it lists.
        published(&self.out())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What each stage said last, for whoever reads a failed run.
            let mut logs: Vec<PathBuf> = fs::read_dir(self.dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "log"))
                .collect();
            logs.sort();
            for log in logs {
                let text = fs::read_to_string(&log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                println!("---- {} (last 15 lines)", log.display());
                for line in &lines[lines.len().saturating_sub(15)..] {
                    println!("{line}");
                }
            }
        }
        for child in self.stages.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the aggregate stage logs when a changed state gives the release it sent before.
const RELEASE_ALREADY_SENT: &str = "the stored state gives the release already sent";

/// A Kafka client of the test's own on the world's topics, reading committed messages only, as
/// the stages do.
fn reader(world: &World) -> spiegel_transport::kafka::KafkaTransport {
    let config = spiegel_transport::kafka::KafkaConfig {
        brokers: broker(),
        topic_prefix: world.prefix.clone(),
        ..Default::default()
    };
    let shutdown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    spiegel_transport::kafka::KafkaTransport::new(config, "test-reader", shutdown)
}

fn release_of(out: &Path) -> Option<String> {
    let bytes = fs::read(out.join("manifest.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    manifest["release"].as_str().map(str::to_owned)
}

/// The submission `file` without its last `drop` records: a correction.
fn correction(file: &Path, drop: usize, to: &Path) {
    let text = fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    fs::write(to, lines[..lines.len() - drop].join("\n") + "\n").unwrap();
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// How long a test waits for a release to be published: a guard against a hang, not a
/// performance target (that is benches/run_1m.rs). The publish stage's attacker audit takes
/// about a minute per release of these tests' size on a 2-core machine, several while the
/// other tests of this binary share it, and a release may wait behind one the stage began.
const PUBLISHED_WITHIN: Duration = Duration::from_secs(600);

#[test]
fn four_stage_processes_over_kafka_publish_exactly_what_the_embedded_run_publishes() {
    let mut world = World::new("same", "20000", "2025-H1,2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    // The final state: every file, the first one corrected (records dropped).
    let last = world.path("final");
    fs::create_dir_all(&last).unwrap();
    for file in &files {
        fs::copy(file, last.join(file.file_name().unwrap())).unwrap();
    }
    correction(&files[0], 25, &last.join(files[0].file_name().unwrap()));
    let (release, expected) = world.embedded(&last, "embedded");

    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let submit = |world: &World, data: &str, paths: &[PathBuf]| {
        let args = world.submit_args(data, paths);
        world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    // Every original, then the correction of the first.
    submit(&world, "submitter", &files);
    submit(
        &world,
        "submitter",
        &[last.join(files[0].file_name().unwrap())],
    );
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "Kafka stages vs spiegel run");

    // Each stage answers its probes and counts what it did, per stage, on its admin port.
    for stage in ["pseudonymise", "aggregate", "publish"] {
        let admin = world.admin(stage);
        assert_eq!(get(&admin, "/livez", &[]).0, 200, "{stage}");
        assert_eq!(get(&admin, "/readyz", &[]).0, 200, "{stage}");
        // The consumer's lag per partition of its input topic, from librdkafka's statistics
        // (every 5 s; the aggregate stage also reads its changelog topic).
        let input = match stage {
            "pseudonymise" => "spiegel.submissions.v1",
            "aggregate" => "spiegel.pseudonymised.v1",
            _ => "spiegel.aggregates.v1",
        };
        let lags_of_input = |samples: &common::prometheus::Samples| -> Vec<f64> {
            samples
                .iter()
                .filter(|((name, labels), _)| {
                    name == "spiegel_consumer_lag"
                        && labels
                            .iter()
                            .any(|(k, v)| k == "topic" && v.ends_with(input))
                })
                .map(|(_, lag)| *lag)
                .collect()
        };
        let reports = expected.keys().filter(|k| k.ends_with(".parquet")).count();
        let samples = common::prometheus::scrape_until(&admin, |samples| {
            let counted = |name| common::prometheus::find(samples, name, &[("stage", stage)]);
            counted("spiegel_stage_handled_total").is_some_and(|n| n >= 1.0)
                && (stage == "pseudonymise"
                    || counted("spiegel_stage_releases_total").is_some_and(|n| n >= 1.0))
                && !lags_of_input(samples).is_empty()
                // The release of the empty state may have been counted first; the pass that
                // published the awaited one returns a moment after its manifest appeared.
                && (stage != "publish"
                    || common::prometheus::find(samples, "spiegel_release_files", &[])
                        == Some(reports as f64))
        });
        let value = |series: &str| common::prometheus::value(&samples, series, &[("stage", stage)]);
        assert!(value("spiegel_stage_handled_total") >= 1.0, "{stage}");
        assert!(value("spiegel_stage_steps_total") >= 1.0);
        assert_eq!(value("spiegel_stage_ready"), 1.0);
        assert!(value("spiegel_stage_step_seconds_count") >= value("spiegel_stage_steps_total"));
        if stage != "pseudonymise" {
            assert!(value("spiegel_stage_releases_total") >= 1.0, "{stage}");
        }
        // Nothing left behind once the release is out.
        let lags = lags_of_input(&samples);
        assert!(!lags.is_empty(), "{stage}: no lag of {input}");
        assert!(lags.iter().all(|lag| *lag >= 0.0), "{stage}: {lags:?}");
        if stage == "publish" {
            let files = common::prometheus::value(&samples, "spiegel_release_files", &[]);
            assert_eq!(files as usize, reports);
        }
    }

    // Duplicate delivery: a submitter without memory of what it sent produces the same
    // content again; nothing changes, not even the release.
    let before = fs::read(world.out().join("manifest.json")).unwrap();
    let admin = world.admin("aggregate");
    let handled = |samples: &common::prometheus::Samples| {
        common::prometheus::find(
            samples,
            "spiegel_stage_handled_total",
            &[("stage", "aggregate")],
        )
        .unwrap_or(0.0)
    };
    let handled_before = handled(&common::prometheus::scrape_until(&admin, |_| true));
    let again = sorted_files(&last);
    submit(&world, "forgetful-submitter", &again);
    // Known, not waited for: each duplicate is forwarded to the changelog and found unchanged
    // there (two handlings), and the pass that handled the last one has also decided that
    // there is nothing to release.
    let all_handled = |samples: &common::prometheus::Samples| {
        handled(samples) >= handled_before + 2.0 * again.len() as f64
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !all_handled(&common::prometheus::scrape_until(&admin, all_handled)) {
        assert!(
            Instant::now() < deadline,
            "the aggregate stage did not handle the duplicates"
        );
    }
    assert_eq!(release_of(&world.out()).as_deref(), Some(release.as_str()));
    assert_eq!(fs::read(world.out().join("manifest.json")).unwrap(), before);
    assert_same(
        &expected,
        &published(&world.out()),
        "after duplicate delivery",
    );

    // Graceful shutdown: SIGTERM, and every stage leaves with exit code 0.
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

/// SIGTERM to one stage; it must leave cleanly.
fn stop(world: &mut World, stage: &'static str) {
    let mut child = world.stages.remove(stage).unwrap();
    signal("TERM", child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "{stage} after SIGTERM: {status}");
}

#[test]
fn a_key_rotation_over_kafka_republishes_nothing_and_later_corrections_go_on() {
    let mut world = World::new("rotate", "8000", "2025-H1,2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    let (release, expected) = world.embedded(&input, "embedded");
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let args = world.submit_args("submitter", &files);
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let before = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &before, "before the rotation");
    let manifest = fs::read(world.out().join("manifest.json")).unwrap();

    // The runbook: a new K2 version in the keys directory, the aggregate stage switched first,
    // then the pseudonymise stage restarted with the new key.
    let keys = world.path("keys");
    let rotated = world.kafka(&["keys", "rotate", "--keys", p(&keys), "--key-only"]);
    assert!(String::from_utf8_lossy(&rotated.stdout).contains("version 2 is in force"));
    stop(&mut world, "aggregate");
    world.start_with("aggregate", "aggregate", &[("SPIEGEL_KEY_VERSION", "2")]);
    stop(&mut world, "pseudonymise");
    world.start("pseudonymise");

    // Every stored submission comes back under version 2 (forwarded and stored: two handlings
    // each, counted since the restart), and none waits any more. (Whether the restarted stage
    // ever saw one waiting depends on how fast the replay reached it.)
    let admin = world.admin("aggregate");
    let deadline = Instant::now() + Duration::from_secs(120);
    let switched = |samples: &common::prometheus::Samples| {
        let value = |name| common::prometheus::find(samples, name, &[("stage", "aggregate")]);
        value("spiegel_stage_handled_total").is_some_and(|n| n >= 2.0 * files.len() as f64)
            && common::prometheus::find(samples, "spiegel_aggregate_awaiting_rekey", &[])
                == Some(0.0)
    };
    while !switched(&common::prometheus::scrape_until(&admin, switched)) {
        assert!(
            Instant::now() < deadline,
            "the aggregate stage did not switch"
        );
    }
    // No new release: once the switched state is quiet, the stage says that it gives the
    // release already published, and the manifest is the same, byte for byte.
    let deadline = Instant::now() + Duration::from_secs(120);
    let since_switch = loop {
        let aggregate_log = fs::read_to_string(world.log("aggregate")).unwrap();
        let since_switch = aggregate_log
            .rsplit("running until SIGTERM")
            .next()
            .unwrap()
            .to_owned();
        if since_switch.contains(RELEASE_ALREADY_SENT) {
            break since_switch;
        }
        assert!(
            Instant::now() < deadline,
            "the switched aggregate stage never decided on its release:\n{since_switch}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        fs::read(world.out().join("manifest.json")).unwrap(),
        manifest
    );
    assert!(
        !since_switch.contains("release computed and sent"),
        "the switched aggregate stage computed a release:\n{since_switch}"
    );

    // A correction after the switch is published as a pipeline that only had version 2 would.
    let last = world.path("final");
    fs::create_dir_all(&last).unwrap();
    for file in &files {
        fs::copy(file, last.join(file.file_name().unwrap())).unwrap();
    }
    correction(&files[1], 10, &last.join(files[1].file_name().unwrap()));
    let (corrected_release, corrected) = world.embedded(&last, "embedded-v2");
    let args = world.submit_args("submitter", &[last.join(files[1].file_name().unwrap())]);
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let after = world.published(&corrected_release, PUBLISHED_WITHIN);
    assert_same(&corrected, &after, "a correction after the rotation");
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

#[test]
fn a_submission_cut_off_mid_transaction_never_shows_and_its_complete_resend_does() {
    let mut world = World::new("cutoff", "120000", "2025-H2");
    let input = world.path("input");
    // The largest submission comes late: its transaction stays open long enough to be cut off.
    let mut files = sorted_files(&input);
    files.sort_by_key(|f| fs::metadata(f).unwrap().len());
    let (late, early) = files.split_last().unwrap();
    let early_dir = world.path("early");
    fs::create_dir_all(&early_dir).unwrap();
    for file in early {
        fs::copy(file, early_dir.join(file.file_name().unwrap())).unwrap();
    }
    let (release_without, expected_without) = world.embedded(&early_dir, "without");
    let (release_with, expected_with) = world.embedded(&input, "with");
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let args = world.submit_args("submitter", early);
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    world.published(&release_without, PUBLISHED_WITHIN);

    // The last submission (some 3 MB) in chunks of 1 KiB, killed as soon as its first chunks
    // reach the broker's log (uncommitted: its transaction is still open).
    let config: serde_json::Value =
        serde_json::from_slice(&fs::read(world.config()).unwrap()).unwrap();
    let mut slow = config.clone();
    slow["kafka"]["chunk_bytes"] = 1024.into();
    let slow_config = world.path("slow.json");
    fs::write(&slow_config, slow.to_string()).unwrap();
    let submissions_log_bytes = || -> u64 {
        fs::read_dir(broker_data())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}spiegel.submissions.v1-", world.prefix))
            })
            .flat_map(|e| fs::read_dir(e.path()).unwrap().filter_map(Result::ok))
            .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
            .map(|f| f.metadata().unwrap().len())
            .sum()
    };
    let before = submissions_log_bytes();
    let args = world.submit_args("cut-off-submitter", std::slice::from_ref(late));
    let mut cut = world
        .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .env("SPIEGEL_CONFIG", &slow_config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while submissions_log_bytes() < before + 32 * 1024 {
        assert!(
            Instant::now() < deadline,
            "the submission never reached the broker"
        );
        assert!(
            cut.try_wait().unwrap().is_none(),
            "the submitter finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    cut.kill().unwrap();
    cut.wait().unwrap();
    println!(
        "killed the submitter after {} KiB of its submission reached the broker",
        (submissions_log_bytes() - before) / 1024
    );
    // Past the transaction timeout the broker aborts the transaction: a reader that sees only
    // committed messages then reaches the end of the topic, aborted chunks and marker
    // included. The pipeline goes on and still shows the release without the submission.
    reader(&world)
        .read_whole(spiegel_transport::topic::SUBMISSIONS, Duration::MAX)
        .expect("the broker never aborted the transaction of the killed submitter");
    assert_eq!(
        release_of(&world.out()).as_deref(),
        Some(release_without.as_str())
    );
    assert_same(
        &expected_without,
        &published(&world.out()),
        "after the cut-off",
    );

    let args = world.submit_args("cut-off-submitter", std::slice::from_ref(late));
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let reports = world.published(&release_with, PUBLISHED_WITHIN);
    assert_same(&expected_with, &reports, "after the complete re-send");
}

#[test]
fn every_stage_killed_at_random_moments_still_publishes_the_embedded_reports() {
    let mut world = World::new("chaos", "24000", "2024-H1,2024-H2,2025-H1,2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    // Deliveries: every file, and a correction for every third one, in a shuffled order
    // with each correction after its original.
    let corrections = world.path("corrections");
    fs::create_dir_all(&corrections).unwrap();
    let mut deliveries: Vec<(PathBuf, String)> = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        deliveries.push((file.clone(), name.clone()));
        if i % 3 == 0 {
            let corrected = corrections.join(&name);
            correction(file, 10 + i, &corrected);
            deliveries.push((corrected, name));
        }
    }
    let last = world.path("final");
    fs::create_dir_all(&last).unwrap();
    for (file, name) in &deliveries {
        fs::copy(file, last.join(name)).unwrap();
    }
    assert!(deliveries.len() >= 20, "{} deliveries", deliveries.len());
    let (release, expected) = world.embedded(&last, "embedded");

    const STAGES: [&str; 4] = ["ingest", "pseudonymise", "aggregate", "publish"];
    for stage in STAGES {
        world.start(stage);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut kills: Vec<String> = Vec::new();
    let started = Instant::now();
    let mut pending = deliveries.into_iter();
    let mut killed: BTreeMap<&str, usize> = BTreeMap::new();
    loop {
        // Deliver the next file, one at a time, as the inbox empties.
        let inbox_empty = fs::read_dir(world.inbox())
            .map(|d| {
                d.filter_map(Result::ok)
                    .all(|e| e.file_type().unwrap().is_dir())
            })
            .unwrap_or(true);
        let mut delivered_all = false;
        if inbox_empty {
            match pending.next() {
                Some((file, name)) => world.deliver(&file, &name),
                None => delivered_all = true,
            }
        }
        // Kill a random stage now and then, until each has been killed at least twice.
        if killed.values().sum::<usize>() < 12 && rng.random_bool(0.25) {
            let stage = STAGES[rng.random_range(0..STAGES.len())];
            std::thread::sleep(Duration::from_millis(rng.random_range(0..800)));
            world.kill(stage);
            kills.push(format!(
                "{stage} at {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            *killed.entry(stage).or_default() += 1;
            world.start(stage);
        }
        if delivered_all
            && STAGES
                .iter()
                .all(|s| killed.get(s).copied().unwrap_or(0) >= 1)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "chaos did not finish"
        );
    }
    println!("{} kills: {}", kills.len(), kills.join(", "));
    // The last release may wait behind two or three the publish stage began (PUBLISHED_WITHIN).
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "after the chaos");
    // Every delivery left the inbox for done/, its receipt beside it.
    for name in fs::read_dir(&last).unwrap().map(|e| e.unwrap().file_name()) {
        let name = name.to_string_lossy();
        let receipt = fs::read_to_string(world.inbox().join(format!("done/{name}.receipt.txt")))
            .unwrap_or_else(|e| panic!("no receipt for {name}: {e}"));
        assert!(
            receipt.contains("ACCEPTED") || receipt.contains("nothing to do"),
            "{receipt}"
        );
        assert!(
            !world.inbox().join(&*name).exists(),
            "{name} still in the inbox"
        );
    }
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

#[test]
fn two_aggregate_instances_split_the_partitions_and_one_takes_over_when_the_other_dies() {
    let mut world = World::new("pair", "20000", "2025-H1,2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    let (first_release, first_expected) = world.embedded(&input, "first");
    // Then a correction from every provider, so some fall in the partitions of the instance
    // that dies.
    let corrected = world.path("corrected");
    let last = world.path("final");
    fs::create_dir_all(&corrected).unwrap();
    fs::create_dir_all(&last).unwrap();
    let mut corrections = Vec::new();
    let mut providers = BTreeSet::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        fs::copy(file, last.join(&name)).unwrap();
        if providers.insert(name.split('_').next().unwrap().to_owned()) {
            correction(file, 15, &corrected.join(&name));
            fs::copy(corrected.join(&name), last.join(&name)).unwrap();
            corrections.push(corrected.join(&name));
        }
    }
    let (release, expected) = world.embedded(&last, "final");

    world.start("pseudonymise");
    world.start("publish");
    world.start_instance("aggregate-a", "aggregate");
    world.start_instance("aggregate-b", "aggregate");
    // Both in the group, each with partitions of its own, before anything arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    let assigned = |name: &str| {
        fs::read_to_string(world.log(name))
            .unwrap_or_default()
            .lines()
            .rfind(|l| l.contains("partitions assigned") && l.contains("pseudonymised"))
            .is_some_and(|l| !l.contains("partitions=[]"))
    };
    while !(assigned("aggregate-a") && assigned("aggregate-b")) {
        assert!(
            Instant::now() < deadline,
            "the group never gave both instances partitions"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let args = world.submit_args("submitter", &files);
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let reports = world.published(&first_release, PUBLISHED_WITHIN);
    assert_same(&first_expected, &reports, "two instances");
    let (a, b) = (
        world.forwarded("aggregate-a"),
        world.forwarded("aggregate-b"),
    );
    println!("aggregate-a forwarded from partitions {a:?}, aggregate-b from {b:?}");
    assert!(
        !a.is_empty() && !b.is_empty() && a.iter().all(|p| !b.contains(p)),
        "the instances did not split the partitions"
    );
    assert_eq!(a.len() + b.len(), files.len());

    world.kill("aggregate-a");
    let args = world.submit_args("submitter", &corrections);
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "after aggregate-a died");
    let taken_over: Vec<u32> = world.forwarded("aggregate-b")[b.len()..]
        .iter()
        .copied()
        .filter(|p| a.contains(p))
        .collect();
    println!("after aggregate-a died, aggregate-b forwarded from its partitions {taken_over:?}");
    assert!(!taken_over.is_empty(), "aggregate-b never took over");
}

#[test]
fn uploads_to_spiegel_serve_on_kafka_are_published_by_the_stage_processes() {
    let mut world = World::new("serve", "6000", "2025-H2");
    let input = world.path("input");
    let (release, expected) = world.embedded(&input, "embedded");
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let data = world.path("data-serve");
    let mut command = world.command(&[
        "serve",
        "--kafka",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--reports",
        p(&world.out()),
        "--data-dir",
        p(&data),
        "--keys",
        p(&world.path("keys")),
    ]);
    let mut server = Server::spawn(&mut command);

    // Every provider uploads its file over HTTP; the server produces it to Kafka.
    let mut submitted = Vec::new();
    for file in sorted_files(&input) {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        let (agb, period) = name.trim_end_matches(".csv").split_once('_').unwrap();
        let bearer = format!("Bearer {}", token(&data, ["--provider", agb], "ops"));
        let answer = call(
            &server.api,
            "POST",
            &format!("/v1/submissions?period={period}"),
            &[("Authorization", &bearer), ("Content-Type", "text/csv")],
            &fs::read(&file).unwrap(),
        );
        assert_eq!(
            answer.status,
            202,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        submitted.push((bearer, answer.json()["id"].as_str().unwrap().to_owned()));
    }
    // The stage processes publish exactly what the embedded run publishes ...
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "spiegel serve --kafka vs spiegel run");
    // ... and the server reports each submission published in that release.
    for (bearer, id) in &submitted {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = call(
                &server.api,
                "GET",
                &format!("/v1/submissions/{id}"),
                &[("Authorization", bearer)],
                b"",
            );
            assert_eq!(answer.status, 200);
            let body = answer.json();
            if body["status"] == "published" {
                assert_eq!(body["release"], release.as_str());
                break;
            }
            assert!(Instant::now() < deadline, "never published: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // The server held the stage-1 key only, and leaves cleanly on SIGTERM.
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    assert!(!log.contains("key_use"), "no stage-2 key use by the server");
    signal("TERM", server.child.id());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "spiegel serve after SIGTERM: {status}");
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

/// Lines of `log` that contain `what`.
fn count_in(log: &Path, what: &str) -> usize {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

/// Sends `signal` (`STOP`, `CONT`, `TERM` as Kubernetes sends it) to process `pid`, through
/// kill(1): the crate forbids `unsafe`.
fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits until process `pid` is stopped (state `T` in `/proc/<pid>/stat`).
fn until_stopped(pid: u32) {
    let stat = format!("/proc/{pid}/stat");
    loop {
        let text = fs::read_to_string(&stat).unwrap();
        // The state follows the command name in parentheses.
        let state = text.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if state == Some(Some('T')) || state == Some(Some('t')) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Between the submissions of the two small providers of the `600000` worlds (well under 1 MB
/// on the topic) and those of the two large ones (about 19 MB).
const LARGE_SUBMISSION_BYTES: usize = 5_000_000;

/// The size of the submission the pseudonymise stage took last, from its log line.
fn in_hand_bytes(log: &Path) -> usize {
    let text = fs::read_to_string(log).unwrap();
    text.lines()
        .rev()
        .find(|l| l.contains("pseudonymising a submission"))
        .and_then(|l| l.split_once("bytes=").map(|(_, rest)| rest))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

/// Submits every file of the world's input with only the pseudonymise stage running and
/// sends it SIGTERM while it has a submission in hand, and returns how it ended and how long
/// that took. "In hand" is made certain rather than hoped for: the test stops the stage
/// (SIGSTOP), reads its log, and only if it has taken a submission it has not finished sends
/// SIGTERM before letting it go on (SIGCONT); otherwise it lets it go on and looks again.
/// Only a large submission counts as in hand: it takes hundreds of milliseconds where the
/// small ones take a few, so work caught just after it was taken cannot finish inside a drain
/// timeout of a millisecond (the watchdog looks every 50 ms), and a drain that times out
/// really leaves it unfinished.
fn sigterm_mid_submission(world: &mut World) -> (ExitStatus, Duration) {
    world.start("pseudonymise");
    let args = world.submit_args("submitter", &sorted_files(&world.path("input")));
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = world.log("pseudonymise");
    let pid = world.stages["pseudonymise"].id();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the stage never had a submission in hand"
        );
        signal("STOP", pid);
        until_stopped(pid);
        let (taken, finished) = (
            count_in(&log, "pseudonymising a submission"),
            count_in(&log, "submission pseudonymised"),
        );
        if taken > finished && in_hand_bytes(&log) >= LARGE_SUBMISSION_BYTES {
            signal("TERM", pid);
            signal("CONT", pid);
            break;
        }
        signal("CONT", pid);
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    let mut stage = world.stages.remove("pseudonymise").unwrap();
    let status = stage.wait().unwrap();
    let took = signalled.elapsed();
    println!("pseudonymise stopped {took:?} after SIGTERM with {status}");
    (status, took)
}

#[test]
fn sigterm_while_a_submission_is_pseudonymised_finishes_and_commits_it_within_the_drain_timeout() {
    let mut world = World::new("drain", "600000", "2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    let (release, expected) = world.embedded(&input, "embedded");
    let log = world.log("pseudonymise");
    let count = |what: &str| count_in(&log, what);
    let (status, took) = sigterm_mid_submission(&mut world);
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_millis(DRAIN_TIMEOUT_MS),
        "stopped after {took:?}, beyond the drain timeout"
    );
    // It finished what it had in hand and took nothing more once the signal came.
    let (taken, finished) = (
        count("pseudonymising a submission"),
        count("submission pseudonymised"),
    );
    assert_eq!(taken, finished, "the submission in hand was finished");
    let text = fs::read_to_string(&log).unwrap();
    let (_, after_signal) = text
        .split_once("shutdown requested: no new input")
        .expect("the stage logs the shutdown request");
    assert!(
        !after_signal.contains("pseudonymising a submission"),
        "a submission taken after the shutdown request:\n{after_signal}"
    );
    assert_eq!(
        count("shutting down: input stopped, work in hand committed"),
        1
    );

    // What it finished was committed: a new instance does only the rest, and the reports are
    // those of the embedded run.
    world.start("pseudonymise");
    world.start("aggregate");
    world.start("publish");
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "after a graceful shutdown mid-stream");
    assert_eq!(
        count("submission pseudonymised"),
        files.len(),
        "every submission pseudonymised exactly once across the two instances"
    );
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

#[test]
fn a_stage_that_cannot_drain_in_time_exits_1_and_its_work_is_redelivered() {
    let mut world = World::new("no-drain", "600000", "2025-H2");
    let input = world.path("input");
    let files = sorted_files(&input);
    let (release, expected) = world.embedded(&input, "embedded");
    // A drain timeout no submission of this size fits in.
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(world.config()).unwrap()).unwrap();
    config["kafka"]["drain_timeout_ms"] = serde_json::json!(1);
    fs::write(world.config(), config.to_string()).unwrap();
    let log = world.log("pseudonymise");
    let (status, _) = sigterm_mid_submission(&mut world);
    assert_eq!(status.code(), Some(1), "{status}");
    assert_eq!(count_in(&log, "did not finish within the drain timeout"), 1);
    // What it had in hand it left unfinished, or finished without committing it once the
    // timeout ran out: which of the two depends on how far the submission had got and on the
    // machine's load, so the log says it (below) rather than a clock.
    let (taken, finished) = (
        count_in(&log, "pseudonymising a submission"),
        count_in(&log, "submission pseudonymised"),
    );
    // Nothing was lost: the next instance redoes what was in hand.
    config["kafka"]["drain_timeout_ms"] = serde_json::json!(DRAIN_TIMEOUT_MS);
    fs::write(world.config(), config.to_string()).unwrap();
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(&expected, &reports, "after a drain timeout");
    let total = count_in(&log, "submission pseudonymised");
    assert!(total >= files.len());
    assert!(
        taken > finished || total > files.len(),
        "the submission in hand was finished and committed although the drain timed out"
    );
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage} after SIGTERM: {status}");
    }
}

/// The API's audit log anchored on the checkpoint topic: a log cut short with its head
/// rewritten, or deleted with its head, verifies nowhere but against the directory on the
/// same disk; against the topic, `spiegel audit verify` names where it breaks.
#[test]
fn audit_checkpoints_on_kafka_find_a_log_cut_short_or_deleted() {
    let world = World::new("audit", "200", "2026-H1");
    let data = world.path("data-api");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", p(&data), "--by", "alice"]);
        world
            .command(&all)
            .env("SPIEGEL_AUDIT_CHECKPOINTS", "kafka")
            .env("SPIEGEL_AUDIT_CHECKPOINT_EVERY", "1")
            .env("SPIEGEL_KAFKA_INSTANCE", "api-0")
            .output()
            .unwrap()
    };
    for agb in ["12345678", "23456789", "34567890"] {
        let out = run(&["tokens", "create", "--provider", agb]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let verify = || {
        let out = run(&["audit", "verify"]);
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, said) = verify();
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("3 checkpoints in Kafka topic"), "{said}");
    assert!(
        !data.join("audit-checkpoints").exists(),
        "nothing anchored on the API's own disk"
    );
    let log_path = data.join("audit-log.jsonl");
    let head_path = data.join("audit-log.head");
    let log = fs::read_to_string(&log_path).unwrap();
    let head = fs::read_to_string(&head_path).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 4);

    // Cut after record 2, the head rewritten to match.
    let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    fs::write(&log_path, lines[..2].join("\n") + "\n").unwrap();
    fs::write(
        &head_path,
        serde_json::json!({"seq": second["seq"], "hash": second["hash"]}).to_string(),
    )
    .unwrap();
    let (code, said) = verify();
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("BROKEN at line 3:"), "{said}");
    // Both files deleted.
    fs::remove_file(&log_path).unwrap();
    fs::remove_file(&head_path).unwrap();
    let (code, said) = verify();
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("BROKEN at line 1:"), "{said}");

    fs::write(&log_path, &log).unwrap();
    fs::write(&head_path, &head).unwrap();
    let (code, said) = verify();
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("4 checkpoints"), "{said}");
}

#[test]
fn a_corrupt_message_on_the_pseudonymised_topic_is_dead_lettered_and_the_stages_go_on() {
    use spiegel_transport::{DeadLetter, Transport as _, topic};
    let mut world = World::new("poison", "2000", "2025-H1");
    let input = world.path("input");
    let (release, expected) = world.embedded(&input, "embedded");
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    // Ahead of every valid submission: a whole, committed message that is no Arrow batch.
    let kafka = reader(&world);
    let poison: &[u8] = b"not an arrow batch";
    kafka
        .producer()
        .unwrap()
        .send(topic::PSEUDONYMISED, "poison", poison)
        .unwrap();
    let args = world.submit_args("submitter", &sorted_files(&input));
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // The reports are those of the valid input (`published` fails if a stage exits).
    let reports = world.published(&release, PUBLISHED_WITHIN);
    assert_same(
        &expected,
        &reports,
        "Kafka stages with a poison message vs spiegel run",
    );

    // On the dead-letter topic: where it was, the stage and why, nothing of its payload.
    let deadline = Instant::now() + Duration::from_secs(60);
    let letters = loop {
        let letters: Vec<DeadLetter> = kafka
            .read_whole(topic::DEAD_LETTER, Duration::from_secs(2))
            .unwrap()
            .iter()
            .map(|m| DeadLetter::from_message(m).unwrap())
            .collect();
        if !letters.is_empty() || Instant::now() >= deadline {
            break letters;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(
        (letter.stage.as_str(), letter.topic.as_str()),
        ("aggregate", topic::PSEUDONYMISED)
    );
    assert!(letter.reason.contains("arrow"), "{}", letter.reason);
    let origin = kafka
        .read_whole(topic::PSEUDONYMISED, Duration::from_secs(2))
        .unwrap()
        .into_iter()
        .find(|m| m.partition == letter.partition && m.offset == letter.offset)
        .expect("the message the dead letter names");
    assert_eq!(origin.payload, poison);
    let json = serde_json::to_string(letter).unwrap();
    assert!(!json.contains("not an arrow batch"), "{json}");

    // Logged once, counted, and the stage never exited.
    assert_eq!(
        count_in(
            &world.log("aggregate"),
            "poison message sent to the dead-letter topic"
        ),
        1
    );
    let samples = common::prometheus::scrape_until(&world.admin("aggregate"), |samples| {
        common::prometheus::find(
            samples,
            "spiegel_stage_dead_letters_total",
            &[("stage", "aggregate")],
        ) == Some(1.0)
    });
    assert_eq!(
        common::prometheus::value(&samples, "spiegel_stage_ready", &[("stage", "aggregate")]),
        1.0
    );
    for (stage, child) in &mut world.stages {
        assert!(child.try_wait().unwrap().is_none(), "{stage} exited");
    }

    // What an operator sees.
    let listed = world.kafka(&["dead-letter", "list", "--kafka", "--json"]);
    let listed: Vec<DeadLetter> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(&listed, &letters);
    let text = world.kafka(&["dead-letter", "list", "--kafka"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "aggregate  {} partition {} offset {}",
            topic::PSEUDONYMISED,
            letter.partition,
            letter.offset
        )),
        "{text}"
    );
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage}: {status}");
    }
}

#[test]
fn a_publish_stage_on_s3_killed_between_two_reports_leaves_the_same_objects_and_manifest() {
    let mut world = World::new("s3", "2000", "2025-H1");
    let s3 = S3::for_test("kafka-publish");
    let input = world.path("input");
    let (release, _) = world.embedded(&input, "embedded");
    let expected = published(&world.path("embedded-out"));
    world.s3 = Some(s3);
    for stage in ["pseudonymise", "aggregate", "publish"] {
        world.start(stage);
    }
    let args = world.submit_args("submitter", &sorted_files(&input));
    world.kafka(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // Killed (SIGKILL) while a release is being written: once the bucket holds report objects
    // its manifest does not name (reports of a release not yet announced, or of the one before
    // it being swept), i.e. between two objects. Releases come one after another as the
    // submissions arrive; the last, with every report, leaves seconds to catch it.
    let deadline = Instant::now() + PUBLISHED_WITHIN;
    let (unnamed, objects) = loop {
        world.all_running();
        let s3 = world.s3.as_ref().unwrap();
        let keys = s3.keys("reports");
        // Read after the listing: a manifest written in between names more, never fewer.
        let manifest: Option<serde_json::Value> = s3
            .get("reports", "manifest.json")
            .map(|bytes| serde_json::from_slice(&bytes).unwrap());
        let named: BTreeSet<&str> = manifest
            .iter()
            .flat_map(|m| m["files"].as_array().unwrap())
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        let unnamed = keys
            .iter()
            .filter(|k| *k != "manifest.json" && !k.starts_with("feed/"))
            .filter(|k| !named.contains(k.as_str()))
            .count();
        if unnamed > 0 {
            break (unnamed, keys.len());
        }
        assert!(
            manifest.as_ref().and_then(|m| m["release"].as_str()) != Some(release.as_str()),
            "every release was published before the test could interrupt one"
        );
        assert!(Instant::now() < deadline, "no release written");
        std::thread::sleep(Duration::from_millis(10));
    };
    world.kill("publish");
    println!(
        "publish killed with {unnamed} of {objects} objects in the bucket not named by its \
         manifest (the final release has {})",
        expected.len()
    );

    world.start("publish");
    let deadline = Instant::now() + PUBLISHED_WITHIN;
    loop {
        world.all_running();
        let manifest = world
            .s3
            .as_ref()
            .unwrap()
            .objects("reports")
            .remove("manifest.json");
        let published: Option<String> = manifest.and_then(|m| {
            serde_json::from_slice::<serde_json::Value>(&m).unwrap()["release"]
                .as_str()
                .map(str::to_owned)
        });
        if published.as_deref() == Some(release.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "not published after the restart");
        std::thread::sleep(Duration::from_millis(200));
    }
    let s3 = world.s3.as_ref().unwrap();
    assert_same(
        &expected,
        &s3.published("reports"),
        "S3 after a kill between two reports vs spiegel run to a directory",
    );
    // Nothing else is left in the bucket: the reports of the interrupted attempt are those of
    // the release, or were swept; besides them only the feed.
    let stray: Vec<String> = s3
        .keys("reports")
        .into_iter()
        .filter(|k| !expected.contains_key(k) && !k.starts_with("feed/"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    for (stage, status) in world.terminate_all() {
        assert!(status.success(), "{stage}: {status}");
    }
}
