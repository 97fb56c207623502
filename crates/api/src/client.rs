//! Who is calling: client IP (X-Forwarded-For only from trusted proxies) and user agent.

use std::net::IpAddr;

use poem::{FromRequest, Request, RequestBody};
use tessera_auth_core::events::RequestMeta;

use crate::config::Cidr;
use crate::state::SharedState;

const USER_AGENT_MAX_CHARS: usize = 512;

/// The client's address. Without trusted proxies it is the TCP peer. Behind trusted proxies it is
/// the right-most X-Forwarded-For entry that is not itself a trusted proxy: entries further left
/// were written by the client and can be forged.
pub fn client_ip(req: &Request, trusted: &[Cidr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip())?;
    Some(resolve_client_ip(peer, req.headers(), trusted))
}

fn resolve_client_ip(peer: IpAddr, headers: &poem::http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|entry| entry.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

pub fn request_meta(req: &Request, trusted: &[Cidr]) -> RequestMeta {
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(USER_AGENT_MAX_CHARS)
                .collect::<String>()
        })
        .filter(|ua| !ua.is_empty());
    RequestMeta {
        ip: client_ip(req, trusted).map(|ip| ip.to_string()),
        user_agent,
    }
}

/// Extractor form of [`request_meta`].
pub struct Meta(pub RequestMeta);

impl<'a> FromRequest<'a> for Meta {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Meta> {
        let trusted = req
            .data::<SharedState>()
            .map(|s| s.config.trusted_proxies.as_slice())
            .unwrap_or(&[]);
        Ok(Meta(request_meta(req, trusted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::HeaderMap;

    fn resolve(peer: &str, xff: Option<&str>, trusted: &[Cidr]) -> IpAddr {
        let mut headers = HeaderMap::new();
        if let Some(xff) = xff {
            headers.insert("x-forwarded-for", xff.parse().unwrap());
        }
        resolve_client_ip(peer.parse().unwrap(), &headers, trusted)
    }

    #[test]
    fn forwarded_for_is_ignored_without_trusted_proxies() {
        assert_eq!(
            resolve("203.0.113.9", Some("1.2.3.4"), &[]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn trusted_proxy_chain_yields_rightmost_untrusted() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        let ip = resolve("10.0.0.2", Some("6.6.6.6, 198.51.100.7, 10.0.0.5"), &trusted);
        assert_eq!(ip, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            resolve("10.0.0.2", Some("garbage"), &trusted),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }
}
