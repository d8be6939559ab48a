//! Reading a connection without holding a buffer while it is idle (RFC 6120 §13.12
//! resource use: most client connections wait most of the time). A read waits with no
//! buffer of its own: each poll reads into a buffer on the poll's stack, and only the bytes
//! that arrived are copied out, into memory the caller releases once it has used them. A
//! waiting connection's future thus keeps no room for input.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, ReadBuf as TokioReadBuf};

/// Most bytes one read takes (what is already available, in the kernel or the TLS layer).
const MOST: usize = 16 * 1024;

/// Wait for input and append it to `to`: the number of bytes appended, 0 at end of
/// stream. Cancel-safe: bytes are appended only when a poll completes the read.
pub async fn read_into<R: AsyncRead + Unpin + ?Sized>(io: &mut R, to: &mut Vec<u8>) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut stack = [MaybeUninit::<u8>::uninit(); MOST];
        let mut buf = TokioReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
        to.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    })
    .await
}

/// A connection's input: what the last read returned, released at the next read.
#[derive(Default)]
pub struct ReadBuf {
    last: Vec<u8>,
}

impl ReadBuf {
    /// Wait for input and return what was read; empty at end of stream. Cancel-safe.
    pub async fn fill<R: AsyncRead + Unpin + ?Sized>(&mut self, io: &mut R) -> io::Result<&[u8]> {
        self.last = Vec::new();
        read_into(io, &mut self.last).await?;
        Ok(&self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_reads_and_bursts() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut rb = ReadBuf::default();
        tokio::io::AsyncWriteExt::write_all(&mut client, b"<presence/>").await.expect("write");
        assert_eq!(rb.fill(&mut server).await.expect("read"), b"<presence/>");
        let burst: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        tokio::io::AsyncWriteExt::write_all(&mut client, &burst).await.expect("write");
        let got = rb.fill(&mut server).await.expect("read").to_vec();
        assert_eq!(got, burst, "the whole burst in one read");
        let big = vec![b'x'; MOST + 100];
        tokio::io::AsyncWriteExt::write_all(&mut client, &big).await.expect("write");
        assert_eq!(rb.fill(&mut server).await.expect("read").len(), MOST, "one read takes at most MOST");
        assert_eq!(rb.fill(&mut server).await.expect("read").len(), 100);
        drop(client);
        assert!(rb.fill(&mut server).await.expect("eof").is_empty());
        assert_eq!(rb.last.capacity(), 0, "nothing kept while waiting");
    }

    #[tokio::test]
    async fn appends_and_waits_without_losing_bytes() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let mut got = b"GET".to_vec();
        // A read cancelled while waiting takes nothing.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), read_into(&mut server, &mut got)).await;
        assert!(waited.is_err());
        tokio::io::AsyncWriteExt::write_all(&mut client, b" / HTTP/1.1").await.expect("write");
        assert_eq!(read_into(&mut server, &mut got).await.expect("read"), 11);
        assert_eq!(got, b"GET / HTTP/1.1");
    }
}
