//! Which address a request comes from, for limits and audit. `X-Forwarded-For` is believed
//! only when the direct peer is a configured trusted proxy, so a client cannot spoof its
//! way around a limit; IPv6 clients are keyed by their /64, which one subscriber controls.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

/// Networks whose `X-Forwarded-For` is trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// The client's address as the limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The key limits count under: the address, or its /64 for IPv6.
    pub fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        }
    }

    /// The peer, or — when the peer is a trusted proxy — the right-most address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> Self {
        let is_trusted = |ip: &IpAddr| trusted.0.iter().any(|net| net.contains(ip));
        if !is_trusted(&peer) {
            return Self(peer);
        }
        let hops = forwarded_for
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .rev();
        for hop in hops {
            match hop.parse::<IpAddr>() {
                Ok(ip) if is_trusted(&ip) => continue,
                Ok(ip) => return Self(ip),
                // A malformed hop could be anything; stop at the last address we can vouch for.
                Err(_) => break,
            }
        }
        Self(peer)
    }
}

impl FromRequestParts<crate::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        // `serve` always attaches the peer address; only an in-process router (tests) lacks
        // it, and then the request did come from this host.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        Ok(Self::resolve(
            peer,
            forwarded,
            &state.protect.trusted_proxies,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()])
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            ClientIp::resolve(peer, Some("198.51.100.1"), &trusted()).0,
            peer
        );
    }

    #[test]
    fn a_trusted_proxy_passes_the_client_through() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let client = ClientIp::resolve(peer, Some("198.51.100.1, 10.0.0.7"), &trusted());
        assert_eq!(client.0, "198.51.100.1".parse::<IpAddr>().unwrap());
        assert_eq!(ClientIp::resolve(peer, Some("garbage"), &trusted()).0, peer);
        assert_eq!(ClientIp::resolve(peer, None, &trusted()).0, peer);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        let a = ClientIp("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientIp("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = ClientIp("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.limit_key(), b.limit_key());
        assert_ne!(a.limit_key(), c.limit_key());
    }
}
