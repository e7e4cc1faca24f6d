//! A responder under a hostile network: floods of IKE_SA_INIT from many addresses, and packets
//! made to turn the responder into an amplifier.

mod amplification;
mod flood;
mod memory;
