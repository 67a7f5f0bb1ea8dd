//! JSON Lines: one object per line, keys are the column names of format v1.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::{BOM, Batches, Fields, RawRow, SourceEnd, present};
use crate::column::{COLUMN_COUNT, displayable_name};
use crate::guard::{GuardedReader, LimitHit, limit_hit};
use crate::{Column, IngestError, IssueKind, Limits};

/// The reading thread: lines to rows, within the byte and line-length limits.
pub(crate) fn parse<R: Read>(
    input: R,
    limits: &Limits,
    batches: &mut Batches<'_>,
) -> Result<SourceEnd, IngestError> {
    let guarded = GuardedReader::new(input, limits.max_bytes, limits.max_record_bytes);
    let mut reader = BufReader::with_capacity(64 * 1024, guarded);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) => {
                return match limit_hit(&e) {
                    Some(LimitHit::Bytes) => Ok(Some(IssueKind::FileTooLarge {
                        max: limits.max_bytes,
                    })),
                    Some(LimitHit::Record) => Ok(Some(IssueKind::RecordTooLong {
                        max: limits.max_record_bytes,
                    })),
                    None => Err(IngestError::Io(e)),
                };
            }
        }
        line += 1;
        let mut text: &[u8] = buf.trim_ascii();
        if line == 1 {
            text = text.strip_prefix(BOM).unwrap_or(text);
        }
        if text.is_empty() {
            continue;
        }
        let flow = match serde_json::from_slice::<JsonObject<'_>>(text) {
            Ok(object) => batches.push(row_from_object(line, &object)),
            Err(_) => batches.push(RawRow {
                line,
                fields: [None; COLUMN_COUNT],
                problems: vec![(None, IssueKind::JsonSyntax)],
                unreadable: true,
                counted_only: false,
            }),
        };
        if flow.is_break() {
            // Validation stopped; its finding reaches the caller on the other thread.
            return Ok(None);
        }
    }
}

/// A JSON value as far as format v1 cares: text (borrowed from the line where it has no
/// escapes), a number as its text, null, or anything else (skipped, then refused).
enum JsonValue<'a> {
    Text(Cow<'a, str>),
    Number(String),
    Null,
    Other,
}

/// One line's object, in key order, borrowing from the line: no map or string is built per row
/// for what can be read in place.
struct JsonObject<'a>(Vec<(Cow<'a, str>, JsonValue<'a>)>);

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor).map(Key)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(JsonValue::Number(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Rust prints the shortest text that reads back as `v`, as JSON writers do: 1234.5.
        Ok(JsonValue::Number(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Other)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Other)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(JsonValue::Other)
    }
}

impl<'de> Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = JsonObject<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(COLUMN_COUNT);
                while let Some((Key(key), value)) = map.next_entry::<Key<'de>, JsonValue<'de>>()? {
                    entries.push((key, value));
                }
                Ok(JsonObject(entries))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn row_from_object<'a>(line: u64, object: &'a JsonObject<'a>) -> RawRow<'a> {
    let mut fields: Fields<'a> = [None; COLUMN_COUNT];
    let mut problems = Vec::new();
    for (position, (key, value)) in object.0.iter().enumerate() {
        let Some(column) = Column::from_name(key) else {
            problems.push((
                None,
                IssueKind::UnknownColumn(displayable_name(key, position + 1)),
            ));
            continue;
        };
        match value {
            JsonValue::Null => fields[column.index()] = None,
            JsonValue::Text(text) => fields[column.index()] = present(text),
            JsonValue::Number(text) if column.accepts_number() => {
                fields[column.index()] = Some(text.as_str());
            }
            JsonValue::Number(_) | JsonValue::Other => {
                problems.push((Some(column), IssueKind::JsonType));
            }
        }
    }
    RawRow {
        line,
        fields,
        problems,
        unreadable: false,
        counted_only: false,
    }
}
