//! XEP-0198 §5 resumption across connections: the new connection hands its transport to
//! the session task that owns the SM-ID; that task answers `<resumed/>` on it.

use tokio::sync::oneshot;

use super::transport::Transport;

/// Sent to the task holding the session to resume.
pub struct ResumeRequest {
    /// The new connection (already authenticated as the same account).
    pub transport: Box<dyn Transport>,
    /// The client's `h`: stanzas it handled.
    pub h: u32,
    /// Whether the new connection is encrypted.
    pub encrypted: bool,
    /// Ok: the old task took the transport. Err: it refused and gives the transport back.
    pub reply: oneshot::Sender<Result<(), Box<dyn Transport>>>,
}

impl std::fmt::Debug for ResumeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResumeRequest").field("h", &self.h).field("transport", &self.transport.describe()).finish()
    }
}
