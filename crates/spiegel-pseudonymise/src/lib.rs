//! Identifiers of children and the two keyed pseudonymisation stages (docs/pseudonymisation.md).
//!
//! - [`Bsn`] holds a citizen service number that passed the 11-proef. It cannot be printed,
//!   serialised or turned back into text; the only thing to do with it is to tokenise it.
//! - Stage 1, at the source: `t = HMAC-SHA256(K1, "spiegel:bsn:v1:" || bsn)`, made by a
//!   [`SourceKey`] into a labelled [`ClientToken`]. This runs at the provider (`spiegel
//!   prepare`) or in the ingest stage's memory.
//! - Stage 2, at the TTP: `p = HMAC-SHA256(K2, t)`, made by a [`Pseudonymiser`] holding the
//!   [`TtpKey`] into a labelled [`Pseudonym`]. Only the pseudonymise stage holds K2, and a
//!   `Pseudonym` can only be computed by it.
//!
//! Tokens and pseudonyms carry a label `{type, key version, TTP id}` so keys can be rotated and
//! versions told apart. Keys, BSNs, tokens and pseudonyms all print as `***`: none of them may
//! reach a log line, an error or a receipt.

mod bsn;
mod error;
mod key;
pub mod stage;
mod token;

pub use bsn::{Bsn, BsnError, ParsedBsn, Sentinel, mentions_bsn};
pub use error::{PseudonymiseError, Result};
pub use key::{KeyStage, SourceKey, TtpId, TtpKey};
pub use token::{ClientToken, LinkKey, Pseudonym, Pseudonymiser, TokenError};
