//! `cargo bench -p spiegel --bench validate_1m`: throughput and peak memory of `spiegel
//! generate` and `spiegel validate` over 1M generated records, measured on the real binary as
//! a provider runs it. Set `SPIEGEL_BENCH_RECORDS` for another size.
// wait4(2) is the one way to read a single child's peak RSS; std has no wrapper for it.
#![allow(unsafe_code)]
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Measured {
    wall: Duration,
    peak_rss_kib: i64,
}

// The child is reaped by wait4 below, which also yields its resource usage.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str]) -> Measured {
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spiegel starts");
    let mut status = 0;
    // SAFETY: `rusage` is plain data that wait4 fills in; the pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "spiegel {args:?} failed"
    );
    Measured {
        wall,
        peak_rss_kib: usage.ru_maxrss,
    }
}

fn report(what: &str, records: u64, runs: &[Measured]) {
    let mut walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let rss = runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
    println!(
        "{what:<44} {records:>9} records  median {median:>6.3} s  best {:>6.3} s  {:>10.0} records/s (median)  peak RSS {:>6.1} MiB",
        walls[0],
        records as f64 / median,
        rss as f64 / 1024.0
    );
}

fn main() {
    let records: u64 = std::env::var("SPIEGEL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let n = records.to_string();
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    let single = dir.path().join("single");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    println!(
        "spiegel validate benchmark, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let generated: Vec<Measured> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("gen{i}"));
            run(&[
                "generate",
                "--out",
                &path(&out),
                "--records",
                &n,
                "--seed",
                "1",
            ])
        })
        .collect();
    report(
        "generate (5 half-years, many providers)",
        records,
        &generated,
    );
    std::fs::rename(dir.path().join("gen0"), &set).unwrap();
    let files = std::fs::read_dir(&set).unwrap().count();

    let validate: Vec<Measured> = (0..5)
        .map(|_| run(&["validate", "--json", &path(&set)]))
        .collect();
    report(
        &format!("validate, generated set ({files} files)"),
        records,
        &validate,
    );

    run(&[
        "generate",
        "--out",
        &path(&single),
        "--records",
        &n,
        "--seed",
        "1",
        "--providers",
        "1",
        "--periods",
        "2026-H1",
    ]);
    let file = std::fs::read_dir(&single)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::metadata(&file).unwrap().len();
    let one: Vec<Measured> = (0..5)
        .map(|_| run(&["validate", "--json", &path(&file)]))
        .collect();
    report(
        &format!("validate, one file ({} MB)", bytes / 1_000_000),
        records,
        &one,
    );
}
