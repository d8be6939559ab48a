//! Reading a connection without holding a large buffer while it is idle (RFC 6120 §13.12
//! resource use: most client connections wait most of the time). A read waits with a small
//! buffer; when that fills up, whatever else is already available (in the kernel or in the
//! TLS layer) is taken at once, without waiting, into a buffer that is released at the next
//! read.

use std::io;

use futures_util::FutureExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Bytes held while waiting for input.
const SMALL: usize = 512;
/// Most bytes taken without waiting after the small buffer filled up.
const DRAIN: usize = 16 * 1024;

/// A connection's read buffer: [`SMALL`] bytes while idle.
pub struct ReadBuf {
    small: [u8; SMALL],
    big: Vec<u8>,
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf { small: [0; SMALL], big: Vec::new() }
    }
}

impl ReadBuf {
    /// Wait for input and return what was read; empty at end of stream. Cancel-safe: only
    /// the wait for the first bytes is an await point.
    pub async fn fill<R: AsyncRead + Unpin + ?Sized>(&mut self, io: &mut R) -> io::Result<&[u8]> {
        self.big = Vec::new();
        let n = io.read(&mut self.small).await?;
        if n < SMALL {
            return Ok(&self.small[..n]);
        }
        let mut big = vec![0; SMALL + DRAIN];
        big[..SMALL].copy_from_slice(&self.small);
        // An error here shows again at the next read; these bytes are handled first.
        let more = match io.read(&mut big[SMALL..]).now_or_never() {
            Some(Ok(m)) => m,
            _ => 0,
        };
        big.truncate(SMALL + more);
        self.big = big;
        Ok(&self.big)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn small_reads_and_drained_bursts() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let mut rb = ReadBuf::default();
        tokio::io::AsyncWriteExt::write_all(&mut client, b"<presence/>").await.expect("write");
        assert_eq!(rb.fill(&mut server).await.expect("read"), b"<presence/>");
        let burst: Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
        tokio::io::AsyncWriteExt::write_all(&mut client, &burst).await.expect("write");
        let got = rb.fill(&mut server).await.expect("read").to_vec();
        assert_eq!(got, burst, "the whole burst in one read");
        drop(client);
        assert!(rb.fill(&mut server).await.expect("eof").is_empty());
        assert!(rb.big.is_empty(), "nothing large kept while waiting");
    }
}
