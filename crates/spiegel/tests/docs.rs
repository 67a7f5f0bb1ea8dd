//! The documentation a person gets with a clone: README.md and docs/ must be enough, so nothing
//! in them or in the code may point outside the repository, and every link must lead to a file
//! the repository has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Every file under `dir`, skipping build output (a target directory inside the tree) and
/// hidden directories.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files_under(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

fn markdown_docs() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![
        root.join("README.md"),
        root.join("ARCHITECTURE.md"),
        root.join("schemas/README.md"),
        root.join("deploy/README.md"),
    ];
    files_under(&root.join("docs"), &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "md"));
    files
}

#[test]
fn nothing_points_outside_the_repository() {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    files_under(&root.join("docs"), &mut files);
    files_under(&root.join("crates"), &mut files);
    for dir in ["schemas", "deploy", "scripts", "tests"] {
        files_under(&root.join(dir), &mut files);
    }
    // Spelled in pieces so that this file does not find itself.
    let forbidden = [
        ["..", "/shared"].concat(),
        ["shared", "/SPEC"].concat(),
        ["SPEC", " §"].concat(),
    ];
    let mut found = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // binary files (none hold a path a reader follows)
        };
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|p| line.contains(p.as_str())) {
                let rel = file.strip_prefix(&root).unwrap_or(file);
                found.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references to a specification outside the repository (use docs/ instead):\n{}",
        found.join("\n")
    );
}

#[test]
fn readme_says_where_the_binary_is_and_what_it_needs() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.contains("target/release/spiegel"),
        "README must name the binary's path"
    );
    assert!(
        readme.contains("cargo install --path crates/spiegel"),
        "README must say how to put `spiegel` on the PATH"
    );
    assert!(
        readme
            .lines()
            .any(|l| l.starts_with("## ") && l.to_lowercase().contains("prerequisites")),
        "README must have a prerequisites section"
    );
    // The two commands a newcomer runs, exactly as scripts/ and .ci/run expect them.
    assert!(readme.contains("cargo run --release -- demo"));
    assert!(readme.contains("./scripts/test.sh"));
}

/// The targets of the inline links `[text](target)` of a markdown file, with their line,
/// outside fenced code blocks.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_leads_to_a_file_of_the_repository() {
    let root = repo_root();
    let mut broken = Vec::new();
    let docs = markdown_docs();
    assert!(docs.len() > 5, "docs/ holds the specification: {docs:?}");
    for file in docs {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = dir.join(path).canonicalize();
            let ok = resolved.as_ref().is_ok_and(|p| p.starts_with(&root));
            if !ok {
                let rel = file.strip_prefix(&root).unwrap_or(&file).to_path_buf();
                broken.push(format!("{}:{line}: {target}", rel.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to files the repository does not have:\n{}",
        broken.join("\n")
    );
}

#[test]
fn link_parser_finds_inline_links_outside_code() {
    let text = "see [a](docs/a.md) and [b](b.md#x)\n```\n[c](c.md)\n```\n[d](https://x)";
    let found: Vec<String> = links(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(found, ["docs/a.md", "b.md#x", "https://x"]);
}
