//! The state of an IKE SA: its [`Phase`] with what each phase holds, its Child SAs, its link to
//! the peer and the work it has queued.
//!
//! Only data lives here. The exchanges in [`crate::exchange`] turn one phase into the next, and
//! the endpoint drives them; neither is imported from here.

mod child;
mod link;
mod phase;
mod task;

pub(crate) use child::{build, Agreed, Carriage, Child, ChildRequest, Keymat};
pub(crate) use link::Link;
pub(crate) use phase::{AuthSent, Cause, Established, Handshake, InitSent, Phase, SaKeys};
pub(crate) use task::{ChildTask, IkeRekeyOffer, KeyOffer, Task};
