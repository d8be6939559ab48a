//! The client-to-server session state machine (RFC 6120 §4-§7, §8.1.2; XEP-0198 §3-§5;
//! XEP-0199 server-initiated pings). Sans-I/O: a driver feeds it stream events, results of
//! asynchronous work and `now`, and carries out the [`Output`]s it yields, in order.
//!
//! The same machine serves TCP, WebSocket and BOSH: transports only translate framing.

mod features;
mod negotiate;
mod sm;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jid::{BareJid, FullJid, Jid};
use minidom::Element;
use tern_wire::{FramerError, StreamEvent, StreamHeader};

use crate::error::{StanzaError, StreamCondition, StreamError};
use crate::ns;
use crate::sm::SmState;
use crate::stanza::{self, StanzaKind};
use crate::xml::{elem, random_id, set_attr};

/// Per-vhost settings the negotiation needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VhostPolicy {
    /// XEP-0077 in-band registration is open.
    pub registration: bool,
    /// SASL PLAIN may be used on an unencrypted stream.
    pub allow_plain_unencrypted: bool,
}

/// Settings of one session, fixed when the connection is accepted.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Served domains (lowercase) and their policy.
    pub vhosts: Arc<HashMap<String, VhostPolicy>>,
    /// The transport is already encrypted (direct TLS, wss, https).
    pub encrypted: bool,
    /// STARTTLS may be offered (plain TCP c2s).
    pub starttls: bool,
    /// When STARTTLS is offered, it must be negotiated before anything else (RFC 7590).
    pub tls_required: bool,
    /// An unauthenticated connection is closed after this long.
    pub auth_timeout: Duration,
    /// Ping an established client after this much silence (XEP-0199).
    pub ping_interval: Duration,
    /// Close a client that leaves a ping unanswered this long.
    pub ping_timeout: Duration,
    /// SASL failures allowed on one stream before it is closed (RFC 6120 §6.4.5).
    pub max_auth_failures: u32,
    /// XEP-0198 resumption window advertised in `<enabled max=…/>`; 0 disables resumption.
    pub sm_resume_secs: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            vhosts: Arc::new(HashMap::new()),
            encrypted: false,
            starttls: true,
            tls_required: true,
            auth_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            max_auth_failures: 5,
            sm_resume_secs: 300,
        }
    }
}

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send the server's stream header (from `from`), then `features` if present.
    OpenStream { id: String, from: Option<String>, features: Option<Element> },
    /// Send one element to the client.
    Send(Element),
    /// `<proceed/>` was queued: flush it, run the TLS handshake choosing the certificate for
    /// `domain`, reset the parser, then call [`C2sSession::tls_established`].
    StartTls { domain: String },
    /// SASL succeeded and `<success/>` was queued: the client's next bytes open a new stream.
    ResetStream,
    /// Look up stored credentials, then call [`C2sSession::credentials`].
    LookupCredentials { vhost: String, username: String },
    /// A SASL attempt failed: apply the per-IP delay before sending what follows.
    AuthFailed,
    /// The account is authenticated.
    Authenticated { jid: BareJid },
    /// XEP-0077: create the account, then call [`C2sSession::registered`].
    Register { jid: BareJid, password: String },
    /// Claim this full JID (replacing a session that holds it), then call [`C2sSession::bound`].
    Bind { jid: FullJid },
    /// XEP-0198: the session may be resumed under this id.
    SmEnabled { id: String },
    /// XEP-0198: hand this connection to the hibernated session `previd`, acking `h`;
    /// call [`C2sSession::resume_failed`] if it can't be found.
    Resume { previd: String, h: u32 },
    /// A stanza from the established client for the IM layer: `from` stamped, and `to`
    /// parsed (`None` when absent: addressed to the sender's account, RFC 6120 §8.1.1.1).
    Stanza { stanza: Element, to: Option<Jid> },
    /// Close the stream (after the error, if any) and the connection.
    Close(Option<StreamError>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client's stream header (at start or after a restart).
    AwaitOpen,
    /// Stream open; negotiating or established.
    Open,
    /// Waiting for the driver to finish asynchronous work (credentials, bind, register).
    Waiting,
    Closed,
}

/// One client session.
pub struct C2sSession {
    cfg: SessionConfig,
    phase: Phase,
    vhost: Option<String>,
    encrypted: bool,
    username: Option<String>,
    jid: Option<FullJid>,
    sasl: Option<tern_auth::SaslServer>,
    auth_failures: u32,
    pending_iq: Option<Element>,
    sm: Option<SmState>,
    out: VecDeque<Output>,
    created: Instant,
    last_activity: Instant,
    ping: Option<(String, Instant)>,
    /// XEP-0198: the transport is gone and the session waits to be resumed.
    hibernating: bool,
}

impl C2sSession {
    pub fn new(cfg: SessionConfig, now: Instant) -> Self {
        let encrypted = cfg.encrypted;
        Self {
            cfg,
            phase: Phase::AwaitOpen,
            vhost: None,
            encrypted,
            username: None,
            jid: None,
            sasl: None,
            auth_failures: 0,
            pending_iq: None,
            sm: None,
            out: VecDeque::new(),
            created: now,
            last_activity: now,
            ping: None,
            hibernating: false,
        }
    }

    /// The next thing to do, if any.
    /// Free queues that are empty now (call before waiting): an idle session keeps no
    /// buffer sized for its busiest moment.
    pub fn release_idle_buffers(&mut self) {
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = VecDeque::new();
        }
        if let Some(sm) = self.sm.as_mut() {
            sm.release_idle_buffers();
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The bound full JID once established.
    pub fn jid(&self) -> Option<&FullJid> {
        self.jid.as_ref()
    }

    pub fn is_established(&self) -> bool {
        self.jid.is_some() && self.phase != Phase::Closed
    }

    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The stream is encrypted (TLS done or transport secure).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The vhost chosen by the stream's `to`.
    pub fn vhost(&self) -> Option<&str> {
        self.vhost.as_deref()
    }

    /// Any bytes arrived from the client (keepalives included).
    pub fn activity(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// Feed one parsed stream event.
    pub fn handle_event(&mut self, ev: StreamEvent, now: Instant) {
        self.last_activity = now;
        match ev {
            StreamEvent::Open(h) => self.handle_open(h),
            StreamEvent::Element(el) => self.handle_element(el, now),
            StreamEvent::Close => self.close(None),
        }
    }

    /// The framer rejected the input: the matching stream error (RFC 6120 §4.9.3).
    pub fn framing_error(&mut self, err: &FramerError) {
        let cond = StreamCondition::from_name(err.condition()).unwrap_or(StreamCondition::NotWellFormed);
        self.close(Some(StreamError::new(cond).with_text(err.to_string())));
    }

    /// End the session with a stream error (conflict, shutdown, ...).
    pub fn kick(&mut self, err: StreamError) {
        self.close(Some(err));
    }

    /// Move to Closed and emit the close output once. A stream error while the client's
    /// stream is not (re)opened yet — bad bytes before the header, the authentication
    /// timeout, a shutdown — is preceded by a stream header (RFC 6120 §4.9.1.2), without
    /// which the client could not parse it.
    fn close(&mut self, err: Option<StreamError>) {
        if self.phase != Phase::Closed {
            if err.is_some() && self.phase == Phase::AwaitOpen {
                self.open_response(self.vhost.clone());
            }
            self.phase = Phase::Closed;
            self.out.push_back(Output::Close(err));
        }
    }

    fn stream_error(&mut self, cond: StreamCondition, text: &str) {
        self.close(Some(StreamError::new(cond).with_text(text)));
    }

    fn send(&mut self, el: Element) {
        self.out.push_back(Output::Send(el));
    }

    fn handle_open(&mut self, h: StreamHeader) {
        if self.phase != Phase::AwaitOpen {
            return self.stream_error(StreamCondition::InvalidXml, "unexpected stream header");
        }
        let requested = h.to.as_deref().map(str::to_ascii_lowercase);
        if h.name != "stream" || h.stream_ns != ns::STREAMS || h.content_ns != ns::CLIENT {
            self.open_response(requested);
            return self.stream_error(StreamCondition::InvalidNamespace, "expected jabber:client stream");
        }
        let Some(to) = requested.filter(|d| self.cfg.vhosts.contains_key(d)) else {
            self.open_response(h.to.clone());
            return self.stream_error(StreamCondition::HostUnknown, "this server does not serve that domain");
        };
        if self.vhost.as_deref().is_some_and(|v| v != to) {
            self.open_response(Some(to));
            return self.stream_error(StreamCondition::HostUnknown, "domain changed on restart");
        }
        if h.version.as_deref().is_none_or(|v| v.split('.').next() != Some("1")) {
            self.open_response(Some(to));
            return self.stream_error(StreamCondition::UnsupportedVersion, "version 1.0 required");
        }
        self.vhost = Some(to);
        self.phase = Phase::Open;
        let features = self.features();
        self.out.push_back(Output::OpenStream { id: random_id(12), from: self.vhost.clone(), features: Some(features) });
    }

    /// The server's stream header without features, before a stream error.
    fn open_response(&mut self, from: Option<String>) {
        self.out.push_back(Output::OpenStream { id: random_id(12), from, features: None });
        if self.phase == Phase::AwaitOpen {
            self.phase = Phase::Open;
        }
    }

    fn policy(&self) -> VhostPolicy {
        self.vhost.as_ref().and_then(|v| self.cfg.vhosts.get(v)).cloned().unwrap_or_default()
    }

    fn handle_element(&mut self, el: Element, now: Instant) {
        match self.phase {
            Phase::Open => {}
            Phase::Closed => return,
            Phase::AwaitOpen => return self.stream_error(StreamCondition::NotWellFormed, "element before stream header"),
            Phase::Waiting => return self.stream_error(StreamCondition::PolicyViolation, "element while busy"),
        }
        if !self.encrypted && self.cfg.starttls && (self.cfg.tls_required || el.is("starttls", ns::TLS)) {
            return self.handle_pre_tls(el);
        }
        if el.has_ns(ns::SASL) {
            return self.handle_sasl(el);
        }
        if el.has_ns(ns::SM) {
            return self.handle_sm(el);
        }
        let Some(kind) = StanzaKind::of(&el) else {
            if el.is("starttls", ns::TLS) {
                let mut fail = Element::bare("failure", ns::TLS);
                fail.append_child(Element::bare("unexpected-request", ns::TLS));
                self.send(fail);
                return self.stream_error(StreamCondition::PolicyViolation, "TLS already negotiated");
            }
            return self.stream_error(StreamCondition::UnsupportedStanzaType, "unknown top-level element");
        };
        if self.username.is_none() {
            if kind == StanzaKind::Iq && el.get_child("query", ns::REGISTER).is_some() {
                return self.handle_register(el);
            }
            return self.stream_error(StreamCondition::NotAuthorized, "authenticate first");
        }
        if self.jid.is_none() {
            if kind == StanzaKind::Iq && el.get_child("bind", ns::BIND).is_some() {
                return self.handle_bind(el);
            }
            return self.stream_error(StreamCondition::NotAuthorized, "bind a resource first");
        }
        self.handle_stanza(el, kind, now);
    }

    /// A stanza from the established client. Replies generated here go through
    /// [`deliver`](Self::deliver) like every other stanza to the client, so XEP-0198 counts
    /// them (§4: the client's `h` counts every stanza it handles).
    fn handle_stanza(&mut self, mut el: Element, kind: StanzaKind, now: Instant) {
        if self.jid.is_none() {
            return;
        }
        if let Some(sm) = self.sm.as_mut() {
            sm.received();
        }
        let Some(jid) = self.jid.as_ref() else { return };
        if let Some(from) = el.attr("from") {
            let ok = from == jid.as_str() || from == jid.to_bare().as_str();
            if !ok {
                return self.stream_error(StreamCondition::InvalidFrom, "from is not this session's JID");
            }
        }
        set_attr(&mut el, "from", jid.as_str());
        let to = match stanza::parse_to(&el) {
            Ok(to) => to,
            Err(e) => {
                let jid = jid.clone();
                if let Some(r) = crate::error::error_reply(&el, &e) {
                    self.deliver(swap_reply_addresses(r, &jid));
                }
                return;
            }
        };
        if kind == StanzaKind::Iq {
            if let Err(e) = stanza::validate_iq(&el) {
                if let Some(r) = crate::error::error_reply(&el, &e) {
                    self.deliver(r);
                }
                return;
            }
            if self.is_ping_answer(&el) {
                self.ping = None;
                return;
            }
            if el.attr("type") == Some("set") && el.get_child("session", ns::SESSION).is_some() {
                let r = stanza::iq_result(&el, None);
                return self.deliver(r);
            }
            if el.get_child("bind", ns::BIND).is_some() {
                let e = StanzaError::new(crate::error::StanzaCondition::NotAllowed).with_text("already bound");
                if let Some(r) = crate::error::error_reply(&el, &e) {
                    self.deliver(r);
                }
                return;
            }
        }
        let _ = now;
        self.out.push_back(Output::Stanza { stanza: el, to });
    }

    /// A result/error for our own XEP-0199 ping.
    fn is_ping_answer(&self, el: &Element) -> bool {
        let t = el.attr("type");
        matches!(t, Some("result") | Some("error"))
            && self.ping.as_ref().is_some_and(|(id, _)| el.attr("id") == Some(id.as_str()))
    }

    /// Time-driven work: the unauthenticated timeout and XEP-0199 keepalive pings.
    pub fn tick(&mut self, now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.jid.is_none() {
            if now.duration_since(self.created) >= self.cfg.auth_timeout {
                self.stream_error(StreamCondition::ConnectionTimeout, "authentication took too long");
            }
            return;
        }
        if let Some((_, sent)) = &self.ping {
            if now.duration_since(*sent) >= self.cfg.ping_timeout {
                self.stream_error(StreamCondition::ConnectionTimeout, "ping unanswered");
            }
        } else if now.duration_since(self.last_activity) >= self.cfg.ping_interval {
            let id = format!("ping-{}", random_id(6));
            let mut iq = elem("iq", ns::CLIENT, &[("type", "get"), ("id", &id)]);
            if let (Some(v), Some(j)) = (&self.vhost, &self.jid) {
                set_attr(&mut iq, "from", v.as_str());
                set_attr(&mut iq, "to", j.as_str());
            }
            iq.append_child(Element::bare("ping", ns::PING));
            self.deliver(iq);
            self.ping = Some((id, now));
        }
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Closed => None,
            _ if self.jid.is_none() => Some(self.created + self.cfg.auth_timeout),
            _ => Some(match &self.ping {
                Some((_, sent)) => *sent + self.cfg.ping_timeout,
                None => self.last_activity + self.cfg.ping_interval,
            }),
        }
    }
}

/// An error reply generated for the session's own stanza goes back to the session.
fn swap_reply_addresses(mut r: Element, jid: &FullJid) -> Element {
    set_attr(&mut r, "to", jid.as_str());
    crate::xml::remove_attr(&mut r, "from");
    r
}

#[cfg(test)]
mod tests;
