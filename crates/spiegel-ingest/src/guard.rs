//! Limits enforced on the byte stream itself, before any parser buffers anything.

use std::io::{self, Read};

/// Which limit a guarded reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitHit {
    #[error("upload larger than the configured limit")]
    Bytes,
    #[error("record longer than the configured limit")]
    Record,
}

/// How records are delimited, to bound the length of each one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    /// CSV: a record ends at a newline outside double quotes.
    Csv { delimiter: u8 },
    /// JSON Lines: a record ends at every newline.
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvState {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Wraps the upload: fails as soon as more than `max_bytes` have been read in total or a single
/// record grows past `max_record`, so a hostile or broken file never makes a parser buffer it.
#[derive(Debug)]
pub(crate) struct GuardedReader<R> {
    inner: R,
    read: u64,
    max_bytes: u64,
    record_len: usize,
    max_record: usize,
    framing: Framing,
    state: CsvState,
}

impl<R: Read> GuardedReader<R> {
    pub(crate) fn new(inner: R, max_bytes: u64, max_record: usize, framing: Framing) -> Self {
        Self {
            inner,
            read: 0,
            max_bytes,
            record_len: 0,
            max_record,
            framing,
            state: CsvState::FieldStart,
        }
    }

    /// Advances the record-length count over `buf`; `Err` once a record is too long.
    fn track(&mut self, buf: &[u8]) -> Result<(), LimitHit> {
        match self.framing {
            Framing::Lines => {
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
            }
            Framing::Csv { delimiter } => {
                let mut from = 0;
                for pos in memchr::memchr3_iter(delimiter, b'\n', b'"', buf) {
                    if pos > from {
                        self.other_bytes();
                    }
                    self.record_len += pos + 1 - from;
                    if self.record_len > self.max_record {
                        return Err(LimitHit::Record);
                    }
                    self.special(buf[pos], delimiter);
                    from = pos + 1;
                }
                if buf.len() > from {
                    self.other_bytes();
                    self.record_len += buf.len() - from;
                }
                if self.record_len > self.max_record {
                    return Err(LimitHit::Record);
                }
            }
        }
        Ok(())
    }

    fn other_bytes(&mut self) {
        self.state = match self.state {
            CsvState::FieldStart | CsvState::QuoteInQuoted => CsvState::Unquoted,
            state => state,
        };
    }

    fn special(&mut self, byte: u8, delimiter: u8) {
        use CsvState::*;
        self.state = match (self.state, byte) {
            (Quoted, b'"') => QuoteInQuoted,
            (Quoted, _) => Quoted,
            (QuoteInQuoted, b'"') | (FieldStart, b'"') => Quoted,
            (Unquoted, b'"') => Unquoted,
            (_, b'\n') => {
                self.record_len = 0;
                FieldStart
            }
            (_, d) if d == delimiter => FieldStart,
            (state, _) => state,
        };
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

    fn read_all(data: &[u8], max_record: usize, framing: Framing) -> Result<(), LimitHit> {
        // Small chunks so records straddle read boundaries.
        let mut reader = GuardedReader::new(data, u64::MAX, max_record, framing);
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
    fn csv_records_are_bounded_with_quotes_respected() {
        let csv = Framing::Csv { delimiter: b',' };
        assert_eq!(read_all(b"a,b\nccc,dd\n", 8, csv), Ok(()));
        assert_eq!(read_all(b"a,b\ncccccc,dd\n", 8, csv), Err(LimitHit::Record));
        // A quoted newline does not end the record.
        assert_eq!(
            read_all(b"\"a\nb\nc\nd\",e\n", 8, csv),
            Err(LimitHit::Record)
        );
        assert_eq!(read_all(b"\"a\nb\",e\n", 16, csv), Ok(()));
        // A stray quote inside an unquoted field does not open a quoted section.
        assert_eq!(read_all(b"ab\"c,d\nef,g\nhi,j\n", 8, csv), Ok(()));
        // An escaped quote stays inside the quoted field.
        assert_eq!(read_all(b"\"a\"\"b\",c\nd,e\n", 10, csv), Ok(()));
    }

    #[test]
    fn json_lines_are_bounded_even_inside_one_buffer() {
        let mut data = b"{}\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend_from_slice(b"\n{}\n");
        let mut reader = GuardedReader::new(&data[..], u64::MAX, 50, Framing::Lines);
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Record));
        assert_eq!(read_all(b"ab\ncd\n", 2, Framing::Lines), Ok(()));
    }

    #[test]
    fn total_bytes_are_bounded() {
        let data = [b'x'; 100];
        let mut reader = GuardedReader::new(&data[..], 50, usize::MAX, Framing::Lines);
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert_eq!(limit_hit(&err), Some(LimitHit::Bytes));
    }
}
