//! One module per command: its arguments and its body.

pub(crate) mod annotate;
pub(crate) mod audit;
pub(crate) mod certs;
pub(crate) mod config;
pub(crate) mod dead_letter;
pub(crate) mod demo;
pub(crate) mod generate;
pub(crate) mod keys;
pub(crate) mod prepare;
pub(crate) mod render;
pub(crate) mod run;
pub(crate) mod serve;
#[cfg(feature = "kafka")]
pub(crate) mod stages;
pub(crate) mod tokens;
pub(crate) mod validate;
