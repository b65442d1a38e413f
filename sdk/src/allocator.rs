//! The guest's allocator: blocks of up to [`SMALL`] bytes from free lists of one size each,
//! everything else from talc.
//!
//! Why: a page of records is parsed from JSON and rebuilt as records, hundreds of thousands of
//! small allocations a page (every key, string and map node of the service's answer), and in a
//! profile of the JIRA component talc's allocate and free were about a third of the guest's
//! time (docs/PERFORMANCE.md). Popping and pushing a free list is a handful of instructions.
//! Written here rather than taken from a crate because none of the general allocators that
//! build for `wasm32-wasip2` without a C toolchain has such a front (talc, dlmalloc, rlsf are
//! one-heap designs), and what it needs is small: no threads (a component has one), no
//! returning memory to a system.
//!
//! A small block is 16-aligned and its size rounded up to a multiple of 16; a list is filled by
//! cutting a [`SLAB`] from talc into blocks of its size, and a freed block goes back on its
//! list, never back to talc. So the memory kept for small blocks is what the busiest moment of
//! the instance needed, and an instance lives for one call or the pages of one stream.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;

/// Small block sizes are multiples of this, and their alignment at most this.
const GRAIN: usize = 16;
/// Largest block served from the free lists.
const SMALL: usize = 256;
/// One free list per block size.
const CLASSES: usize = SMALL / GRAIN;
/// Bytes taken from talc at once to fill an empty list.
const SLAB: usize = 16 * 1024;

/// Free lists in front of talc.
pub(crate) struct Allocator {
    /// The first free block of each size (`(class + 1) * GRAIN` bytes); each free block
    /// holds the address of the next.
    heads: UnsafeCell<[*mut u8; CLASSES]>,
    back: talc::wasm::WasmDynamicTalc,
}

// SAFETY: built only for wasm32 without the `atomics` feature (see lib.rs), where a component
// runs on one thread: no two calls into the allocator can overlap.
#[allow(unsafe_code)]
unsafe impl Sync for Allocator {}

impl Allocator {
    pub(crate) const fn new() -> Self {
        Self {
            heads: UnsafeCell::new([ptr::null_mut(); CLASSES]),
            back: talc::wasm::new_wasm_dynamic_allocator(),
        }
    }
}

/// The free list serving `layout`, if it is small.
fn class(layout: Layout) -> Option<usize> {
    (layout.size() <= SMALL && layout.align() <= GRAIN)
        .then(|| layout.size().max(1).div_ceil(GRAIN) - 1)
}

#[allow(unsafe_code)]
impl Allocator {
    /// Fills the empty list `class` from a new slab; returns its first block, for the caller.
    #[cold]
    unsafe fn refill(&self, class: usize) -> *mut u8 {
        let size = (class + 1) * GRAIN;
        // SAFETY: SLAB and GRAIN are non-zero and GRAIN a power of two.
        let slab = unsafe {
            self.back
                .alloc(Layout::from_size_align_unchecked(SLAB, GRAIN))
        };
        if slab.is_null() {
            return slab;
        }
        let mut next = ptr::null_mut::<u8>();
        for i in (1..SLAB / size).rev() {
            // SAFETY: block `i` lies inside the slab and is 16-aligned, room for a pointer.
            unsafe {
                let block = slab.add(i * size);
                block.cast::<*mut u8>().write(next);
                next = block;
            }
        }
        // SAFETY: one thread (see `Sync`), and no reference to the lists outlives this line.
        unsafe { (*self.heads.get())[class] = next };
        slab
    }
}

#[allow(unsafe_code)]
// SAFETY: small blocks are handed out once until freed (a block is either on one list or
// the caller's), sized and aligned for their class; the rest is talc's.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's layout, passed on.
            return unsafe { self.back.alloc(layout) };
        };
        // SAFETY: one thread; a free block holds the next one's address.
        unsafe {
            let heads = &mut *self.heads.get();
            let head = heads[class];
            if head.is_null() {
                return self.refill(class);
            }
            heads[class] = head.cast::<*mut u8>().read();
            head
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class(layout).is_none() {
            // SAFETY: the caller's layout, passed on: talc knows which memory is fresh.
            return unsafe { self.back.alloc_zeroed(layout) };
        }
        // SAFETY: a small block of at least `layout.size()` bytes, or null.
        unsafe {
            let block = self.alloc(layout);
            if !block.is_null() {
                ptr::write_bytes(block, 0, layout.size());
            }
            block
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: a large block is talc's, with this layout.
            return unsafe { self.back.dealloc(ptr, layout) };
        };
        // SAFETY: one thread; the block is ours again and has room for a pointer.
        unsafe {
            let heads = &mut *self.heads.get();
            ptr.cast::<*mut u8>().write(heads[class]);
            heads[class] = ptr;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, fits `isize`.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new)) {
            // SAFETY: a large block is talc's, and talc may grow it in place.
            (None, None) => unsafe { self.back.realloc(ptr, layout, new_size) },
            (Some(from), Some(to)) if from == to => ptr,
            _ => {
                // SAFETY: a new block, the old one's bytes copied, then the old one freed.
                unsafe {
                    let fresh = self.alloc(new);
                    if !fresh.is_null() {
                        ptr::copy_nonoverlapping(ptr, fresh, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    fresh
                }
            }
        }
    }
}
