//! Which addresses a webhook may reach: only the public internet, never the TTP's own network
//! (SSRF), checked both when a URL is registered and when a delivery connects.

use std::net::IpAddr;

/// Whether an address is on the public internet. A tenant's webhook must never reach the
/// TTP's own network (SSRF), so every range that the IANA special-purpose address registries
/// do not mark globally reachable is refused, and so are the ranges that embed or translate
/// to an IPv4 address (NAT64, 6to4, Teredo, IPv4-compatible), whose IPv4 end could be
/// anything. Sources, as of 2025:
/// <https://www.iana.org/assignments/iana-ipv4-special-registry/> and
/// <https://www.iana.org/assignments/iana-ipv6-special-registry/>; IPv6 outside 2000::/3
/// is not global unicast (RFC 4291 §2.4) and is refused whole.
pub(super) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let address = u32::from(v4);
            !RESERVED_V4
                .iter()
                .any(|&(network, length)| in_prefix_v4(address, network, length))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let address = u128::from(v6);
                in_prefix_v6(address, 0x2000 << 112, 3)
                    && !RESERVED_V6
                        .iter()
                        .any(|&(network, length)| in_prefix_v6(address, network, length))
            }
        },
    }
}

/// IPv4 ranges that are not globally reachable unicast (IANA IPv4 special-purpose registry,
/// plus multicast, RFC 5771).
const RESERVED_V4: &[(u32, u32)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network" (RFC 791)
    (0x0a00_0000, 8),  // 10.0.0.0/8 private (RFC 1918)
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space, CGNAT (RFC 6598)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback (RFC 1122)
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local (RFC 3927)
    (0xac10_0000, 12), // 172.16.0.0/12 private (RFC 1918)
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments (RFC 6890)
    (0xc000_0200, 24), // 192.0.2.0/24 documentation, TEST-NET-1 (RFC 5737)
    (0xc058_6300, 24), // 192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526)
    (0xc0a8_0000, 16), // 192.168.0.0/16 private (RFC 1918)
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking (RFC 2544)
    (0xc633_6400, 24), // 198.51.100.0/24 documentation, TEST-NET-2 (RFC 5737)
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation, TEST-NET-3 (RFC 5737)
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast (RFC 5771)
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, with 255.255.255.255 broadcast (RFC 1112)
];

/// IPv6 ranges inside 2000::/3 that are not globally reachable unicast (IANA IPv6
/// special-purpose registry); everything outside 2000::/3 — ::/128, ::1, ::/96
/// IPv4-compatible, 64:ff9b::/96 and 64:ff9b:1::/48 NAT64, 100::/64 discard, 5f00::/16 SRv6,
/// fc00::/7 unique-local, fe80::/10 link-local, fec0::/10 site-local, ff00::/8 multicast —
/// is refused before this list is consulted.
const RESERVED_V6: &[(u128, u32)] = &[
    // 2001::/23 IETF protocol assignments, Teredo 2001::/32 included (RFC 2928, RFC 4380).
    (0x2001_0000 << 96, 23),
    // 2001:db8::/32 documentation (RFC 3849).
    (0x2001_0db8 << 96, 32),
    // 2002::/16 6to4 (RFC 3056).
    (0x2002 << 112, 16),
    // 3fff::/20 documentation (RFC 9637).
    (0x3fff << 112, 20),
];

pub(super) fn in_prefix_v4(address: u32, network: u32, length: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
    address & mask == network & mask
}

pub(super) fn in_prefix_v6(address: u128, network: u128, length: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
    address & mask == network & mask
}

/// Whether every address `host` resolves to is public: what a delivery through a proxy is
/// checked against before the proxy is asked to connect (it resolves the name again itself,
/// so a name with any private address is refused outright).
pub(super) async fn resolves_publicly(host: &str) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if is_public(ip) {
            Ok(())
        } else {
            Err("the target is not a public address".into())
        };
    }
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|e| e.to_string())?
        .collect();
    if addresses.is_empty() || addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(format!("{bare} has an address that is not public"));
    }
    Ok(())
}

/// The resolver of production webhook deliveries: a host name is connected to only at its
/// public addresses, checked when the connection is made, so a name that resolves (or is
/// re-pointed after registration) to a private address reaches nothing.
pub(super) struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
