#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of `spiegel run`: the embedded pipeline from submission files to reports.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};

mod common;
use common::{assert_same, p, spiegel, tree};
use spiegel_transport::Transport as _;

/// Generated submissions and a key pair in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(records: &str, periods: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        spiegel(&[
            "generate",
            "--out",
            p(&input),
            "--records",
            records,
            "--seed",
            "7",
            "--periods",
            periods,
        ]);
        spiegel(&["keys", "generate", "--out", p(&dir.path().join("keys"))]);
        Self { dir }
    }

    fn input(&self) -> PathBuf {
        self.dir.path().join("input")
    }

    fn run_args(&self, input: &Path, name: &str) -> Vec<String> {
        let base = self.dir.path();
        [
            "run",
            "--input",
            p(input),
            "--out",
            p(&base.join(name).join("out")),
            "--data-dir",
            p(&base.join(name).join("data")),
            "--keys",
            p(&base.join("keys")),
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn run(&self, input: &Path, name: &str) -> BTreeMap<String, Vec<u8>> {
        let args = self.run_args(input, name);
        spiegel(&args.iter().map(String::as_str).collect::<Vec<_>>());
        tree(&self.dir.path().join(name).join("out"))
    }
}

fn read_parquet(bytes: &[u8]) -> RecordBatch {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

#[test]
fn reruns_are_byte_identical_and_a_correction_equals_never_having_submitted_the_record() {
    let fixture = Fixture::new("6000", "2025-H1,2025-H2");
    let input = fixture.input();
    let first = fixture.run(&input, "a");
    assert!(first.contains_key("manifest.json"));
    assert!(first.len() > 100, "{} files", first.len());

    // The same files again: nothing is redone and nothing changes.
    let args = fixture.run_args(&input, "a");
    let again = spiegel(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        String::from_utf8_lossy(&again.stdout).starts_with("0 submissions applied"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_same(&first, &tree(&fixture.dir.path().join("a/out")), "re-run");

    // A correction that drops one record, under the same name (a later file replaces).
    let mut files: Vec<_> = fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let corrected = &files[0];
    let text = fs::read_to_string(corrected).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    fs::write(corrected, lines.join("\n") + "\n").unwrap();
    let inodes: BTreeMap<String, u64> = first
        .keys()
        .map(|path| {
            let inode = fs::metadata(fixture.dir.path().join("a/out").join(path))
                .unwrap()
                .ino();
            (path.clone(), inode)
        })
        .collect();
    let after = fixture.run(&input, "a");
    assert_ne!(
        after["manifest.json"], first["manifest.json"],
        "the correction changed nothing"
    );
    // A report the correction left as it was keeps its object, not written again; a report it
    // changed is released under a new id, at a new path.
    let reports = |out: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, (String, String)> {
        let manifest: serde_json::Value = serde_json::from_slice(&out["manifest.json"]).unwrap();
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let report = format!(
                    "{} {} {} {}",
                    f["kind"], f["period"], f["recipient"], f["municipality"]
                );
                let path = f["path"].as_str().unwrap().to_owned();
                (
                    report,
                    (path, f["content_sha256"].as_str().unwrap().to_owned()),
                )
            })
            .collect()
    };
    let (before_reports, after_reports) = (reports(&first), reports(&after));
    let (mut kept, mut revised) = (0, 0);
    for (report, (path, content)) in &after_reports {
        let (old_path, old_content) = &before_reports[report];
        if content == old_content {
            assert_eq!(path, old_path, "{report}: unchanged figures at a new path");
            let inode = fs::metadata(fixture.dir.path().join("a/out").join(path))
                .unwrap()
                .ino();
            assert_eq!(inode, inodes[path], "{path}: written again");
            kept += 1;
        } else {
            assert_ne!(path, old_path, "{report}: revised under the same path");
            assert!(
                !after.contains_key(old_path),
                "{old_path}: revised but not removed"
            );
            revised += 1;
        }
    }
    assert!(
        revised >= 1 && kept > 4 * revised,
        "{revised} reports revised and {kept} kept by a one-record correction"
    );

    // A fresh pipeline that only ever saw the corrected file publishes exactly the same.
    let fresh = fixture.run(&input, "fresh");
    assert_same(&after, &fresh, "correction vs fresh run");

    // Release events: one per release. Feed events: every municipality for the first release,
    // then only those whose reports the correction changed.
    let transport =
        spiegel_transport::EmbeddedTransport::open(&fixture.dir.path().join("a/data/transport"))
            .unwrap();
    let events = |topic: &str| -> Vec<serde_json::Value> {
        transport
            .consumer(topic, "test")
            .unwrap()
            .poll(10_000)
            .unwrap()
            .iter()
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    };
    let release = |out: &BTreeMap<String, Vec<u8>>| {
        serde_json::from_slice::<serde_json::Value>(&out["manifest.json"]).unwrap()["release"]
            .clone()
    };
    let releases = events(spiegel_transport::topic::RELEASES);
    assert_eq!(releases.len(), 2);
    assert_eq!(releases[0]["release"], release(&first));
    assert_eq!(releases[1]["release"], release(&after));
    let first_manifest: serde_json::Value =
        serde_json::from_slice(&first["manifest.json"]).unwrap();
    let municipalities: std::collections::BTreeSet<String> = first_manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "municipality")
        .map(|f| f["recipient"].as_str().unwrap().to_owned())
        .collect();
    let mut changed = 0;
    for municipality in &municipalities {
        let feed = events(&spiegel_transport::topic::feed(municipality));
        assert_eq!(feed[0]["release"], release(&first), "{municipality}");
        assert!(
            feed[0]["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["kind"] == "municipality" && f["recipient"] == municipality.as_str()),
            "{municipality}: a file not meant for it (nothing is shared here)"
        );
        if let Some(second) = feed.get(1) {
            assert_eq!(second["release"], release(&after));
            changed += 1;
        }
        assert!(feed.len() <= 2);
    }
    assert_eq!(
        releases[1]["municipalities_changed"].as_u64(),
        Some(changed as u64)
    );
    assert!(
        changed >= 1 && changed < municipalities.len(),
        "{changed} of {} municipalities told of a one-record correction",
        municipalities.len()
    );
}

#[test]
fn a_key_rotation_changes_no_report_and_the_retired_version_is_refused_and_destroyable() {
    let fixture = Fixture::new("4000", "2025-H1,2025-H2");
    let input = fixture.input();
    let before = fixture.run(&input, "a");
    let keys = fixture.dir.path().join("keys");
    let data = fixture.dir.path().join("a/data");
    let old_key = fixture.dir.path().join("old-stage2.key");
    fs::copy(keys.join("stage2.key"), &old_key).unwrap();

    // A data directory that does not exist (a Kafka operator without --key-only): refused
    // before any key changes.
    let missing = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["keys", "rotate", "--keys", p(&keys), "--data-dir"])
        .arg(fixture.dir.path().join("no-such-data"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--key-only"));
    assert_eq!(
        fs::read(keys.join("stage2.key")).unwrap(),
        fs::read(&old_key).unwrap()
    );

    // Rotate: version 2 in force, every stored submission re-pseudonymised, no new release.
    let rotated = spiegel(&["keys", "rotate", "--keys", p(&keys), "--data-dir", p(&data)]);
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(said.contains("version 2 is in force"), "{said}");
    assert!(said.contains("Its release is unchanged"), "{said}");
    let in_force = spiegel_pseudonymise::TtpKey::from_file(&keys.join("stage2.key")).unwrap();
    assert_eq!(in_force.version(), 2);
    assert!(keys.join("stage2.v1.key").exists());
    assert_same(
        &before,
        &tree(&fixture.dir.path().join("a/out")),
        "rotation",
    );
    // Run again: byte-identical reports (the same release, nothing republished).
    let after = fixture.run(&input, "a");
    assert_same(&before, &after, "a run after the rotation");

    // Pseudonyms made under the old version reach the aggregate stage: all refused.
    let transport = spiegel_transport::EmbeddedTransport::open(&data.join("transport")).unwrap();
    let replayed = spiegel_pseudonymise::stage::PseudonymiseStage::new(
        spiegel_pseudonymise::Pseudonymiser::new(
            spiegel_pseudonymise::TtpKey::from_file(&old_key).unwrap(),
            vec![1],
        ),
        transport
            .consumer(spiegel_transport::topic::SUBMISSIONS, "an-old-key-holder")
            .unwrap(),
        transport.producer().unwrap(),
    )
    .run_until_idle()
    .unwrap();
    assert!(replayed.submissions > 0);
    drop(transport);
    let args = fixture.run_args(&input, "a");
    let refused = spiegel(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let log = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(
        log.matches("retired stage-2 key version").count(),
        replayed.submissions,
        "{log}"
    );
    assert_same(
        &before,
        &tree(&fixture.dir.path().join("a/out")),
        "old pseudonyms",
    );

    // The old key destroyed (never the one in force), everything still works: a correction
    // publishes exactly what a pipeline that only ever had version 2 publishes.
    let destroy = |version: &str| {
        Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args([
                "keys",
                "destroy",
                "--keys",
                p(&keys),
                "--data-dir",
                p(&data),
            ])
            .args(["--version", version])
            .output()
            .unwrap()
    };
    assert!(!destroy("2").status.success());
    assert!(destroy("1").status.success());
    assert!(!keys.join("stage2.v1.key").exists());
    let mut files: Vec<_> = fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let text = fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    fs::write(&files[0], lines.join("\n") + "\n").unwrap();
    let corrected = fixture.run(&input, "a");
    assert_ne!(corrected["manifest.json"], before["manifest.json"]);
    assert_same(
        &corrected,
        &fixture.run(&input, "fresh"),
        "corrected vs fresh on v2",
    );
    // The audit log names the rotation, the key uses and the destruction, never a key.
    let audit = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    for object in [
        "stage-2 key version 2 put in force, version 1 retired",
        "stage-2 key spiegel.v2",
        "stage-2 key version 1 destroyed",
    ] {
        assert!(audit.contains(object), "{object} not in {audit}");
    }
    spiegel(&["audit", "verify", "--data-dir", p(&data)]);
}

#[test]
fn aggregate_reports_carry_no_provider_and_no_count_below_the_threshold() {
    let fixture = Fixture::new("30000", "2025-H1,2025-H2");
    let out = fixture.run(&fixture.input(), "a");
    let providers: Vec<String> = fs::read_dir(fixture.input())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy()[..8].to_owned())
        .collect();
    let manifest: serde_json::Value = serde_json::from_slice(&out["manifest.json"]).unwrap();
    let (mut aggregate_files, mut counts, mut suppressed) = (0, 0, 0);
    for file in manifest["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        let bytes = &out[path];
        let batch = read_parquet(bytes);
        if file["kind"] == "mirror" {
            assert!(batch.schema().column_with_name("provider_id").is_some());
            continue;
        }
        aggregate_files += 1;
        // NB-1: no provider identifier anywhere: path, columns, values, metadata.
        assert!(
            batch.schema().column_with_name("provider_id").is_none(),
            "{path}"
        );
        let haystack = String::from_utf8_lossy(bytes);
        for agb in &providers {
            assert!(!path.contains(agb.as_str()), "{path} names provider {agb}");
            assert!(
                !haystack.contains(agb.as_str()),
                "{path} contains provider {agb}"
            );
        }
        // SDC-1 and SDC-4: every published count is 0 or at least T, and a multiple of 5.
        for column in ["numerator", "denominator"] {
            let values = batch
                .column_by_name(column)
                .unwrap()
                .as_primitive::<Int64Type>();
            for v in values.iter().flatten() {
                counts += 1;
                assert!(v == 0 || v >= 10, "{path}: {column} {v}");
                assert_eq!(v % 5, 0, "{path}: {column} {v}");
            }
        }
        let status = batch.column_by_name("status").unwrap().as_string::<i32>();
        let value = batch.column_by_name("value").unwrap();
        for row in 0..batch.num_rows() {
            if status.value(row) == "suppressed" {
                suppressed += 1;
                assert!(value.is_null(row), "{path}: suppressed cell with a value");
            }
        }
    }
    assert!(aggregate_files > 50 && counts > 10_000 && suppressed > 100);
    // SDC-3: the attacker audit of the release, for every suppressed cell.
    let release = manifest["release"].as_str().unwrap();
    let audit_path = fixture
        .dir
        .path()
        .join(format!("a/data/publish/audit/{release}.json"));
    let audit: Vec<serde_json::Value> =
        serde_json::from_slice(&fs::read(audit_path).unwrap()).unwrap();
    let mut audited = 0;
    for file in &audit {
        audited += file["suppressed_counts"].as_u64().unwrap();
        if let Some(narrowest) = file["narrowest_interval"].as_u64() {
            assert!(narrowest >= file["protection"].as_u64().unwrap(), "{file}");
        }
    }
    assert!(
        audited >= suppressed,
        "{audited} audited, {suppressed} suppressed"
    );
}

#[test]
fn a_run_killed_at_any_point_resumes_to_the_same_reports() {
    let fixture = Fixture::new("20000", "2025-H1,2025-H2");
    let input = fixture.input();
    let started = Instant::now();
    let reference = fixture.run(&input, "reference");
    let full = started.elapsed();
    for (i, fraction) in [0.05, 0.2, 0.4, 0.6, 0.8, 0.95].into_iter().enumerate() {
        let name = format!("killed{i}");
        let args = fixture.run_args(&input, &name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(fraction));
        // SIGKILL: no chance to clean up.
        let _ = child.kill();
        let _ = child.wait();
        let resumed = fixture.run(&input, &name);
        assert_same(
            &reference,
            &resumed,
            &format!("killed at {fraction} of {full:?}"),
        );
    }
    assert!(full > Duration::from_millis(10));
}

#[test]
fn the_reports_read_cleanly_in_pyarrow_and_duckdb_and_agree_with_an_independent_count() {
    let python = std::env::var("SPIEGEL_PYTHON").expect(
        "SPIEGEL_PYTHON names a Python with pyarrow and duckdb; scripts/test.sh sets it up",
    );
    let fixture = Fixture::new("40000", "2025-H1,2025-H2");
    fixture.run(&fixture.input(), "a");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/check_reports.py");
    let output = Command::new(python)
        .arg(script)
        .arg(fixture.dir.path().join("a/out"))
        .arg(fixture.input())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file under `root` by relative path, the feed included.
fn every_file(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                out.insert(relative.into_owned(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// The targets of an HTML page's links, in-page anchors aside.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .filter(|target| !target.starts_with('#'))
        .collect()
}

#[test]
fn two_demo_runs_are_byte_identical_and_their_index_links_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let demo = |out: &Path| {
        let output = spiegel(&["demo", "--dir", p(out), "--records", "3000"]);
        String::from_utf8(output.stdout).unwrap()
    };
    let text = demo(&first);
    for expected in [
        "Spiegel demo",
        "3000 records",
        "342 gemeenten",
        "municipality",
        "suppressed",
        "manifest.json",
        "pages:",
        "time: generate ",
        " s, pipeline ",
        " s, render ",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // The one thing to open is the index at the top of the output.
    let line = text
        .lines()
        .find(|l| l.contains("open in a browser"))
        .unwrap();
    let opened: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.ends_with(".html"))
        .collect();
    assert_eq!(opened, [p(&first.join("index.html"))], "{line}");

    demo(&second);
    for part in ["reports", "pages"] {
        let (a, b) = (
            every_file(&first.join(part)),
            every_file(&second.join(part)),
        );
        assert!(!a.is_empty(), "{part}");
        assert_same(&a, &b, part);
    }
    let index = fs::read_to_string(first.join("index.html")).unwrap();
    assert!(
        index == fs::read_to_string(second.join("index.html")).unwrap(),
        "index.html differs"
    );

    // Every link resolves, every page is linked, and so is every region and national report.
    assert!(!index.contains("<script"), "the index is plain HTML");
    let linked: std::collections::BTreeSet<String> = links(&index).into_iter().collect();
    for target in &linked {
        assert!(first.join(target).is_file(), "{target} does not exist");
    }
    let pages: std::collections::BTreeSet<String> = every_file(&first.join("pages"))
        .into_keys()
        .map(|page| format!("pages/{page}"))
        .collect();
    let unlinked: Vec<&String> = pages.difference(&linked).collect();
    assert!(unlinked.is_empty(), "pages not linked: {unlinked:?}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(first.join("reports/manifest.json")).unwrap()).unwrap();
    for file in manifest["files"].as_array().unwrap() {
        if file["kind"] == "region" || file["kind"] == "national" {
            let target = format!("reports/{}", file["path"].as_str().unwrap());
            assert!(linked.contains(&target), "{target} not linked");
        }
    }
    // A municipality is found under its jeugdzorgregio, by name.
    let amsterdam = index
        .find("Amsterdam (GM0363)")
        .expect("Amsterdam is listed");
    let region = index[..amsterdam].rfind("<summary>").unwrap();
    assert!(index[region..amsterdam].contains("Amsterdam-Amstelland"));

    let national: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "national" && f["period"] == "2026-H1")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(national.len(), 1, "{national:?}");
    assert!(
        national[0].starts_with("national/period=2026-H1/") && national[0].ends_with(".parquet"),
        "{}",
        national[0]
    );
    assert!(first.join("reports").join(national[0]).exists());
}

/// Runs the binary expecting it to refuse; its standard error.
fn refused(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "spiegel {args:?} accepted a demo key"
    );
    stderr
}

#[test]
fn demo_keys_are_refused_for_real_data() {
    use spiegel_pseudonymise::{SourceKey, TtpId, TtpKey};
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir(&keys).unwrap();
    let ttp = TtpId::new("spiegel-demo").unwrap();
    SourceKey::demo(1, ttp.clone())
        .write_new(&keys.join("stage1.key"))
        .unwrap();
    TtpKey::demo(1, ttp)
        .write_new(&keys.join("stage2.key"))
        .unwrap();
    // What `spiegel demo` leaves in its data directory, where `run` looks without --keys.
    let demo_data = dir.path().join("demo-data");
    fs::create_dir(&demo_data).unwrap();
    fs::create_dir(demo_data.join("keys")).unwrap();
    for name in ["stage1.key", "stage2.key"] {
        fs::copy(keys.join(name), demo_data.join("keys").join(name)).unwrap();
    }
    let input = dir.path().join("input");
    fs::create_dir(&input).unwrap();
    let submission = input.join("12345678_2026-H1.csv");
    fs::write(&submission, "bsn\n").unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let (k1, secret) = (
        keys.join("stage1.key"),
        fs::read_to_string(keys.join("stage2.key")).unwrap(),
    );
    let secret = secret
        .lines()
        .find_map(|l| l.strip_prefix("secret="))
        .unwrap()
        .to_owned();
    let mut commands: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "--input",
            p(&input),
            "--out",
            p(&out),
            "--data-dir",
            p(&data),
            "--keys",
            p(&keys),
        ],
        vec![
            "run",
            "--input",
            p(&input),
            "--out",
            p(&out),
            "--data-dir",
            p(&demo_data),
        ],
        vec![
            "serve",
            "--reports",
            p(&out),
            "--data-dir",
            p(&data),
            "--keys",
            p(&keys),
        ],
        vec!["prepare", "--source-key", p(&k1), p(&submission), p(&out)],
        vec!["keys", "rotate", "--keys", p(&keys), "--key-only"],
    ];
    if cfg!(feature = "kafka") {
        commands.extend([
            vec![
                "ingest",
                "--inbox",
                p(&input),
                "--keys",
                p(&keys),
                "--data-dir",
                p(&data),
            ],
            vec!["pseudonymise", "--keys", p(&keys), "--data-dir", p(&data)],
            vec![
                "submit",
                p(&submission),
                "--keys",
                p(&keys),
                "--data-dir",
                p(&data),
            ],
        ]);
    }
    for args in commands {
        let stderr = refused(&args);
        assert!(
            stderr.contains("demo key") && stderr.contains("spiegel keys generate"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(&secret), "{args:?} shows the key");
    }
    // Nothing was rotated.
    assert!(!keys.join("stage2.v1.key").exists());
}
