//! Network grants: which virtio-net device a cVM may use and under which MAC address, the
//! checks every frame it sends passes, and where a frame goes (the cVMs it is for, the wire).
//! Pure functions, host-tested: every decision the network hostcalls and the frame switch
//! depend on lives here.
//!
//! A manifest's `net { … }` node becomes a [`NetSpec`]; at boot [`resolve`] checks every spec
//! against the machine's devices and the others (no two interfaces on one device share a MAC),
//! giving [`NetGrant`]s. Several cVMs may share a device: the monitor is then a small switch —
//! a cVM receives the frames addressed to its MAC and broadcasts, may send only frames whose
//! source is its MAC, and frames between cVMs on one device never leave the machine.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use capmon_abi::{Error, NET_MAX_FRAME, NET_MIN_FRAME};

/// A MAC address, shown as `52:54:00:12:34:56`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// The broadcast address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An address one interface may own: not a group address (multicast or broadcast, the low bit
/// of the first byte) and not all zero.
pub fn is_unicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// What a manifest's `net` node asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetSpec {
    /// Index among the machine's virtio-net devices, in device-tree order.
    pub device: u32,
    /// The cVM's MAC address; `None`: the device's own.
    pub mac: Option<[u8; 6]>,
}

/// A grant checked against its device and the other grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetGrant {
    pub device: u32,
    pub mac: [u8; 6],
}

/// Checks every cVM's network spec (`specs[i]` is cVM `i`'s name and spec) against the devices
/// (`device_mac(d)`: the MAC of usable virtio-net device `d`, `None` when there is none) and
/// against each other. Returns one grant per cVM, or every problem, each naming its cVM.
pub fn resolve(
    specs: &[(&str, Option<NetSpec>)],
    device_mac: impl Fn(u32) -> Option<[u8; 6]>,
) -> Result<Vec<Option<NetGrant>>, Vec<String>> {
    let mut grants: Vec<Option<NetGrant>> = Vec::new();
    let mut errors = Vec::new();
    for (i, (name, spec)) in specs.iter().enumerate() {
        let Some(spec) = spec else {
            grants.push(None);
            continue;
        };
        let Some(own) = device_mac(spec.device) else {
            errors.push(format!(
                "cvm {name}: net grant: there is no usable virtio-net device {} on this machine",
                spec.device
            ));
            grants.push(None);
            continue;
        };
        let mac = spec.mac.unwrap_or(own);
        if spec.mac.is_none() && !is_unicast(&mac) {
            // A device reporting a group or all-zero address as its own: no frame could ever be
            // addressed to the cVM. The manifest's `mac` is checked when it is parsed.
            errors.push(format!(
                "cvm {name}: net grant: net{}'s own MAC {} is not a unicast address; give the interface a `mac`",
                spec.device,
                Mac(mac)
            ));
        }
        if let Some(j) = grants[..i]
            .iter()
            .position(|g| matches!(g, Some(g) if g.device == spec.device && g.mac == mac))
        {
            errors.push(format!(
                "cvm {name}: net grant: MAC {} on net{} is already cvm {}'s; give each interface its own `mac`",
                Mac(mac),
                spec.device,
                specs[j].0
            ));
        }
        grants.push(Some(NetGrant {
            device: spec.device,
            mac,
        }));
    }
    if errors.is_empty() {
        Ok(grants)
    } else {
        Err(errors)
    }
}

/// Checks a frame a cVM wants to send: [`Error::Denied`] without a grant or when the source
/// address is not the grant's MAC, [`Error::Invalid`] for a length the wire can't carry.
pub fn check_send(grant: Option<&NetGrant>, frame: &[u8]) -> Result<(), Error> {
    let grant = grant.ok_or(Error::Denied)?;
    let len = u64::try_from(frame.len()).map_err(|_| Error::Invalid)?;
    if !(NET_MIN_FRAME..=NET_MAX_FRAME).contains(&len) {
        return Err(Error::Invalid);
    }
    if frame[6..12] != grant.mac {
        return Err(Error::Denied);
    }
    Ok(())
}

/// The destination address of a frame, or `None` for a runt without a whole header.
pub fn destination(frame: &[u8]) -> Option<[u8; 6]> {
    frame.get(0..6)?.try_into().ok()
}

/// Whether a frame that arrived on the wire claims a local interface as its source: it came back
/// (a backend that loops frames back) or someone poses as a cVM. Either way it is dropped: a
/// cVM's frames reached their local addressees when it sent them.
pub fn from_local_source(frame: &[u8], interfaces: &[[u8; 6]]) -> bool {
    frame
        .get(6..12)
        .is_some_and(|src| interfaces.iter().any(|m| m[..] == *src))
}

/// Where one frame goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The cVMs (indices into the interface table given to [`route`]) that receive a copy.
    pub local: Vec<usize>,
    /// Whether it also goes out on the device.
    pub wire: bool,
}

/// Decides where a frame addressed to `dest` goes. `interfaces` are the MACs on one device
/// (index = interface); `from` is the sending interface, or `None` for a frame that arrived on
/// the wire. A cVM never gets its own frames back; frames for a local MAC stay local; frames
/// from the wire reach only the interface they are addressed to, or all for a broadcast.
/// Other group addresses (multicast) are not delivered to cVMs (the ABI promises only their
/// own address and broadcast) but a cVM may send them.
pub fn route(dest: &[u8; 6], from: Option<usize>, interfaces: &[[u8; 6]]) -> Route {
    if *dest == BROADCAST {
        let local = (0..interfaces.len()).filter(|&i| Some(i) != from).collect();
        return Route {
            local,
            wire: from.is_some(),
        };
    }
    if !is_unicast(dest) {
        return Route {
            local: Vec::new(),
            wire: from.is_some(),
        };
    }
    match interfaces.iter().position(|m| m == dest) {
        Some(i) if Some(i) == from => Route {
            local: Vec::new(),
            wire: false,
        },
        Some(i) => Route {
            local: alloc::vec![i],
            wire: false,
        },
        None => Route {
            local: Vec::new(),
            wire: from.is_some(),
        },
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    const A: [u8; 6] = [0x52, 0x54, 0, 0xc0, 0xff, 0x15];
    const B: [u8; 6] = [0x52, 0x54, 0, 0xc0, 0xff, 0x16];
    const DEV: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn frame(dest: [u8; 6], src: [u8; 6], len: usize) -> std::vec::Vec<u8> {
        let mut f = vec![0u8; len];
        f[..6].copy_from_slice(&dest);
        f[6..12].copy_from_slice(&src);
        f
    }

    fn devices(d: u32) -> Option<[u8; 6]> {
        (d == 0).then_some(DEV)
    }

    #[test]
    fn unicast_addresses() {
        assert!(is_unicast(&A));
        assert!(!is_unicast(&BROADCAST));
        assert!(!is_unicast(&[0x01, 0, 0x5e, 0, 0, 1]), "IPv4 multicast");
        assert!(!is_unicast(&[0; 6]));
        assert_eq!(Mac(A).to_string(), "52:54:00:c0:ff:15");
    }

    #[test]
    fn grants_resolve_against_devices_and_each_other() {
        let specs = [
            (
                "echo",
                Some(NetSpec {
                    device: 0,
                    mac: Some(A),
                }),
            ),
            ("quiet", None),
            (
                "default",
                Some(NetSpec {
                    device: 0,
                    mac: None,
                }),
            ),
        ];
        let grants = resolve(&specs, devices).unwrap();
        assert_eq!(
            grants,
            [
                Some(NetGrant { device: 0, mac: A }),
                None,
                Some(NetGrant {
                    device: 0,
                    mac: DEV
                })
            ]
        );

        let specs = [
            (
                "one",
                Some(NetSpec {
                    device: 0,
                    mac: Some(A),
                }),
            ),
            (
                "two",
                Some(NetSpec {
                    device: 0,
                    mac: Some(A),
                }),
            ),
            (
                "three",
                Some(NetSpec {
                    device: 1,
                    mac: Some(B),
                }),
            ),
        ];
        let errors = resolve(&specs, devices).unwrap_err();
        assert_eq!(errors, [
            "cvm two: net grant: MAC 52:54:00:c0:ff:15 on net0 is already cvm one's; give each interface its own `mac`",
            "cvm three: net grant: there is no usable virtio-net device 1 on this machine",
        ]);
        // Two defaults on one device collide too.
        let specs = [
            (
                "a",
                Some(NetSpec {
                    device: 0,
                    mac: None,
                }),
            ),
            (
                "b",
                Some(NetSpec {
                    device: 0,
                    mac: None,
                }),
            ),
        ];
        assert_eq!(resolve(&specs, devices).unwrap_err().len(), 1);
        // A device whose own MAC is a group address cannot be an interface's default.
        let group = |_: u32| Some([0x01, 0x00, 0x5e, 0, 0, 1]);
        let specs = [
            (
                "g",
                Some(NetSpec {
                    device: 0,
                    mac: None,
                }),
            ),
            (
                "h",
                Some(NetSpec {
                    device: 0,
                    mac: Some(A),
                }),
            ),
        ];
        assert_eq!(
            resolve(&specs, group).unwrap_err(),
            ["cvm g: net grant: net0's own MAC 01:00:5e:00:00:01 is not a unicast address; give the interface a `mac`"]
        );
    }

    #[test]
    fn sends_need_a_grant_a_sane_length_and_the_own_source() {
        let g = NetGrant { device: 0, mac: A };
        assert_eq!(check_send(Some(&g), &frame(B, A, 60)), Ok(()));
        assert_eq!(check_send(Some(&g), &frame(B, A, 14)), Ok(()));
        assert_eq!(check_send(Some(&g), &frame(B, A, 1514)), Ok(()));
        assert_eq!(
            check_send(Some(&g), &frame(B, A, 1515)),
            Err(Error::Invalid)
        );
        assert_eq!(check_send(Some(&g), &[0; 13]), Err(Error::Invalid));
        assert_eq!(check_send(Some(&g), &[]), Err(Error::Invalid));
        assert_eq!(
            check_send(Some(&g), &frame(B, B, 60)),
            Err(Error::Denied),
            "spoofed source"
        );
        assert_eq!(check_send(Some(&g), &frame(A, DEV, 60)), Err(Error::Denied));
        assert_eq!(check_send(None, &frame(B, A, 60)), Err(Error::Denied));
    }

    #[test]
    fn routes_keep_local_traffic_local_and_never_echo() {
        let macs = [A, B];
        assert_eq!(
            route(&B, Some(0), &macs),
            Route {
                local: vec![1],
                wire: false
            }
        );
        assert_eq!(
            route(&A, Some(0), &macs),
            Route {
                local: vec![],
                wire: false
            },
            "to itself"
        );
        assert_eq!(
            route(&DEV, Some(0), &macs),
            Route {
                local: vec![],
                wire: true
            },
            "to the world"
        );
        assert_eq!(
            route(&BROADCAST, Some(1), &macs),
            Route {
                local: vec![0],
                wire: true
            }
        );
        assert_eq!(
            route(&[0x01, 0, 0x5e, 0, 0, 1], Some(1), &macs),
            Route {
                local: vec![],
                wire: true
            }
        );
    }

    #[test]
    fn wire_frames_posing_as_a_local_interface_are_recognised() {
        let macs = [A, B];
        assert!(
            from_local_source(&frame(BROADCAST, A, 60), &macs),
            "A's broadcast, looped back"
        );
        assert!(
            from_local_source(&frame(A, B, 60), &macs),
            "someone posing as B"
        );
        assert!(!from_local_source(&frame(A, DEV, 60), &macs));
        assert!(!from_local_source(&[0; 11], &macs), "a runt has no source");
    }

    #[test]
    fn routes_from_the_wire_reach_only_the_addressee() {
        let macs = [A, B];
        assert_eq!(
            route(&A, None, &macs),
            Route {
                local: vec![0],
                wire: false
            }
        );
        assert_eq!(
            route(&DEV, None, &macs),
            Route {
                local: vec![],
                wire: false
            },
            "for no one here"
        );
        assert_eq!(
            route(&BROADCAST, None, &macs),
            Route {
                local: vec![0, 1],
                wire: false
            }
        );
        assert_eq!(
            route(&[0x33, 0x33, 0, 0, 0, 1], None, &macs),
            Route {
                local: vec![],
                wire: false
            },
            "IPv6 multicast"
        );
    }
}
