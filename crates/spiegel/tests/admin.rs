//! `spiegel tokens` and `spiegel audit verify` as an operator uses them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::process::Command;

mod common;
use common::{p, spiegel, token};

fn verify(data: &std::path::Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(["audit", "verify", "--data-dir", p(data), "--by", "auditor"])
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn a_scripted_session_is_recorded_once_per_action_and_any_edit_or_removal_is_found_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut tokens = Vec::new();
    for principal in [
        ["--provider", "12345678"],
        ["--gemeente", "GM0363"],
        ["--operator", "ops.bob"],
    ] {
        let token = token(&data, principal, "alice");
        assert!(
            token.starts_with("spiegel_") && token.len() == 8 + 8 + 1 + 64,
            "{token}"
        );
        tokens.push(token);
    }
    let id = tokens[0]["spiegel_".len().."spiegel_".len() + 8].to_owned();
    spiegel(&[
        "tokens",
        "revoke",
        &id,
        "--data-dir",
        p(&data),
        "--by",
        "alice",
    ]);
    let listed =
        String::from_utf8(spiegel(&["tokens", "list", "--data-dir", p(&data)]).stdout).unwrap();
    assert_eq!(listed.lines().count(), 3);
    assert!(listed.contains("revoked"));

    let (code, said) = verify(&data);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 4 records"), "{said}");
    let log = fs::read_to_string(data.join("audit-log.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["on_behalf_of"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("operator:alice", "token_create", "provider:12345678"),
        ("operator:alice", "token_create", "gemeente:GM0363"),
        ("operator:alice", "token_create", "operator:ops.bob"),
        ("operator:alice", "token_revoke", "provider:12345678"),
        ("operator:auditor", "audit_read", ""),
    ];
    assert_eq!(
        summary,
        expected
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );
    // No token in the log, the state database (its file and write-ahead log) or the listing.
    let store: String = fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("spiegel.sqlite"))
        })
        .map(|path| String::from_utf8_lossy(&fs::read(path).unwrap()).into_owned())
        .collect();
    assert!(!store.is_empty(), "the tokens are in the state database");
    for token in &tokens {
        let secret = token.rsplit('_').next().unwrap();
        for (what, text) in [("log", &log), ("store", &store), ("list", &listed)] {
            assert!(!text.contains(secret), "a token in the {what}");
        }
    }

    // Every line, edited or removed, is found at its line; nothing is appended to a broken log.
    let lines: Vec<&str> = log.lines().collect();
    let path = data.join("audit-log.jsonl");
    for at in 0..lines.len() {
        let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        edited[at] = edited[at].replacen("\"success\"", "\"denied\"", 1);
        fs::write(&path, edited.join("\n") + "\n").unwrap();
        let (code, said) = verify(&data);
        assert_eq!(code, 1, "{said}");
        assert!(
            said.contains(&format!("BROKEN at line {}:", at + 1)),
            "{said}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), edited.join("\n") + "\n");

        let mut removed = lines.clone();
        removed.remove(at);
        fs::write(&path, removed.join("\n") + "\n").unwrap();
        let (code, said) = verify(&data);
        assert_eq!(code, 1, "{said}");
        assert!(
            said.contains(&format!("BROKEN at line {}:", at + 1)),
            "{said}"
        );
    }
    fs::write(&path, log).unwrap();
    assert_eq!(verify(&data).0, 0);
}

/// `spiegel audit verify` with a checkpoint after every other record.
fn spiegel_with_checkpoints(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spiegel"))
        .args(args)
        .env("SPIEGEL_AUDIT_CHECKPOINT_EVERY", "2")
        .output()
        .unwrap()
}

/// The unkeyed SHA-256 chain an attacker without the audit key can compute (what the log was
/// before issue 26): `hash` over the record's canonical JSON with `hash` empty. Returns the
/// lines and the head that matches them.
fn rechain_without_key(lines: &[String], mut previous: String) -> (Vec<String>, String) {
    use ring::digest::{SHA256, digest};
    let mut out = Vec::new();
    let mut head = String::new();
    for line in lines {
        let mut record: spiegel_serve::AuditRecord = serde_json::from_str(line).unwrap();
        record.prev = previous.clone();
        record.hash = String::new();
        let hash = hex::encode(digest(
            &SHA256,
            serde_json::to_string(&record).unwrap().as_bytes(),
        ));
        record.hash = hash.clone();
        head = serde_json::json!({"seq": record.seq, "hash": hash}).to_string();
        previous = hash;
        out.push(serde_json::to_string(&record).unwrap());
    }
    (out, head)
}

#[test]
fn every_kind_of_tampering_with_the_audit_trail_is_found_by_audit_verify_naming_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for agb in ["12345678", "23456789", "34567890", "45678901", "56789012"] {
        let out = spiegel_with_checkpoints(&[
            "tokens",
            "create",
            "--provider",
            agb,
            "--data-dir",
            p(&data),
            "--by",
            "alice",
        ]);
        assert!(out.status.success());
    }
    // An intact verification records itself and anchors what it verified: 6 records,
    // checkpoints of records 2, 4 and 6.
    let (code, said) = verify(&data);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("intact: 5 records"), "{said}");
    assert!(said.contains("2 checkpoints"), "{said}");
    let log_path = data.join("audit-log.jsonl");
    let head_path = data.join("audit-log.head");
    let log = fs::read_to_string(&log_path).unwrap();
    let head = fs::read_to_string(&head_path).unwrap();
    let lines: Vec<String> = log.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 6);
    let key = fs::read_to_string(data.join("audit.key")).unwrap();
    assert!(!log.contains(key.trim()) && !said.contains(key.trim()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for file in ["audit-log.jsonl", "audit-log.head", "audit.key"] {
            let mode = fs::metadata(data.join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let write = |lines: &[String], head: Option<&str>| {
        fs::write(&log_path, lines.join("\n") + "\n").unwrap();
        match head {
            Some(head) => fs::write(&head_path, head).unwrap(),
            None => {
                let _ = fs::remove_file(&head_path);
            }
        }
    };
    let head_of = |line: &str| -> String {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        serde_json::json!({"seq": record["seq"], "hash": record["hash"]}).to_string()
    };

    let mut edited = lines.clone();
    edited[2] = edited[2].replacen("\"success\"", "\"denied\"", 1);
    let mut deleted = lines.clone();
    deleted.remove(2);
    let mut swapped = lines.clone();
    swapped.swap(1, 2);
    let truncated = lines[..4].to_vec();
    let (rechained, rechained_head) = rechain_without_key(&lines, "0".repeat(64));
    // A record chained onto the last one, hashed as the chain was before it was keyed; the
    // head is left as it was (a writer "stopped before its head").
    let last: spiegel_serve::AuditRecord = serde_json::from_str(&lines[5]).unwrap();
    let mut record = last.clone();
    record.seq = 7;
    record.object = "forged".into();
    let (appended, _) = rechain_without_key(&[serde_json::to_string(&record).unwrap()], last.hash);
    let mut forged = lines.clone();
    forged.extend(appended);
    let cases: Vec<(&str, Vec<String>, Option<String>, u64)> = vec![
        ("an edited line", edited, Some(head.clone()), 3),
        ("a deleted line", deleted, Some(head.clone()), 3),
        ("two lines swapped", swapped, Some(head.clone()), 2),
        // The head rewritten to match: only the checkpoint of record 6 knows better.
        (
            "the end cut off, the head rewritten",
            truncated,
            Some(head_of(&lines[3])),
            5,
        ),
        (
            "the whole chain recomputed without the key",
            rechained,
            Some(rechained_head),
            1,
        ),
        ("a forged line appended", forged, Some(head.clone()), 7),
        ("both files deleted", Vec::new(), None, 1),
    ];
    for (what, tampered, tampered_head, line) in cases {
        if tampered.is_empty() {
            fs::remove_file(&log_path).unwrap();
            let _ = fs::remove_file(&head_path);
        } else {
            write(&tampered, tampered_head.as_deref());
        }
        let (code, said) = verify(&data);
        assert_eq!(code, 1, "{what}: {said}");
        assert!(
            said.contains(&format!("BROKEN at line {line}:")),
            "{what}: {said}"
        );
        // Nothing is appended to a tampered log, by anyone.
        let refused = Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args(["tokens", "revoke", "00000000", "--data-dir", p(&data)])
            .output()
            .unwrap();
        assert!(!refused.status.success(), "{what}");
        write(&lines, Some(&head));
    }
    let (code, said) = verify(&data);
    assert_eq!(code, 0, "{said}");
}

#[test]
fn a_token_or_certificate_change_that_cannot_be_audited_does_not_happen() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let kept = token(&data, ["--provider", "12345678"], "alice");
    let id = kept["spiegel_".len().."spiegel_".len() + 8].to_owned();
    let cert = dir.path().join("client.pem");
    {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Jeugdhulp Oost");
        let key = rcgen::KeyPair::generate().unwrap();
        fs::write(&cert, params.self_signed(&key).unwrap().pem()).unwrap();
    }
    // The log is broken: its last line is no record.
    let log_path = data.join("audit-log.jsonl");
    let intact = fs::read(&log_path).unwrap();
    let mut broken = intact.clone();
    broken.extend_from_slice(b"{\"not\": \"a record\"}\n");
    fs::write(&log_path, &broken).unwrap();
    let list = |what: &str| {
        String::from_utf8(spiegel(&[what, "list", "--data-dir", p(&data)]).stdout).unwrap()
    };
    let tokens_before = list("tokens");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", p(&data), "--by", "alice"]);
        Command::new(env!("CARGO_BIN_EXE_spiegel"))
            .args(&all)
            .output()
            .unwrap()
    };
    for args in [
        vec!["tokens", "create", "--gemeente", "GM0363"],
        vec!["tokens", "revoke", id.as_str()],
        vec!["certs", "add", "--cert", p(&cert), "--provider", "12345678"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("audit"), "{args:?}: {said}");
    }
    let listed = list("tokens");
    assert_eq!(listed, tokens_before);
    assert!(!listed.contains("revoked"), "{listed}");
    assert_eq!(listed.lines().count(), 1);
    assert_eq!(list("certs"), "");

    // Repaired, the same changes go through, each recorded before it is made.
    fs::write(&log_path, &intact).unwrap();
    for args in [
        vec!["tokens", "revoke", id.as_str()],
        vec!["certs", "add", "--cert", p(&cert), "--provider", "12345678"],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("\"token_revoke\""));
    assert!(log.contains("\"certificate_add\""));
    assert_eq!(verify(&data).0, 0);
}
