//! A minimal HTTP/1.1 client (RFC 9112) for the BOSH tests: one connection per request
//! (`Connection: close`), plain or TLS, optionally from a chosen loopback source address,
//! with the request written first and the response read separately so tests can control
//! the order in which concurrent requests reach the server.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use super::client::{tls_config, tls_connect, Io, TIMEOUT};

/// Where and how to send requests.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// Local source address (any 127.0.0.0/8 address reaches a 127.0.0.1 listener).
    pub bind: Option<IpAddr>,
    /// HTTPS with this client configuration (server name `localhost`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Extra headers on every request.
    pub headers: Vec<(String, String)>,
    pub path: String,
}

impl Endpoint {
    pub fn plain(addr: SocketAddr) -> Endpoint {
        Endpoint { addr, bind: None, tls: None, headers: Vec::new(), path: "/http-bind".into() }
    }

    pub fn tls(addr: SocketAddr, certs_dir: &Path) -> Endpoint {
        Endpoint { tls: Some(tls_config(certs_dir)), ..Endpoint::plain(addr) }
    }

    /// The same endpoint with one more header on every request.
    pub fn with_header(mut self, name: &str, value: &str) -> Endpoint {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same endpoint, connecting from `ip`.
    pub fn with_source_ip(mut self, ip: &str) -> Endpoint {
        self.bind = Some(ip.parse().expect("source ip"));
        self
    }

    /// A TCP (or TLS) connection to the server.
    pub async fn connect(&self) -> Box<dyn Io> {
        let sock = TcpSocket::new_v4().expect("socket");
        if let Some(ip) = self.bind {
            sock.bind(SocketAddr::new(ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        }
        let tcp: TcpStream = tokio::time::timeout(TIMEOUT, sock.connect(self.addr))
            .await
            .expect("connect timed out")
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.addr));
        tcp.set_nodelay(true).expect("nodelay");
        match &self.tls {
            Some(cfg) => tls_connect(cfg.clone(), "localhost", Box::new(tcp)).await,
            None => Box::new(tcp),
        }
    }

    /// The bytes of a request with a body (`Content-Length`) and `Connection: close`.
    pub fn request_bytes(&self, method: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
        let mut head = format!("{method} {} HTTP/1.1\r\nConnection: close\r\n", self.path);
        let own_host = self.headers.iter().map(|(k, _)| k.as_str()).chain(extra.iter().map(|(k, _)| *k));
        if !own_host.into_iter().any(|k| k.eq_ignore_ascii_case("host")) {
            head.push_str("Host: localhost\r\n");
        }
        if method == "POST" {
            head.push_str("Content-Type: text/xml; charset=utf-8\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        let all = self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra.iter().copied());
        for (k, v) in all {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Connect and write a whole request; the response is read with [`read_response`].
    pub async fn write_request(&self, method: &str, extra: &[(&str, &str)], body: &[u8]) -> Box<dyn Io> {
        let mut io = self.connect().await;
        io.write_all(&self.request_bytes(method, extra, body)).await.expect("write request");
        io.flush().await.expect("flush request");
        io
    }

    /// One request, one response.
    pub async fn request(&self, method: &str, extra: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let io = self.write_request(method, extra, body).await;
        read_response(io, TIMEOUT + Duration::from_secs(60)).await
    }

    /// POST a BOSH body.
    pub async fn post(&self, xml: &str) -> HttpResponse {
        self.request("POST", &[], xml.as_bytes()).await
    }
}

/// A parsed HTTP response.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as XML.
    pub fn xml(&self) -> minidom::Element {
        self.body.parse().unwrap_or_else(|e| panic!("response body is not XML ({e}): {self:?}"))
    }
}

/// Read a response until the server closes the connection (within `within`).
pub async fn read_response(mut io: Box<dyn Io>, within: Duration) -> HttpResponse {
    let mut raw = Vec::new();
    let read = async {
        let mut buf = [0u8; 16384];
        loop {
            match io.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // A reset after the response (unread request bytes) still leaves the response.
                Err(e) if !raw.is_empty() => {
                    eprintln!("read after {} bytes: {e}", raw.len());
                    break;
                }
                Err(e) => panic!("reading the HTTP response: {e}"),
            }
            if complete(&raw) {
                break;
            }
        }
    };
    tokio::time::timeout(within, read).await.unwrap_or_else(|_| panic!("no HTTP response within {within:?}"));
    parse(&raw).unwrap_or_else(|| panic!("bad HTTP response: {:?}", String::from_utf8_lossy(&raw)))
}

fn split_head(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((&raw[..i], &raw[i + 4..]))
}

/// Whether `raw` holds a whole response with a `Content-Length`.
fn complete(raw: &[u8]) -> bool {
    let Some((head, body)) = split_head(raw) else { return false };
    let head = String::from_utf8_lossy(head);
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
    });
    len.is_some_and(|n| body.len() >= n)
}

fn parse(raw: &[u8]) -> Option<HttpResponse> {
    let (head, rest) = split_head(raw)?;
    let head = String::from_utf8(head.to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
    let body = if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..n)?.to_vec()
    } else {
        rest.to_vec()
    };
    Some(HttpResponse { status, headers, body: String::from_utf8(body).ok()? })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&rest[..i]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[i + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
