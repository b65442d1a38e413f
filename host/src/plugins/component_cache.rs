//! The on-disk cache of compiled components: a restart, or a second host on the same disk,
//! reads a component's machine code instead of compiling it again ([`Runtime::load_cached`]).

use std::hash::{Hash, Hasher};
use std::path::Path;

use wasmtime::component::Component;

use super::error::PluginError;
use super::runtime::Runtime;

/// Writes a compiled component into the cache directory (mode 0700), atomically.
fn write_cache(dir: &Path, path: &Path, component: &Component) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    // A name no other writer (thread or process) uses, created fresh, synced before it is
    // renamed into place: a reader sees a whole entry or none.
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Runtime {
    /// Compiles `bytes`, or reads its compiled code from the cache in `dir` (see
    /// [`Runtime::load_cached`]); agent components are cached the same way.
    pub(super) fn compile_cached(
        &self,
        bytes: &[u8],
        dir: &Path,
    ) -> Result<Component, PluginError> {
        let mut engine_key = std::hash::DefaultHasher::new();
        self.sandbox
            .engine
            .precompile_compatibility_hash()
            .hash(&mut engine_key);
        let path = dir.join(format!(
            "{}-{:016x}.cwasm",
            super::package::component_hash(bytes),
            engine_key.finish()
        ));
        if let Some(component) = self.cached_component(&path) {
            return Ok(component);
        }
        let component = Component::new(&self.sandbox.engine, bytes)
            .map_err(|e| PluginError::Invalid(format!("{e:#}")))?;
        if let Err(e) = write_cache(dir, &path, &component) {
            tracing::warn!(path = %path.display(), "could not cache compiled plugin: {e}");
        }
        Ok(component)
    }

    /// Reads a compiled component from the cache.
    ///
    /// This is the one `unsafe` call of the host (besides the trait impls of `super::lift`):
    /// wasmtime runs precompiled machine code as is, so the file must be one this engine wrote.
    /// It is: the cache directory is created by the host with mode 0700 inside its data
    /// directory, entries are written whole (temp file and rename) by [`write_cache`], and the
    /// name binds the entry to the component's hash and to this engine's configuration
    /// (wasmtime also refuses code from another version or configuration). Whoever can write
    /// that directory can already replace the host binary.
    #[allow(unsafe_code)]
    fn cached_component(&self, path: &Path) -> Option<Component> {
        // Read into memory rather than mapping the file: a mapped file changed underneath a
        // running host (truncated, rewritten) would crash it with SIGBUS.
        let bytes = std::fs::read(path).ok()?;
        // SAFETY: see above: the bytes were produced by `Component::serialize` of an engine with
        // this configuration, in a directory only the host can write.
        match unsafe { Component::deserialize(&self.sandbox.engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding unusable compiled plugin: {e:#}");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }
}
