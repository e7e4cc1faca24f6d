//! Placeholder until the datapath benchmark is written.
fn main() {}
