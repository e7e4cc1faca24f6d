//! Shared helpers of the example programs.

pub mod cli;
pub mod decode;
pub mod pcap;
