//! Limits enforced on a JSON Lines byte stream itself, before any parser buffers anything.

use std::io::{self, Read};

/// Which limit a guarded reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitHit {
    #[error("upload larger than the configured limit")]
    Bytes,
    #[error("record longer than the configured limit")]
    Record,
}

/// Wraps a JSON Lines upload: fails as soon as more than `max_bytes` have been read in total or
/// a single line grows past `max_record`, so a hostile or broken file never makes a parser buffer it.
#[derive(Debug)]
pub(crate) struct GuardedReader<R> {
    inner: R,
    read: u64,
    max_bytes: u64,
    record_len: usize,
    max_record: usize,
}

impl<R: Read> GuardedReader<R> {
    pub(crate) fn new(inner: R, max_bytes: u64, max_record: usize) -> Self {
        Self {
            inner,
            read: 0,
            max_bytes,
            record_len: 0,
            max_record,
        }
    }

    /// Advances the record-length count over `buf`; `Err` once a record is too long.
    fn track(&mut self, buf: &[u8]) -> Result<(), LimitHit> {
        let mut from = 0;
        for pos in memchr::memchr_iter(b'\n', buf) {
            if self.record_len + pos - from > self.max_record {
                return Err(LimitHit::Record);
            }
            self.record_len = 0;
            from = pos + 1;
        }
        self.record_len += buf.len() - from;
        if self.record_len > self.max_record {
            return Err(LimitHit::Record);
        }
        Ok(())
    }
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max_bytes {
            return Err(io::Error::other(LimitHit::Bytes));
        }
        self.track(&buf[..n]).map_err(io::Error::other)?;
        Ok(n)
    }
}

/// Whether an I/O error (possibly wrapped by a parser) is one of our limits.
pub(crate) fn limit_hit(error: &io::Error) -> Option<LimitHit> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<LimitHit>())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], max_record: usize) -> Result<(), LimitHit> {
        // Small chunks so records straddle read boundaries.
        let mut reader = GuardedReader::new(data, u64::MAX, max_record);
        let mut buf = [0u8; 7];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(limit_hit(&e).unwrap()),
            }
        }
    }

    #[test]
    fn json_lines_are_bounded_even_inside_one_buffer() {
        let mut data = b"{}\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend_from_slice(b"\n{}\n");
        let mut reader = GuardedReader::new(&data[..], u64::MAX, 50);
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Record));
        assert_eq!(read_all(b"ab\ncd\n", 2), Ok(()));
    }

    #[test]
    fn total_bytes_are_bounded() {
        let data = [b'x'; 100];
        let mut reader = GuardedReader::new(&data[..], 50, usize::MAX);
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Bytes));
    }
}
