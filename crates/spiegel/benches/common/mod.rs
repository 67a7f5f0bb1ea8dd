//! What the benchmarks share: running the real binary and reading its peak RSS.
// wait4(2) is the one way to read a single child's peak RSS; std has no wrapper for it.
#![allow(unsafe_code, dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Records to benchmark: `SPIEGEL_BENCH_RECORDS`, or 1M.
pub(crate) fn bench_records() -> u64 {
    std::env::var("SPIEGEL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

pub(crate) struct Measured {
    pub(crate) wall: Duration,
    pub(crate) peak_rss_kib: i64,
}

// The child is reaped by wait4 below, which also yields its resource usage.
#[allow(clippy::zombie_processes)]
pub(crate) fn run(args: &[&str]) -> Measured {
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

pub(crate) fn report(what: &str, records: u64, runs: &[Measured]) {
    report_in(what, records, "records", runs);
}

/// Median and best wall time of `runs` over `count` items of `unit`, and the peak RSS.
pub(crate) fn report_in(what: &str, count: u64, unit: &str, runs: &[Measured]) {
    let mut walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    let rss = runs.iter().map(|m| m.peak_rss_kib).max().unwrap_or(0);
    println!(
        "{what:<44} {count:>9} {unit}  median {median:>6.3} s  best {:>6.3} s  {:>10.0} {unit}/s (median)  peak RSS {:>6.1} MiB",
        walls[0],
        count as f64 / median,
        rss as f64 / 1024.0
    );
}

/// Generates `records` records (seed 1) into `dir/input` and a key pair into `dir/keys`.
pub(crate) fn generated(
    dir: &std::path::Path,
    records: u64,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let input = dir.join("input");
    let keys = dir.join("keys");
    let text = |p: &std::path::Path| p.to_str().expect("a UTF-8 temporary path").to_owned();
    run(&[
        "generate",
        "--out",
        &text(&input),
        "--records",
        &records.to_string(),
        "--seed",
        "1",
    ]);
    run(&["keys", "generate", "--out", &text(&keys)]);
    (input, keys)
}
