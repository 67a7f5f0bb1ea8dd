//! A strict reader of the Prometheus text exposition format (0.0.4), independent of the
//! server's writer: every family declared once by `# HELP` and `# TYPE` before its samples,
//! samples of a family together, valid names, labels and values, histogram buckets cumulative
//! and ending in `+Inf` equal to `_count`.

use std::collections::{BTreeMap, BTreeSet};

/// Label names and values, sorted.
pub(crate) type Labels = Vec<(String, String)>;

/// A sample: metric name and labels to value.
pub(crate) type Samples = BTreeMap<(String, Labels), f64>;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `text`, panicking with the line at the first violation of the format.
pub(crate) fn parse(text: &str) -> Samples {
    let mut samples = Samples::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut finished = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(valid_name(name), "bad family name: {line}");
            match keyword {
                "HELP" => assert!(helped.insert(name.to_owned()), "HELP twice: {line}"),
                "TYPE" => {
                    let kind = parts.next().unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad type: {line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "TYPE twice: {line}"
                    );
                }
                _ => {}
            }
            if current.as_deref() != Some(name) {
                if let Some(previous) = current.replace(name.to_owned()) {
                    finished.insert(previous);
                }
                assert!(!finished.contains(name), "family {name} split: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                let mut labels = Vec::new();
                for pair in inner.split(',').filter(|p| !p.is_empty()) {
                    let (key, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("{line}"));
                    assert!(valid_name(key), "bad label name: {line}");
                    let value = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label: {line}"));
                    labels.push((key.to_owned(), value.to_owned()));
                }
                labels.sort();
                (name, labels)
            }
        };
        assert!(valid_name(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| types.get(*base).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert_eq!(
            current.as_deref(),
            Some(family),
            "sample outside its family's block: {line}"
        );
        assert!(types.contains_key(family), "sample before TYPE: {line}");
        assert!(
            samples.insert((name.to_owned(), labels), value).is_none(),
            "sample twice: {line}"
        );
    }
    // Histograms: cumulative buckets ending in +Inf, which equals _count.
    for (family, _) in types.iter().filter(|(_, t)| *t == "histogram") {
        let bucket = format!("{family}_bucket");
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), value) in &samples {
            if *name == bucket {
                let le = labels.iter().find(|(k, _)| k == "le").unwrap();
                let bound = if le.1 == "+Inf" {
                    f64::INFINITY
                } else {
                    le.1.parse().unwrap()
                };
                let rest: Vec<_> = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
                series.entry(rest).or_default().push((bound, *value));
            }
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family}: not cumulative"
            );
            let last = buckets.last().unwrap();
            assert!(last.0.is_infinite(), "{family}: no +Inf bucket");
            let count = samples[&(format!("{family}_count"), labels)];
            assert_eq!(last.1, count, "{family}: +Inf bucket is not _count");
        }
    }
    samples
}

/// The value of `name` with exactly `labels`.
pub(crate) fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    find(samples, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}"))
}

/// Scrapes `/metrics` of `admin` until `ready` holds (or 15 s passed), and returns the last
/// scrape. A stage counts a pass when the pass returns, a moment after its output (a
/// manifest, a topic message) is already visible.
pub(crate) fn scrape_until(admin: &str, ready: impl Fn(&Samples) -> bool) -> Samples {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = super::server::get(admin, "/metrics", &[]);
        assert_eq!(status, 200);
        let samples = parse(&String::from_utf8(body).unwrap());
        if ready(&samples) || std::time::Instant::now() > deadline {
            return samples;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The value of `name` with exactly `labels`, if there is such a sample.
pub(crate) fn find(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    samples.get(&(name.to_owned(), labels)).copied()
}
