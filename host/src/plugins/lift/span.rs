//! A string of a guest's page as a bounds-checked span of its memory, lifted by hand (`unsafe
//! impl`s of wasmtime's traits, as `Lifted` in the parent is) so that no string is copied
//! before it is read; kept apart so that the unsafe code can be reviewed on its own.

// Doc-hidden items the derive macros use (not under wasmtime's semver promise; wasmtime is
// pinned to 48.x): what a hand-written `Lift` needs.
use wasmtime::component::__internal::{
    wasmtime_environ::component::StringEncoding, CanonicalAbiInfo, InstanceType, InterfaceType,
    LiftContext,
};
use wasmtime::component::{ComponentType, Lift, WasmStr};

use super::LiftError;

/// A string in guest memory, bounds-checked when lifted.
#[derive(Debug, Clone, Copy)]
pub(in crate::plugins) struct Span {
    ptr: u32,
    pub(super) len: u32,
}

impl Span {
    fn new(ptr: u32, len: u32, cx: &LiftContext<'_>) -> wasmtime::Result<Self> {
        if !matches!(cx.options().string_encoding, StringEncoding::Utf8) {
            return Err(LiftError::Invalid("strings in an encoding other than UTF-8").into());
        }
        if u64::from(ptr) + u64::from(len) > cx.memory().len() as u64 {
            return Err(LiftError::Invalid("a string out of bounds of its memory").into());
        }
        Ok(Self { ptr, len })
    }

    pub(super) fn read<'m>(&self, memory: &'m [u8]) -> Result<&'m str, LiftError> {
        // In bounds: checked against this memory when lifted, and memory never shrinks.
        let bytes = &memory[self.ptr as usize..][..self.len as usize];
        std::str::from_utf8(bytes).map_err(|_| LiftError::Invalid("a string that is not UTF-8"))
    }
}

// SAFETY: a `Span` has exactly the ABI of `string` (a pointer/length pair: the `Lower`
// representation and `ABI` are those wasmtime's own `WasmStr` uses), and `typecheck` accepts
// `string` only, by delegating to `WasmStr`.
#[allow(unsafe_code)]
unsafe impl ComponentType for Span {
    type Lower = <WasmStr as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: reads the pointer/length pair as the canonical ABI lays it out (two `i32`s flat, or
// two little-endian `u32`s in memory) and checks it against the memory; nothing is written.
#[allow(unsafe_code)]
unsafe impl Lift for Span {
    fn linear_lift_from_flat(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        src: &Self::Lower,
    ) -> wasmtime::Result<Self> {
        Span::new(src[0].get_u32(), src[1].get_u32(), cx)
    }

    fn linear_lift_from_memory(
        cx: &mut LiftContext<'_>,
        _ty: InterfaceType,
        bytes: &[u8],
    ) -> wasmtime::Result<Self> {
        let word = |at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        match (word(0), word(4)) {
            (Some(ptr), Some(len)) => Span::new(ptr, len, cx),
            _ => Err(LiftError::Invalid("a string out of bounds of its memory").into()),
        }
    }
}
