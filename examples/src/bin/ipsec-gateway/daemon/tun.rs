//! One TUN device per tunnel interface, with the interface's addresses and MTU.
//!
//! The devices are not persistent: closing the last file descriptor deletes a device, and with
//! it the kernel's routes through it, so even a crashed daemon leaves none behind.

use gateway::{Gateway, InterfaceId};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::rc::Rc;
use tun_rs::{AsyncDevice, DeviceBuilder};

/// Linux interface names are at most 15 bytes (IFNAMSIZ less the terminator).
const IFNAMSIZ: usize = 15;

/// A tunnel interface's TUN device.
pub(crate) struct Tun {
    /// The configured name (`tunnel.1`).
    pub(crate) name: String,
    /// The Linux name.
    pub(crate) ifname: String,
    /// The Linux interface index.
    pub(crate) index: u32,
    /// The gateway's id of the interface.
    pub(crate) id: InterfaceId,
    addresses: Vec<IpAddr>,
    dev: Rc<AsyncDevice>,
}

impl Tun {
    /// Whether `ip` is one of the device's addresses.
    pub(crate) fn owns(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip)
    }

    /// The device, for its reader task.
    pub(crate) fn device(&self) -> Rc<AsyncDevice> {
        self.dev.clone()
    }

    /// Hands `packet` to the kernel; a full queue drops it, as a congested link would.
    pub(crate) fn write(&self, packet: &[u8]) {
        if let Err(e) = self.dev.try_send(packet) {
            tracing::debug!("{}: write: {e}", self.ifname);
        }
    }
}

/// The Linux name of tunnel interface `name`: the name itself when Linux accepts it
/// (`tunnel.1`), otherwise `ipsec` and its position.
fn linux_name(name: &str, position: usize) -> String {
    let ok = !name.is_empty()
        && name.len() <= IFNAMSIZ
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        name.to_owned()
    } else {
        format!("ipsec{position}")
    }
}

/// Creates the TUN device of every tunnel interface the gateway knows.
pub(crate) fn create_all(gw: &Gateway) -> Result<Vec<Tun>, String> {
    let mut out = Vec::new();
    for (i, t) in gw.config().tunnel_interfaces.iter().enumerate() {
        let Some(id) = gw.interface(&t.name) else {
            continue;
        };
        let ifname = linux_name(&t.name, i);
        let mtu = u16::try_from(t.mtu).unwrap_or(u16::MAX);
        let mut b = DeviceBuilder::new().name(&ifname).mtu(mtu).enable(true);
        let mut addresses = Vec::new();
        if let Some(a) = t.ip {
            if let IpAddr::V4(v4) = a.addr {
                b = b.ipv4(v4, a.prefix_len, None);
                addresses.push(a.addr);
            }
        }
        if let Some(a) = t.ipv6 {
            if let IpAddr::V6(v6) = a.addr {
                b = b.ipv6(v6, a.prefix_len);
                addresses.push(a.addr);
            }
        }
        let dev = b.build_async().map_err(|e| explain(&ifname, &e))?;
        let index = dev
            .if_index()
            .map_err(|e| format!("TUN device {ifname}: {e}"))?;
        tracing::info!("interface {} is TUN device {ifname}, MTU {mtu}", t.name);
        out.push(Tun {
            name: t.name.clone(),
            ifname,
            index,
            id,
            addresses,
            dev: Rc::new(dev),
        });
    }
    Ok(out)
}

/// One sentence for why a TUN device could not be created.
fn explain(ifname: &str, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => format!(
            "cannot create TUN device {ifname}: permission denied (ipsec-gateway run needs root \
             or CAP_NET_ADMIN)"
        ),
        ErrorKind::NotFound => format!(
            "cannot create TUN device {ifname}: /dev/net/tun is missing (load the tun module, \
             or give the container the device)"
        ),
        _ if e.raw_os_error() == Some(16) => {
            format!("cannot create TUN device {ifname}: the name is in use by another interface")
        }
        _ => format!("cannot create TUN device {ifname}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_names_keep_pan_os_names_that_fit() {
        assert_eq!(linux_name("tunnel.1", 0), "tunnel.1");
        assert_eq!(linux_name("tunnel.123456789", 3), "ipsec3");
        assert_eq!(linux_name("a/b", 1), "ipsec1");
        assert_eq!(linux_name("", 2), "ipsec2");
    }
}
