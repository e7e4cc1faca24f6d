//! The exchanges of an IKE SA, one module each: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (Child SAs
//! and IKE rekeys), INFORMATIONAL.
//!
//! An exchange builds our requests and responses and processes the peer's messages. The
//! handshake exchanges consume a [`Phase`](crate::sa::Phase)'s data and return the next phase's;
//! the later ones work on an [`Established`](crate::sa::Established) SA and answer with
//! [`Effects`] (work to queue, an end, a successor). None of them sends, numbers or retransmits a
//! message: the endpoint's driver of each IKE SA owns the request queue and does that.

pub(crate) mod child;
pub(crate) mod create_child_sa;
pub(crate) mod ike_auth;
pub(crate) mod ike_rekey;
pub(crate) mod ike_sa_init;
pub(crate) mod informational;
pub(crate) mod keying;
mod outcome;
mod signature;

pub(crate) use child::{child_request, proposed_children};
pub(crate) use outcome::{Effects, Successor};
