//! Labelled stage-1 tokens and stage-2 pseudonyms.
//!
//! Wire form: `<type>.<ttp id>.<key version>.<32-byte MAC, base64url without padding>`, with
//! type `ct` for a client token (stage 1) and `ps` for a pseudonym (stage 2), following the
//! label `{type, key version, TTP id}` of the open pseudonymisation method.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::{Bsn, SourceKey, TtpId, TtpKey};

/// The domain separator of stage 1, fixed by docs/pseudonymisation.md.
const STAGE1_PREFIX: &[u8] = b"spiegel:bsn:v1:";
/// The domain separator of record keys.
const RECORD_KEY_PREFIX: &[u8] = b"spiegel:record-key:v1:";

/// Why a token was refused. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `ct.<ttp>.<version>.<mac>`.
    #[error("not a Spiegel client token")]
    Malformed,
    /// Made for another trusted third party.
    #[error("client token was made for another trusted third party")]
    OtherTtp,
    /// Made with a key version this TTP does not (or no longer) accept.
    #[error("client token key version {0} is not accepted")]
    UnknownVersion(u32),
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Label {
    ttp: TtpId,
    version: u32,
}

fn encode(kind: &str, label: &Label, mac: &[u8; 32]) -> String {
    format!(
        "{kind}.{}.{}.{}",
        label.ttp,
        label.version,
        URL_SAFE_NO_PAD.encode(mac)
    )
}

fn decode(kind: &str, text: &str) -> Option<(Label, [u8; 32])> {
    let mut parts = text.split('.');
    let (k, ttp, version, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if k != kind || parts.next().is_some() || mac.len() != 43 {
        return None;
    }
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ttp = TtpId::new(ttp).ok()?;
    let version = version.parse().ok()?;
    let bytes = URL_SAFE_NO_PAD.decode(mac).ok()?;
    let mut out = [0u8; 32];
    (bytes.len() == 32).then(|| out.copy_from_slice(&bytes))?;
    Some((Label { ttp, version }, out))
}

/// A stage-1 token: `HMAC-SHA256(K1, "spiegel:bsn:v1:" || bsn)`, labelled.
///
/// Not a secret like a key, but linkable: it prints as `***` and is written out only through
/// [`ClientToken::to_wire`], into a prepared submission or a topic.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientToken {
    label: Label,
    mac: [u8; 32],
}

impl ClientToken {
    /// Reads the wire form as delivered in a `client_token` column (format only; the TTP and
    /// version are checked by whoever holds the key configuration).
    pub fn from_wire(text: &str) -> Result<Self, TokenError> {
        decode("ct", text)
            .map(|(label, mac)| Self { label, mac })
            .ok_or(TokenError::Malformed)
    }

    /// The wire form, for a prepared submission or a topic.
    pub fn to_wire(&self) -> String {
        encode("ct", &self.label, &self.mac)
    }

    /// The K1 version the token was made with.
    pub fn version(&self) -> u32 {
        self.label.version
    }

    /// The TTP whose K1 made the token.
    pub fn ttp(&self) -> &TtpId {
        &self.label.ttp
    }

    /// Checks that the token was made by one of `accepted` versions of `ttp`'s K1.
    pub fn check_label(&self, ttp: &TtpId, accepted: &[u32]) -> Result<(), TokenError> {
        if &self.label.ttp != ttp {
            return Err(TokenError::OtherTtp);
        }
        if !accepted.contains(&self.label.version) {
            return Err(TokenError::UnknownVersion(self.label.version));
        }
        Ok(())
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientToken(v{}, ***)", self.label.version)
    }
}

impl SourceKey {
    /// Stage 1: tokenises a BSN.
    pub fn tokenise(&self, bsn: &Bsn) -> ClientToken {
        ClientToken {
            label: Label {
                ttp: self.ttp().clone(),
                version: self.version(),
            },
            mac: self.sign(&[STAGE1_PREFIX, bsn.digits()]),
        }
    }
}

/// A stage-2 pseudonym: `HMAC-SHA256(K2, t)`, labelled with the K2 version, and the child's
/// record key: 32 bits of `HMAC-SHA256(perturbation secret, "spiegel:record-key:v1:" || t)`.
///
/// The record key feeds the cell keys of SDC-4 (docs/release-rules.md). It depends on the child and
/// the perturbation secret, not on K2, so the perturbed counts survive a K2 rotation; 32 bits are
/// plenty for a cell key and, shared by about one child in 4·10⁹, make a poor identifier across K2
/// versions. Only a [`Pseudonymiser`] can compute one. It prints as `***`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym {
    label: Label,
    mac: [u8; 32],
    record_key: u32,
}

impl Pseudonym {
    /// The K2 version the pseudonym was made with.
    pub fn version(&self) -> u32 {
        self.label.version
    }

    /// The wire form, for the pseudonymised topic.
    pub fn to_wire(&self) -> String {
        encode("ps", &self.label, &self.mac)
    }

    /// The record key, for the pseudonymised topic beside the wire form.
    pub fn record_key(&self) -> u32 {
        self.record_key
    }

    #[cfg(test)]
    pub(crate) fn mac(&self) -> &[u8; 32] {
        &self.mac
    }
}

/// What the aggregate stage links children by: 128 bits of a pseudonym read back from the
/// pseudonymised topic, with the child's record key. It cannot be turned back into a pseudonym
/// or printed; two records are about the same child exactly when their link keys are equal (a
/// collision among 10^7 children has probability below 10^-24).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    // Two words rather than a u128: 8-byte alignment keeps a trajectory's child as small as
    // before the record key (the aggregate stage holds millions).
    link: [u64; 2],
    record_key: u32,
}

impl LinkKey {
    /// Reads a pseudonym's wire form and its record key, refusing a pseudonym of another TTP
    /// or of a K2 version that is not `version`.
    pub fn from_pseudonym_wire(
        text: &str,
        record_key: u32,
        ttp: &TtpId,
        version: u32,
    ) -> Result<Self, TokenError> {
        let (label, mac) = decode("ps", text).ok_or(TokenError::Malformed)?;
        if &label.ttp != ttp {
            return Err(TokenError::OtherTtp);
        }
        if label.version != version {
            return Err(TokenError::UnknownVersion(label.version));
        }
        let word = |at: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&mac[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        Ok(Self {
            link: [word(0), word(8)],
            record_key,
        })
    }

    /// 64 uniformly distributed bits from the record key, for the cell keys of statistical
    /// disclosure control (SDC-4, docs/release-rules.md): the same for a child under every K2
    /// version.
    pub fn cell_key_bits(self) -> u64 {
        spiegel_core::mix64(u64::from(self.record_key))
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(***)")
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym(v{}, ***)", self.label.version)
    }
}

/// Stage 2, the pseudonymise stage's only tool: holds K2 and the K1 versions it accepts.
#[derive(Debug)]
pub struct Pseudonymiser {
    key: TtpKey,
    accepted_source_versions: Vec<u32>,
}

impl Pseudonymiser {
    /// A pseudonymiser accepting client tokens of the given K1 versions of the same TTP.
    pub fn new(key: TtpKey, accepted_source_versions: Vec<u32>) -> Self {
        Self {
            key,
            accepted_source_versions,
        }
    }

    /// Turns a client token into a pseudonym; refuses tokens of another TTP or an unknown
    /// K1 version.
    pub fn pseudonymise(&self, token: &ClientToken) -> Result<Pseudonym, TokenError> {
        token.check_label(self.key.ttp(), &self.accepted_source_versions)?;
        let record = self.key.sign_perturbation(&[RECORD_KEY_PREFIX, &token.mac]);
        Ok(Pseudonym {
            label: Label {
                ttp: self.key.ttp().clone(),
                version: self.key.version(),
            },
            mac: self.key.sign(&[&token.mac]),
            record_key: u32::from_le_bytes([record[0], record[1], record[2], record[3]]),
        })
    }

    /// The K2 version this pseudonymiser labels its pseudonyms with.
    pub fn version(&self) -> u32 {
        self.key.version()
    }

    /// The TTP of its key.
    pub fn ttp(&self) -> &TtpId {
        self.key.ttp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParsedBsn;
    use ring::digest;

    fn ttp() -> TtpId {
        TtpId::new("spiegel").unwrap()
    }

    fn bsn(s: &str) -> Bsn {
        match Bsn::parse(s) {
            Ok(ParsedBsn::Known { bsn, .. }) => bsn,
            other => panic!("{other:?}"),
        }
    }

    fn keys(k1: u8, k2: u8) -> (SourceKey, Pseudonymiser) {
        (
            SourceKey::from_bytes(1, ttp(), [k1; 32]),
            Pseudonymiser::new(TtpKey::from_bytes(1, ttp(), [k2; 32]), vec![1]),
        )
    }

    /// Known-answer vectors, computed independently with Python's `hmac` module:
    /// `t = hmac.new(bytes([1]*32), b"spiegel:bsn:v1:123456782", sha256)`,
    /// `p = hmac.new(bytes([2]*32), t.digest(), sha256)`.
    #[test]
    fn known_answer_vectors_fix_both_stages() {
        let (k1, stage2) = keys(1, 2);
        let token = k1.tokenise(&bsn("123456782"));
        assert_eq!(hex::encode(token.mac), T_123456782);
        let p = stage2.pseudonymise(&token).unwrap();
        assert_eq!(hex::encode(p.mac()), P_123456782);
    }

    const T_123456782: &str = include_str!("../tests/vectors/t_123456782.hex");
    const P_123456782: &str = include_str!("../tests/vectors/p_123456782.hex");

    #[test]
    fn different_keys_give_different_pseudonyms() {
        let (k1, s2) = keys(1, 2);
        let (k1b, s2b) = keys(3, 2);
        let (_, s2c) = keys(1, 4);
        let b = bsn("111222333");
        let p = s2.pseudonymise(&k1.tokenise(&b)).unwrap();
        assert_ne!(p, s2b.pseudonymise(&k1b.tokenise(&b)).unwrap());
        assert_ne!(p, s2c.pseudonymise(&k1.tokenise(&b)).unwrap());
        assert_ne!(p, s2.pseudonymise(&k1.tokenise(&bsn("123456782"))).unwrap());
    }

    #[test]
    fn a_link_key_stays_three_words() {
        assert_eq!(size_of::<LinkKey>(), 24);
    }

    #[test]
    fn a_rotation_changes_the_pseudonym_and_keeps_the_record_key() {
        let (k1, _) = keys(1, 2);
        let v1 = TtpKey::generate(1, ttp()).unwrap();
        let v2 = v1.rotate().unwrap();
        let (s1, s2) = (
            Pseudonymiser::new(v1, vec![1]),
            Pseudonymiser::new(v2, vec![1]),
        );
        let mut keys = std::collections::HashSet::new();
        for number in ["111222333", "123456782", "249566758"] {
            let t = k1.tokenise(&bsn(number));
            let (p1, p2) = (s1.pseudonymise(&t).unwrap(), s2.pseudonymise(&t).unwrap());
            assert_ne!(p1.mac, p2.mac);
            assert_eq!((p1.version(), p2.version()), (1, 2));
            assert_eq!(p1.record_key(), p2.record_key());
            keys.insert(p1.record_key());
            // The record key is not a piece of the pseudonym.
            assert!(
                !p1.mac
                    .windows(4)
                    .any(|w| w == p1.record_key().to_le_bytes())
            );
        }
        assert_eq!(keys.len(), 3);
        // The aggregate stage reads a pseudonym only under the version in force.
        let t = k1.tokenise(&bsn("123456782"));
        let p1 = s1.pseudonymise(&t).unwrap();
        assert_eq!(
            LinkKey::from_pseudonym_wire(&p1.to_wire(), p1.record_key(), &ttp(), 2),
            Err(TokenError::UnknownVersion(1))
        );
    }

    #[test]
    fn pseudonym_is_not_a_plain_hash() {
        let (k1, s2) = keys(1, 2);
        for number in ["111222333", "123456782", "249566758"] {
            let plain = digest::digest(&digest::SHA256, number.as_bytes());
            let t = k1.tokenise(&bsn(number));
            let p = s2.pseudonymise(&t).unwrap();
            assert_ne!(p.mac.as_slice(), plain.as_ref());
            assert_ne!(t.mac.as_slice(), plain.as_ref());
        }
    }

    #[test]
    fn wire_form_round_trips_and_labels_are_checked() {
        let (k1, s2) = keys(1, 2);
        let token = k1.tokenise(&bsn("123456782"));
        let wire = token.to_wire();
        assert!(wire.starts_with("ct.spiegel.1."), "{wire}");
        assert_eq!(ClientToken::from_wire(&wire), Ok(token.clone()));
        for bad in [
            "",
            "ct.spiegel.1",
            "ps.spiegel.1.x",
            &wire.replace("ct.", "xx."),
            &format!("{wire}."),
        ] {
            assert_eq!(
                ClientToken::from_wire(bad),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
        let v2 = SourceKey::from_bytes(2, ttp(), [1; 32]).tokenise(&bsn("123456782"));
        assert_eq!(s2.pseudonymise(&v2), Err(TokenError::UnknownVersion(2)));
        let other = SourceKey::from_bytes(1, TtpId::new("other").unwrap(), [1; 32]);
        assert_eq!(
            s2.pseudonymise(&other.tokenise(&bsn("123456782"))),
            Err(TokenError::OtherTtp)
        );
        assert_eq!(format!("{token:?}"), "ClientToken(v1, ***)");
        assert!(
            s2.pseudonymise(&token)
                .unwrap()
                .to_wire()
                .starts_with("ps.spiegel.1.")
        );
    }
}
