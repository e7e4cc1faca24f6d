//! Shared helpers of the example programs.

pub mod decode;
pub mod pcap;
