//! [`Url`]: the `http://host[:port]/path` URLs the client fetches.

use std::fmt;
use std::io;

/// A parsed `http://` URL: where to connect and what to ask for.
///
/// ```
/// use examples::http::proto::Url;
/// let url = Url::parse("http://localhost:8081/delay?x=1#top")?;
/// assert_eq!((url.host(), url.port(), url.target()), ("localhost", 8081, "/delay?x=1"));
/// assert_eq!(url.to_string(), "http://localhost:8081/delay?x=1");
/// assert!(Url::parse("https://example.com/").is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or IP literal, without the brackets of an IPv6 literal.
    host: String,
    /// Port; 80 when the URL has none.
    port: u16,
    /// Path and query, always starting with `/`; the fragment is dropped.
    target: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]`.
    ///
    /// Anything else is `ErrorKind::InvalidInput` with a message naming the
    /// problem: `https` (no TLS here), another scheme, no scheme at all,
    /// user info, an empty or invalid host, a bad port, or a space or control
    /// character anywhere.
    pub fn parse(input: &str) -> io::Result<Url> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("bad URL {input:?}: {why}"));
        if input.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(bad("contains a space or a control character"));
        }
        let rest = match input.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad("https is not supported (no TLS); use http://"))
            }
            Some((scheme, _)) => return Err(bad(&format!("unsupported scheme {scheme:?}; use http://"))),
            None => return Err(bad("expected http://host[:port]/path")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        if authority.contains('@') {
            return Err(bad("user info (user@host) is not supported"));
        }
        let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
        let target = match target.as_bytes().first() {
            None => "/".to_owned(),
            Some(b'?') => format!("/{target}"),
            Some(_) => target.to_owned(),
        };
        if !target.is_ascii() {
            return Err(bad("the path must be ASCII (percent-encode other characters)"));
        }
        Ok(Url { host, port, target })
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (80 if the URL gave none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query, starting with `/`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// `host:port` as the `Host` header wants it: brackets around IPv6,
    /// the port left out when it is 80.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.target)
    }
}

/// Splits `host[:port]` or `[v6][:port]`, checking both parts.
fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let bracketed = authority.starts_with('[');
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or("unclosed '[' in the host")?;
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        match after {
            "" => (v6, None),
            _ => (v6, Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    let name_ok = host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !bracketed && !name_ok {
        return Err(format!("{host:?} is not a valid host name"));
    }
    let port = match port {
        None => 80,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("{p:?} is not a valid port (1-65535)")),
            Ok(n) => n,
        },
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_and_target() {
        let u = Url::parse("http://127.0.0.1:8081/a/b?c=d").unwrap();
        assert_eq!((u.host(), u.port(), u.target()), ("127.0.0.1", 8081, "/a/b?c=d"));
        let u = Url::parse("HTTP://Example.com").unwrap();
        assert_eq!((u.host(), u.port(), u.target()), ("Example.com", 80, "/"));
        assert_eq!(u.authority(), "Example.com");
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.target(), "/?q");
        let u = Url::parse("http://[::1]:9000/x#frag").unwrap();
        assert_eq!((u.host(), u.port(), u.target()), ("::1", 9000, "/x"));
        assert_eq!(u.to_string(), "http://[::1]:9000/x");
    }

    #[test]
    fn rejects_https_other_schemes_and_garbage() {
        let msg = |s: &str| Url::parse(s).unwrap_err().to_string();
        assert!(msg("https://example.com/").contains("https is not supported"));
        assert!(msg("ftp://example.com/").contains("unsupported scheme"));
        assert!(msg("example.com/").contains("expected http://"));
        assert!(msg("garbage").contains("expected http://"));
        assert!(msg("http://").contains("no host"));
        assert!(msg("http://:80/").contains("no host"));
        assert!(msg("http://host:0/").contains("not a valid port"));
        assert!(msg("http://host:65536/").contains("not a valid port"));
        assert!(msg("http://host:x/").contains("not a valid port"));
        assert!(msg("http://user@host/").contains("user info"));
        assert!(msg("http://ho st/").contains("space"));
        assert!(msg("http://h%st/").contains("not a valid host"));
        assert!(msg("http://[::1/").contains("unclosed"));
        assert!(msg("http://[zz]/").contains("not an IPv6"));
        assert!(msg("http://a:b:1/").contains("not a valid host"));
        assert!(msg("http://h/ü").contains("ASCII"));
        assert_eq!(Url::parse("nope").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
