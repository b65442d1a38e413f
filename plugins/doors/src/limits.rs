//! The bounds an import works within. ReqIF files are untrusted: each bound stops a file that
//! would make the parser (or the archive reader) use more memory or time than its purpose
//! needs, and its refusal names the file and the bound.

/// The largest file size a connection may allow (`max_file_mib`), in MiB. Past it the element
/// bound (4 000 000, about 130 000 DOORS objects) refuses files anyway.
pub const MAX_FILE_MIB: u32 = 128;

/// The file size bound when the connection sets none, in MiB: under the host's default 32 MiB
/// response cap, so a file the defaults refuse is refused by this bound, with a message that
/// says which setting raises it (README: Limits).
pub const DEFAULT_FILE_MIB: u32 = 24;

/// Bounds of one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one `.reqif` (XML) file, and of all of a `.reqifz`'s files together once
    /// decompressed: it bounds the parse's time and the model's size (the text itself is parsed
    /// as it arrives, never held whole).
    pub max_xml_bytes: u64,
    /// Element nesting depth (ReqIF's own structure is about 12 deep; XHTML adds some).
    pub max_depth: u32,
    /// Elements in one file (a 50 000-object export has about 1.5 million).
    pub max_elements: u64,
    /// Entries in a `.reqifz`.
    pub max_archive_entries: usize,
    /// Decompressed size over compressed size of any `.reqifz` entry.
    pub max_compression_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_xml_bytes: u64::from(DEFAULT_FILE_MIB) << 20,
            max_depth: 64,
            max_elements: 4_000_000,
            max_archive_entries: 256,
            max_compression_ratio: 200,
        }
    }
}

impl Limits {
    /// The default limits with the file size set to `mib` MiB (the configuration's
    /// `max_file_mib`), never past [`MAX_FILE_MIB`].
    pub fn with_max_mib(mib: Option<u32>) -> Self {
        let mut limits = Self::default();
        if let Some(mib) = mib {
            limits.max_xml_bytes = u64::from(mib.min(MAX_FILE_MIB)) << 20;
        }
        limits
    }
}
