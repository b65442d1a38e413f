//! The bounds an import works within. ReqIF files are untrusted: each bound stops a file that
//! would make the parser (or the archive reader) use more memory or time than its purpose
//! needs, and its refusal names the file and the bound.

/// Bounds of one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one `.reqif` (XML) file, and of all of a `.reqifz`'s files together once
    /// decompressed. The host caps a response at 32 MiB and a plugin's memory at 64 MiB; the
    /// parsed model and the records need room beside the text.
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
            max_xml_bytes: 24 << 20,
            max_depth: 64,
            max_elements: 4_000_000,
            max_archive_entries: 256,
            max_compression_ratio: 200,
        }
    }
}

impl Limits {
    /// The default limits with the file size lowered to `mib` MiB (the configuration's
    /// `max_file_mib`); never raised past the default.
    pub fn with_max_mib(mib: Option<u32>) -> Self {
        let mut limits = Self::default();
        if let Some(mib) = mib {
            limits.max_xml_bytes = limits.max_xml_bytes.min(u64::from(mib) << 20);
        }
        limits
    }
}
