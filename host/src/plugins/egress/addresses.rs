//! The address rules shared by the guarded resolver, connection creation and web-automation
//! tasks: which IP addresses a plugin may contact ([`ip_refusal`]), and which base URLs no
//! connection may have at all ([`base_url_refusal`]).

use std::net::IpAddr;

/// Host names of cloud metadata services (they resolve to link-local addresses, which the
/// resolver refuses anyway; naming them lets a connection on one be refused when it is made).
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
];

/// Why a connection may not have `base_url`, whatever else it allows: an address no connector
/// needs and the egress rules refuse always (link-local — where cloud metadata services live
/// —, metadata, unspecified, multicast), or a metadata service's name. Checked when a
/// connection is created or moved, so it fails there with a field error rather than on every
/// request later. A name that merely *resolves* to such an address is refused per request by
/// the guarded resolver.
pub fn base_url_refusal(base_url: &str) -> Option<String> {
    let url = url::Url::parse(base_url).ok()?;
    match url.host()? {
        url::Host::Ipv4(v4) => ip_refusal(IpAddr::V4(v4), true)
            .map(|why| format!("address {v4} is {why}; no connection may use it")),
        url::Host::Ipv6(v6) => ip_refusal(IpAddr::V6(v6), true)
            .map(|why| format!("address {v6} is {why}; no connection may use it")),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.');
            METADATA_NAMES
                .iter()
                .any(|m| m.eq_ignore_ascii_case(name))
                .then(|| format!("{name} is a cloud metadata service; no connection may use it"))
        }
    }
}

/// Why an address may not be contacted, if it may not. Link-local is refused even when private
/// addresses are allowed: nothing a connector needs lives there, cloud metadata services do.
pub fn ip_refusal(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if METADATA.contains(&ip) {
        return Some("a cloud metadata service");
    }
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local {
        return Some("link-local");
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("not a unicast address");
    }
    if allow_private {
        return None;
    }
    let private = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_broadcast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (RFC 6598)
                || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
                || a >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        }
    };
    private.then_some("private or loopback, and the connection does not allow those")
}

/// Cloud metadata services outside link-local, refused even on private networks.
const METADATA: &[IpAddr] = &[
    IpAddr::V4(std::net::Ipv4Addr::new(100, 100, 100, 200)), // Alibaba Cloud
    IpAddr::V6(std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)), // AWS (IPv6)
];

/// The IPv4 address an IPv6 address stands for, where one is embedded: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`)
/// and 6to4 (`2002::/16`). Those are judged by the IPv4 rules.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let tail = |hi: u16, lo: u16| std::net::Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => {
            Some(tail(hi, lo))
        }
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(tail(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(tail(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(tail(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "0.0.0.0",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(ip_refusal(ip, false).is_some(), "{private} must be refused");
        }
        for link_local in ["169.254.169.254", "fe80::1"] {
            let ip: IpAddr = link_local.parse().expect("ip");
            assert!(
                ip_refusal(ip, true).is_some(),
                "{link_local} refused even when allowed"
            );
        }
        for smuggled in [
            "64:ff9b::a00:5",
            "2002:a00:1::1",
            "::a00:1",
            "fec0::1",
            "64:ff9b:1::a00:5",
        ] {
            let ip: IpAddr = smuggled.parse().expect("ip");
            assert!(
                ip_refusal(ip, false).is_some(),
                "{smuggled} hides a private address"
            );
        }
        for metadata in ["100.100.100.200", "fd00:ec2::254"] {
            let ip: IpAddr = metadata.parse().expect("ip");
            assert!(
                ip_refusal(ip, true).is_some(),
                "{metadata} refused even when allowed"
            );
        }
        let public: IpAddr = "93.184.216.34".parse().expect("ip");
        assert!(ip_refusal(public, false).is_none());
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(ip_refusal(loopback, true).is_none());
    }

    #[test]
    fn connections_may_not_be_made_on_link_local_or_metadata_addresses() {
        for refused in [
            "http://169.254.169.254/latest/",
            "http://169.254.1.1/",
            "http://0xa9fea9fe/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.100.100.200/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://METADATA.google.internal./",
            "http://0.0.0.0/",
        ] {
            assert!(base_url_refusal(refused).is_some(), "{refused}");
        }
        for fine in [
            "https://acme.atlassian.net/",
            "http://127.0.0.1:8080/",
            "http://10.0.0.5/jira/",
            "https://metadata.example.com/",
        ] {
            assert_eq!(base_url_refusal(fine), None, "{fine}");
        }
    }
}
