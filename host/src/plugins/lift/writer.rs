//! The JSON writer of the lift: each record's fields, read out of guest memory, written as
//! one JSON object straight into the record's text.

use std::fmt::Write as _;

use serde_json::value::RawValue;

use super::{LiftError, Span};

/// Writes one JSON object from fields read out of guest memory, straight into a `String`
/// (every piece is a `&str` already checked as UTF-8, so the result needs no second check).
pub(super) struct Json<'m> {
    memory: &'m [u8],
    /// Where the object starts in `out`.
    start: usize,
    out: String,
}

/// Appends `value` as a JSON string: `"`, `\` and control characters escaped (RFC 8259 §7),
/// everything else as is.
fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let mut rest = value;
    while let Some(i) = rest
        .bytes()
        .position(|b| b < 0x20 || b == b'"' || b == b'\\')
    {
        out.push_str(&rest[..i]);
        match rest.as_bytes()[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            control => {
                // Writing into a `String` cannot fail.
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        // The byte escaped is ASCII, so the next one starts a character.
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

impl<'m> Json<'m> {
    /// An object written after what `out` holds, its strings read out of `memory`.
    pub(super) fn new(memory: &'m [u8], out: String) -> Self {
        Self {
            memory,
            start: out.len(),
            out,
        }
    }

    /// `key` is a field name of the contract: ASCII, nothing to escape.
    fn key(&mut self, key: &str) {
        self.out.push(if self.out.len() == self.start {
            '{'
        } else {
            ','
        });
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
    }

    pub(super) fn text(&mut self, key: &str, value: &Span) -> Result<(), LiftError> {
        let value = value.read(self.memory)?;
        self.key(key);
        push_string(&mut self.out, value);
        Ok(())
    }

    pub(super) fn opt(&mut self, key: &str, value: &Option<Span>) -> Result<(), LiftError> {
        match value {
            Some(span) => self.text(key, span),
            None => {
                self.key(key);
                self.out.push_str("null");
                Ok(())
            }
        }
    }

    pub(super) fn list(&mut self, key: &str, values: &[Span]) -> Result<(), LiftError> {
        self.key(key);
        self.out.push('[');
        for (i, span) in values.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_string(&mut self.out, span.read(self.memory)?);
        }
        self.out.push(']');
        Ok(())
    }

    pub(super) fn millis(&mut self, key: &str, value: &Option<i64>) -> Result<(), LiftError> {
        self.key(key);
        match value {
            Some(n) => self.out.push_str(itoa::Buffer::new().format(*n)),
            None => self.out.push_str("null"),
        }
        Ok(())
    }

    pub(super) fn flag(&mut self, key: &str, value: &bool) -> Result<(), LiftError> {
        self.key(key);
        self.out.push_str(if *value { "true" } else { "false" });
        Ok(())
    }

    /// JSON text embedded as JSON; text that is not JSON is kept as a string.
    pub(super) fn json(&mut self, key: &str, value: &Span) -> Result<(), LiftError> {
        let value = value.read(self.memory)?;
        self.key(key);
        match serde_json::from_str::<&RawValue>(value) {
            Ok(raw) => self.out.push_str(raw.get()),
            Err(_) => push_string(&mut self.out, value),
        }
        Ok(())
    }

    pub(super) fn finish(mut self) -> String {
        if self.out.len() == self.start {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}
