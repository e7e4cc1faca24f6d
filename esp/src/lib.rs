//! ESP (RFC 4303) and its UDP encapsulation (RFC 3948) as a Sans-IO datapath.
//!
//! SAs are built from an [`ipsec_core::child_sa::ChildSa`] description; packets are transformed in
//! place in caller-owned buffers.
