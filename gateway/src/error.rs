//! The gateway's error type and its configuration warnings.

use core::fmt;
use serde::Serialize;

/// Why building the gateway or a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration cannot run: the IKE endpoint's reason names the object and field. Fix
    /// the configuration.
    #[error(transparent)]
    Config(#[from] ikev2::ConfigError),
    /// The IKE endpoint refused the command (unknown tunnel or gateway, no established IKE SA,
    /// a passive gateway asked to initiate).
    #[error(transparent)]
    Ike(#[from] ikev2::CommandError),
    /// A command named an interface the configuration does not have.
    #[error("unknown interface `{0}`")]
    UnknownInterface(String),
    /// An interface address of the wrong kind: tunnel interfaces take theirs from the
    /// configuration.
    #[error("interface `{0}`: {1}")]
    Interface(String, &'static str),
}

/// Something in the configuration that the gateway runs differently from what it says:
/// a NAT rule it does not translate, a rule needing App-ID, an unsupported route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The object, as `kind "name"` (`nat-rule "hide-lan"`).
    pub object: String,
    /// What happens instead.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(object: String, message: String) -> Warning {
        Warning { object, message }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}
