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
    // No token in the log, the token store or the listing.
    let store = fs::read_to_string(data.join("tokens.json")).unwrap();
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
