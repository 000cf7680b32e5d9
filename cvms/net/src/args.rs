//! The network cVMs' arguments: `key=value` words from the manifest's `args`, e.g.
//! `args = "ip=10.0.2.16/24", "peer=10.0.2.15", "count=20";`.
//!
//! | key | value | used by |
//! |---|---|---|
//! | `ip` | own address and prefix length, `10.0.2.15/24` | both |
//! | `gw` | default gateway, `10.0.2.2`; `none` for no default route | both |
//! | `peer` | the address to ping and send datagrams to | `net-ping` |
//! | `port` | UDP port: listened on (`udp-echo`), sent to (`net-ping`) | both |
//! | `count` | `udp-echo`: exit after echoing so many datagrams; `net-ping`: pings and datagrams | both |
//!
//! The defaults are QEMU user networking's: guest 10.0.2.15/24, gateway 10.0.2.2.

use core::fmt;
use core::str::FromStr;

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// QEMU user networking's gateway (and host) address.
pub const QEMU_GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// QEMU user networking's first guest address: `udp-echo`'s default, `net-ping`'s default peer.
pub const ECHO_ADDRESS: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 15), 24);
/// `net-ping`'s default address, next to the echo server's.
pub const PING_ADDRESS: Ipv4Cidr = Ipv4Cidr::new(Ipv4Address::new(10, 0, 2, 16), 24);
/// The echo service's well-known port.
pub const ECHO_PORT: u16 = 7;

/// What the arguments ask for, on top of a program's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `ip=`: this cVM's address and the prefix length of its subnet.
    pub ip: Ipv4Cidr,
    /// `gw=`: where packets for outside the subnet go; `None` after `gw=none`.
    pub gateway: Option<Ipv4Address>,
    /// `peer=`: the address `net-ping` talks to.
    pub peer: Ipv4Address,
    /// `port=`: the UDP echo port.
    pub port: u16,
    /// `count=`: how many exchanges; `None` for `udp-echo`'s default, serving forever.
    pub count: Option<u32>,
}

impl Settings {
    /// `udp-echo` without arguments: 10.0.2.15/24 via 10.0.2.2, port 7, serving forever.
    pub const ECHO_DEFAULTS: Settings = Settings {
        ip: ECHO_ADDRESS,
        gateway: Some(QEMU_GATEWAY),
        peer: QEMU_GATEWAY,
        port: ECHO_PORT,
        count: None,
    };

    /// `net-ping` without arguments: 10.0.2.16/24, 20 exchanges with 10.0.2.15 port 7.
    pub const PING_DEFAULTS: Settings = Settings {
        ip: PING_ADDRESS,
        gateway: Some(QEMU_GATEWAY),
        peer: ECHO_ADDRESS.address(),
        port: ECHO_PORT,
        count: Some(20),
    };

    /// These settings changed by `args` (argv without argv\[0\]); a later word for the same
    /// key wins. Every word must be a known `key=value`.
    pub fn parse<'a>(
        mut self,
        args: impl IntoIterator<Item = &'a str>,
    ) -> Result<Settings, ArgError<'a>> {
        for word in args {
            let (key, value) = word.split_once('=').ok_or(ArgError::NotKeyValue(word))?;
            let bad = |expected| ArgError::BadValue {
                key,
                value,
                expected,
            };
            match key {
                "ip" => self.ip = parse_cidr(value).ok_or(bad(EXPECT_CIDR))?,
                "gw" => {
                    self.gateway = match value {
                        "none" => None,
                        _ => Some(parse_unicast(value).ok_or(bad(EXPECT_GATEWAY))?),
                    }
                }
                "peer" => self.peer = parse_unicast(value).ok_or(bad(EXPECT_ADDRESS))?,
                "port" => {
                    self.port = u16::from_str(value)
                        .ok()
                        .filter(|&p| p != 0)
                        .ok_or(bad(EXPECT_PORT))?;
                }
                "count" => {
                    self.count = Some(
                        u32::from_str(value)
                            .ok()
                            .filter(|&n| n != 0)
                            .ok_or(bad(EXPECT_COUNT))?,
                    );
                }
                _ => return Err(ArgError::UnknownKey(key)),
            }
        }
        Ok(self)
    }
}

const EXPECT_CIDR: &str = "a unicast IPv4 address with a prefix length, like 10.0.2.15/24";
const EXPECT_GATEWAY: &str = "a unicast IPv4 address, like 10.0.2.2, or none";
const EXPECT_ADDRESS: &str = "a unicast IPv4 address, like 10.0.2.15";
const EXPECT_PORT: &str = "a port number, 1 to 65535";
const EXPECT_COUNT: &str = "a count, 1 to 4294967295";

/// An address a host can have: not 0.0.0.0, broadcast or multicast (smoltcp refuses those as
/// interface addresses, by panicking).
fn parse_unicast(text: &str) -> Option<Ipv4Address> {
    Ipv4Address::from_str(text)
        .ok()
        .filter(|a| !a.is_unspecified() && !a.is_broadcast() && !a.is_multicast())
}

/// `a.b.c.d/n` with n ≤ 32.
fn parse_cidr(text: &str) -> Option<Ipv4Cidr> {
    let (address, prefix) = text.split_once('/')?;
    let prefix = u8::from_str(prefix).ok().filter(|&p| p <= 32)?;
    Some(Ipv4Cidr::new(parse_unicast(address)?, prefix))
}

/// What is wrong with an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgError<'a> {
    /// A word without `=`.
    NotKeyValue(&'a str),
    /// A key none of the cVMs knows.
    UnknownKey(&'a str),
    /// A known key with a value it cannot take.
    BadValue {
        key: &'a str,
        value: &'a str,
        expected: &'static str,
    },
}

impl fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::NotKeyValue(word) => {
                write!(f, "argument {word:?} is not key=value")
            }
            ArgError::UnknownKey(key) => write!(
                f,
                "unknown argument {key:?} (known: ip, gw, peer, port, count)"
            ),
            ArgError::BadValue {
                key,
                value,
                expected,
            } => write!(f, "{key}={value}: expected {expected}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn no_arguments_keep_the_defaults() {
        let none: [&str; 0] = [];
        assert_eq!(
            Settings::ECHO_DEFAULTS.parse(none),
            Ok(Settings::ECHO_DEFAULTS)
        );
        assert_eq!(Settings::ECHO_DEFAULTS.ip.to_string(), "10.0.2.15/24");
        assert_eq!(Settings::PING_DEFAULTS.ip.to_string(), "10.0.2.16/24");
        assert_eq!(Settings::PING_DEFAULTS.peer.to_string(), "10.0.2.15");
        assert_eq!(Settings::PING_DEFAULTS.count, Some(20));
    }

    #[test]
    fn every_key_parses() {
        let s = Settings::ECHO_DEFAULTS
            .parse([
                "ip=192.168.7.3/16",
                "gw=192.168.0.1",
                "peer=192.168.7.4",
                "port=4000",
                "count=3",
            ])
            .expect("valid");
        assert_eq!(s.ip, Ipv4Cidr::new(Ipv4Address::new(192, 168, 7, 3), 16));
        assert_eq!(s.gateway, Some(Ipv4Address::new(192, 168, 0, 1)));
        assert_eq!(s.peer, Ipv4Address::new(192, 168, 7, 4));
        assert_eq!(s.port, 4000);
        assert_eq!(s.count, Some(3));
        let s = Settings::PING_DEFAULTS
            .parse(["gw=none", "count=1", "count=7"])
            .expect("valid");
        assert_eq!(s.gateway, None);
        assert_eq!(s.count, Some(7), "the last word wins");
        assert_eq!(
            Settings::ECHO_DEFAULTS
                .parse(["ip=10.0.0.1/32"])
                .map(|s| s.ip.prefix_len()),
            Ok(32)
        );
    }

    #[test]
    fn bad_words_are_named() {
        let e = Settings::ECHO_DEFAULTS.parse(["ip"]);
        assert_eq!(e, Err(ArgError::NotKeyValue("ip")));
        let e = Settings::ECHO_DEFAULTS.parse(["mac=52:54:00:00:00:01"]);
        assert_eq!(e, Err(ArgError::UnknownKey("mac")));
        assert_eq!(
            e.expect_err("unknown").to_string(),
            "unknown argument \"mac\" (known: ip, gw, peer, port, count)"
        );
        for (word, key) in [
            ("ip=10.0.2.15", "ip"),
            ("ip=10.0.2.15/33", "ip"),
            ("ip=10.0.2/24", "ip"),
            ("ip=0.0.0.0/0", "ip"),
            ("ip=255.255.255.255/24", "ip"),
            ("ip=224.0.0.1/4", "ip"),
            ("gw=", "gw"),
            ("peer=10.0.2.300", "peer"),
            ("port=0", "port"),
            ("port=65536", "port"),
            ("port=-1", "port"),
            ("count=0", "count"),
            ("count=many", "count"),
        ] {
            match Settings::ECHO_DEFAULTS.parse([word]) {
                Err(ArgError::BadValue { key: k, .. }) => assert_eq!(k, key, "{word}"),
                other => panic!("{word}: {other:?}"),
            }
        }
        assert_eq!(
            Settings::ECHO_DEFAULTS
                .parse(["port=x"])
                .expect_err("bad")
                .to_string(),
            "port=x: expected a port number, 1 to 65535"
        );
    }
}
