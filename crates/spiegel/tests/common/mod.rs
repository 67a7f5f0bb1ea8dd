//! Helpers the end-to-end test binaries share.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use arrow_array::Array as _;
use arrow_array::cast::AsArray as _;
use arrow_array::types::{Float64Type, Int64Type};

pub(crate) mod postgres;
pub(crate) mod prometheus;
pub(crate) mod s3;
pub(crate) mod server;
pub(crate) mod world;

/// Runs the binary and insists it succeeds.
pub(crate) fn spiegel(args: &[&str]) -> Output {
    spiegel_with(args, |_| {})
}

/// Runs the binary with its environment set by `configure` (a server's address and
/// credentials, as an operator sets them) and insists it succeeds.
pub(crate) fn spiegel_with(args: &[&str], configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spiegel"));
    configure(command.args(args));
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "spiegel {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A BSN passing the 11-proef, made from `n` (for hand-made submissions).
pub(crate) fn bsn(n: u32) -> String {
    let mut prefix = 10_000_000 + n * 7;
    loop {
        let digits: Vec<u32> = prefix
            .to_string()
            .chars()
            .map(|c| c.to_digit(10).unwrap())
            .collect();
        let sum: u32 = digits.iter().zip((2..=9).rev()).map(|(d, w)| d * w).sum();
        if sum % 11 < 10 {
            return format!("{prefix}{}", sum % 11);
        }
        prefix += 1;
    }
}

/// Generates `records` records of `providers` providers over `periods` (comma separated)
/// into `out`.
pub(crate) fn generate(out: &Path, records: u32, providers: u32, seed: u32, periods: &str) {
    spiegel(&[
        "generate",
        "--out",
        p(out),
        "--records",
        &records.to_string(),
        "--providers",
        &providers.to_string(),
        "--seed",
        &seed.to_string(),
        "--periods",
        periods,
    ]);
}

/// Generates `records` records of `providers` providers for 2026-H1 under `root`, runs the
/// embedded pipeline on them and returns the report store, the data directory and the
/// manifest of the release.
pub(crate) fn released(
    root: &Path,
    records: u32,
    providers: u32,
    seed: u32,
) -> (std::path::PathBuf, std::path::PathBuf, serde_json::Value) {
    let input = root.join("input");
    generate(&input, records, providers, seed, "2026-H1");
    let reports = root.join("reports");
    let data = root.join("data");
    spiegel(&[
        "run",
        "--input",
        p(&input),
        "--out",
        p(&reports),
        "--data-dir",
        p(&data),
    ]);
    let manifest =
        serde_json::from_slice(&fs::read(reports.join("manifest.json")).unwrap()).unwrap();
    (reports, data, manifest)
}

/// A number that differs between tests and runs, for names on a shared server (topic
/// prefixes, buckets' prefixes, databases).
pub(crate) fn nonce() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id()
}

/// Creates a bearer token for `principal` (such as `["--gemeente", "GM0363"]`) as operator
/// `by`, and returns it.
pub(crate) fn token(data: &Path, principal: [&str; 2], by: &str) -> String {
    token_with(data, principal, by, |_| {})
}

/// [`token`], with the environment set by `configure` (the state database's URL and password).
pub(crate) fn token_with(
    data: &Path,
    principal: [&str; 2],
    by: &str,
    configure: impl FnOnce(&mut Command),
) -> String {
    let args = [
        "tokens",
        "create",
        principal[0],
        principal[1],
        "--data-dir",
        p(data),
        "--by",
        by,
    ];
    let out = spiegel_with(&args, configure);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned()
}

/// A path as an argument.
pub(crate) fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Every file under `root` by relative path, the feed of releases aside.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            // The feed is the history of releases, which depends on how many releases a run
            // made on its way (timing, corrections): the reports are what must be identical.
            if path.is_dir() && path == root.join("feed") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Asserts two trees hold the same files with the same bytes.
pub(crate) fn assert_same(
    a: &BTreeMap<String, Vec<u8>>,
    b: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let names_a: Vec<_> = a.keys().collect();
    let names_b: Vec<_> = b.keys().collect();
    assert_eq!(names_a, names_b, "{what}: different files");
    for (name, bytes) in a {
        assert!(bytes == &b[name], "{what}: {name} differs");
    }
}

/// What a reader of `out` sees: `manifest.json` and the files it lists, by path. (Files of an
/// earlier release may still be there for a moment after a new manifest is written.)
pub(crate) fn published(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let manifest = fs::read(out.join("manifest.json")).unwrap();
    with_listed(manifest, |path| fs::read(out.join(path)).unwrap())
}

/// `manifest` (as `manifest.json`) and each file it lists, read by `read`, by path.
pub(crate) fn with_listed(
    manifest: Vec<u8>,
    mut read: impl FnMut(&str) -> Vec<u8>,
) -> BTreeMap<String, Vec<u8>> {
    let listed: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let mut files: BTreeMap<String, Vec<u8>> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let path = f["path"].as_str().unwrap();
            (path.to_owned(), read(path))
        })
        .collect();
    files.insert("manifest.json".to_owned(), manifest);
    files
}

/// The BSNs in a CSV submission file (its `bsn` column), sentinels left out.
pub(crate) fn bsns(file: &Path) -> std::collections::BTreeSet<String> {
    let text = fs::read_to_string(file).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "bsn").unwrap();
    lines
        .filter_map(|l| l.split(',').nth(column))
        .filter(|b| b.len() == 9 && *b != "999999999" && *b != "000000000")
        .map(str::to_owned)
        .collect()
}

/// A row of a report file (the tidy layout of docs/reports.md).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) indicator: String,
    pub(crate) dimension: String,
    pub(crate) category: String,
    pub(crate) numerator: Option<i64>,
    pub(crate) denominator: Option<i64>,
    pub(crate) value: Option<f64>,
    pub(crate) status: String,
}

pub(crate) fn rows(bytes: &[u8]) -> Vec<Row> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::copy_from_slice(bytes),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch: arrow_array::RecordBatch = batch.unwrap();
        let text = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        let int = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (indicators, dimensions, categories, statuses) = (
            text("indicator"),
            text("dimension"),
            text("category"),
            text("status"),
        );
        let (numerators, denominators) = (int("numerator"), int("denominator"));
        let values = batch
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        for i in 0..batch.num_rows() {
            out.push(Row {
                indicator: indicators.value(i).to_owned(),
                dimension: dimensions.value(i).to_owned(),
                category: categories.value(i).to_owned(),
                numerator: numerators.is_valid(i).then(|| numerators.value(i)),
                denominator: denominators.is_valid(i).then(|| denominators.value(i)),
                value: values.is_valid(i).then(|| values.value(i)),
                status: statuses.value(i).to_owned(),
            });
        }
    }
    out
}
