//! The two UDP sockets of an IKE peer (500 and 4500), read by one thread each.
//!
//! Each reader thread forwards datagrams to a channel, so the run loop waits for "a datagram or
//! the next timer" with a single `recv_timeout`, without a poll/epoll dependency.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// One received datagram.
pub(crate) struct Datagram {
    /// The socket address it arrived on.
    pub(crate) local: SocketAddr,
    /// Its source.
    pub(crate) remote: SocketAddr,
    /// The UDP payload.
    pub(crate) bytes: Vec<u8>,
}

/// The IKE socket, the NAT-T socket and the channel their readers feed.
pub(crate) struct Sockets {
    ike: UdpSocket,
    natt: UdpSocket,
    /// Received datagrams, from both sockets, in arrival order.
    pub(crate) rx: mpsc::Receiver<Datagram>,
}

impl Sockets {
    /// Binds `addr:ike_port` and `addr:natt_port` (port 0: any free port) and starts the readers.
    pub(crate) fn bind(addr: IpAddr, ike_port: u16, natt_port: u16) -> io::Result<Sockets> {
        let ike = UdpSocket::bind(SocketAddr::new(addr, ike_port))?;
        let natt = UdpSocket::bind(SocketAddr::new(addr, natt_port))?;
        let (tx, rx) = mpsc::channel();
        for sock in [&ike, &natt] {
            let sock = sock.try_clone()?;
            let local = sock.local_addr()?;
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                // The thread ends with the process, or when the run loop has dropped the channel.
                while let Ok((len, remote)) = sock.recv_from(&mut buf) {
                    let bytes = buf.get(..len).unwrap_or_default().to_vec();
                    if tx
                        .send(Datagram {
                            local,
                            remote,
                            bytes,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        Ok(Sockets { ike, natt, rx })
    }

    /// The local addresses of the IKE and NAT-T sockets.
    pub(crate) fn local_addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.ike.local_addr()?, self.natt.local_addr()?))
    }

    /// Sends `payload` to `remote` from the socket whose port is `local`'s (the NAT-T socket
    /// when the ports match, the IKE socket otherwise). The payload is sent as given: the
    /// endpoint already put the non-ESP marker in front of IKE messages for port 4500.
    pub(crate) fn send(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let sock = if local.port() == self.natt.local_addr()?.port() {
            &self.natt
        } else {
            &self.ike
        };
        sock.send_to(payload, remote).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sends_leave_from_the_socket_of_the_source_port_and_receives_name_their_socket() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let ours = Sockets::bind(lo, 0, 0).unwrap();
        let (ike, natt) = ours.local_addrs().unwrap();
        assert_ne!(ike.port(), natt.port());
        let peer = UdpSocket::bind((lo, 0)).unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let dest = peer.local_addr().unwrap();
        let mut buf = [0u8; 64];

        ours.send(natt, dest, b"\0\0\0\0ike").unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"\0\0\0\0ike"[..], natt));
        ours.send(ike, dest, b"init").unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"init"[..], ike));

        peer.send_to(b"to-natt", natt).unwrap();
        let d = ours.rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            (d.local, d.remote, d.bytes),
            (natt, dest, b"to-natt".to_vec())
        );
        peer.send_to(b"to-ike", ike).unwrap();
        let d = ours.rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!((d.local, d.bytes), (ike, b"to-ike".to_vec()));
    }
}
