//! Key generation, storage and the refusals of demo and wrong-stage keys.

use super::*;

fn ttp() -> TtpId {
    TtpId::new("spiegel").unwrap()
}

#[test]
fn file_round_trip_with_mode_0600_and_no_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stage1.key");
    let key = SourceKey::generate(7, ttp()).unwrap();
    key.write_new(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let read = SourceKey::from_file(&path).unwrap();
    assert_eq!(read.version(), 7);
    assert_eq!(read.sign(&[b"x"]), key.sign(&[b"x"]));
    assert!(matches!(
        key.write_new(&path),
        Err(PseudonymiseError::KeyExists(_))
    ));
    assert!(matches!(
        TtpKey::from_file(&path),
        Err(PseudonymiseError::WrongStage {
            expected: 2,
            found: 1,
            ..
        })
    ));
}

#[test]
fn one_line_form_for_environment_variables() {
    let secret = STANDARD.encode([7u8; 32]);
    let text = format!("spiegel-key v1;stage=2;version=1;ttp=spiegel;secret={secret}");
    let key = KeyMaterial::parse(&text, "TEST", KeyStage::Ttp).unwrap();
    assert_eq!(key.version, 1);
}

#[test]
fn errors_and_debug_never_show_the_secret() {
    let secret = [0xABu8; 32];
    let key = TtpKey::from_bytes(1, ttp(), secret);
    let shown = format!("{key:?}");
    assert!(shown.contains("***"));
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert!(!shown.contains(&STANDARD.encode(secret)[..8]), "{shown}");

    let bad = format!(
        "spiegel-key v1\nstage=2\nversion=1\nttp=spiegel\nsecret={}",
        "q".repeat(40)
    );
    let err = KeyMaterial::parse(&bad, "K2", KeyStage::Ttp).err().unwrap();
    assert!(!err.to_string().contains("qqqq"), "{err}");
}

#[test]
fn a_rotated_k2_has_a_new_secret_and_version_and_keeps_the_perturbation_secret() {
    let dir = tempfile::tempdir().unwrap();
    let old = TtpKey::generate(1, ttp()).unwrap();
    let new = old.rotate().unwrap();
    assert_eq!((new.version(), new.ttp()), (2, &ttp()));
    assert_ne!(new.sign(&[b"t"]), old.sign(&[b"t"]));
    assert_eq!(
        new.sign_perturbation(&[b"t"]),
        old.sign_perturbation(&[b"t"])
    );
    // Both survive a round trip through their files.
    for (name, key) in [("old.key", &old), ("new.key", &new)] {
        let path = dir.path().join(name);
        key.write_new(&path).unwrap();
        let read = TtpKey::from_file(&path).unwrap();
        assert_eq!(read.sign(&[b"t"]), key.sign(&[b"t"]));
        assert_eq!(
            read.sign_perturbation(&[b"t"]),
            key.sign_perturbation(&[b"t"])
        );
    }
    // A K2 file without the field derives it, and its rotation writes it out.
    let legacy = format!(
        "spiegel-key v1\nstage=2\nversion=4\nttp=spiegel\nsecret={}\n",
        STANDARD.encode([9u8; 32])
    );
    let legacy = TtpKey(KeyMaterial::parse(&legacy, "legacy", KeyStage::Ttp).unwrap());
    let rotated_path = dir.path().join("rotated.key");
    legacy.rotate().unwrap().write_new(&rotated_path).unwrap();
    let rotated = TtpKey::from_file(&rotated_path).unwrap();
    assert_eq!(rotated.version(), 5);
    assert_eq!(
        rotated.sign_perturbation(&[b"t"]),
        legacy.sign_perturbation(&[b"t"])
    );
    // K1 has none.
    let k1 = format!(
        "spiegel-key v1;stage=1;version=1;ttp=spiegel;secret={0};perturbation={0}",
        STANDARD.encode([1u8; 32])
    );
    assert!(KeyMaterial::parse(&k1, "K1", KeyStage::Source).is_err());
}

#[test]
fn demo_keys_come_from_the_seed_and_only_the_demo_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (SourceKey::demo(1, ttp()), TtpKey::demo(1, ttp()));
    assert!(k1.is_demo() && k2.is_demo());
    assert_eq!(SourceKey::demo(1, ttp()).sign(&[b"t"]), k1.sign(&[b"t"]));
    assert_ne!(SourceKey::demo(2, ttp()).sign(&[b"t"]), k1.sign(&[b"t"]));
    // The two stages never share a secret, even from one seed.
    assert_ne!(k1.0.secret.as_ref(), k2.0.secret.as_ref());
    let (path1, path2) = (dir.path().join("stage1.key"), dir.path().join("stage2.key"));
    k1.write_new(&path1).unwrap();
    k2.write_new(&path2).unwrap();
    let text = std::fs::read_to_string(&path2).unwrap();
    assert!(text.contains("\nspiegel-demo-key v1\n"), "{text}");
    assert!(matches!(
        SourceKey::from_file(&path1),
        Err(PseudonymiseError::DemoKey { .. })
    ));
    assert!(matches!(
        TtpKey::from_file(&path2),
        Err(PseudonymiseError::DemoKey { .. })
    ));
    let read = TtpKey::from_demo_file(&path2).unwrap();
    assert_eq!(read.sign(&[b"t"]), k2.sign(&[b"t"]));
    assert_eq!(
        read.sign_perturbation(&[b"t"]),
        k2.sign_perturbation(&[b"t"])
    );
    // A header edited to the real one, or a one-line copy in a variable, is still refused:
    // the secret carries the mark.
    let stripped = text.replace("spiegel-demo-key v1", "spiegel-key v1");
    assert!(matches!(
        KeyMaterial::parse_real(&stripped, "edited", KeyStage::Ttp),
        Err(PseudonymiseError::DemoKey { .. })
    ));
    let secret_only = stripped
        .lines()
        .filter(|l| !l.starts_with("perturbation="))
        .collect::<Vec<_>>()
        .join(";");
    assert!(matches!(
        KeyMaterial::parse_real(&secret_only, "SPIEGEL_K2", KeyStage::Ttp),
        Err(PseudonymiseError::DemoKey { .. })
    ));
    // A rotated demo key stays a demo key.
    assert!(k2.rotate().unwrap().is_demo());
    // The demo reads no real key, and a real key is not taken for a demo key.
    let real = dir.path().join("real.key");
    TtpKey::generate(1, ttp())
        .unwrap()
        .write_new(&real)
        .unwrap();
    assert!(!TtpKey::from_file(&real).unwrap().is_demo());
    assert!(matches!(
        TtpKey::from_demo_file(&real),
        Err(PseudonymiseError::NotADemoKey { .. })
    ));
    // The refusal says what to do and shows no key material.
    let message = TtpKey::from_file(&path2).err().unwrap().to_string();
    assert!(message.contains("spiegel keys generate"), "{message}");
    assert!(!message.contains(&STANDARD.encode(k2.0.secret.as_ref())[..8]));
}

#[test]
fn ttp_ids_are_restricted() {
    assert!(TtpId::new("spiegel-nl").is_ok());
    for bad in ["", "Spiegel", "a.b", "x".repeat(33).as_str()] {
        assert!(TtpId::new(bad).is_err(), "{bad}");
    }
}
