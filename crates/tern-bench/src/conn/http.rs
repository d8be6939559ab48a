//! The least of an HTTP/1.1 client (RFC 9112) that BOSH (XEP-0124 §5) needs: `POST` with a
//! `Content-Length` body on a persistent connection (§9.3), and the response's status line
//! (§4), header fields (§5) and `Content-Length` body (§6.3), one response per request (no
//! pipelining). `Connection: close`, or HTTP/1.0 without keep-alive, ends the connection
//! after the response (§9.6). The header parsing also serves the WebSocket handshake.

use crate::error::ClientError;

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 << 20;

/// A response head: the status line and the header fields, without the blank line.
pub(crate) struct Head<'a> {
    pub status: u16,
    /// HTTP/1.0 (persistent only with `Connection: keep-alive`).
    http10: bool,
    fields: &'a str,
}

impl<'a> Head<'a> {
    pub(crate) fn parse(head: &'a str) -> Result<Head<'a>, ClientError> {
        let (status_line, fields) = head.split_once("\r\n").unwrap_or((head, ""));
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().and_then(|s| s.parse::<u16>().ok());
        match (version, status) {
            ("HTTP/1.1" | "HTTP/1.0", Some(status)) => Ok(Head {
                status,
                http10: version == "HTTP/1.0",
                fields,
            }),
            _ => Err(ClientError::Http("bad status line".into())),
        }
    }

    /// The value of the first field named `name` (case-insensitive).
    pub(crate) fn field(&self, name: &str) -> Option<&'a str> {
        field(self.fields, name)
    }

    /// Whether the connection ends after this response (RFC 9112 §9.3, §9.6).
    fn closes(&self) -> bool {
        let has = |token: &str| {
            self.field("connection")
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        has("close") || (self.http10 && !has("keep-alive"))
    }
}

/// The value of the first header field named `name` (case-insensitive) in `fields`, the
/// header lines of a request or response (RFC 9112 §5).
pub(crate) fn field<'a>(fields: &'a str, name: &str) -> Option<&'a str> {
    fields
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// One complete response.
#[derive(Debug)]
pub(super) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server ends the connection after it.
    pub close: bool,
}

/// Reads one response at a time from the bytes of a connection.
#[derive(Default)]
pub(super) struct ResponseReader {
    buf: Vec<u8>,
    /// Once the head is read: status, close, where the body starts and its length.
    head: Option<(u16, bool, usize, usize)>,
}

impl ResponseReader {
    /// Whether no byte of a response has arrived.
    pub(super) fn is_idle(&self) -> bool {
        self.buf.is_empty()
    }

    /// Add bytes; the response once it is complete. Bytes beyond it are an error, since
    /// only one request is ever outstanding on a connection.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<Option<Response>, ClientError> {
        self.buf.extend_from_slice(bytes);
        loop {
            if self.head.is_some() {
                break;
            }
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.buf.len() > MAX_HEAD {
                    return Err(ClientError::Http("response head too long".into()));
                }
                return Ok(None);
            };
            let text = std::str::from_utf8(&self.buf[..end])
                .map_err(|_| ClientError::Http("response head is not UTF-8".into()))?;
            let head = Head::parse(text)?;
            if (100..200).contains(&head.status) {
                // An interim response (e.g. 100 Continue): the final one follows.
                self.buf.drain(..end + 4);
                continue;
            }
            if head.field("transfer-encoding").is_some() {
                return Err(ClientError::Http("transfer-encoding not supported".into()));
            }
            let len = match head.field("content-length").map(str::parse::<usize>) {
                Some(Ok(len)) if len <= MAX_BODY => len,
                Some(Ok(_)) => return Err(ClientError::Http("response body too large".into())),
                Some(Err(_)) => return Err(ClientError::Http("bad Content-Length".into())),
                None if matches!(head.status, 204 | 304) => 0,
                None => return Err(ClientError::Http("response without Content-Length".into())),
            };
            self.head = Some((head.status, head.closes(), end + 4, len));
        }
        let Some((status, close, start, len)) = self.head else {
            return Ok(None);
        };
        match (self.buf.len() - start).cmp(&len) {
            std::cmp::Ordering::Less => Ok(None),
            std::cmp::Ordering::Greater => {
                Err(ClientError::Http("bytes after the response".into()))
            }
            std::cmp::Ordering::Equal => {
                let body = self.buf.split_off(start);
                self.buf.clear();
                self.head = None;
                Ok(Some(Response {
                    status,
                    body,
                    close,
                }))
            }
        }
    }

    /// Give back the buffer's capacity (between responses).
    pub(super) fn release(&mut self) {
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
    }
}

/// Append a `POST` of `body` (XML) to `path` on `host`, keeping the connection open.
pub(super) fn post(out: &mut Vec<u8>, host: &str, path: &str, body: &str) {
    use std::io::Write as _;
    let _ = write!(
        out,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    out.extend_from_slice(body.as_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_responses_split_anywhere() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\
                     content-length: 5\r\n\r\n<b/>\n";
        for split in 1..wire.len() {
            let mut r = ResponseReader::default();
            assert!(
                r.feed(&wire[..split]).unwrap().is_none(),
                "split at {split}"
            );
            assert_eq!(
                r.is_idle(),
                split == 25,
                "only the interim response is read"
            );
            let resp = r.feed(&wire[split..]).unwrap().unwrap();
            assert_eq!((resp.status, resp.close), (200, false));
            assert_eq!(resp.body, b"<b/>\n");
            assert!(r.is_idle());
        }
    }

    #[test]
    fn connection_close_and_http10() {
        let mut r = ResponseReader::default();
        let resp = r
            .feed(b"HTTP/1.1 404 Not Found\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((resp.status, resp.close), (404, true));
        let resp = r
            .feed(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(resp.close, "HTTP/1.0 closes by default");
        let resp = r
            .feed(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!resp.close);
    }

    #[test]
    fn refusals() {
        let bad = |wire: &[u8]| ResponseReader::default().feed(wire).unwrap_err().kind();
        assert_eq!(bad(b"HTTP/2 200\r\n\r\n"), "http: bad status line");
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\n\r\n"),
            "http: response without Content-Length"
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "http: transfer-encoding not supported"
        );
        assert_eq!(
            bad(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"),
            "http: bytes after the response"
        );
        assert_eq!(bad(&[b'x'; MAX_HEAD + 1]), "http: response head too long");
    }

    #[test]
    fn writes_a_post() {
        let mut out = Vec::new();
        post(&mut out, "127.0.0.1:5280", "/http-bind", "<body/>");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /http-bind HTTP/1.1\r\nHost: 127.0.0.1:5280\r\nContent-Type: text/xml; \
             charset=utf-8\r\nContent-Length: 7\r\n\r\n<body/>"
        );
        let head = Head::parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: a:b")
            .unwrap();
        assert_eq!(head.status, 101);
        assert_eq!(head.field("upgrade"), Some("websocket"));
        assert_eq!(head.field("x"), Some("a:b"));
    }
}
