//! The crate's error type and the drop reasons counted per SA and per table.
//!
//! Every variant says whose fault it is: a malformed or forged packet from the network (drop it and
//! count it), an SA that has reached a limit (rekey), or a caller mistake (fix the call).

use ipsec_core::crypto::CryptoError;

/// Why the datapath refused a packet or a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspError {
    /// The packet is shorter than an ESP header, IV and ICV, or its ciphertext is not a whole
    /// number of cipher blocks. Network input: drop and count.
    #[error("malformed ESP packet: {0}")]
    Malformed(&'static str),
    /// No inbound SA has this SPI. Network input (or an SA that was deleted): drop and count.
    #[error("no SA for SPI {0:#010x}")]
    UnknownSpi(u32),
    /// The sequence number was already received or is left of the anti-replay window
    /// (RFC 4303 section 3.4.3). Drop and count; nothing about the SA changed.
    #[error("replayed or too old sequence number {0}")]
    Replay(u64),
    /// The ICV did not verify (RFC 4303 section 3.4.4): a forged, corrupted or misrouted packet.
    /// Drop and count; nothing about the SA changed.
    #[error("ICV verification failed")]
    IcvFailure,
    /// The decrypted padding is inconsistent (pad length too long, or bytes other than the
    /// monotonic 1, 2, 3... of RFC 4303 section 2.4). Drop and count.
    #[error("bad ESP padding")]
    BadPadding,
    /// The SA reached a hard byte, packet or time limit; it must be replaced (rekey). Drop.
    #[error("SA lifetime expired")]
    LifetimeExpired,
    /// The outbound sequence number space is used up (RFC 4303 section 3.3.3: it never wraps).
    /// The SA must be rekeyed before more packets can be sent.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// The caller's buffer has too little headroom before, or tailroom after, the packet.
    #[error("buffer needs {headroom} bytes of headroom and {tailroom} bytes of tailroom")]
    BufferTooSmall {
        /// Bytes needed before the packet.
        headroom: usize,
        /// Bytes needed after the packet.
        tailroom: usize,
    },
    /// The inner packet handed to tunnel-mode encapsulation is not an IPv4 or IPv6 packet, or a
    /// decrypted tunnel-mode packet does not parse as one.
    #[error("inner packet is not a valid IP packet: {0}")]
    BadInnerPacket(&'static str),
    /// RFC 6040 section 4.2: outer CE on an inner Not-ECT packet; the packet must be dropped.
    #[error("ECN: congestion experienced on a non-ECN-capable packet")]
    EcnDrop,
    /// A decrypted tunnel-mode packet's addresses, protocol or ports are outside the SA's traffic
    /// selectors (RFC 4301 section 5.2): the peer sent traffic it did not negotiate. Drop.
    #[error("inner packet outside the SA's traffic selectors")]
    PolicyMismatch,
    /// No outbound SA matches the packet's tunnel and traffic selectors.
    #[error("no outbound SA matches the packet")]
    NoOutboundSa,
    /// The Child SA description cannot be installed (an algorithm the provider lacks, a key of
    /// the wrong length, AH, a replay window out of range). A caller or negotiation bug.
    #[error("cannot install SA: {0}")]
    Config(String),
    /// A command that would break a guarantee of the SA was refused, and nothing changed: moving
    /// the sequence number backwards or changing the IV mask after packets were sent (either
    /// could repeat a nonce under the same key). A caller bug.
    #[error("refused: {0}")]
    Misuse(&'static str),
    /// The SA table has no free slot for another inbound SA.
    #[error("SA table is full")]
    TableFull,
    /// A crypto provider failure other than an integrity failure (a random source error).
    #[error("crypto provider: {0}")]
    Crypto(CryptoError),
}

impl EspError {
    /// The drop counter this error is counted under, if it is a dropped received packet.
    pub fn drop_reason(&self) -> Option<DropReason> {
        Some(match self {
            EspError::Malformed(_) | EspError::BadInnerPacket(_) => DropReason::Malformed,
            EspError::UnknownSpi(_) => DropReason::UnknownSpi,
            EspError::Replay(_) => DropReason::Replay,
            EspError::IcvFailure => DropReason::IcvFailure,
            EspError::BadPadding => DropReason::BadPadding,
            EspError::LifetimeExpired => DropReason::LifetimeExpired,
            EspError::EcnDrop => DropReason::Ecn,
            EspError::PolicyMismatch => DropReason::Policy,
            _ => return None,
        })
    }
}

impl From<ipsec_core::demux::DemuxError> for EspError {
    fn from(e: ipsec_core::demux::DemuxError) -> Self {
        use ipsec_core::demux::DemuxError;
        EspError::Malformed(match e {
            DemuxError::TooShort(_) => "UDP 4500 payload too short",
            DemuxError::EmptyIke => "empty IKE message after non-ESP marker",
        })
    }
}

/// Why a received packet was dropped: the keys of the drop counters, like the `flow_ipsec_*`
/// lines of PAN-OS's `show counter global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short, not block aligned, or a bad inner packet.
    Malformed,
    /// No SA for the SPI.
    UnknownSpi,
    /// Replayed or left of the window.
    Replay,
    /// ICV verification failed.
    IcvFailure,
    /// Inconsistent padding after decryption.
    BadPadding,
    /// The SA's hard lifetime was reached.
    LifetimeExpired,
    /// ECN decapsulation required a drop (RFC 6040).
    Ecn,
    /// The decrypted inner packet is outside the SA's traffic selectors (RFC 4301 section 5.2).
    Policy,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 8] = [
        DropReason::Malformed,
        DropReason::UnknownSpi,
        DropReason::Replay,
        DropReason::IcvFailure,
        DropReason::BadPadding,
        DropReason::LifetimeExpired,
        DropReason::Ecn,
        DropReason::Policy,
    ];

    /// The counter's index in [`DropCounters`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The counter name, in the style of PAN-OS global counters.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "esp_drop_malformed",
            DropReason::UnknownSpi => "esp_drop_unknown_spi",
            DropReason::Replay => "esp_drop_replay",
            DropReason::IcvFailure => "esp_drop_icv_failure",
            DropReason::BadPadding => "esp_drop_bad_padding",
            DropReason::LifetimeExpired => "esp_drop_lifetime_expired",
            DropReason::Ecn => "esp_drop_ecn",
            DropReason::Policy => "esp_drop_policy_mismatch",
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// One counter per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl DropCounters {
    /// Adds one to `reason`'s counter.
    pub fn count(&mut self, reason: DropReason) {
        if let Some(c) = self.0.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// Adds `n` to `reason`'s counter.
    pub fn add(&mut self, reason: DropReason, n: u64) {
        if let Some(c) = self.0.get_mut(reason.index()) {
            *c = c.saturating_add(n);
        }
    }

    /// The value of `reason`'s counter.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// The sum of all drop counters.
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// `(name, value)` for every counter, for display.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(move |r| (*r, self.get(*r)))
    }
}

/// One `name value` line per non-zero counter, as `show counter global` lists them.
impl core::fmt::Display for DropCounters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (reason, n) in self.iter().filter(|(_, n)| *n != 0) {
            writeln!(f, "{:<32}{n}", reason.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_count_sum_and_print() {
        let mut c = DropCounters::default();
        c.count(DropReason::Replay);
        c.count(DropReason::Replay);
        c.add(DropReason::UnknownSpi, 5);
        assert_eq!(c.get(DropReason::Replay), 2);
        assert_eq!(c.total(), 7);
        assert_eq!(
            c.to_string(),
            "esp_drop_unknown_spi            5\nesp_drop_replay                 2\n"
        );
        assert_eq!(
            EspError::IcvFailure.drop_reason(),
            Some(DropReason::IcvFailure)
        );
        assert_eq!(EspError::SequenceExhausted.drop_reason(), None);
    }
}
