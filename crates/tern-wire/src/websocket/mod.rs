//! XMPP over WebSocket (RFC 7395) without I/O: the RFC 6455 §5 frame codec ([`WsCodec`],
//! [`encode_frame`], [`encode_masked_frame`] for clients) and the RFC 7395 §3.3 message framing on top of it
//! ([`parse_ws_message`], [`ws_open`], [`ws_close`]).

mod codec;
#[cfg(test)]
mod tests;
mod xmpp;

pub use codec::{encode_close, encode_frame, encode_frame_with, encode_masked_frame, Opcode, WsCodec, WsError, WsMessage};
pub use xmpp::{parse_ws_message, ws_close, ws_open, NS_FRAMING};
