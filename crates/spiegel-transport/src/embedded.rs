//! The embedded transport: each topic a directory in the data directory, each message a file
//! written atomically (temporary file, fsync, rename, fsync of the directory), each consumer
//! group's committed offset a file written the same way. A crash leaves either the whole message
//! or nothing, which is the guarantee Kafka gives the stages.
//!
//! The messages of a transient topic ([`crate::topic::is_transient`]) are removed once every
//! group reading it has committed past them, all but the newest, which keeps the next offset.
//! A group counts as reading a topic from the moment it has a consumer of it (its committed
//! offset is written then, at the start), and a group that comes later starts at the oldest
//! message left.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::{Consumer, Message, Producer, Result, Transport, TransportError};

const MAGIC: &[u8; 8] = b"SPGMSG1\n";

/// Topics in a directory, for running all stages in one process without a broker.
#[derive(Debug, Clone)]
pub struct EmbeddedTransport {
    root: PathBuf,
    /// Next offset per topic, shared by every producer of this transport so offsets stay dense
    /// when several stages send to the same topic.
    next_offsets: Arc<Mutex<HashMap<String, u64>>>,
}

impl EmbeddedTransport {
    /// Topics under `root` (created if absent).
    pub fn open(root: &Path) -> Result<Self> {
        create_dir(&root.join("topics"))?;
        create_dir(&root.join("groups"))?;
        Ok(Self {
            root: root.to_owned(),
            next_offsets: Arc::default(),
        })
    }

    fn topic_dir(&self, topic: &str) -> Result<PathBuf> {
        check_name(topic)?;
        let dir = self.root.join("topics").join(topic);
        create_dir(&dir)?;
        Ok(dir)
    }
}

impl Transport for EmbeddedTransport {
    fn producer(&self) -> Result<Box<dyn Producer>> {
        Ok(Box::new(EmbeddedProducer {
            transport: self.clone(),
        }))
    }

    fn consumer(&self, topic: &str, group: &str) -> Result<Box<dyn Consumer>> {
        check_name(group)?;
        let dir = self.topic_dir(topic)?;
        let group_dir = self.root.join("groups").join(group);
        create_dir(&group_dir)?;
        let offset_file = group_dir.join(topic);
        let transient = crate::topic::is_transient(topic);
        let position = match read_offset(&offset_file)? {
            Some(position) => position,
            None if transient => {
                // From now on this group holds back the removal of what it has not read.
                let start = offsets(&dir)?.into_iter().min().unwrap_or(0);
                write_offset(&offset_file, start)?;
                start
            }
            None => 0,
        };
        Ok(Box::new(EmbeddedConsumer {
            transient: transient.then(|| Transient {
                groups: self.root.join("groups"),
                topic: topic.to_owned(),
            }),
            dir,
            offset_file,
            position,
        }))
    }
}

/// A group's committed offset of a topic, if it ever had a consumer of it.
fn read_offset(offset_file: &Path) -> Result<Option<u64>> {
    match fs::read_to_string(offset_file) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| TransportError::Corrupt {
                path: offset_file.to_owned(),
                reason: "not an offset".into(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TransportError::Io {
            path: offset_file.to_owned(),
            source,
        }),
    }
}

/// Records `next` as the offset a group resumes at.
fn write_offset(offset_file: &Path, next: u64) -> Result<()> {
    write_atomically(offset_file, format!("{next}\n").as_bytes())
}

/// What a consumer of a transient topic needs to remove the messages every group has read.
#[derive(Debug)]
struct Transient {
    groups: PathBuf,
    topic: String,
}

impl Transient {
    /// Removes the messages of `dir` below every group's committed offset of the topic,
    /// keeping the newest message, whose offset the next producer continues from.
    fn remove_read(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TransportError::Io { path, source }
        };
        let mut committed = u64::MAX;
        for group in fs::read_dir(&self.groups).map_err(io(&self.groups))? {
            let group = group.map_err(io(&self.groups))?;
            if let Some(offset) = read_offset(&group.path().join(&self.topic))? {
                committed = committed.min(offset);
            }
        }
        let offsets = offsets(dir)?;
        let Some(&newest) = offsets.iter().max() else {
            return Ok(());
        };
        for offset in offsets {
            if offset < committed.min(newest) {
                let path = dir.join(message_name(offset));
                match fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(TransportError::Io { path, source: e });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
struct EmbeddedProducer {
    transport: EmbeddedTransport,
}

impl Producer for EmbeddedProducer {
    fn send(&mut self, topic: &str, key: &str, payload: &[u8]) -> Result<()> {
        let dir = self.transport.topic_dir(topic)?;
        // Holding the lock while writing keeps offsets dense and in send order.
        let mut next_offsets = self
            .transport
            .next_offsets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = match next_offsets.get(topic) {
            Some(next) => *next,
            None => first_free_offset(&dir)?,
        };
        let mut bytes = Vec::with_capacity(MAGIC.len() + 12 + key.len() + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(key.len() as u32).to_le_bytes());
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(payload);
        write_atomically(&dir.join(message_name(next)), &bytes)?;
        next_offsets.insert(topic.to_owned(), next + 1);
        Ok(())
    }
}

#[derive(Debug)]
struct EmbeddedConsumer {
    dir: PathBuf,
    offset_file: PathBuf,
    position: u64,
    /// Set for a transient topic, whose read messages a commit removes.
    transient: Option<Transient>,
}

impl Consumer for EmbeddedConsumer {
    fn poll(&mut self, max: usize) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        while out.len() < max {
            let path = self.dir.join(message_name(self.position));
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(source) => return Err(TransportError::Io { path, source }),
            };
            // A file that is not a message stops no stage: it is handed out damaged, for the
            // dead-letter topic, and committed past like any other.
            let (key, payload, damaged) = match decode(&bytes) {
                Some((key, payload)) => (key, payload, None),
                None => (String::new(), Vec::new(), Some("not a message".to_owned())),
            };
            out.push(Message {
                partition: 0,
                offset: self.position,
                key,
                payload,
                damaged,
            });
            self.position += 1;
        }
        Ok(out)
    }

    fn commit(&mut self, message: &Message) -> Result<()> {
        write_offset(&self.offset_file, message.offset + 1)?;
        match &self.transient {
            Some(transient) => transient.remove_read(&self.dir),
            None => Ok(()),
        }
    }
}

fn decode(bytes: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_at_checked(4)?;
    let key_len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    let (key, rest) = rest.split_at_checked(key_len)?;
    let (len, payload) = rest.split_at_checked(8)?;
    let payload_len = u64::from_le_bytes(len.try_into().ok()?);
    if payload.len() as u64 != payload_len {
        return None;
    }
    Some((String::from_utf8(key.to_vec()).ok()?, payload.to_vec()))
}

fn message_name(offset: u64) -> String {
    format!("{offset:020}.msg")
}

fn first_free_offset(dir: &Path) -> Result<u64> {
    Ok(offsets(dir)?
        .into_iter()
        .max()
        .map_or(0, |newest| newest + 1))
}

/// The offsets of the messages in a topic's directory, in no particular order.
fn offsets(dir: &Path) -> Result<Vec<u64>> {
    let io = |source| TransportError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut offsets = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        if let Some(offset) = name
            .to_string_lossy()
            .strip_suffix(".msg")
            .and_then(|n| n.parse::<u64>().ok())
        {
            offsets.push(offset);
        }
    }
    Ok(offsets)
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TransportError::InvalidName(name.to_owned()))
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| TransportError::Io {
        path: dir.to_owned(),
        source,
    })
}

/// Writes `bytes` to `path` so that a crash leaves the old file or the new one, whole.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    spiegel_core::durable::write_atomically(path, bytes).map_err(|source| TransportError::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_a_restart_and_consumers_resume_after_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        {
            let transport = EmbeddedTransport::open(dir.path()).unwrap();
            let mut producer = transport.producer().unwrap();
            for i in 0..5u8 {
                producer.send("t", &format!("k{i}"), &[i; 3]).unwrap();
            }
            let mut consumer = transport.consumer("t", "g").unwrap();
            let first = consumer.poll(2).unwrap();
            assert_eq!(first.len(), 2);
            assert_eq!(first[1].offset, 1);
            consumer.commit(&first[1]).unwrap();
            // Read but not committed: must come again after a restart.
            assert_eq!(consumer.poll(1).unwrap()[0].offset, 2);
        }
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let mut consumer = transport.consumer("t", "g").unwrap();
        let rest = consumer.poll(10).unwrap();
        assert_eq!(
            rest.iter().map(|m| m.offset).collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        assert_eq!(rest[0].key, "k2");
        assert_eq!(rest[0].payload, vec![2; 3]);
        // A new producer after the restart continues the offsets.
        transport.producer().unwrap().send("t", "k5", b"x").unwrap();
        assert_eq!(consumer.poll(10).unwrap()[0].offset, 5);
        // Another group starts at the beginning.
        assert_eq!(
            transport
                .consumer("t", "other")
                .unwrap()
                .poll(10)
                .unwrap()
                .len(),
            6
        );
    }

    #[test]
    fn a_leftover_temporary_file_is_not_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let topic = transport.topic_dir("t").unwrap();
        fs::write(topic.join(".00000000000000000000.msg.tmp"), b"half").unwrap();
        assert!(
            transport
                .consumer("t", "g")
                .unwrap()
                .poll(10)
                .unwrap()
                .is_empty()
        );
        transport.producer().unwrap().send("t", "k", b"p").unwrap();
        assert_eq!(
            transport.consumer("t", "g").unwrap().poll(10).unwrap()[0].offset,
            0
        );
    }

    #[test]
    fn a_transient_topic_keeps_what_some_group_has_not_read_and_its_newest_message() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let topic = crate::topic::AGGREGATES;
        let mut producer = transport.producer().unwrap();
        let mut kept = transport.consumer("kept", "a").unwrap();
        for i in 0..5u8 {
            producer.send(topic, "releases", &[i]).unwrap();
            producer.send("kept", "k", &[i]).unwrap();
        }
        let (mut a, mut b) = (
            transport.consumer(topic, "a").unwrap(),
            transport.consumer(topic, "b").unwrap(),
        );
        let left = || {
            let mut offsets = offsets(&dir.path().join("topics").join(topic)).unwrap();
            offsets.sort_unstable();
            offsets
        };
        let read_by_a = a.poll(10).unwrap();
        a.commit(&read_by_a[4]).unwrap();
        assert_eq!(left(), [0, 1, 2, 3, 4], "b has read nothing yet");
        let read_by_b = b.poll(3).unwrap();
        b.commit(&read_by_b[2]).unwrap();
        assert_eq!(left(), [3, 4]);
        let read_by_b = b.poll(10).unwrap();
        b.commit(&read_by_b[1]).unwrap();
        assert_eq!(left(), [4], "the newest stays, for the next offset");
        // A group that comes later starts at the oldest message left; offsets go on.
        assert_eq!(
            transport.consumer(topic, "c").unwrap().poll(10).unwrap()[0].offset,
            4
        );
        EmbeddedTransport::open(dir.path())
            .unwrap()
            .producer()
            .unwrap()
            .send(topic, "releases", b"x")
            .unwrap();
        assert_eq!(a.poll(10).unwrap()[0].offset, 5);
        // A topic that is not transient keeps every message, read or not.
        let read = kept.poll(10).unwrap();
        kept.commit(&read[4]).unwrap();
        assert_eq!(
            fs::read_dir(dir.path().join("topics/kept"))
                .unwrap()
                .count(),
            5
        );
    }

    #[test]
    fn a_file_that_is_not_a_message_is_handed_out_damaged_and_passed() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        let mut producer = transport.producer().unwrap();
        producer.send("t", "k", b"first").unwrap();
        let topic = transport.topic_dir("t").unwrap();
        fs::write(topic.join(message_name(1)), b"garbage").unwrap();
        let mut producer = EmbeddedTransport::open(dir.path())
            .unwrap()
            .producer()
            .unwrap();
        producer.send("t", "k", b"third").unwrap();
        let mut consumer = transport.consumer("t", "g").unwrap();
        let read = consumer.poll(10).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read[1].damaged.as_deref(), Some("not a message"));
        assert!(read[1].payload.is_empty());
        assert_eq!(
            (read[2].payload.as_slice(), read[2].damaged.as_deref()),
            (&b"third"[..], None)
        );
        consumer.commit(&read[1]).unwrap();
        assert_eq!(
            transport.consumer("t", "g").unwrap().poll(10).unwrap()[0].offset,
            2
        );
    }

    #[test]
    fn names_that_would_escape_the_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let transport = EmbeddedTransport::open(dir.path()).unwrap();
        assert!(transport.consumer("../x", "g").is_err());
        assert!(transport.consumer("t", "a/b").is_err());
    }
}
