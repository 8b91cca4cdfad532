//! Client addresses behind reverse proxies. Every per-address rule (rate limits, sign-in
//! throttles, logs) uses the address `TrustedProxies::client` picks.
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The address of the client a request is from, after trusted proxies were looked through.
/// The outermost layer of the server puts it into each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Networks whose `X-Forwarded-For` is believed. Empty (the default): the header is ignored
/// and the socket peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request that arrived from `peer` carrying these `X-Forwarded-For`
    /// values (in header order). When the peer is trusted, the forwarded chain is read from
    /// the right, skipping trusted hops, and the first untrusted address is the client. A chain
    /// made only of trusted hops yields its left-most entry; an unreadable entry stops the walk
    /// at the last hop that could be trusted.
    pub fn client<'a>(&self, peer: IpAddr, forwarded_for: impl IntoIterator<Item = &'a [u8]>) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let mut hops: Vec<&[u8]> = Vec::new();
        for value in forwarded_for {
            hops.extend(value.split(|b| *b == b','));
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else { return client };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    if let Ok(ip) = IpAddr::from_str(s) {
        return Some(canonical(ip));
    }
    if let Ok(sa) = std::net::SocketAddr::from_str(s) {
        return Some(canonical(sa.ip()));
    }
    let inner = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'))?;
    IpAddr::from_str(inner).ok().map(canonical)
}

/// IPv4 addresses arriving on an IPv6 socket (`::ffff:a.b.c.d`) are IPv4 addresses.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Parses a comma-separated list of networks (`10.0.0.0/8`) or single addresses (`10.0.0.5`).
pub fn parse_trusted_proxies(raw: &str) -> Result<TrustedProxies, String> {
    let mut nets = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let net = match IpNet::from_str(item) {
            Ok(n) => n,
            Err(_) => match IpAddr::from_str(item) {
                Ok(ip) => IpNet::from(ip),
                Err(_) => return Err(format!("'{item}' is not an IP address or CIDR network (e.g. 10.0.0.0/8)")),
            },
        };
        nets.push(net.trunc());
    }
    Ok(TrustedProxies(nets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    fn client(t: &TrustedProxies, peer: &str, xff: &[&str]) -> IpAddr {
        t.client(ip(peer), xff.iter().map(|s| s.as_bytes()))
    }

    #[test]
    fn without_trust_the_header_is_ignored() {
        let t = TrustedProxies::default();
        assert_eq!(client(&t, "10.0.0.1", &["1.2.3.4"]), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let t = parse_trusted_proxies("10.0.0.0/8, 192.168.1.7").unwrap_or_default();
        assert_eq!(client(&t, "10.0.0.1", &["1.2.3.4"]), ip("1.2.3.4"));
        // A forged left-most entry does not win over the address the proxy saw.
        assert_eq!(client(&t, "10.0.0.1", &["6.6.6.6, 5.5.5.5, 192.168.1.7"]), ip("5.5.5.5"));
        assert_eq!(client(&t, "10.0.0.1", &["6.6.6.6", "5.5.5.5, 10.1.1.1"]), ip("5.5.5.5"));
        assert_eq!(client(&t, "10.0.0.1", &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(client(&t, "10.0.0.1", &["5.5.5.5:1234"]), ip("5.5.5.5"));
        // Only trusted hops: the left-most one. No header: the peer.
        assert_eq!(client(&t, "10.0.0.1", &["10.2.2.2, 10.3.3.3"]), ip("10.2.2.2"));
        assert_eq!(client(&t, "10.0.0.1", &[]), ip("10.0.0.1"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(client(&t, "10.0.0.1", &["5.5.5.5, nonsense"]), ip("10.0.0.1"));
        // An untrusted peer's header is never read.
        assert_eq!(client(&t, "8.8.8.8", &["1.2.3.4"]), ip("8.8.8.8"));
        // IPv4 on an IPv6 socket.
        assert_eq!(client(&t, "::ffff:10.0.0.1", &["1.2.3.4"]), ip("1.2.3.4"));
    }

    #[test]
    fn lists_parse_or_name_the_bad_entry() {
        assert_eq!(parse_trusted_proxies("").map(|t| t.is_empty()), Ok(true));
        assert!(parse_trusted_proxies("127.0.0.1,::1,10.0.0.0/8").is_ok());
        let e = parse_trusted_proxies("10.0.0.0/8,proxy.local").err().unwrap_or_default();
        assert!(e.contains("proxy.local"), "{e}");
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
    }
}
