//! Who is calling: client IP (from a forwarding header only behind trusted proxies) and user
//! agent.
//!
//! Behind `TESSERA_TRUSTED_PROXIES`, the forwarding header the proxies write
//! (`TESSERA_FORWARDED_HEADER`: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`) is read as
//! a chain of hops, each appended by the proxy that received the request from it. It is walked
//! from the right (the entries our own proxies wrote) past every trusted proxy; the first hop that
//! is not one is the client. Entries further left were written by the client or parties we do not
//! trust and are never believed. Only the configured header is read: a proxy passes the other one
//! through from the client unchanged, so believing both would let clients choose their address.
//!
//! A hop is an address with or without a port (`203.0.113.81`, `203.0.113.81:1234`,
//! `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:443`). A hop that names no address — `unknown`,
//! an RFC 7239 obfuscated identifier (`_hidden`), anything unparsable — is a node whose address
//! nobody vouches for: when the walk reaches one, the client cannot be told, and the answer is
//! the nearest trusted hop (what a proxy that cannot name its client would be judged by). Walking
//! past it would believe whatever the untrusted party before it wrote. Empty list elements are
//! list syntax, not hops, and are skipped.

use std::net::IpAddr;

use poem::http::HeaderMap;
use poem::{FromRequest, Request, RequestBody};
use tessera_auth_core::events::RequestMeta;

use crate::config::{Cidr, Config, ForwardedHeader};
use crate::problem::ApiError;

const USER_AGENT_MAX_CHARS: usize = 512;

/// Whose forwarding header is believed, and which header that is (`TESSERA_TRUSTED_PROXIES`,
/// `TESSERA_FORWARDED_HEADER`). The router hands it to every request as request data, so whoever
/// needs the client's address (the [`Meta`] extractor, the rate limiter) needs nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyTrust {
    pub trusted_proxies: Vec<Cidr>,
    pub forwarded_header: ForwardedHeader,
}

impl ProxyTrust {
    pub fn from_config(config: &Config) -> ProxyTrust {
        ProxyTrust {
            trusted_proxies: config.trusted_proxies.clone(),
            forwarded_header: config.forwarded_header,
        }
    }
}

/// The client's address. Without trusted proxies (or from a peer that is not one) it is the TCP
/// peer; behind trusted proxies, see the module comment.
pub fn client_ip(req: &Request, trust: &ProxyTrust) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip())?;
    Some(resolve_client_ip(
        peer,
        req.headers(),
        &trust.trusted_proxies,
        trust.forwarded_header,
    ))
}

/// One hop of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Address(IpAddr),
    /// `unknown`, an obfuscated identifier, or text that is not an address.
    Unnamed,
}

fn resolve_client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr], header: ForwardedHeader) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let hops = match header {
        ForwardedHeader::XForwardedFor => x_forwarded_for_hops(headers),
        ForwardedHeader::Forwarded => forwarded_hops(headers),
    };
    let mut nearest_trusted = peer;
    for hop in hops.iter().rev() {
        match *hop {
            Hop::Address(ip) if is_trusted(ip) => nearest_trusted = ip,
            Hop::Address(ip) => return ip,
            Hop::Unnamed => return nearest_trusted,
        }
    }
    // Every hop is a trusted proxy: the request started at the left-most one.
    nearest_trusted
}

/// The values of every `name` header, in order; a value that is not visible ASCII is skipped (no
/// proxy writes one).
fn header_values<'h>(headers: &'h HeaderMap, name: &str) -> impl Iterator<Item = &'h str> {
    headers.get_all(name).iter().filter_map(|value| value.to_str().ok())
}

/// `X-Forwarded-For: client, proxy1, proxy2`, possibly over several header lines.
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Hop> {
    header_values(headers, "x-forwarded-for")
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(parse_node)
        .collect()
}

/// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:443"`, possibly over several
/// header lines: one hop per element, named by its `for` parameter (an element without one names
/// no address).
fn forwarded_hops(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in header_values(headers, "forwarded") {
        for element in split_outside_quotes(value, ',') {
            if element.trim().is_empty() {
                continue;
            }
            let node = split_outside_quotes(element, ';').into_iter().find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| unquote(value.trim()))
            });
            hops.push(match node {
                Some(Some(node)) => parse_node(&node),
                _ => Hop::Unnamed,
            });
        }
    }
    hops
}

/// Splits at `separator` where it is not inside a quoted string (RFC 9110 `quoted-string`, with
/// backslash escapes). An unterminated quote runs to the end: the rest is one piece.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            pieces.push(text.get(start..at).unwrap_or_default());
            start = at + c.len_utf8();
        }
    }
    pieces.push(text.get(start..).unwrap_or_default());
    pieces
}

/// A token as is, or a quoted string without its quotes and escapes. `None` when a quote is not
/// closed (or text follows it).
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains('"')).then(|| value.to_owned());
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            other => out.push(other),
        }
    }
    None
}

/// An address with an optional port, IPv6 optionally in brackets (required with a port).
fn parse_node(node: &str) -> Hop {
    let node = node.trim();
    let address = if let Some(rest) = node.strip_prefix('[') {
        rest.split_once(']').and_then(|(inside, after)| {
            let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
            port_ok.then(|| inside.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))?
        })
    } else if let Ok(ip) = node.parse::<IpAddr>() {
        Some(ip)
    } else {
        node.split_once(':').and_then(|(host, port)| {
            let v4 = host.parse::<std::net::Ipv4Addr>().ok()?;
            is_port(port).then_some(IpAddr::V4(v4))
        })
    };
    match address {
        Some(ip) => Hop::Address(ip.to_canonical()),
        None => Hop::Unnamed,
    }
}

/// A port number or an RFC 7239 obfuscated port (`_` followed by ALPHA / DIGIT / "." / "_" / "-").
fn is_port(text: &str) -> bool {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let obfuscated = text.strip_prefix('_').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    digits || obfuscated
}

pub fn request_meta(req: &Request, trust: &ProxyTrust) -> RequestMeta {
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
        ip: client_ip(req, trust).map(|ip| ip.to_string()),
        user_agent,
    }
}

/// Extractor form of [`request_meta`].
pub struct Meta(pub RequestMeta);

impl<'a> FromRequest<'a> for Meta {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Meta> {
        let trust = req.data::<ProxyTrust>().ok_or_else(ApiError::internal)?;
        Ok(Meta(request_meta(req, trust)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROXY: &str = "10.0.0.2";

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted() -> Vec<Cidr> {
        vec![Cidr::parse("10.0.0.0/8").unwrap(), Cidr::parse("fd00::/8").unwrap()]
    }

    fn resolve_with(peer: &str, header: ForwardedHeader, values: &[&str], trusted: &[Cidr]) -> IpAddr {
        let mut headers = HeaderMap::new();
        let name = match header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        for value in values {
            headers.append(name, value.parse().unwrap());
        }
        resolve_client_ip(ip(peer), &headers, trusted, header)
    }

    fn xff(values: &[&str]) -> IpAddr {
        resolve_with(PROXY, ForwardedHeader::XForwardedFor, values, &trusted())
    }

    fn forwarded(values: &[&str]) -> IpAddr {
        resolve_with(PROXY, ForwardedHeader::Forwarded, values, &trusted())
    }

    #[test]
    fn forwarding_headers_are_ignored_without_trusted_proxies() {
        let peer = "203.0.113.9";
        assert_eq!(
            resolve_with(peer, ForwardedHeader::XForwardedFor, &["1.2.3.4"], &[]),
            ip(peer)
        );
        assert_eq!(
            resolve_with(peer, ForwardedHeader::XForwardedFor, &["1.2.3.4"], &trusted()),
            ip(peer),
            "from a peer that is not a trusted proxy"
        );
        assert_eq!(
            resolve_with(peer, ForwardedHeader::Forwarded, &["for=1.2.3.4"], &trusted()),
            ip(peer)
        );
    }

    /// The probe's cases (issue 12, Low 1): one odd entry no longer discards the header.
    #[test]
    fn the_probes_entries_resolve_to_the_client() {
        assert_eq!(xff(&["garbage, 203.0.113.78"]), ip("203.0.113.78"));
        assert_eq!(xff(&["203.0.113.81:1234"]), ip("203.0.113.81"));
        assert_eq!(xff(&["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(xff(&["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(xff(&["2001:db8::1"]), ip("2001:db8::1"));
        assert_eq!(xff(&["unknown"]), ip(PROXY), "nobody named the client");
        assert_eq!(xff(&["garbage"]), ip(PROXY));
    }

    #[test]
    fn the_chain_is_walked_from_the_right_past_trusted_hops() {
        assert_eq!(xff(&["6.6.6.6, 198.51.100.7, 10.0.0.5"]), ip("198.51.100.7"));
        assert_eq!(xff(&["6.6.6.6", "198.51.100.7", "10.0.0.5:80"]), ip("198.51.100.7"));
        assert_eq!(xff(&["6.6.6.6,, 198.51.100.7 ,"]), ip("198.51.100.7"), "empty elements");
        assert_eq!(
            xff(&["[fd00::3]:8080, 10.0.0.9"]),
            ip("fd00::3"),
            "all trusted: the first"
        );
        assert_eq!(xff(&[]), ip(PROXY));
        assert_eq!(xff(&["::ffff:198.51.100.7"]), ip("198.51.100.7"), "canonical form");
        assert_eq!(xff(&["::ffff:10.0.0.7, ::ffff:10.0.0.8"]), ip("10.0.0.7"));
    }

    /// A hop that names no address stops the walk: what lies beyond it was written by someone
    /// no trusted proxy vouches for.
    #[test]
    fn an_unnamed_hop_is_never_walked_past() {
        assert_eq!(xff(&["198.51.100.7, unknown"]), ip(PROXY));
        assert_eq!(xff(&["198.51.100.7, _hidden, 10.0.0.5"]), ip("10.0.0.5"));
        assert_eq!(
            xff(&["198.51.100.7, 203.0.113.1:http"]),
            ip(PROXY),
            "a port must be a number"
        );
        assert_eq!(
            xff(&["198.51.100.7, fe80::1%eth0"]),
            ip(PROXY),
            "zone ids are not addresses"
        );
        assert_eq!(xff(&["198.51.100.7, [2001:db8::1"]), ip(PROXY));
    }

    #[test]
    fn rfc_7239_forwarded() {
        assert_eq!(
            forwarded(&["for=192.0.2.60;proto=http;by=203.0.113.43"]),
            ip("192.0.2.60")
        );
        assert_eq!(
            forwarded(&["For=\"[2001:db8:cafe::17]:4711\""]),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(forwarded(&["for=\"[2001:db8:cafe::17]\""]), ip("2001:db8:cafe::17"));
        assert_eq!(forwarded(&["for=\"192.0.2.43:47011\""]), ip("192.0.2.43"));
        assert_eq!(forwarded(&["for=192.0.2.43, for=198.51.100.17"]), ip("198.51.100.17"));
        assert_eq!(
            forwarded(&["for=192.0.2.43, for=198.51.100.17;by=10.0.0.1", "for=10.0.0.4"]),
            ip("198.51.100.17"),
            "several elements over several headers"
        );
        assert_eq!(
            forwarded(&["for=6.6.6.6;host=\"a,b;c\", for=198.51.100.17"]),
            ip("198.51.100.17"),
            "separators inside quotes"
        );
        assert_eq!(forwarded(&["for=\"_gazonk\""]), ip(PROXY), "obfuscated");
        assert_eq!(forwarded(&["for=unknown"]), ip(PROXY));
        assert_eq!(forwarded(&["for=\"[2001:db8::1]:_port\""]), ip("2001:db8::1"));
        assert_eq!(forwarded(&["proto=https"]), ip(PROXY), "an element without for");
        assert_eq!(forwarded(&["for=\"198.51.100.17"]), ip(PROXY), "unterminated quote");
        assert_eq!(
            forwarded(&["for=\"6.6.6.6, for=198.51.100.17"]),
            ip(PROXY),
            "a quote that swallows the next element leaves no named client"
        );
        assert_eq!(forwarded(&["garbage, for=198.51.100.17"]), ip("198.51.100.17"));
        assert_eq!(forwarded(&[",, for=198.51.100.17 ,"]), ip("198.51.100.17"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        headers.insert("forwarded", "for=198.51.100.2".parse().unwrap());
        let resolve = |header| resolve_client_ip(ip(PROXY), &headers, &trusted(), header);
        assert_eq!(resolve(ForwardedHeader::XForwardedFor), ip("198.51.100.1"));
        assert_eq!(resolve(ForwardedHeader::Forwarded), ip("198.51.100.2"));
    }

    fn untrusted_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u8>().prop_map(|last| IpAddr::from([203, 0, 113, last])),
            any::<u16>().prop_map(|last| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, last])),
        ]
    }

    fn trusted_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::from([10, a, b, c])),
            any::<u16>().prop_map(|last| IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, last])),
        ]
    }

    /// One way a proxy may write `ip` in X-Forwarded-For.
    fn written(ip: IpAddr, style: u8, port: u16) -> String {
        match (ip, style % 3) {
            (IpAddr::V4(v4), 0) => v4.to_string(),
            (IpAddr::V4(v4), _) => format!("{v4}:{port}"),
            (IpAddr::V6(v6), 0) => v6.to_string(),
            (IpAddr::V6(v6), 1) => format!("[{v6}]"),
            (IpAddr::V6(v6), _) => format!("[{v6}]:{port}"),
        }
    }

    /// The same as an RFC 7239 element, with other parameters and any case of `for`.
    fn element(ip: IpAddr, style: u8, port: u16) -> String {
        let node = written(ip, style, port);
        let value = if node.contains(':') {
            format!("\"{node}\"")
        } else {
            node
        };
        let name = if style & 4 == 0 { "for" } else { "FOR" };
        match style % 4 {
            0 => format!("{name}={value}"),
            1 => format!("proto=https;{name}={value}"),
            2 => format!("{name}={value};by=_proxy;host=\"example.com\""),
            _ => format!("by=\"[fd00::1]\" ; {name}={value}"),
        }
    }

    /// Header-safe text a client might send (any visible ASCII, commas and quotes included).
    fn forged() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[ -~]{0,40}").unwrap()
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_is_the_client_whatever_it_sends(
            peer in untrusted_ip(),
            values in proptest::collection::vec(forged(), 0..4),
            use_forwarded in any::<bool>(),
        ) {
            let header = if use_forwarded { ForwardedHeader::Forwarded } else { ForwardedHeader::XForwardedFor };
            let name = if use_forwarded { "forwarded" } else { "x-forwarded-for" };
            let mut headers = HeaderMap::new();
            for value in &values {
                headers.append(name, value.parse().unwrap());
            }
            prop_assert_eq!(resolve_client_ip(peer, &headers, &trusted(), header), peer);
        }

        /// Whatever the client writes in front, the address our proxies recorded is the answer.
        #[test]
        fn the_client_our_proxies_saw_is_found_behind_any_forgery(
            client in untrusted_ip(),
            hops in proptest::collection::vec((trusted_ip(), any::<u8>(), any::<u16>()), 0..4),
            style in any::<u8>(),
            port in any::<u16>(),
            forgery in proptest::collection::vec(forged(), 0..3),
            one_line in any::<bool>(),
        ) {
            // X-Forwarded-For: forgery (the client's own header), then what each proxy appended.
            let mut written_hops = vec![written(client, style, port)];
            written_hops.extend(hops.iter().map(|(ip, style, port)| written(*ip, *style, *port)));
            let mut values: Vec<String> = forgery.clone();
            if one_line {
                let appended = written_hops.join(", ");
                match values.last_mut() {
                    Some(last) => { last.push_str(", "); last.push_str(&appended); }
                    None => values.push(appended),
                }
            } else {
                values.extend(written_hops);
            }
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            prop_assert_eq!(xff(&values), client);

            // Forwarded: the forgery in the client's own header line, the proxies' elements after.
            let mut elements = vec![element(client, style, port)];
            elements.extend(hops.iter().map(|(ip, style, port)| element(*ip, *style, *port)));
            let mut values: Vec<String> = forgery;
            if one_line {
                values.push(elements.join(", "));
            } else {
                values.extend(elements);
            }
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            prop_assert_eq!(forwarded(&values), client);
        }

        /// Never a panic, and the answer is the peer or an address some hop named.
        #[test]
        fn any_header_resolves_to_the_peer_or_a_named_hop(
            values in proptest::collection::vec(forged(), 0..4),
            use_forwarded in any::<bool>(),
        ) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let got = if use_forwarded { forwarded(&refs) } else { xff(&refs) };
            let hops = {
                let mut headers = HeaderMap::new();
                let name = if use_forwarded { "forwarded" } else { "x-forwarded-for" };
                for value in &values {
                    headers.append(name, value.parse().unwrap());
                }
                if use_forwarded { forwarded_hops(&headers) } else { x_forwarded_for_hops(&headers) }
            };
            prop_assert!(got == ip(PROXY) || hops.contains(&Hop::Address(got)));
        }
    }
}
