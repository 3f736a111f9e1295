//! Memory for large tables: hugepages when the EAL has them, otherwise ordinary pages
//! with transparent hugepages requested.
//!
//! A table of a million connections spans hundreds of MiB and is read in random order,
//! so with 4 KiB pages nearly every packet also misses the TLB. The tables are plain
//! `Vec`s and boxed slices in crates that know nothing of DPDK; they land in 2 MiB pages
//! through [`TableAlloc`], a global allocator that the binaries install:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: rvs_dpdk::TableAlloc = rvs_dpdk::TableAlloc;
//! ```
//!
//! Only allocations of at least [`TABLE_PAGE`] bytes made inside [`tables`] on the
//! calling thread are affected; everything else goes to the system allocator unchanged.
//! Such an allocation is an anonymous mapping aligned to 2 MiB:
//!
//! - from the reserved hugepage pool (`MAP_HUGETLB`, the pool the EAL draws from) once
//!   [`Eal::init`](crate::Eal::init) ran with hugepages, or after
//!   [`prefer_hugetlb`]`(true)`; the pages are reserved when mapped, so a short pool
//!   fails at once and the allocation falls back to the next kind;
//! - otherwise ordinary pages advised `MADV_HUGEPAGE` (transparent hugepages, which the
//!   kernel grants when it has free 2 MiB blocks and THP is not disabled).
//!
//! [`table_memory`] says how many bytes each kind holds now. The pages belong to the
//! process, not to the EAL: a table may outlive the EAL's cleanup.
//!
//! For measurements, the environment variable `RVS_TABLE_PAGES` overrides the choice
//! for every later [`tables`] call: `hugetlb` (the pool first), `transparent` (never the
//! pool) or `normal` (the system allocator: ordinary pages, nothing requested).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::ffi;

/// The size from which an allocation inside [`tables`] is mapped on its own (and the
/// granularity of such mappings): one 2 MiB hugepage.
pub const TABLE_PAGE: usize = 2 << 20;

/// How many table mappings may be live at once; past that, tables fall back to the
/// system allocator (a worker's connection table takes about ten).
const MAX_MAPPINGS: usize = 512;

/// Marks a registry entry as a hugetlb mapping (addresses are 2 MiB aligned).
const HUGETLB_BIT: usize = 1;

/// Whether table mappings try the reserved hugepage pool first.
static HUGETLB: AtomicBool = AtomicBool::new(false);

/// The live table mappings: address, tagged with [`HUGETLB_BIT`]; 0 when free.
static MAPPINGS: [AtomicUsize; MAX_MAPPINGS] = [const { AtomicUsize::new(0) }; MAX_MAPPINGS];

/// Bytes mapped now from the hugepage pool and with transparent hugepages requested.
static BYTES: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];

/// Table mappings whose `munmap` failed, and their bytes (still mapped, no longer a
/// table's). The allocator cannot log (that would allocate): the runtime reports them.
static UNMAP_FAILURES: AtomicUsize = AtomicUsize::new(0);
static LEAKED_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The environment variable that overrides the kind of table memory.
const OVERRIDE: &str = "RVS_TABLE_PAGES";

/// What this thread's large allocations become: outside [`tables`], [`Mode::Off`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The system allocator.
    Off,
    /// Transparent hugepages requested.
    Transparent,
    /// The hugepage pool, then transparent hugepages.
    Hugetlb,
}

thread_local! {
    /// This thread's [`Mode`].
    static MODE: Cell<Mode> = const { Cell::new(Mode::Off) };
}

/// The kinds of memory a table mapping is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hugetlb = 0,
    Transparent = 1,
}

/// Bytes of table memory mapped now, by kind of page (process-wide).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableMemory {
    /// From the reserved hugepage pool.
    pub hugetlb_bytes: usize,
    /// Ordinary pages with transparent hugepages requested (how many the kernel granted
    /// shows in `/proc/self/smaps`, `AnonHugePages`).
    pub transparent_bytes: usize,
    /// Freed tables whose unmapping the kernel refused (their memory stays mapped).
    pub unmap_failures: usize,
    /// The bytes of those tables.
    pub leaked_bytes: usize,
}

/// The table memory mapped now.
pub fn table_memory() -> TableMemory {
    TableMemory {
        hugetlb_bytes: BYTES[Kind::Hugetlb as usize].load(Ordering::Relaxed),
        transparent_bytes: BYTES[Kind::Transparent as usize].load(Ordering::Relaxed),
        unmap_failures: UNMAP_FAILURES.load(Ordering::Relaxed),
        leaked_bytes: LEAKED_BYTES.load(Ordering::Relaxed),
    }
}

/// Whether table mappings try the reserved hugepage pool first (set by
/// [`Eal::init`](crate::Eal::init) when it runs with hugepages; a benchmark without the
/// EAL may set it too).
pub fn prefer_hugetlb(yes: bool) {
    HUGETLB.store(yes, Ordering::Relaxed);
}

/// Runs `build` with this thread's large allocations made as table mappings: build the
/// tables here. Nested calls are allowed; the previous state returns even on a panic.
pub fn tables<R>(build: impl FnOnce() -> R) -> R {
    struct Restore(Mode);
    impl Drop for Restore {
        fn drop(&mut self) {
            MODE.with(|c| c.set(self.0));
        }
    }
    let default = if HUGETLB.load(Ordering::Relaxed) {
        Mode::Hugetlb
    } else {
        Mode::Transparent
    };
    let mode = match std::env::var(OVERRIDE).as_deref() {
        Ok("hugetlb") => Mode::Hugetlb,
        Ok("transparent") => Mode::Transparent,
        Ok("normal") => Mode::Off,
        _ => default,
    };
    let _restore = Restore(MODE.with(|c| c.replace(mode)));
    build()
}

fn mode() -> Mode {
    // `try_with`: the allocator may run while this thread's locals are torn down.
    MODE.try_with(Cell::get).unwrap_or(Mode::Off)
}

fn wants_mapping(layout: Layout) -> bool {
    layout.size() >= TABLE_PAGE && layout.align() <= TABLE_PAGE && mode() != Mode::Off
}

fn mapped_len(size: usize) -> usize {
    size.next_multiple_of(TABLE_PAGE)
}

/// Maps `size` bytes as a table and registers the mapping; null when no kind could be
/// mapped or the registry is full.
fn map(size: usize) -> *mut u8 {
    let len = mapped_len(size);
    let kinds: &[Kind] = if mode() == Mode::Hugetlb {
        &[Kind::Hugetlb, Kind::Transparent]
    } else {
        &[Kind::Transparent]
    };
    for &kind in kinds {
        // SAFETY: the shim maps fresh anonymous memory of `len` bytes (a multiple of
        // 2 MiB) or returns null; it touches no memory of ours.
        let p = unsafe { ffi::rvs_table_map(len, i32::from(kind == Kind::Hugetlb)) }.cast::<u8>();
        if p.is_null() {
            continue;
        }
        let tag = p as usize
            | if kind == Kind::Hugetlb {
                HUGETLB_BIT
            } else {
                0
            };
        if MAPPINGS.iter().any(|slot| {
            slot.compare_exchange(0, tag, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        }) {
            BYTES[kind as usize].fetch_add(len, Ordering::Relaxed);
            return p;
        }
        // SAFETY: `p` is the mapping just made, of `len` bytes, which nothing uses.
        let code = unsafe { ffi::rvs_table_unmap(p.cast(), len) };
        count_unmap(code, len);
        return std::ptr::null_mut();
    }
    std::ptr::null_mut()
}

/// Unmaps `ptr` if it is a registered table mapping of an allocation of `size` bytes;
/// whether it was one.
fn unmap(ptr: *mut u8, size: usize) -> bool {
    if size < TABLE_PAGE {
        return false;
    }
    let Some((slot, tag)) = registered(ptr) else {
        return false;
    };
    // The caller owns the block, so nothing else frees it or reuses its slot meanwhile.
    slot.store(0, Ordering::Release);
    let kind = if tag & HUGETLB_BIT != 0 {
        Kind::Hugetlb
    } else {
        Kind::Transparent
    };
    let len = mapped_len(size);
    BYTES[kind as usize].fetch_sub(len, Ordering::Relaxed);
    // SAFETY: the registry held `ptr` as a live mapping of `len` bytes made by `map` for
    // this allocation, and its owner is freeing it: nothing refers to it.
    let code = unsafe { ffi::rvs_table_unmap(ptr.cast(), len) };
    count_unmap(code, len);
    true
}

/// Count an unmapping of `len` bytes that returned `code` (0: done).
fn count_unmap(code: i32, len: usize) {
    if code != 0 {
        UNMAP_FAILURES.fetch_add(1, Ordering::Relaxed);
        LEAKED_BYTES.fetch_add(len, Ordering::Relaxed);
    }
}

/// The registry slot of the live table mapping at `ptr`, with its tag.
fn registered(ptr: *mut u8) -> Option<(&'static AtomicUsize, usize)> {
    MAPPINGS.iter().find_map(|slot| {
        let tag = slot.load(Ordering::Acquire);
        (tag & !HUGETLB_BIT == ptr as usize).then_some((slot, tag))
    })
}

/// A global allocator that maps large allocations made inside [`tables`] as table
/// memory (see the module documentation) and passes everything else to the system
/// allocator.
#[derive(Clone, Copy, Debug, Default)]
pub struct TableAlloc;

// SAFETY: every block comes either from `System` under the same layout, or from a fresh
// anonymous mapping of at least `layout.size()` bytes aligned to 2 MiB (so to any
// alignment up to `TABLE_PAGE`, the most `wants_mapping` accepts). Deallocation looks
// the pointer up in the registry of mappings first, so each block returns to where it
// came from; a block is registered exactly while it is live.
unsafe impl GlobalAlloc for TableAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if wants_mapping(layout) {
            let p = map(layout.size());
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: forwarded with the caller's guarantees (a non-zero size).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if wants_mapping(layout) {
            // Fresh anonymous mappings read as zeros.
            let p = map(layout.size());
            if !p.is_null() {
                return p;
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !unmap(ptr, layout.size()) {
            // SAFETY: not a table mapping, so `System` allocated it with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let mapped = layout.size() >= TABLE_PAGE && registered(ptr).is_some();
        // SAFETY: the caller guarantees `layout.align()` with `new_size` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped && !wants_mapping(new_layout) {
            // SAFETY: a block of `System`'s, forwarded with the caller's guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: as for `alloc`, with the new layout.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: `ptr` was allocated by this allocator with `layout`.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}
