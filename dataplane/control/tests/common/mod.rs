//! What the control core's integration tests share.

#![allow(dead_code)] // each test binary uses its own subset

pub mod multi;
