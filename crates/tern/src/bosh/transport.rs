//! The BOSH transport of one session task: requests arrive from the HTTP handler through a
//! channel, the `BoshSession` orders and holds them (XEP-0124), their payloads become stream
//! events for the session core, and what the core sends completes held requests. A stream
//! restart is `xmpp:restart` (XEP-0206 §5); stream errors end the session with
//! `remote-stream-error` or the matching binding condition (XEP-0206 §8).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use minidom::Element;
use tern_core::bosh::{BodyRequest, BoshConfig, BoshOutput, BoshSession, EndReason, ReqId, Terminal};
use tern_core::{StreamCondition, StreamError};
use tern_wire::{StreamEvent, StreamHeader};
use tokio::sync::oneshot;
use tracing::debug;

use super::body::{render, SessionAttrs};
use super::{BoshSessions, HttpReply, HttpRequest, DEFAULT_CONTENT_TYPE};
use crate::c2s::transport::{Transport, TransportError};

/// The session task's side of a BOSH session. Every idle BOSH session keeps one, so it
/// keeps what it needs in little room: the stream header is rebuilt from the few attributes
/// the client chose, the description for logs from the peer and sid.
pub struct BoshTransport {
    rx: crate::inbox::Receiver<HttpRequest>,
    cfg: BoshConfig,
    session: Option<BoshSession>,
    /// Reply channels of the requests not answered yet, by request.
    waiting: Vec<(ReqId, oneshot::Sender<HttpReply>)>,
    next_req: ReqId,
    /// The stream the creation request opened (XEP-0206 §3).
    opened: Option<Box<Opened>>,
    attrs: SessionAttrs,
    /// The creation request's `content` (§7.1); `None`: [`DEFAULT_CONTENT_TYPE`].
    content_type: Option<Box<str>>,
    events: Vec<StreamEvent>,
    eof: bool,
    sessions: Arc<BoshSessions>,
    peer: IpAddr,
    https: bool,
    /// `see-other-uri` target on shutdown.
    redirect: Option<String>,
}

/// The creation request's stream attributes, for the stream header of each (re)start.
struct Opened {
    to: Option<String>,
    version: Option<String>,
    lang: Option<String>,
}

impl Opened {
    fn header(&self) -> StreamHeader {
        StreamHeader {
            to: self.to.clone(),
            version: Some(self.version.clone().unwrap_or_else(|| "1.0".to_owned())),
            lang: self.lang.clone(),
            stream_ns: tern_wire::NS_STREAMS.to_owned(),
            content_ns: tern_wire::NS_CLIENT.to_owned(),
            name: "stream".to_owned(),
            ..StreamHeader::default()
        }
    }
}

impl BoshTransport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sid: String,
        rx: crate::inbox::Receiver<HttpRequest>,
        cfg: BoshConfig,
        sessions: Arc<BoshSessions>,
        host: Option<String>,
        peer: IpAddr,
        https: bool,
        redirect: Option<String>,
    ) -> Self {
        let attrs = SessionAttrs {
            sid: sid.clone(),
            wait: cfg.max_wait,
            hold: cfg.max_hold,
            requests: cfg.max_hold + 1,
            polling: cfg.polling,
            inactivity: cfg.inactivity,
            maxpause: cfg.maxpause,
            from: String::new(),
            host,
            acks: false,
        };
        Self {
            rx,
            cfg,
            session: None,
            waiting: Vec::new(),
            next_req: 1,
            opened: None,
            attrs,
            content_type: None,
            events: Vec::new(),
            eof: false,
            sessions,
            peer,
            https,
            redirect,
        }
    }

    fn handle(&mut self, req: HttpRequest, now: Instant) {
        let id = self.next_req;
        self.next_req += 1;
        self.waiting.reserve_exact(1);
        self.waiting.push((id, req.reply));
        match self.session.as_mut() {
            Some(s) => s.request(id, *req.body, now),
            None => self.create(id, *req.body, now),
        }
        self.pump();
    }

    /// The creation request (XEP-0124 §7.1, XEP-0206 §3): the XMPP stream opens.
    fn create(&mut self, id: ReqId, body: BodyRequest, now: Instant) {
        let s = BoshSession::new(self.cfg.clone(), id, &body, now);
        self.attrs.wait = s.wait;
        self.attrs.hold = s.hold;
        self.attrs.requests = s.requests;
        self.attrs.inactivity = s.inactivity;
        self.attrs.acks = s.uses_acks();
        if let Some(c) = body.content.as_deref().filter(|c| !c.trim().is_empty() && c.is_ascii()) {
            self.content_type = Some(c.into());
        }
        let opened = Opened { to: body.to.clone(), version: body.xmpp_version.clone(), lang: body.lang.clone() };
        self.events.push(StreamEvent::Open(opened.header()));
        self.opened = Some(Box::new(opened));
        self.session = Some(s);
        if !body.payload.is_empty() {
            self.events.extend(body.payload.into_iter().map(StreamEvent::Element));
        }
    }

    /// Forget held requests whose HTTP connection is gone (the handler was dropped), so no
    /// stanza is ever sent on a dead connection (a page reload cancels its held request).
    fn prune_gone(&mut self) {
        let gone: Vec<ReqId> = self.waiting.iter().filter(|(_, tx)| tx.is_closed()).map(|(id, _)| *id).collect();
        for id in gone {
            take_reply(&mut self.waiting, id);
            if let Some(s) = self.session.as_mut() {
                s.request_gone(id);
            }
        }

    }

    /// Carry out the state machine's outputs.
    fn pump(&mut self) {
        let Some(s) = self.session.as_mut() else { return };
        let mut failed = Vec::new();
        while let Some(o) = s.poll_output() {
            match o {
                BoshOutput::Respond { req, response } => {
                    let Some(tx) = take_reply(&mut self.waiting, req) else { continue };
                    let body = render(&response, Some(&self.attrs));
                    let content_type = self.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE).to_owned();
                    if tx.send(HttpReply { body, content_type, refuse_connection: false }).is_err() {
                        failed.push(response);
                    }
                }
                BoshOutput::Stanzas(v) => self.events.extend(v.into_iter().map(StreamEvent::Element)),
                BoshOutput::Restart => self.events.extend(self.opened.as_ref().map(|o| StreamEvent::Open(o.header()))),
                BoshOutput::Ended(EndReason::ClientTerminated) => {
                    self.events.push(StreamEvent::Close);
                    self.eof = true;
                }
                BoshOutput::Ended(reason) => {
                    debug!(sid = %self.attrs.sid, ?reason, "BOSH session ended");
                    self.eof = true;
                }
            }
        }
        if !failed.is_empty() {
            // The connection closed under the response: its stanzas wait for the next request.
            for r in failed {
                s.response_failed(r);
            }
            self.prune_gone();
            if let Some(s) = self.session.as_mut() {
                s.flush(Instant::now());
            }
            self.pump();
        }
    }

    fn now_flush(&mut self) {
        self.prune_gone();
        if let Some(s) = self.session.as_mut() {
            s.flush(Instant::now());
        }
        self.pump();
    }
}

/// The reply channel of request `id`, no longer waiting.
fn take_reply(waiting: &mut Vec<(ReqId, oneshot::Sender<HttpReply>)>, id: ReqId) -> Option<oneshot::Sender<HttpReply>> {
    let i = waiting.iter().position(|(r, _)| *r == id)?;
    let (_, tx) = waiting.swap_remove(i);
    if waiting.is_empty() {
        *waiting = Vec::new();
    }
    Some(tx)
}

/// The binding condition for a stream error (XEP-0206 §8, XEP-0124 §17.2); on shutdown with a
/// redirect configured, `see-other-uri` with the `<uri/>`.
fn terminal_for(err: &StreamError, redirect: Option<&str>) -> Terminal {
    if let (StreamCondition::SystemShutdown, Some(uri)) = (err.condition, redirect) {
        let mut el = Element::bare("uri", tern_core::bosh::NS_HTTPBIND);
        el.append_text_node(uri);
        return Terminal { condition: "see-other-uri", children: vec![el] };
    }
    let condition = match err.condition {
        StreamCondition::HostUnknown => "host-unknown",
        StreamCondition::SystemShutdown => "system-shutdown",
        StreamCondition::ImproperAddressing => "improper-addressing",
        StreamCondition::InternalServerError => "internal-server-error",
        _ => "remote-stream-error",
    };
    let children = if condition == "remote-stream-error" { vec![err.to_element()] } else { Vec::new() };
    Terminal { condition, children }
}

#[async_trait]
impl Transport for BoshTransport {
    async fn read(&mut self, events: &mut Vec<StreamEvent>) -> Result<bool, TransportError> {
        loop {
            if !self.events.is_empty() {
                // Moved, not copied: this transport keeps no room for events while idle.
                if events.is_empty() {
                    *events = std::mem::take(&mut self.events);
                } else {
                    events.append(&mut self.events);
                    self.events = Vec::new();
                }
                return Ok(true);
            }
            if self.eof {
                return Ok(false);
            }
            let deadline = self.session.as_ref().and_then(BoshSession::next_deadline);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = self.rx.recv() => match r {
                    Some(req) => self.handle(req, Instant::now()),
                    None => self.eof = true,
                },
                _ = sleep => {
                    self.prune_gone();
                    if let Some(s) = self.session.as_mut() {
                        s.tick(Instant::now());
                    }
                    self.pump();
                }
            }
        }
    }

    fn queue_open(&mut self, _id: &str, from: Option<&str>, features: Option<&Element>) {
        if let Some(f) = from {
            self.attrs.from = f.to_owned();
        }
        if let (Some(s), Some(f)) = (self.session.as_mut(), features) {
            s.push(f.clone());
        }
    }

    fn queue(&mut self, el: &Element) {
        if let Some(s) = self.session.as_mut() {
            s.push(el.clone());
        }
    }

    fn queue_close(&mut self, err: Option<&StreamError>) {
        let t = match err {
            Some(e) => terminal_for(e, self.redirect.as_deref()),
            None => Terminal { condition: "", children: Vec::new() },
        };
        if let Some(s) = self.session.as_mut() {
            s.terminate(t);
        }
        self.pump();
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.now_flush();
        Ok(())
    }

    async fn start_tls(&mut self, _domain: &str) -> Result<(), TransportError> {
        Err(TransportError::Unsupported)
    }

    fn reset(&mut self) {}

    async fn shutdown(&mut self) {
        self.now_flush();
        self.sessions.remove(&self.attrs.sid);
        self.rx.close();
    }

    fn take_undelivered(&mut self) -> Vec<Element> {
        self.session.as_mut().map(BoshSession::take_undelivered).unwrap_or_default()
    }

    fn describe(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("bosh+{scheme} {} sid={}", self.peer, self.attrs.sid)
    }
}

impl Drop for BoshTransport {
    fn drop(&mut self) {
        self.sessions.remove(&self.attrs.sid);
    }
}
