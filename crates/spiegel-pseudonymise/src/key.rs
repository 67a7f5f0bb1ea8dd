//! Secret keys K1 (stage 1, source) and K2 (stage 2, TTP).
//!
//! On disk and in environment variables a key is a short text:
//!
//! ```text
//! spiegel-key v1
//! stage=2
//! version=3
//! ttp=spiegel
//! secret=<32 bytes, standard base64>
//! perturbation=<32 bytes, standard base64>
//! ```
//!
//! (`;` may replace the line breaks, for an environment variable on one line.) Files are
//! written with mode 0600 and never overwritten.
//!
//! A K2 file also holds the *perturbation secret*, from which the pseudonymise stage makes each
//! child's record key for the cell keys of SDC-4 (docs/release-rules.md). It is not part of K2's
//! version: a rotation ([`TtpKey::rotate`]) carries it over unchanged, so the perturbed counts, and
//! with them the reports, stay exactly as they were. A K2 file written before the field existed
//! derives it from its secret, and the first rotation writes it out.
//!
//! A *demo key* ([`SourceKey::demo`], [`TtpKey::demo`]) is derived from the public seed of
//! `spiegel demo`, so anyone can recompute it: it protects nothing. It is marked twice, so the
//! mark does not go missing when a file is copied or edited by hand: its first line is
//! `spiegel-demo-key v1`, and its secrets check themselves (the second half of each is a keyed
//! hash of the first half under a public label, which a random secret matches with probability
//! 2⁻¹²⁸). [`SourceKey::from_file`] and the other loaders refuse a key with either mark; only
//! [`SourceKey::from_demo_file`] (for `spiegel demo`) reads one.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

use crate::{PseudonymiseError, Result};

const HEADER: &str = "spiegel-key v1";
/// The first line of a demo key's file (see the module documentation).
const DEMO_HEADER: &str = "spiegel-demo-key v1";
/// The domain separator of secrets derived from a demo seed: the HMAC key of the derivation.
const DEMO_DERIVATION: &[u8] = b"spiegel:demo-key:v1";
/// The public HMAC key under which a demo secret's second half checks its first half.
const DEMO_MARK: &[u8] = b"spiegel:demo-key-mark:v1";

/// Which stage a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStage {
    /// K1, held by providers' `spiegel prepare` and by the ingest stage.
    Source,
    /// K2, held only by the pseudonymise stage.
    Ttp,
}

impl KeyStage {
    fn number(self) -> u8 {
        match self {
            Self::Source => 1,
            Self::Ttp => 2,
        }
    }
}

/// The identifier of the trusted third party that issued a key: 1..=32 of `a-z0-9-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TtpId(std::sync::Arc<str>);

impl TtpId {
    /// Checks and wraps a TTP id.
    pub fn new(id: &str) -> Result<Self> {
        let ok = !id.is_empty()
            && id.len() <= 32
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(id.into()))
        } else {
            Err(PseudonymiseError::InvalidTtpId)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TtpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The domain separator of a perturbation secret derived from a K2 file without one.
const DERIVED_PERTURBATION: &[u8] = b"spiegel:perturbation-secret:v1";

/// Key material shared by both stages; private so the stages cannot be confused.
struct KeyMaterial {
    version: u32,
    ttp: TtpId,
    secret: Zeroizing<[u8; 32]>,
    hmac: hmac::Key,
    /// Only K2 writes and uses it (see the module documentation).
    perturbation: Zeroizing<[u8; 32]>,
    perturbation_hmac: hmac::Key,
    /// Derived from a public seed: refused by every loader but the demo's.
    demo: bool,
}

fn random_secret() -> Result<Zeroizing<[u8; 32]>> {
    let mut secret = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(secret.as_mut())
        .map_err(|_| PseudonymiseError::Random)?;
    Ok(secret)
}

/// The second half of a demo secret whose first half is `first`.
fn demo_mark(first: &[u8]) -> [u8; 16] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, DEMO_MARK), first);
    let mut mark = [0u8; 16];
    mark.copy_from_slice(&tag.as_ref()[..16]);
    mark
}

/// A demo secret: its first half `first`, its second half the mark of the first.
fn demo_marked(first: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let mut secret = Zeroizing::new([0u8; 32]);
    secret[..16].copy_from_slice(first);
    secret[16..].copy_from_slice(&demo_mark(first));
    secret
}

/// Whether `secret` carries the demo mark.
fn is_demo_secret(secret: &[u8; 32]) -> bool {
    demo_mark(&secret[..16]) == secret[16..]
}

/// The demo secret for `purpose` of a key of `stage` and `version` from `seed`:
/// `HMAC-SHA256("spiegel:demo-key:v1", seed ‖ stage ‖ version ‖ purpose)`, truncated to 16
/// bytes and marked.
fn demo_secret(seed: u64, stage: KeyStage, version: u32, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, DEMO_DERIVATION));
    context.update(&seed.to_be_bytes());
    context.update(&[stage.number()]);
    context.update(&version.to_be_bytes());
    context.update(purpose);
    let mut first = [0u8; 16];
    first.copy_from_slice(&context.sign().as_ref()[..16]);
    demo_marked(&first)
}

impl KeyMaterial {
    fn from_secret(version: u32, ttp: TtpId, secret: Zeroizing<[u8; 32]>) -> Self {
        let hmac = hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref());
        let mut derived = Zeroizing::new([0u8; 32]);
        derived.copy_from_slice(hmac::sign(&hmac, DERIVED_PERTURBATION).as_ref());
        Self::with_perturbation(version, ttp, secret, derived)
    }

    fn with_perturbation(
        version: u32,
        ttp: TtpId,
        secret: Zeroizing<[u8; 32]>,
        perturbation: Zeroizing<[u8; 32]>,
    ) -> Self {
        Self {
            version,
            ttp,
            hmac: hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()),
            secret,
            perturbation_hmac: hmac::Key::new(hmac::HMAC_SHA256, perturbation.as_ref()),
            perturbation,
            demo: false,
        }
    }

    fn demo(seed: u64, stage: KeyStage, version: u32, ttp: TtpId) -> Self {
        Self {
            demo: true,
            ..Self::with_perturbation(
                version,
                ttp,
                demo_secret(seed, stage, version, b"secret"),
                demo_secret(seed, stage, version, b"perturbation"),
            )
        }
    }

    fn generate(version: u32, ttp: TtpId) -> Result<Self> {
        Ok(Self::with_perturbation(
            version,
            ttp,
            random_secret()?,
            random_secret()?,
        ))
    }

    fn parse(text: &str, origin: &str, stage: KeyStage) -> Result<Self> {
        let format = |reason| PseudonymiseError::KeyFormat {
            origin: origin.to_owned(),
            reason,
        };
        let mut lines = text
            .split(['\n', ';'])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let demo_header = match lines.next() {
            Some(HEADER) => false,
            Some(DEMO_HEADER) => true,
            _ => return Err(format("first line must be 'spiegel-key v1'")),
        };
        let (mut found_stage, mut version, mut ttp) = (None, None, None);
        let (mut secret, mut perturbation) = (None, None);
        let base64_secret = |value: &str| -> Result<Zeroizing<[u8; 32]>> {
            let mut decoded = Zeroizing::new(
                STANDARD
                    .decode(value.trim())
                    .map_err(|_| format("secret is not base64"))?,
            );
            if decoded.len() != 32 {
                decoded.zeroize();
                return Err(format("secret must be 32 bytes"));
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(&decoded);
            Ok(bytes)
        };
        for line in lines {
            let (name, value) = line.split_once('=').ok_or(format("line without '='"))?;
            match name.trim() {
                "stage" => found_stage = Some(value.trim()),
                "version" => {
                    version = Some(
                        value
                            .trim()
                            .parse::<u32>()
                            .map_err(|_| format("bad version"))?,
                    )
                }
                "ttp" => ttp = Some(TtpId::new(value.trim()).map_err(|_| format("bad ttp id"))?),
                "secret" => secret = Some(base64_secret(value)?),
                "perturbation" => perturbation = Some(base64_secret(value)?),
                _ => return Err(format("unknown field")),
            }
        }
        let found = match found_stage {
            Some("1") => KeyStage::Source,
            Some("2") => KeyStage::Ttp,
            _ => return Err(format("stage must be 1 or 2")),
        };
        if found != stage {
            return Err(PseudonymiseError::WrongStage {
                origin: origin.to_owned(),
                expected: stage.number(),
                found: found.number(),
            });
        }
        if perturbation.is_some() && found != KeyStage::Ttp {
            return Err(format("only a stage-2 key has a perturbation secret"));
        }
        let (version, ttp) = (
            version.ok_or(format("missing version"))?,
            ttp.ok_or(format("missing ttp"))?,
        );
        let secret = secret.ok_or(format("missing secret"))?;
        let demo = demo_header
            || is_demo_secret(&secret)
            || perturbation.as_deref().is_some_and(is_demo_secret);
        let material = match perturbation {
            Some(perturbation) => Self::with_perturbation(version, ttp, secret, perturbation),
            None => Self::from_secret(version, ttp, secret),
        };
        Ok(Self { demo, ..material })
    }

    /// Parses a key for real data: a demo key is refused.
    fn parse_real(text: &str, origin: &str, stage: KeyStage) -> Result<Self> {
        let material = Self::parse(text, origin, stage)?;
        if material.demo {
            return Err(PseudonymiseError::DemoKey {
                origin: origin.to_owned(),
            });
        }
        Ok(material)
    }

    /// Parses a key for `spiegel demo`: only a demo key is accepted, so a real key never
    /// meets the demo's public data and published output.
    fn parse_demo(text: &str, origin: &str, stage: KeyStage) -> Result<Self> {
        let material = Self::parse(text, origin, stage)?;
        if !material.demo {
            return Err(PseudonymiseError::NotADemoKey {
                origin: origin.to_owned(),
            });
        }
        Ok(material)
    }

    fn to_text(&self, stage: KeyStage) -> Zeroizing<String> {
        let what = match (stage, self.demo) {
            (KeyStage::Source, false) => {
                "Spiegel stage-1 key (K1): for spiegel prepare and the ingest stage. Secret: \
                 never commit, log or mail it."
            }
            (KeyStage::Ttp, false) => {
                "Spiegel stage-2 key (K2): for the pseudonymise stage only. Secret: never \
                 commit, log or mail it."
            }
            (_, true) => {
                "Spiegel DEMO key, derived from the public seed of spiegel demo: it protects \
                 nothing and every command but spiegel demo refuses it."
            }
        };
        let header = if self.demo { DEMO_HEADER } else { HEADER };
        let mut encoded = STANDARD.encode(self.secret.as_ref());
        let mut text = Zeroizing::new(format!(
            "# {what}\n{header}\nstage={}\nversion={}\nttp={}\nsecret={encoded}\n",
            stage.number(),
            self.version,
            self.ttp,
        ));
        encoded.zeroize();
        if stage == KeyStage::Ttp {
            let mut encoded = STANDARD.encode(self.perturbation.as_ref());
            text.push_str("perturbation=");
            text.push_str(&encoded);
            text.push('\n');
            encoded.zeroize();
        }
        text
    }

    fn write_new(&self, stage: KeyStage, path: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| PseudonymiseError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => PseudonymiseError::KeyExists(path.to_owned()),
                _ => io(e),
            })?;
        file.write_all(self.to_text(stage).as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.hmac);
        for part in parts {
            context.update(part);
        }
        let tag = context.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

macro_rules! key_type {
    ($(#[$meta:meta])* $name:ident, $stage:expr) => {
        $(#[$meta])*
        pub struct $name(KeyMaterial);

        impl $name {
            /// A fresh random key.
            pub fn generate(version: u32, ttp: TtpId) -> Result<Self> {
                KeyMaterial::generate(version, ttp).map(Self)
            }

            /// A key from known bytes, for test vectors and for keys held elsewhere.
            pub fn from_bytes(version: u32, ttp: TtpId, secret: [u8; 32]) -> Self {
                Self(KeyMaterial::from_secret(version, ttp, Zeroizing::new(secret)))
            }

            /// The demo key of `seed`, the same for the same seed (see the module
            /// documentation); version 1 of TTP `ttp`.
            pub fn demo(seed: u64, ttp: TtpId) -> Self {
                Self(KeyMaterial::demo(seed, $stage, 1, ttp))
            }

            /// Reads a key file for real data; a demo key is refused.
            pub fn from_file(path: &Path) -> Result<Self> {
                let text = Self::read(path)?;
                KeyMaterial::parse_real(&text, &path.display().to_string(), $stage).map(Self)
            }

            /// Reads a demo key file, for `spiegel demo` only; any other key is refused.
            pub fn from_demo_file(path: &Path) -> Result<Self> {
                let text = Self::read(path)?;
                KeyMaterial::parse_demo(&text, &path.display().to_string(), $stage).map(Self)
            }

            fn read(path: &Path) -> Result<Zeroizing<String>> {
                Ok(Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
                    PseudonymiseError::KeyFile { path: path.to_owned(), source }
                })?))
            }

            /// Reads a key from an environment variable (a Kubernetes Secret, for example);
            /// a demo key is refused.
            pub fn from_env(var: &str) -> Result<Self> {
                let text = Zeroizing::new(
                    std::env::var(var).map_err(|_| PseudonymiseError::KeyEnvMissing(var.to_owned()))?,
                );
                KeyMaterial::parse_real(&text, var, $stage).map(Self)
            }

            /// Whether this is a demo key, derived from a public seed.
            pub fn is_demo(&self) -> bool {
                self.0.demo
            }

            /// Writes the key to a new file with mode 0600; an existing file is never replaced.
            pub fn write_new(&self, path: &Path) -> Result<()> {
                self.0.write_new($stage, path)
            }

            /// The key version carried in every label made with this key.
            pub fn version(&self) -> u32 {
                self.0.version
            }

            /// The TTP that issued the key.
            pub fn ttp(&self) -> &TtpId {
                &self.0.ttp
            }

            pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
                self.0.sign(parts)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("version", &self.0.version)
                    .field("ttp", &self.0.ttp.as_str())
                    .field("secret", &"***")
                    .finish()
            }
        }
    };
}

key_type! {
    /// K1, the stage-1 (source) key. Turns a BSN into a [`crate::ClientToken`].
    SourceKey, KeyStage::Source
}

key_type! {
    /// K2, the stage-2 (TTP) key, with the perturbation secret. Only the pseudonymise stage
    /// may hold it.
    TtpKey, KeyStage::Ttp
}

impl TtpKey {
    /// The next version of K2: a fresh secret, the version one higher, the same TTP and the
    /// same perturbation secret (so a rotation changes no published figure).
    pub fn rotate(&self) -> Result<Self> {
        let version = self
            .version()
            .checked_add(1)
            .ok_or(PseudonymiseError::KeyFormat {
                origin: format!("{}.v{}", self.ttp(), self.version()),
                reason: "no version after this one",
            })?;
        let mut perturbation = Zeroizing::new([0u8; 32]);
        perturbation.copy_from_slice(self.0.perturbation.as_ref());
        let mut secret = random_secret()?;
        if self.0.demo {
            // A rotated demo key stays marked, so it stays out of real use.
            let mut first = [0u8; 16];
            first.copy_from_slice(&secret[..16]);
            secret = demo_marked(&first);
        }
        Ok(Self(KeyMaterial {
            demo: self.0.demo,
            ..KeyMaterial::with_perturbation(version, self.ttp().clone(), secret, perturbation)
        }))
    }

    /// `HMAC-SHA256(perturbation secret, parts)`.
    pub(crate) fn sign_perturbation(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut context = hmac::Context::with_key(&self.0.perturbation_hmac);
        for part in parts {
            context.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }
}

#[cfg(test)]
mod tests;
