//! Tables built inside `rvs_dpdk::tables` land in 2 MiB pages, checked from the
//! kernel's side (`/proc/self/smaps`, `/proc/meminfo`), not from rvs's own accounting
//! alone. One test: the accounting is process-wide.
//!
//! The hugepage-pool part needs 16 free 2 MiB hugepages (`scripts/setup` reserves
//! them; by hand: `echo 256 > /proc/sys/vm/nr_hugepages`).

use rvs_dpdk::{prefer_hugetlb, table_memory, tables, TableAlloc, TableMemory, TABLE_PAGE};

#[global_allocator]
static ALLOC: TableAlloc = TableAlloc;

const MIB: usize = 1 << 20;

/// The `/proc/self/smaps` block of the mapping that starts at `addr`.
fn smaps_of(addr: usize) -> Option<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut block: Option<String> = None;
    for line in smaps.lines() {
        let starts_mapping = line
            .split_once('-')
            .is_some_and(|(a, _)| usize::from_str_radix(a, 16).is_ok() && !a.is_empty());
        if starts_mapping {
            if block.is_some() {
                break;
            }
            let start = usize::from_str_radix(line.split_once('-').unwrap().0, 16).unwrap();
            if start == addr {
                block = Some(String::new());
            }
        }
        if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    block
}

/// The `/proc/self/smaps` block of the mapping that holds `addr`.
fn smaps_holding(addr: usize) -> String {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let mut block: Option<String> = None;
    for line in smaps.lines() {
        let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
        let bounds = range.and_then(|(a, b)| {
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        });
        if let Some((start, end)) = bounds {
            if block.is_some() {
                break;
            }
            if (start..end).contains(&addr) {
                block = Some(String::new());
            }
        }
        if let Some(b) = block.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    block.unwrap_or_else(|| panic!("no mapping holds {addr:#x}"))
}

/// Whether the mapping holding `addr` was advised `MADV_HUGEPAGE` (`hg` in `VmFlags`).
fn advised(addr: usize) -> bool {
    field(&smaps_holding(addr), "VmFlags")
        .split_whitespace()
        .any(|f| f == "hg")
}

fn field(block: &str, name: &str) -> String {
    block
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{name} missing in\n{block}"))
        .trim()
        .to_owned()
}

fn meminfo(name: &str) -> usize {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    field(&text, name)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn tables_take_hugepages_and_everything_else_stays_put() {
    assert_eq!(table_memory(), TableMemory::default());

    // Outside `tables`: the system allocator, even for a large block.
    let plain = vec![1u8; 8 * MIB];
    assert_eq!(table_memory(), TableMemory::default());
    // The system allocator's block starts inside its mapping (after malloc's header):
    // look at the mapping that holds it. Its flags must not say advised (`hg`), which
    // they say of the table below (the same check, so it can fail).
    assert!(
        !advised(plain.as_ptr() as usize),
        "a block outside `tables` was advised for transparent hugepages"
    );

    // Inside, without the pool: ordinary pages advised for transparent hugepages,
    // aligned to 2 MiB. Small blocks are untouched.
    prefer_hugetlb(false);
    let (small, thp) = tables(|| (vec![2u8; 4096], vec![3u64; 3 * MIB]));
    assert_eq!(thp.as_ptr() as usize % TABLE_PAGE, 0);
    assert_eq!(
        table_memory(),
        TableMemory {
            hugetlb_bytes: 0,
            transparent_bytes: 24 * MIB,
            ..TableMemory::default()
        }
    );
    let block = smaps_of(thp.as_ptr() as usize).expect("the table is a mapping of its own");
    assert_eq!(field(&block, "Size"), "24576 kB");
    assert!(
        advised(thp.as_ptr() as usize + 4096),
        "not advised for transparent hugepages:\n{block}"
    );
    assert!(!advised(plain.as_ptr() as usize));
    assert!(thp.iter().all(|&v| v == 3) && small.iter().all(|&v| v == 2));

    // Growing a table moves it into a new mapping and keeps its contents; freeing it
    // unmaps it.
    let mut grown = thp;
    tables(|| grown.extend(std::iter::repeat_n(4u64, 3 * MIB)));
    assert_eq!(table_memory().transparent_bytes, 48 * MIB);
    assert!(grown[..3 * MIB].iter().all(|&v| v == 3) && grown[3 * MIB..].iter().all(|&v| v == 4));
    let at = grown.as_ptr() as usize;
    drop(grown);
    assert_eq!(table_memory(), TableMemory::default());
    assert!(smaps_of(at).is_none(), "still mapped after free");

    // With the pool: 32 MiB of reserved hugepages, touched, so the pool's free count
    // drops by 16 pages, and the mapping's pages are 2 MiB.
    let free = meminfo("HugePages_Free");
    assert!(
        free >= 16,
        "{free} free hugepages; this test needs 16 (echo 256 > /proc/sys/vm/nr_hugepages)"
    );
    prefer_hugetlb(true);
    let huge = tables(|| vec![5u8; 32 * MIB]);
    assert_eq!(
        table_memory(),
        TableMemory {
            hugetlb_bytes: 32 * MIB,
            transparent_bytes: 0,
            ..TableMemory::default()
        }
    );
    let block = smaps_of(huge.as_ptr() as usize).expect("hugetlb mapping");
    assert_eq!(field(&block, "KernelPageSize"), "2048 kB");
    assert_eq!(meminfo("HugePages_Free"), free - 16);
    assert!(huge.iter().all(|&v| v == 5));
    drop(huge);
    assert_eq!(meminfo("HugePages_Free"), free);

    // A table larger than the pool falls back to transparent hugepages.
    let too_big = (meminfo("HugePages_Free") + 1) * 2 * MIB;
    let fallback = tables(|| Vec::<u8>::with_capacity(too_big));
    assert_eq!(
        table_memory(),
        TableMemory {
            hugetlb_bytes: 0,
            transparent_bytes: too_big,
            ..TableMemory::default()
        }
    );
    drop(fallback);
    assert_eq!(table_memory(), TableMemory::default());
    drop(plain);
}
