use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use super::stream::{Cutoff, Measured};
use super::*;

#[test]
fn a_gzip_bomb_is_cut_off_by_its_expansion_not_by_the_byte_limit() {
    let zeros = vec![0u8; 64 << 20];
    let mut compressed = Vec::new();
    {
        use std::io::Write;
        let mut encoder =
            flate2::write::GzEncoder::new(&mut compressed, flate2::Compression::best());
        encoder.write_all(&zeros).unwrap();
        encoder.finish().unwrap();
    }
    let received = Arc::new(AtomicU64::new(compressed.len() as u64));
    let mut measured = Measured {
        inner: flate2::read::MultiGzDecoder::new(&compressed[..]),
        digest: ring::digest::Context::new(&ring::digest::SHA256),
        read: 0,
        max_bytes: u64::MAX,
        expansion: Some((100, received)),
        cutoff: None,
        unreadable: None,
    };
    let error = io::copy(&mut measured, &mut io::sink()).unwrap_err();
    assert!(error.to_string().contains("expanded"), "{error}");
    assert_eq!(measured.cutoff, Some(Cutoff::Expansion(100)));
    // 100 times the compressed size, far below the 64 MiB it would expand to.
    assert!(measured.read < 16 << 20, "stopped early: {}", measured.read);
}

#[test]
fn ids_follow_from_provider_period_and_content() {
    let agb: Agb = "12345678".parse().unwrap();
    let h1: Period = "2026-H1".parse().unwrap();
    let h2: Period = "2026-H2".parse().unwrap();
    let a = submission_id(&agb, &h1, Format::Csv, "ab");
    assert_eq!(a, submission_id(&agb, &h1, Format::Csv, "ab"));
    assert_ne!(a, submission_id(&agb, &h2, Format::Csv, "ab"));
    assert_ne!(a, submission_id(&agb, &h1, Format::Csv, "ac"));
    assert_ne!(a, submission_id(&agb, &h1, Format::Jsonl, "ab"));
    assert_eq!(a.len(), 32);
    let registry = Registry::new(Path::new("/x"));
    assert!(registry.path(&a).is_some());
    assert!(registry.path("../../etc/passwd").is_none());
}
