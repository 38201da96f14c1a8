use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

use crate::FetchError;

/// Where a feed comes from, checked against the [`NetGuard`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedUrl {
    /// An `http(s)` URL whose host is not a refused IP literal. Host names are checked again
    /// when they resolve.
    Http(Url),
    /// A local file (`file://` URL or, from the command line, a path).
    File(PathBuf),
    /// Standard input (`-` on the command line).
    Stdin,
}

impl fmt::Display for FeedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedUrl::Http(u) => f.write_str(u.as_str()),
            FeedUrl::File(p) => write!(f, "file://{}", p.display()),
            FeedUrl::Stdin => f.write_str("-"),
        }
    }
}

/// The SSRF guard: which feed locations are allowed.
///
/// Internal addresses are refused by default, because a feed URL (from a feeds file someone
/// else edits, an import, or the API) must not reach the metadata service at 169.254.169.254,
/// the database, or the admin port of another service. The check runs on IP literals at parse
/// time, on every DNS answer (so DNS rebinding does not help) and on every redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetGuard {
    /// Allow loopback, private, link-local, CGNAT and other non-global addresses.
    pub allow_private: bool,
    /// Allow `file://` URLs and paths.
    pub allow_files: bool,
}

impl NetGuard {
    /// Parses a feed location: an `http(s)://` or `file://` URL, `-` for stdin, or (when files
    /// are allowed) a plain path.
    pub fn parse(&self, input: &str) -> Result<FeedUrl, FetchError> {
        let input = input.trim();
        let refused = |reason: &str| FetchError::Refused { url: input.to_owned(), reason: reason.to_owned() };
        if input == "-" {
            return Ok(FeedUrl::Stdin);
        }
        match Url::parse(input) {
            Ok(url) => match url.scheme() {
                "http" | "https" => {
                    if let Some(host) = url.host() {
                        let ip = match host {
                            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
                            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
                            url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost") => {
                                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
                            }
                            url::Host::Domain(_) => None,
                        };
                        if let Some(ip) = ip {
                            self.check_ip(ip).map_err(|r| refused(&r))?;
                        }
                        Ok(FeedUrl::Http(url))
                    } else {
                        Err(FetchError::InvalidUrl { url: input.to_owned(), reason: "no host".into() })
                    }
                }
                "file" if self.allow_files => url.to_file_path().map(FeedUrl::File).map_err(|()| {
                    FetchError::InvalidUrl { url: input.to_owned(), reason: "not a local path".into() }
                }),
                "file" => Err(refused("file URLs are disabled (fetcher.allow_file_urls = false)")),
                other => Err(refused(&format!("scheme {other:?} is not supported; use http, https or file"))),
            },
            Err(url::ParseError::RelativeUrlWithoutBase) if self.allow_files => {
                Ok(FeedUrl::File(PathBuf::from(input)))
            }
            Err(e) => Err(FetchError::InvalidUrl { url: input.to_owned(), reason: e.to_string() }),
        }
    }

    /// `Ok` if the address may be contacted, else why not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allow_private || is_global(ip) {
            Ok(())
        } else {
            Err(format!(
                "{ip} is an internal address (set fetcher.allow_private_networks = true to allow it)"
            ))
        }
    }

    /// A DNS resolver for reqwest that drops refused addresses from every answer.
    pub(crate) fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver { guard: self })
    }
}

/// Resolves with the system resolver, then applies the guard.
pub(crate) struct GuardedResolver {
    guard: NetGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match guard.check_ip(a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused = Some(r);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refused.unwrap_or_else(|| "no addresses".to_owned());
                return Err(format!("{host} refused: {reason}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_global_v4(v4);
            }
            let s = v6.segments();
            // Only global unicast (2000::/3) can be a public server: this refuses loopback,
            // unspecified, IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96), discard, unique
            // local, link-local and multicast at once.
            if s[0] & 0xe000 != 0x2000 {
                return false;
            }
            // 6to4 (2002::/16) carries an IPv4 address: it is as internal as that one.
            if s[0] == 0x2002 {
                let [a, b] = s[1].to_be_bytes();
                let [c, d] = s[2].to_be_bytes();
                return is_global_v4(Ipv4Addr::new(a, b, c, d));
            }
            let special = match s[0] {
                // IETF protocol assignments 2001::/23 (Teredo, ORCHID…), documentation 2001:db8::/32
                0x2001 => s[1] < 0x0200 || s[1] == 0x0db8,
                // documentation 3fff::/20
                0x3fff => s[1] < 0x1000,
                _ => false,
            };
            !special
        }
    }
}

fn is_global_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: NetGuard = NetGuard { allow_private: false, allow_files: false };

    #[test]
    fn literals_and_localhost_are_refused_at_parse() {
        for url in [
            "http://127.0.0.1/feed",
            "http://[::1]/",
            "http://10.1.2.3/",
            "http://169.254.169.254/",
            "http://localhost:8080/",
            "http://[::ffff:192.168.0.1]/",
            "http://100.64.0.1/",
            // IPv6 forms that embed an IPv4 address, and other special-purpose ranges.
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a00:1::1]/",
            "http://[2001::1]/",
            "http://[2001:db8::1]/",
            "http://[100::1]/",
            "http://[fd00::1]/",
            "http://[ff02::1]/",
        ] {
            assert!(matches!(STRICT.parse(url), Err(FetchError::Refused { .. })), "{url}");
        }
        assert!(matches!(STRICT.parse("http://93.184.216.34/"), Ok(FeedUrl::Http(_))));
        assert!(matches!(STRICT.parse("http://[2606:4700::1111]/"), Ok(FeedUrl::Http(_))));
        assert!(
            matches!(STRICT.parse("http://[2002:5db8:d822::1]/"), Ok(FeedUrl::Http(_))),
            "6to4 of a public v4"
        );
        assert!(matches!(STRICT.parse("file:///etc/passwd"), Err(FetchError::Refused { .. })));
        assert!(matches!(STRICT.parse("gopher://x/"), Err(FetchError::Refused { .. })));
        assert!(matches!(STRICT.parse("/tmp/feed.xml"), Err(FetchError::InvalidUrl { .. })));
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_answers() {
        // `localhost` resolves through /etc/hosts on every machine, without a network.
        let name: Name = "localhost".parse().map_err(|_| "name").unwrap();
        let err = STRICT.resolver().resolve(name).await.err().expect("loopback answer accepted");
        assert!(err.to_string().contains("internal address"), "{err}");
        let open = NetGuard { allow_private: true, allow_files: false };
        let name: Name = "localhost".parse().map_err(|_| "name").unwrap();
        assert!(open.resolver().resolve(name).await.is_ok());
    }
}
