use super::*;
use crate::log::Head;
use crate::record::{GENESIS, MAX_OBJECT_BYTES, canonical};

fn entry(n: usize) -> Entry {
    Entry {
        actor: if n.is_multiple_of(2) {
            Actor::Principal(Principal::provider("12345678").unwrap())
        } else {
            Actor::System("publish")
        },
        on_behalf_of: None,
        action: Action::ReportRead,
        object: format!("release=abc/municipality/period=2026-H1/municipality=GM0363/{n}"),
        outcome: Outcome::Success,
    }
}

fn written(n: usize) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    for i in 0..n {
        log.append(entry(i), "2026-11-23T12:00:00Z").unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let lines = text.lines().map(str::to_owned).collect();
    (dir, lines)
}

/// A log of `n` records anchored by a checkpoint after every `every`.
fn anchored(n: usize, every: u64) -> (tempfile::TempDir, Vec<String>, AuditOptions) {
    let dir = tempfile::tempdir().unwrap();
    let options = AuditOptions {
        checkpoint_every: every,
        ..AuditOptions::default_for(dir.path())
    };
    let log = AuditLog::open_with(dir.path(), options.clone()).unwrap();
    for i in 0..n {
        log.append(entry(i), "2026-11-23T12:00:00Z").unwrap();
    }
    let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let lines = text.lines().map(str::to_owned).collect();
    (dir, lines, options)
}

#[test]
fn a_record_longer_than_any_read_window_does_not_wedge_the_log() {
    // Issue 26: one request for a 126 KB report id made every later append fail.
    let (dir, _) = written(2);
    let log = AuditLog::open(dir.path()).unwrap();
    let long = Entry {
        object: "\u{1}".repeat(200_000),
        ..entry(2)
    };
    log.append(long, "2026-11-23T12:01:00Z").unwrap();
    let record = log.append(entry(3), "2026-11-23T12:02:00Z").unwrap();
    assert_eq!(record.seq, 4);
    let reopened = AuditLog::open(dir.path()).unwrap();
    assert_eq!(
        reopened
            .append(entry(4), "2026-11-23T12:03:00Z")
            .unwrap()
            .seq,
        5
    );
    assert_eq!(verify(dir.path()).unwrap().records, 5);
    // The object was cut to a bounded size, saying so.
    let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
    let third = text.lines().nth(2).unwrap();
    assert!(third.len() < 8 * MAX_OBJECT_BYTES, "{}", third.len());
    assert!(third.contains("(cut, 200000 bytes)"));
}

#[test]
fn an_intact_log_verifies_and_continues_after_reopening() {
    let (dir, lines) = written(5);
    assert_eq!(lines.len(), 5);
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records, report.broken), (5, None));
    let log = AuditLog::open(dir.path()).unwrap();
    let record = log.append(entry(5), "2026-11-23T12:01:00Z").unwrap();
    assert_eq!(record.seq, 6);
    assert_eq!(verify(dir.path()).unwrap().records, 6);
}

#[cfg(unix)]
#[test]
fn the_log_its_head_and_its_key_are_private_and_the_key_is_never_shown() {
    use std::os::unix::fs::PermissionsExt as _;
    let (dir, lines) = written(2);
    for file in [AUDIT_FILE, AUDIT_HEAD_FILE, AUDIT_KEY_FILE] {
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let key = std::fs::read_to_string(dir.path().join(AUDIT_KEY_FILE)).unwrap();
    let key = key.trim();
    assert_eq!(key.len(), 64);
    let log = AuditLog::open(dir.path()).unwrap();
    assert!(!format!("{log:?}").contains(key));
    assert!(lines.iter().all(|l| !l.contains(key)));
}

#[test]
fn checkpoints_are_written_every_n_records_create_only_and_read_only() {
    let (dir, _, options) = anchored(7, 3);
    let mut checkpoints = options.sink.all().unwrap();
    checkpoints.sort_by_key(|c| c.seq);
    assert_eq!(
        checkpoints.iter().map(|c| c.seq).collect::<Vec<_>>(),
        [3, 6]
    );
    let report = verify(dir.path()).unwrap();
    assert_eq!(
        (report.records, report.checkpoints, report.broken),
        (7, 2, None)
    );
    let file = dir
        .path()
        .join(AUDIT_CHECKPOINTS_DIR)
        .join(format!("{:020}.json", 3));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o400);
    }
    // The same checkpoint again is harmless; another one for the same record is refused.
    options.sink.put(&checkpoints[0]).unwrap();
    let mut other = checkpoints[0].clone();
    other.head = GENESIS.to_owned();
    assert!(options.sink.put(&other).is_err());
    // A forced checkpoint anchors the head now, once.
    let log = AuditLog::open_with(dir.path(), options.clone()).unwrap();
    assert_eq!(log.checkpoint().unwrap().map(|c| c.seq), Some(7));
    assert_eq!(log.checkpoint().unwrap(), None);
}

#[test]
fn cutting_the_log_and_rewriting_its_head_is_found_by_the_checkpoints() {
    let (dir, lines, options) = anchored(6, 2);
    let path = dir.path().join(AUDIT_FILE);
    // Cut after record 3 with a head that agrees: the chain alone cannot tell.
    std::fs::write(&path, lines[..3].join("\n") + "\n").unwrap();
    let last: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
    let head = Head {
        seq: last.seq,
        hash: last.hash,
    };
    std::fs::write(
        dir.path().join(AUDIT_HEAD_FILE),
        serde_json::to_vec(&head).unwrap(),
    )
    .unwrap();
    let broken = verify(dir.path()).unwrap().broken.unwrap();
    assert_eq!(broken.line, 4, "{}", broken.reason);
    assert!(
        broken.reason.contains("anchors record 4"),
        "{}",
        broken.reason
    );
    assert!(AuditLog::open_with(dir.path(), options).is_err());
}

#[test]
fn a_chain_rewritten_without_the_key_or_with_another_key_does_not_verify() {
    let (dir, lines, _) = anchored(4, 0);
    let path = dir.path().join(AUDIT_FILE);
    // Re-chained with plain SHA-256, as an older Spiegel chained.
    let mut previous = GENESIS.to_owned();
    let mut rechained = Vec::new();
    for line in &lines {
        let mut record: AuditRecord = serde_json::from_str(line).unwrap();
        record.prev = previous.clone();
        record.hash = record.unkeyed_hash();
        previous = record.hash.clone();
        rechained.push(canonical(&record));
    }
    std::fs::write(&path, rechained.join("\n") + "\n").unwrap();
    let broken = verify(dir.path()).unwrap().broken.unwrap();
    assert_eq!(broken.line, 1);
    assert!(broken.reason.contains("older Spiegel"), "{}", broken.reason);
    // Re-chained with a key of the attacker's own.
    let other = tempfile::tempdir().unwrap();
    let key = AuditKey::open_or_create(other.path()).unwrap();
    let mut previous = GENESIS.to_owned();
    let mut rechained = Vec::new();
    for line in &lines {
        let mut record: AuditRecord = serde_json::from_str(line).unwrap();
        record.prev = previous.clone();
        record.hash = record.keyed_hash(&key);
        previous = record.hash.clone();
        rechained.push(canonical(&record));
    }
    std::fs::write(&path, rechained.join("\n") + "\n").unwrap();
    let broken = verify(dir.path()).unwrap().broken.unwrap();
    assert_eq!(broken.line, 1, "{}", broken.reason);
    assert!(broken.reason.contains("HMAC"), "{}", broken.reason);
}

#[test]
fn a_writer_stopped_between_its_line_and_the_head_is_continued() {
    // As a stage whose drain watchdog (or SIGKILL) ends it mid-append leaves the log.
    for n in [1, 4] {
        let (dir, _) = written(n);
        let head_path = dir.path().join(AUDIT_HEAD_FILE);
        if n == 1 {
            std::fs::remove_file(&head_path).unwrap();
        } else {
            // The head as it was before the last line.
            let text = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
            let before: AuditRecord =
                serde_json::from_str(text.lines().nth(n - 2).unwrap()).unwrap();
            let head = Head {
                seq: before.seq,
                hash: before.hash,
            };
            std::fs::write(&head_path, serde_json::to_vec(&head).unwrap()).unwrap();
        }
        assert_eq!(verify(dir.path()).unwrap().broken, None, "{n} records");
        let log = AuditLog::open(dir.path()).unwrap();
        let record = log.append(entry(n), "2026-11-23T12:01:00Z").unwrap();
        assert_eq!(record.seq, n as u64 + 1);
        let report = verify(dir.path()).unwrap();
        assert_eq!((report.records, report.broken), (n as u64 + 1, None));
    }
    // Without a head, a log of more than one record was cut or tampered with.
    let (dir, _) = written(2);
    std::fs::remove_file(dir.path().join(AUDIT_HEAD_FILE)).unwrap();
    assert!(AuditLog::open(dir.path()).is_err());
}

#[test]
fn two_writers_of_one_log_keep_one_chain() {
    // As the server and `spiegel tokens` do: each opened the log before the other wrote.
    let dir = tempfile::tempdir().unwrap();
    let server = AuditLog::open(dir.path()).unwrap();
    let cli = AuditLog::open(dir.path()).unwrap();
    for i in 0..6 {
        let writer = if i % 3 == 0 { &cli } else { &server };
        assert_eq!(
            writer.append(entry(i), "2026-11-23T12:00:00Z").unwrap().seq,
            i as u64 + 1
        );
    }
    let report = verify(dir.path()).unwrap();
    assert_eq!((report.records, report.broken), (6, None));
    // A log cut short under a running writer is not continued.
    let path = dir.path().join(AUDIT_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(4).collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    assert!(server.append(entry(7), "2026-11-23T12:00:00Z").is_err());
}

#[test]
fn editing_or_removing_any_line_breaks_the_chain_at_that_line() {
    let (dir, lines) = written(6);
    let path = dir.path().join(AUDIT_FILE);
    let head = std::fs::read(dir.path().join(AUDIT_HEAD_FILE)).unwrap();
    for at in 0..lines.len() {
        // Edited: another object, hash left as it was.
        let mut edited = lines.clone();
        edited[at] = edited[at].replace("GM0363", "GM0344");
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        let report = verify(dir.path()).unwrap();
        assert_eq!(
            report.broken.unwrap().line,
            at as u64 + 1,
            "edit of line {at}"
        );
        // Edited and re-hashed by someone without the key.
        let mut record: AuditRecord = serde_json::from_str(&lines[at]).unwrap();
        record.outcome = Outcome::Denied;
        record.hash = record.unkeyed_hash();
        let mut rehashed = lines.clone();
        rehashed[at] = canonical(&record);
        std::fs::write(&path, rehashed.join("\n") + "\n").unwrap();
        let line = verify(dir.path()).unwrap().broken.unwrap().line;
        assert_eq!(line, at as u64 + 1, "re-hashed line {at}");
        // Removed.
        let mut removed = lines.clone();
        removed.remove(at);
        std::fs::write(&path, removed.join("\n") + "\n").unwrap();
        let report = verify(dir.path()).unwrap();
        assert_eq!(
            report.broken.unwrap().line,
            at as u64 + 1,
            "removal of line {at}"
        );
        std::fs::write(dir.path().join(AUDIT_HEAD_FILE), &head).unwrap();
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    assert_eq!(verify(dir.path()).unwrap().broken, None);
    // A broken log is not appended to.
    std::fs::write(&path, lines[1..].join("\n") + "\n").unwrap();
    assert!(AuditLog::open(dir.path()).is_err());
}
