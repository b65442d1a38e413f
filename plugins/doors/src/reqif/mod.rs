//! OMG ReqIF 1.2: reading (`parse`, `archive` for `.reqifz`) into the `model`, the model as
//! records (`mapping`), and records back to ReqIF (`export`).

pub mod archive;
pub mod export;
pub mod mapping;
pub mod model;
pub mod parse;

use crate::limits::Limits;
use crate::ImportError;

/// Reads a `.reqif` or a `.reqifz` (told apart by content: a zip starts with `PK`), named
/// `file` in errors.
pub fn read(file: &str, bytes: &[u8], limits: &Limits) -> Result<model::ReqIf, ImportError> {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        archive::read(file, bytes, limits)
    } else {
        parse::parse(file, bytes, limits)
    }
}
