//! The provider's explanation of a mirror report ("het verhaal achter de cijfers"): plain text,
//! length-limited, shown as the characters written and never as markup.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{RenderError, Result};

/// The longest explanation accepted, in characters: a few paragraphs, what a quality
/// conversation can take in.
pub const MAX_ANNOTATION_CHARS: usize = 4000;

/// Name of the registry file in the data directory (beside `sharing.json`).
pub const ANNOTATIONS_FILE: &str = "annotations.json";

/// The route of the HTTP API through which a provider attaches its explanation.
pub const ANNOTATION_ROUTE: &str = "/v1/mirror/{period}/{gemeente}/annotation";

/// Why an explanation that mentions what could be a BSN is refused, wherever it is attached
/// (the API, `spiegel annotate`). The number itself is not repeated.
pub const HOLDS_BSN: &str = "the explanation contains a number that could be a BSN (nine digits \
     that pass the 11-proef); remove it, an explanation may never identify a child / de \
     toelichting bevat een nummer dat een BSN kan zijn (negen cijfers die de 11-proef \
     doorstaan); haal het weg, een toelichting mag nooit een jeugdige identificeren";

/// The explanations providers attached to their mirror reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnotationRegistry {
    texts: BTreeMap<(String, String, String), String>,
}

/// One explanation, as stored in the registry file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    /// AGB code of the provider.
    pub provider: String,
    /// Period of the mirror report.
    pub period: String,
    /// The municipality the mirror report is about (`GMxxxx`).
    pub municipality: String,
    /// The explanation, plain text.
    pub text: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    annotations: Vec<Annotation>,
}

impl AnnotationRegistry {
    /// Reads the registry file; a missing file is an empty registry. An explanation that is
    /// too long or holds control characters is refused with the report it belongs to.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e.into()),
        };
        let invalid = |what: String| RenderError::Annotations {
            path: path.to_owned(),
            what,
        };
        let file: RegistryFile =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let mut registry = Self::default();
        for annotation in file.annotations {
            registry.insert(annotation).map_err(invalid)?;
        }
        Ok(registry)
    }

    /// Writes the registry to `path` through a temporary file and a rename, so a reader sees
    /// the old or the new registry, never half of one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let file = RegistryFile {
            annotations: self
                .texts
                .iter()
                .map(|((provider, period, municipality), text)| Annotation {
                    provider: provider.clone(),
                    period: period.clone(),
                    municipality: municipality.clone(),
                    text: text.clone(),
                })
                .collect(),
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|e| RenderError::Annotations {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
        json.push(b'\n');
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, json)?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }

    /// Adds or replaces the explanation of one mirror report, after checking it.
    pub fn insert(&mut self, annotation: Annotation) -> std::result::Result<(), String> {
        check(&annotation.text).map_err(|why| {
            format!(
                "explanation of provider {} for {} in {}: {why}",
                annotation.provider, annotation.period, annotation.municipality
            )
        })?;
        let text = annotation.text.replace("\r\n", "\n");
        self.texts.insert(
            (
                annotation.provider,
                annotation.period,
                annotation.municipality,
            ),
            text,
        );
        Ok(())
    }

    /// Removes the explanation of one mirror report; whether there was one.
    pub fn remove(&mut self, provider: &str, period: &str, municipality: &str) -> bool {
        self.texts
            .remove(&(
                provider.to_owned(),
                period.to_owned(),
                municipality.to_owned(),
            ))
            .is_some()
    }

    /// The explanation attached to `provider`'s mirror report of `period` for `municipality`.
    pub fn get(&self, provider: &str, period: &str, municipality: &str) -> Option<&str> {
        self.texts
            .get(&(
                provider.to_owned(),
                period.to_owned(),
                municipality.to_owned(),
            ))
            .map(String::as_str)
    }
}

/// Plain text of bounded length: line breaks and tabs, no other control characters (they
/// have no place in a printed page and can hide text).
fn check(text: &str) -> std::result::Result<(), String> {
    let length = text.chars().count();
    if length > MAX_ANNOTATION_CHARS {
        return Err(format!(
            "{length} characters, at most {MAX_ANNOTATION_CHARS} allowed / {length} tekens, \
             ten hoogste {MAX_ANNOTATION_CHARS} toegestaan"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(format!(
            "control character U+{:04X} not allowed / stuurteken U+{:04X} niet toegestaan",
            u32::from(c),
            u32::from(c)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotation(text: &str) -> Annotation {
        Annotation {
            provider: "12345678".into(),
            period: "2025-H1".into(),
            municipality: "GM0344".into(),
            text: text.into(),
        }
    }

    #[test]
    fn explanations_are_checked_and_found_by_report() {
        let mut registry = AnnotationRegistry::default();
        registry.insert(annotation("Regel 1\r\nRegel 2")).unwrap();
        assert_eq!(
            registry.get("12345678", "2025-H1", "GM0344"),
            Some("Regel 1\nRegel 2")
        );
        assert_eq!(registry.get("12345678", "2025-H2", "GM0344"), None);
        let long = "x".repeat(MAX_ANNOTATION_CHARS + 1);
        assert!(
            registry
                .insert(annotation(&long))
                .unwrap_err()
                .contains("4001")
        );
        assert!(
            registry
                .insert(annotation("a\u{1b}[31m"))
                .unwrap_err()
                .contains("U+001B")
        );
    }

    #[test]
    fn a_registry_file_with_a_bad_entry_names_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ANNOTATIONS_FILE);
        assert_eq!(
            AnnotationRegistry::load(&path).unwrap(),
            AnnotationRegistry::default()
        );
        std::fs::write(
            &path,
            serde_json::json!({"annotations": [annotation(&"y".repeat(5000))]}).to_string(),
        )
        .unwrap();
        let error = AnnotationRegistry::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("12345678") && error.contains("GM0344"),
            "{error}"
        );
    }
}

/// What providers added to their mirror reports that the published files do not hold: their
/// explanations, and which of their requests to share wait for other providers (NB-4).
#[derive(Debug, Clone, Default)]
pub struct ProviderNotes {
    /// The explanations ("het verhaal achter de cijfers").
    pub annotations: AnnotationRegistry,
    /// The requests to share that are pending.
    pub pending_shares: std::collections::BTreeSet<spiegel_publish::Share>,
    /// Every share that took effect, withdrawn or not: where one exists, the municipality's
    /// figures were judged for it alone (NB-3) and are shown to nobody else.
    pub effective_shares: std::collections::BTreeSet<spiegel_publish::Share>,
}

impl ProviderNotes {
    /// Reads them from the data directory: `annotations.json`, the sharing registry
    /// `sharing.json` and the ledger beside it.
    pub fn load(data_dir: &Path) -> Result<Self> {
        let sharing = data_dir.join(spiegel_publish::SHARING_FILE);
        let requests = spiegel_publish::SharingRegistry::load(&sharing)?;
        let ledger = spiegel_publish::SharingLedger::load(&spiegel_publish::ledger_path(&sharing))?;
        Ok(Self {
            annotations: AnnotationRegistry::load(&data_dir.join(ANNOTATIONS_FILE))?,
            effective_shares: ledger.sharing(&requests).effective,
            pending_shares: ledger
                .states(&requests)
                .into_iter()
                .filter(|(_, state)| *state != spiegel_publish::ShareState::InEffect)
                .map(|(share, _)| share)
                .collect(),
        })
    }

    /// Whether `provider` asked to share its mirror report of `period` with `municipality` and
    /// the request waits.
    pub fn share_pending(&self, provider: &str, period: &str, municipality: &str) -> bool {
        self.pending_shares
            .contains(&spiegel_publish::Share::new(provider, period, municipality))
    }

    /// Whether a share with `municipality` took effect in `period`.
    pub fn shares_in_effect(&self, period: &str, municipality: &str) -> bool {
        self.effective_shares
            .iter()
            .any(|s| s.period == period && s.municipality == municipality)
    }
}
