//! CIDR blocks for `IpAddress` / `NotIpAddress` (RFC 4632 for IPv4, RFC 4291 for IPv6).
//!
//! Hand-written rather than a dependency: it is twenty lines over `std::net`. A bare address is
//! a /32 (or /128) block; host bits below the prefix are ignored, as AWS does. An IPv4-mapped
//! IPv6 client address (`::ffff:192.0.2.1`, what a dual-stack listener reports) is compared as
//! the IPv4 address it carries.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            // Only plain decimal digits: `u8::from_str` would also take a leading `+`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(Self { network, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) if self.network.is_ipv4() => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            other => other,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(cidr: &str, ip: &str) -> bool {
        Cidr::parse(cidr).unwrap().contains(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_blocks() {
        assert!(contains("192.0.2.0/24", "192.0.2.255"));
        assert!(!contains("192.0.2.0/24", "192.0.3.0"));
        assert!(contains("0.0.0.0/0", "203.0.113.9"));
        assert!(contains("203.0.113.9", "203.0.113.9"));
        assert!(!contains("203.0.113.9/32", "203.0.113.8"));
        // Host bits in the policy value are ignored.
        assert!(contains("192.0.2.77/24", "192.0.2.1"));
    }

    #[test]
    fn ipv6_blocks_and_mapped_ipv4() {
        assert!(contains("2001:db8::/32", "2001:db8:1234::1"));
        assert!(!contains("2001:db8::/32", "2001:db9::1"));
        assert!(contains("::/0", "::1"));
        assert!(contains("192.0.2.0/24", "::ffff:192.0.2.5"));
        assert!(!contains("192.0.2.0/24", "2001:db8::1"));
        assert!(!contains("2001:db8::/32", "192.0.2.1"));
    }

    #[test]
    fn rejects_malformed_blocks() {
        for bad in ["", "192.0.2.0/33", "2001:db8::/129", "192.0.2/24", "192.0.2.0/", "192.0.2.0/+8", "x/8"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
