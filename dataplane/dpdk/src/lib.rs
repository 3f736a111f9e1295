//! rvs-dpdk: the DPDK layer of rvs, and the only crate in rvs that contains `unsafe`.
//!
//! Bindings generated from the system DPDK (22.11) plus a C shim for its inline
//! functions, under a safe API:
//!
//! - [`Eal`]: init once per process (the calling thread becomes the main lcore),
//!   worker launch and wait, cleanup when the last handle goes.
//! - [`Mempool`] and [`Mbuf`]: packet buffers; an `Mbuf` is owned and freed on drop.
//! - [`Port`], [`RxQueue`], [`TxQueue`]: configure a device, poll its queues in bursts.
//! - [`ring::spsc`]: single-producer single-consumer mbuf rings for steering.
//! - [`TableAlloc`] and [`tables`]: large tables in hugepages (a global allocator).
//!
//! Lifetimes are enforced by shared ownership: pools, ports and rings keep the EAL
//! alive; ports keep their receive pool alive; a pool dropped while mbufs are still
//! out is kept (with the EAL) for the rest of the process rather than freed under them.

mod eal;
mod error;
mod ffi;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod queue;
pub mod ring;
mod table_memory;

pub use eal::{rdtsc, Eal};
pub use error::{Error, Result};
pub use lcore::current as current_lcore;
pub use mbuf::{BadTxOffload, L4Cksum, Mbuf, NoRoom, TxOffload, MAX_BURST};
pub use mempool::{Mempool, DEFAULT_DATA_ROOM, HEADROOM, POOL_OPS};
pub use port::{
    ChecksumOffloads, Link, Port, PortConfig, PortInfo, PortStats, ETHER_MTU, MAX_QUEUES,
};
pub use queue::{RxQueue, TxQueue};
pub use rvs_dpdk_burst::prefetch;
pub use table_memory::{prefer_hugetlb, table_memory, tables, TableAlloc, TableMemory, TABLE_PAGE};
