//! `newswire health URL`: asks a service's admin endpoint whether it is ready and exits 0
//! (ready) or 1 (not ready, unreachable, too slow), for container health checks: the image
//! has no curl. `URL` is the admin address (`http://127.0.0.1:9101`); its `/readyz` is asked,
//! unless the URL names another path (`http://127.0.0.1:9101/healthz` for liveness).
//!
//! Plain HTTP/1.0 over TCP: admin endpoints are local and unencrypted, and the check must not
//! depend on the configuration (it reads none) or on anything that could hang past its timeout.

use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Arguments of `newswire health`.
#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// The admin address, e.g. `http://127.0.0.1:9101` (`/readyz` is asked unless a path is
    /// given).
    #[arg(value_parser = AdminUrl::parse)]
    url: AdminUrl,
    /// Give up (not ready) after this many seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    timeout: f64,
    /// Print nothing when ready.
    #[arg(long, short)]
    quiet: bool,
}

/// An `http://host:port/path` URL, split for a plain request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUrl {
    /// `host:port`, as given (port 80 added if missing).
    authority: String,
    /// The request path (`/readyz` when the URL has none).
    path: String,
}

impl AdminUrl {
    fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: only http:// admin URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || authority.chars().any(char::is_whitespace) {
            return Err(format!("`{url}`: no host"));
        }
        let has_port = match authority.rsplit_once(':') {
            Some((host, port)) => !host.ends_with(':') && port.parse::<u16>().is_ok(),
            None => false,
        };
        let authority = if has_port { authority.to_owned() } else { format!("{authority}:80") };
        let path = if path.is_empty() || path == "/" { "/readyz".to_owned() } else { path.to_owned() };
        Ok(Self { authority, path })
    }
}

/// Runs the check: 0 when the endpoint answers 2xx within the timeout, else 1 with the reason
/// on stderr.
pub async fn run(args: HealthArgs) -> ExitCode {
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::from_secs(5));
    let target = format!("http://{}{}", args.url.authority, args.url.path);
    match tokio::time::timeout(timeout, get(&args.url)).await {
        Ok(Ok((status, body))) if (200..300).contains(&status) => {
            if !args.quiet {
                println!("{target}: {status} {}", first_line(&body));
            }
            ExitCode::SUCCESS
        }
        Ok(Ok((status, body))) => {
            eprintln!("newswire health: {target}: {status} {}", first_line(&body));
            ExitCode::FAILURE
        }
        Ok(Err(e)) => {
            eprintln!("newswire health: {target}: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("newswire health: {target}: no answer within {timeout:?}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of a body, cut to 200 characters (`/readyz` says why it is not ready).
fn first_line(body: &str) -> String {
    body.lines().next().unwrap_or("").chars().take(200).collect()
}

/// One GET: `(status, body)`. At most 64 KiB of the answer are read.
async fn get(url: &AdminUrl) -> std::io::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(&url.authority).await?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: newswire-health\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response).await?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .strip_prefix("HTTP/1.")
        .and_then(|r| r.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_readyz_and_port_80() {
        let u = AdminUrl::parse("http://127.0.0.1:9101").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("127.0.0.1:9101", "/readyz"));
        let u = AdminUrl::parse("http://localhost/").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("localhost:80", "/readyz"));
        let u = AdminUrl::parse("http://[::1]:9104/healthz").unwrap();
        assert_eq!((u.authority.as_str(), u.path.as_str()), ("[::1]:9104", "/healthz"));
        let u = AdminUrl::parse("http://[::1]/").unwrap();
        assert_eq!(u.authority, "[::1]:80");
        for bad in ["https://x:1", "127.0.0.1:9101", "http://", "http:///readyz", "http://a b:1"] {
            assert!(AdminUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
