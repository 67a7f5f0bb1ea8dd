//! `cargo bench -p spiegel --bench run_1m`: the embedded pipeline (`spiegel run`) on 1M
//! generated records, measured on the real binary: a cold run (empty data directory), an
//! identical re-run, and a one-provider correction on top of the state. Set
//! `SPIEGEL_BENCH_RECORDS` for another size.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;

use common::{Measured, generated, report, run};

fn main() {
    let records = common::bench_records();
    let dir = tempfile::tempdir().unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (input, keys) = generated(dir.path(), records);
    let files = std::fs::read_dir(&input).unwrap().count();
    println!(
        "spiegel run benchmark, {} cores, {records} records in {files} files",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let pipeline = |name: &str| {
        let base = dir.path().join(name);
        run(&[
            "run",
            "--input",
            &path(&input),
            "--out",
            &path(&base.join("out")),
            "--data-dir",
            &path(&base.join("data")),
            "--keys",
            &path(&keys),
        ])
    };
    let cold: Vec<Measured> = (0..3).map(|i| pipeline(&format!("cold{i}"))).collect();
    report("run, cold (empty data directory)", records, &cold);

    let unchanged: Vec<Measured> = (0..3).map(|_| pipeline("cold0")).collect();
    report("run, nothing changed", records, &unchanged);

    // One provider corrects one period: a record less.
    let mut names: Vec<_> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let corrected = &names[names.len() / 2];
    let text = std::fs::read_to_string(corrected).unwrap();
    let rows = text.lines().count();
    let mut correction = Vec::new();
    for keep in [rows - 1, rows - 2, rows - 3] {
        let lines: Vec<&str> = text.lines().take(keep).collect();
        std::fs::write(corrected, lines.join("\n") + "\n").unwrap();
        correction.push(pipeline("cold0"));
    }
    report(
        &format!("run, one-provider correction ({} rows)", rows - 1),
        records,
        &correction,
    );
}
