//! Why an import refused a file. Every message names the file (and, in a `.reqifz`, the entry:
//! `spec.reqifz!a.reqif`) and, for a bound, the bound; the connector returns it to the user as
//! the contract's `config` error (the file the connection points at cannot be imported, and
//! retrying will not change that).

use std::fmt;

/// A refused import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file is past one of the import's bounds, or uses a refused XML feature (DTDs).
    Limit {
        /// The file (and archive entry).
        file: String,
        /// What was exceeded, and the bound.
        detail: String,
    },
    /// Not well-formed XML.
    Xml {
        /// The file.
        file: String,
        /// Byte offset near the problem.
        at: u64,
        /// The parser's message.
        detail: String,
    },
    /// Not a readable zip archive.
    Archive {
        /// The file.
        file: String,
        /// The zip reader's message.
        detail: String,
    },
    /// Well-formed, but not a ReqIF document.
    Structure {
        /// The file.
        file: String,
        /// What is wrong.
        detail: String,
    },
}

impl ImportError {
    /// A bound exceeded.
    pub fn limit(file: &str, detail: impl Into<String>) -> Self {
        Self::Limit {
            file: file.to_owned(),
            detail: detail.into(),
        }
    }

    /// Malformed XML at byte `at`.
    pub fn xml(file: &str, at: u64, detail: impl Into<String>) -> Self {
        Self::Xml {
            file: file.to_owned(),
            at,
            detail: detail.into(),
        }
    }

    /// An unreadable archive.
    pub fn archive(file: &str, detail: impl Into<String>) -> Self {
        Self::Archive {
            file: file.to_owned(),
            detail: detail.into(),
        }
    }

    /// Not ReqIF.
    pub fn structure(file: &str, detail: impl Into<String>) -> Self {
        Self::Structure {
            file: file.to_owned(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Limit { file, detail } => write!(f, "{file}: refused: {detail}"),
            Self::Xml { file, at, detail } => {
                write!(f, "{file}: not well-formed XML near byte {at}: {detail}")
            }
            Self::Archive { file, detail } => write!(f, "{file}: {detail}"),
            Self::Structure { file, detail } => write!(f, "{file}: not a ReqIF document: {detail}"),
        }
    }
}

impl std::error::Error for ImportError {}

impl From<ImportError> for agentic_sdk::Error {
    fn from(e: ImportError) -> Self {
        agentic_sdk::Error::Config(e.to_string())
    }
}
