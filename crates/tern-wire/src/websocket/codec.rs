//! RFC 6455 §5 data framing of a WebSocket connection, without I/O: the server side (what
//! tern runs) and the client side (load generators, tests).
//!
//! Client frames must be masked and server frames must not be (§5.1, §5.3); reserved bits must be clear (§5.2); control
//! frames are at most 125 bytes and never fragmented (§5.5); fragmented messages are
//! reassembled (§5.4) up to a size limit, checked from each frame header before its payload
//! arrives; text must be UTF-8 (§5.6, §8.1); a close frame carries nothing or a valid
//! status code and a UTF-8 reason (§5.5.1, §7.4). Binary messages are refused (RFC 7395
//! §3.2 carries XMPP in text messages only). Every failure names the close code to send.

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;

/// A frame opcode the server sends (RFC 6455 §5.2, §11.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Text = 0x1,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

/// A complete message or control frame received from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsMessage {
    /// A whole text message (all fragments), valid UTF-8.
    Text(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The client's close frame: its status code and reason, if it gave one.
    Close(Option<(u16, String)>),
}

/// Why the connection must be failed (RFC 6455 §7.1.7), with the status code to close with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("client frame is not masked (RFC 6455 §5.1)")]
    Unmasked,
    #[error("server frame is masked (RFC 6455 §5.1)")]
    Masked,
    #[error("reserved bits set without a negotiated extension (RFC 6455 §5.2)")]
    ReservedBits,
    #[error("unknown opcode {0:#x} (RFC 6455 §5.2)")]
    UnknownOpcode(u8),
    #[error("control frame fragmented or longer than 125 bytes (RFC 6455 §5.5)")]
    BadControlFrame,
    #[error("continuation frame without a fragmented message in progress (RFC 6455 §5.4)")]
    UnexpectedContinuation,
    #[error("new data frame while a fragmented message is in progress (RFC 6455 §5.4)")]
    ExpectedContinuation,
    #[error("64-bit payload length with the most significant bit set (RFC 6455 §5.2)")]
    BadLength,
    #[error("binary message (RFC 7395 §3.2: XMPP goes in text messages)")]
    Binary,
    #[error("text is not valid UTF-8 (RFC 6455 §8.1)")]
    InvalidUtf8,
    #[error("message longer than {0} bytes")]
    TooBig(usize),
    #[error("invalid close frame payload (RFC 6455 §5.5.1, §7.4)")]
    BadClose,
}

impl WsError {
    /// The close status code for this failure (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            Self::Binary => 1003,
            Self::InvalidUtf8 => 1007,
            Self::TooBig(_) => 1009,
            _ => 1002,
        }
    }
}

/// The frame whose payload is being received.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    remaining: u64,
    /// payload bytes received so far (position in the masking key)
    offset: usize,
}

/// Frame decoder: feed it the bytes read from the socket.
#[derive(Debug)]
pub struct WsCodec {
    /// Decoding a client's frames (server side): they must be masked.
    server: bool,
    max_message: usize,
    header: [u8; 14],
    header_len: usize,
    frame: Option<Frame>,
    /// the text message being reassembled
    message: Vec<u8>,
    /// a text frame without FIN arrived: continuations expected
    fragmented: bool,
    /// payload of the control frame being received
    control: Vec<u8>,
    /// the client's close frame arrived: nothing more is read
    closed: bool,
    dead: Option<WsError>,
}

impl WsCodec {
    /// A server's decoder of client frames, accepting text messages of up to `max_message`
    /// bytes.
    pub fn new(max_message: usize) -> Self {
        Self::with_role(true, max_message)
    }

    /// A client's decoder of server frames (unmasked).
    pub fn client(max_message: usize) -> Self {
        Self::with_role(false, max_message)
    }

    fn with_role(server: bool, max_message: usize) -> Self {
        WsCodec {
            server,
            max_message,
            header: [0; 14],
            header_len: 0,
            frame: None,
            message: Vec::new(),
            fragmented: false,
            control: Vec::new(),
            closed: false,
            dead: None,
        }
    }

    /// Bytes held for an incomplete message or control frame.
    pub fn buffered(&self) -> usize {
        self.message.len() + self.control.len()
    }

    /// Whether the client's close frame has arrived.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Decode `input`, appending every complete message to `out`. After an error the
    /// connection must be failed; further calls return the same error.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        while !input.is_empty() && !self.closed {
            let step = match self.frame.is_some() {
                true => self.payload(&mut input, out),
                false => self.header(&mut input, out),
            };
            if let Err(e) = step {
                self.message = Vec::new();
                self.control = Vec::new();
                self.dead = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Collect header bytes; start the frame once the header is complete.
    fn header(&mut self, input: &mut &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        let need = match self.header_len {
            0 | 1 => 2,
            _ => header_size(self.header[1]),
        };
        let take = (need - self.header_len).min(input.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        *input = &input[take..];
        if self.header_len == 2 && header_size(self.header[1]) > 2 {
            return Ok(());
        }
        if self.header_len < need {
            return Ok(());
        }
        self.header_len = 0;
        let frame = self.parse_header()?;
        let empty = frame.remaining == 0;
        self.frame = Some(frame);
        if empty {
            self.finish_frame(out)?;
        }
        Ok(())
    }

    fn parse_header(&self) -> Result<Frame, WsError> {
        let h = &self.header;
        let (fin, rsv, opcode) = (h[0] & 0x80 != 0, h[0] & 0x70, h[0] & 0x0F);
        if rsv != 0 {
            return Err(WsError::ReservedBits);
        }
        let masked = h[1] & 0x80 != 0;
        if self.server && !masked {
            return Err(WsError::Unmasked);
        }
        if !self.server && masked {
            return Err(WsError::Masked);
        }
        let (len, at) = match h[1] & 0x7F {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(WsError::BadLength);
        }
        let mask = if masked { [h[at], h[at + 1], h[at + 2], h[at + 3]] } else { [0; 4] };
        match opcode {
            0x8..=0xA if !fin || len > MAX_CONTROL as u64 => return Err(WsError::BadControlFrame),
            0x8..=0xA => {}
            0x0 if !self.fragmented => return Err(WsError::UnexpectedContinuation),
            0x1 if self.fragmented => return Err(WsError::ExpectedContinuation),
            0x0 | 0x1 => {
                let total = (self.message.len() as u64).saturating_add(len);
                if total > self.max_message as u64 {
                    return Err(WsError::TooBig(self.max_message));
                }
            }
            0x2 => return Err(WsError::Binary),
            other => return Err(WsError::UnknownOpcode(other)),
        }
        Ok(Frame { fin, opcode, mask, remaining: len, offset: 0 })
    }

    /// Unmask payload bytes into the message or control buffer.
    fn payload(&mut self, input: &mut &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        let Some(frame) = self.frame.as_mut() else { return Ok(()) };
        let take = usize::try_from(frame.remaining).map_or(input.len(), |r| r.min(input.len()));
        let dest = if frame.opcode >= 0x8 { &mut self.control } else { &mut self.message };
        dest.extend(input[..take].iter().enumerate().map(|(i, b)| b ^ frame.mask[(frame.offset + i) % 4]));
        frame.offset += take;
        frame.remaining -= take as u64;
        *input = &input[take..];
        if frame.remaining == 0 {
            self.finish_frame(out)?;
        }
        Ok(())
    }

    fn finish_frame(&mut self, out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        let Some(frame) = self.frame.take() else { return Ok(()) };
        match frame.opcode {
            0x8 => {
                let payload = std::mem::take(&mut self.control);
                out.push(WsMessage::Close(parse_close(&payload)?));
                self.closed = true;
            }
            0x9 => out.push(WsMessage::Ping(std::mem::take(&mut self.control))),
            0xA => out.push(WsMessage::Pong(std::mem::take(&mut self.control))),
            _ if frame.fin => {
                self.fragmented = false;
                let text = String::from_utf8(std::mem::take(&mut self.message)).map_err(|_| WsError::InvalidUtf8)?;
                out.push(WsMessage::Text(text));
            }
            _ => self.fragmented = true,
        }
        Ok(())
    }
}

/// Header length from the second header byte: 2, plus 2 or 8 for an extended length,
/// plus the 4-byte masking key when the mask bit is set.
fn header_size(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// A close frame's payload: empty, or a status code a peer may send (RFC 6455 §7.4.1-2)
/// followed by a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::BadClose),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(WsError::BadClose);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

/// Append one unmasked, unfragmented server frame (RFC 6455 §5.2; a server never masks).
pub fn encode_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    frame_header(out, opcode, payload.len(), 0);
    out.extend_from_slice(payload);
}

/// Append one unfragmented server frame whose payload `write` appends to `out`, so a
/// serialized stanza needs no buffer of its own. Room for the short header (payloads under
/// 126 bytes) is kept ahead of the payload; a longer payload is moved up to fit its header.
pub fn encode_frame_with(out: &mut Vec<u8>, opcode: Opcode, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0, 0]);
    write(out);
    let len = out.len() - start - 2;
    let (header, n) = header_bytes(opcode, len, 0);
    if n > 2 {
        out.resize(out.len() + n - 2, 0);
        out.copy_within(start + 2..start + 2 + len, start + n);
    }
    out[start..start + n].copy_from_slice(&header[..n]);
}

/// Append one unfragmented client frame masked with `mask` (RFC 6455 §5.3).
pub fn encode_masked_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8], mask: [u8; 4]) {
    frame_header(out, opcode, payload.len(), 0x80);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

fn frame_header(out: &mut Vec<u8>, opcode: Opcode, len: usize, mask_bit: u8) {
    let (header, n) = header_bytes(opcode, len, mask_bit);
    out.extend_from_slice(&header[..n]);
}

/// A frame header (RFC 6455 §5.2) without the masking key: its bytes and their count.
fn header_bytes(opcode: Opcode, len: usize, mask_bit: u8) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode as u8;
    match len {
        n if n < 126 => {
            h[1] = mask_bit | n as u8;
            (h, 2)
        }
        n if n <= usize::from(u16::MAX) => {
            h[1] = mask_bit | 126;
            h[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            (h, 4)
        }
        n => {
            h[1] = mask_bit | 127;
            h[2..10].copy_from_slice(&(n as u64).to_be_bytes());
            (h, 10)
        }
    }
}

/// Append a close frame with `code` and a reason cut to fit a control frame.
pub fn encode_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode_frame(out, Opcode::Close, &payload);
}
