//! Shared helpers of the example programs.

pub mod check;
pub mod cli;
pub mod decode;
pub mod pcap;
