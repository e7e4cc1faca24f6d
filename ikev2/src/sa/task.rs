//! Work an IKE SA has queued or in flight once it is established: one exchange each, started by
//! the request queue when its window is free (strongSwan's `task_manager_v2` queues its tasks the
//! same way). A task carries what its response will need once its request is sent.

use super::child::ChildRequest;
use ipsec_core::crypto::ActiveKeyExchange;

/// One exchange of ours.
pub(crate) enum Task {
    /// CREATE_CHILD_SA for a new or a rekeyed Child SA (RFC 7296 sections 1.3.1, 1.3.3).
    CreateChild(ChildTask),
    /// CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 section 1.3.2); `None` while queued.
    RekeyIke(Option<IkeRekeyOffer>),
    /// INFORMATIONAL deleting the Child SA with this inbound SPI.
    DeleteChild(u32),
    /// INFORMATIONAL deleting the IKE SA.
    DeleteIke,
    /// An empty INFORMATIONAL: is the peer alive? (RFC 7296 section 2.4)
    Liveness,
    /// INFORMATIONAL telling the peer its ESP packets with this SPI hit no SA of ours (RFC 7296
    /// section 2.21.4).
    InvalidSpi(u32),
}

/// A Child SA to create or rekey.
pub(crate) struct ChildTask {
    pub(crate) request: ChildRequest,
    /// Our nonce and PFS key exchange, once the request is sent.
    pub(crate) offer: Option<KeyOffer>,
}

/// The nonce and optional key exchange of a CREATE_CHILD_SA request of ours.
pub(crate) struct KeyOffer {
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Option<Box<dyn ActiveKeyExchange>>,
}

/// What an IKE SA rekey request of ours offered: the new SA's SPI, our nonce and key exchange.
pub(crate) struct IkeRekeyOffer {
    pub(crate) spi: u64,
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Box<dyn ActiveKeyExchange>,
}

impl Task {
    /// A Child SA to create or rekey, not yet sent.
    pub(crate) fn create_child(request: ChildRequest) -> Self {
        Task::CreateChild(ChildTask {
            request,
            offer: None,
        })
    }

    /// The Child SA it proposes, if it is a CREATE_CHILD_SA for one.
    pub(crate) fn child_request(&self) -> Option<&ChildRequest> {
        match self {
            Task::CreateChild(t) => Some(&t.request),
            _ => None,
        }
    }

    /// True for work on Child SAs, which moves to the successor when the IKE SA is rekeyed.
    pub(crate) fn is_child_work(&self) -> bool {
        matches!(
            self,
            Task::CreateChild(_) | Task::DeleteChild(_) | Task::InvalidSpi(_)
        )
    }

    /// The task as it was before its request was sent, to send it again on another IKE SA.
    pub(crate) fn restarted(self) -> Self {
        match self {
            Task::CreateChild(t) => Task::create_child(t.request),
            Task::RekeyIke(_) => Task::RekeyIke(None),
            t => t,
        }
    }

    /// A short name for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Task::CreateChild(t) if t.request.rekey.is_some() => "rekey-child",
            Task::CreateChild(_) => "create-child",
            Task::RekeyIke(_) => "rekey-ike",
            Task::DeleteChild(_) => "delete-child",
            Task::DeleteIke => "delete-ike",
            Task::Liveness => "liveness",
            Task::InvalidSpi(_) => "invalid-spi",
        }
    }

    /// True when it is the same work as `other` (queuing it twice is pointless).
    pub(crate) fn same_as(&self, other: &Task) -> bool {
        match (self, other) {
            (Task::CreateChild(a), Task::CreateChild(b)) => a.request == b.request,
            (Task::RekeyIke(_), Task::RekeyIke(_)) => true,
            (Task::DeleteChild(a), Task::DeleteChild(b)) => a == b,
            (Task::DeleteIke, Task::DeleteIke) => true,
            (Task::Liveness, Task::Liveness) => true,
            (Task::InvalidSpi(a), Task::InvalidSpi(b)) => a == b,
            _ => false,
        }
    }
}
