//! The client's address as the access log shows it: the peer, or, when the peer is a trusted
//! reverse proxy, the last address in `X-Forwarded-For` that is not itself a trusted proxy.
//! An untrusted peer cannot choose the address it is logged under.

use std::cell::Cell;
use std::net::IpAddr;

thread_local! {
    /// The client of the request this thread works for (see [`with_client`]).
    static CURRENT: Cell<Option<IpAddr>> = const { Cell::new(None) };
}

/// Runs `f` with `client` as the current request's client address, which the login limits
/// count failures against. The HTTP layer sets it when it hands a request's work to a thread.
pub fn with_client<R>(client: Option<IpAddr>, f: impl FnOnce() -> R) -> R {
    let previous = CURRENT.with(|c| c.replace(client));
    let result = f();
    CURRENT.with(|c| c.set(previous));
    result
}

/// The current request's client address, if known.
pub fn current_client() -> Option<IpAddr> {
    CURRENT.with(Cell::get)
}

/// An address range such as `10.0.0.0/8`, `::1` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                prefix_eq(&base.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                prefix_eq(&base.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("not an IP address or range: {s:?}"))?;
        let base = canonical(base);
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length in {s:?}"))?,
        };
        Ok(IpRange { base, prefix })
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) is compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// The configured trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    /// Parses addresses and ranges; the error names the bad entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values in order.
    pub fn client<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        // Walk back from the nearest hop; the first untrusted one is the client.
        let mut client = peer;
        for hop in forwarded.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        Some(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges() {
        let r: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(r.contains(ip("10.1.2.3")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(r.contains(ip("::ffff:10.0.0.1")));
        let r: IpRange = "fd00::/8".parse().unwrap();
        assert!(r.contains(ip("fd12::1")));
        let r: IpRange = "192.168.1.128/25".parse().unwrap();
        assert!(r.contains(ip("192.168.1.200")));
        assert!(!r.contains(ip("192.168.1.100")));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).unwrap();
        let h = ["198.51.100.1, 203.0.113.7", "10.0.0.5"];
        assert_eq!(
            proxies.client(Some(ip("127.0.0.1")), h),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            proxies.client(Some(ip("192.0.2.9")), h),
            Some(ip("192.0.2.9"))
        );
        assert_eq!(
            TrustedProxies::default().client(Some(ip("127.0.0.1")), h),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(
            proxies.client(Some(ip("127.0.0.1")), []),
            Some(ip("127.0.0.1"))
        );
    }
}
