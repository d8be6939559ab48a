//! tern-core: the protocol logic of an XMPP client session without I/O (RFC 6120, RFC 6121,
//! XEP-0198). Drivers feed it parsed stream events and `now`, and carry out what it returns.

pub mod bosh;
pub mod error;
pub mod ns;
pub mod roster;
pub mod routing;
pub mod session;
pub mod sm;
pub mod stanza;
pub mod xml;

pub use error::{ErrorType, StanzaCondition, StanzaError, StreamCondition, StreamError};
pub use session::{C2sSession, Output, SessionConfig, VhostPolicy};
