//! The aggregate stage's durable state: the latest submission per (provider, period), each a
//! file written atomically, with its submission id beside it.

use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use spiegel_core::durable::{read_if_present, write_atomically};
use spiegel_core::{Agb, Period};

use crate::Result;

pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir.join("submissions"))?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Stores a submission; false when the same submission is already stored. What is
    /// recorded beside it is the submission id and the digest of its pseudonymised content,
    /// so a release id changes with the keys as well as with the files.
    pub(crate) fn put(
        &self,
        provider: Agb,
        period: Period,
        submission: &str,
        payload: &[u8],
    ) -> Result<bool> {
        let digest = ring::digest::digest(&ring::digest::SHA256, payload);
        let id = format!("{submission} {}", hex::encode(digest));
        let stem = format!("{provider}_{period}");
        let id_path = self.dir.join("submissions").join(format!("{stem}.id"));
        let data_path = self.dir.join("submissions").join(format!("{stem}.arrows"));
        if fs::read_to_string(&id_path).is_ok_and(|stored| stored.trim() == id.as_str())
            && data_path.exists()
        {
            return Ok(false);
        }
        // Data first, then its id: a crash in between leaves an id that no longer matches,
        // so the uncommitted message is stored again on restart.
        write_atomically(&data_path, payload)?;
        write_atomically(&id_path, id.as_bytes())?;
        Ok(true)
    }

    /// (provider_period, submission id) of every stored submission, in name order.
    pub(crate) fn index(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.dir.join("submissions"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "id") {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.push((stem, fs::read_to_string(&path)?.trim().to_owned()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every stored submission, in name order, read one at a time.
    pub(crate) fn load(&self) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
        let dir = self.dir.join("submissions");
        Ok(self.index()?.into_iter().map(move |(stem, _)| {
            let bytes = fs::read(dir.join(format!("{stem}.arrows")))?;
            Ok(spiegel_core::ipc::from_ipc(&bytes)?)
        }))
    }

    /// The changelog offset of the last submission applied, if any.
    pub(crate) fn watermark(&self) -> Result<Option<u64>> {
        Ok(read_if_present(&self.dir.join("watermark"))?.and_then(|s| s.trim().parse().ok()))
    }

    pub(crate) fn set_watermark(&self, offset: u64) -> Result<()> {
        Ok(write_atomically(
            &self.dir.join("watermark"),
            offset.to_string().as_bytes(),
        )?)
    }

    pub(crate) fn released(&self) -> Result<Option<String>> {
        Ok(read_if_present(&self.dir.join("released"))?.map(|s| s.trim().to_owned()))
    }

    pub(crate) fn set_released(&self, release: &str) -> Result<()> {
        Ok(write_atomically(
            &self.dir.join("released"),
            release.as_bytes(),
        )?)
    }
}
