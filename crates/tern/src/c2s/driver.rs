//! The session driver: one tokio task per client session (../shared/DESIGN.md). It owns the
//! sans-I/O `C2sSession`, its transport and its inbox, carries out the session's outputs
//! (storage, router, TLS), and keeps a resumable session alive after its transport is gone
//! (XEP-0198 §5 hibernation) until resumed or the window ends.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jid::{BareJid, FullJid};
use tern_core::{C2sSession, Output, SessionConfig, StanzaCondition, StanzaError, StreamCondition, StreamError};
use tern_wire::StreamEvent;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};

use super::resume::ResumeRequest;
use super::timer::LazyTimer;
use super::transport::{Transport, TransportError};
use crate::im::{self, ImSession};
use crate::router::{SessionHandle, SessionMsg, INBOX_CAPACITY};
use crate::server::Server;

/// How a transport came in.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    pub peer: IpAddr,
    /// Already encrypted (direct TLS, wss, https).
    pub encrypted: bool,
    /// STARTTLS may be offered (plain TCP).
    pub starttls: bool,
    /// STARTTLS must be negotiated before authentication.
    pub tls_required: bool,
}

/// Unacknowledged stanzas a session may hold (XEP-0198). Past this a hibernating session
/// ends (its stanzas go to offline storage) and a connected one is closed: memory stays bounded.
const MAX_UNACKED: usize = 2000;

/// Stanzas taken from the inbox in one turn before writing them out.
const INBOX_BATCH: usize = 64;

struct Driver {
    server: Arc<Server>,
    session: C2sSession,
    transport: Option<Box<dyn Transport>>,
    handle: SessionHandle,
    rx: crate::inbox::Receiver<SessionMsg>,
    peer: IpAddr,
    account: Option<BareJid>,
    im: Option<ImSession>,
    pending: VecDeque<StreamEvent>,
    hibernate_until: Option<tokio::time::Instant>,
    /// End the task at the next turn.
    stop: bool,
    /// Stanzas a closed transport never delivered, rerouted when the session ends.
    leftovers: Vec<minidom::Element>,
    /// The node's shutdown signal; `None` once it fired.
    shutdown: Option<watch::Receiver<bool>>,
    /// The session's timer (keepalive, authentication timeout, resumption window).
    timer: LazyTimer,
}

/// Run a session over `transport` until it ends (and its resumption window, if any).
pub async fn run(server: Arc<Server>, transport: Box<dyn Transport>, conn: ConnInfo) {
    let limits = &server.config.limits;
    let cfg = SessionConfig {
        vhosts: server.vhosts.clone(),
        encrypted: conn.encrypted,
        starttls: conn.starttls,
        tls_required: conn.tls_required,
        auth_timeout: limits.auth_timeout(),
        ping_interval: limits.ping_interval(),
        ping_timeout: limits.ping_timeout(),
        max_auth_failures: 5,
        sm_resume_secs: limits.sm_resume_timeout().as_secs() as u32,
    };
    let _live = server.live_session();
    let shutdown = server.shutdown_signal();
    let (tx, rx) = crate::inbox::channel(INBOX_CAPACITY);
    let handle = SessionHandle { id: server.session_id(), tx };
    debug!(conn = %transport.describe(), session = handle.id, "connection accepted");
    let mut d = Driver {
        session: C2sSession::new(cfg, Instant::now()),
        server,
        transport: Some(transport),
        handle,
        rx,
        peer: conn.peer,
        account: None,
        im: None,
        pending: VecDeque::new(),
        hibernate_until: None,
        stop: false,
        leftovers: Vec::new(),
        shutdown: Some(shutdown),
        timer: LazyTimer::default(),
    };
    if d.shutdown.as_ref().is_some_and(|s| *s.borrow()) {
        d.shutdown = None;
        d.session.kick(StreamError::new(StreamCondition::SystemShutdown));
    }
    if d.run_loop().await {
        Box::pin(d.finish()).await;
    }
}

async fn read_opt(t: &mut Option<Box<dyn Transport>>, events: &mut Vec<StreamEvent>) -> Result<bool, TransportError> {
    match t {
        Some(t) => t.read(events).await,
        None => std::future::pending().await,
    }
}

/// Resolves when the node starts shutting down (never, once it has been seen).
async fn shutdown_opt(rx: &mut Option<watch::Receiver<bool>>) {
    match rx {
        Some(rx) => {
            if rx.wait_for(|down| *down).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// What woke a session's task.
enum Wake {
    /// The task just started: handle what the connection brought (a resumed stream's events).
    Start,
    Msg(SessionMsg),
    Read(Result<bool, TransportError>),
    Shutdown,
    Timer,
}

/// How a turn of the session's loop ended.
enum Turn {
    Wait,
    /// The session is over.
    End,
    /// The connection went to another session (XEP-0198 resumption).
    HandedOff,
}

impl Driver {
    /// Returns false when this connection was handed to another session (resumption).
    ///
    /// The work done between waits is one boxed future per wake-up ([`Driver::turn`]): the
    /// task's own future, which every idle session keeps, then holds a pointer instead of
    /// the largest of those state machines (the IM layer's), a few KB per session.
    async fn run_loop(&mut self) -> bool {
        let mut events = Vec::new();
        let mut wake = Wake::Start;
        loop {
            match Box::pin(self.turn(wake, &mut events)).await {
                Turn::Wait => {}
                Turn::End => return true,
                Turn::HandedOff => return false,
            }
            // About to wait, maybe for a long time: keep nothing sized for the last burst.
            self.session.release_idle_buffers();
            if self.pending.capacity() > 0 {
                self.pending = VecDeque::new();
            }
            if events.capacity() > 0 {
                events = Vec::new();
            }
            self.timer.arm(self.deadline());
            wake = tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(m) => Wake::Msg(m),
                    None => return true,
                },
                r = read_opt(&mut self.transport, &mut events) => Wake::Read(r),
                _ = shutdown_opt(&mut self.shutdown) => Wake::Shutdown,
                _ = &mut self.timer => Wake::Timer,
            };
        }
    }

    /// Handle what woke the task, then the session's events and outputs, and write.
    async fn turn(&mut self, wake: Wake, events: &mut Vec<StreamEvent>) -> Turn {
        match wake {
            Wake::Start => {}
            Wake::Msg(m) => {
                let more = matches!(m, SessionMsg::Stanza(_));
                self.on_msg(m).await;
                if more {
                    self.drain_inbox().await;
                }
            }
            Wake::Read(r) => self.on_read(r, events).await,
            Wake::Shutdown => {
                self.shutdown = None;
                self.on_msg(SessionMsg::Kick(Box::new(StreamError::new(StreamCondition::SystemShutdown)))).await;
            }
            Wake::Timer => {
                if self.hibernate_until.is_some_and(|t| t <= tokio::time::Instant::now()) {
                    info!(session = self.handle.id, "resumption window ended");
                    return Turn::End;
                }
                self.session.tick(Instant::now());
            }
        }
        while let Some(ev) = self.pending.pop_front() {
            self.session.handle_event(ev, Instant::now());
            if !self.process_outputs().await {
                return Turn::HandedOff;
            }
        }
        if !self.process_outputs().await {
            return Turn::HandedOff;
        }
        self.flush().await;
        if self.stop || (self.session.is_closed() && !self.session.is_hibernating()) {
            return Turn::End;
        }
        Turn::Wait
    }

    /// Take the stanzas already waiting in the inbox, so that one write carries them all
    /// (a write per stanza costs a system call each).
    async fn drain_inbox(&mut self) {
        for _ in 0..INBOX_BATCH {
            if self.stop {
                return;
            }
            let Some(m) = self.rx.try_recv() else { return };
            let more = matches!(m, SessionMsg::Stanza(_));
            self.on_msg(m).await;
            if !more {
                return;
            }
        }
    }

    fn deadline(&self) -> tokio::time::Instant {
        if let Some(h) = self.hibernate_until {
            return h;
        }
        match self.session.next_deadline() {
            Some(t) => tokio::time::Instant::from_std(t),
            None => tokio::time::Instant::now() + Duration::from_secs(86_400),
        }
    }

    async fn on_read(&mut self, r: Result<bool, TransportError>, events: &mut Vec<StreamEvent>) {
        self.session.activity(Instant::now());
        self.pending.extend(events.drain(..));
        match r {
            Ok(true) => {}
            Ok(false) => {
                debug!(session = self.handle.id, "peer closed the connection");
                self.lose_transport().await;
            }
            Err(TransportError::Framing(e)) => {
                warn!(session = self.handle.id, peer = %self.peer, condition = e.condition(), error = %e, "bad input");
                self.handle_pending();
                self.session.framing_error(&e);
            }
            Err(TransportError::Protocol(e)) => {
                warn!(session = self.handle.id, peer = %self.peer, error = %e, "bad input");
                self.handle_pending();
                self.session.kick(e);
            }
            Err(e) => {
                debug!(session = self.handle.id, error = %e, "connection lost");
                self.lose_transport().await;
            }
        }
    }

    /// Events parsed before a framing error are still handled, then the stream error.
    fn handle_pending(&mut self) {
        while let Some(ev) = self.pending.pop_front() {
            self.session.handle_event(ev, Instant::now());
        }
    }

    async fn flush(&mut self) {
        if let Some(t) = self.transport.as_mut()
            && let Err(e) = t.flush().await {
                debug!(session = self.handle.id, error = %e, "write failed");
                self.lose_transport().await;
            }
    }

    /// The transport is gone without a clean close: hibernate if resumable, else end.
    async fn lose_transport(&mut self) {
        if let Some(t) = self.transport.take() {
            self.retire(t, None).await;
        }
        self.pending.clear();
        self.session.transport_lost();
        if self.session.is_hibernating() {
            let window = self.server.config.limits.sm_resume_timeout();
            self.hibernate_until = Some(tokio::time::Instant::now() + window);
            info!(session = self.handle.id, secs = window.as_secs(), "session hibernated, awaiting resumption");
        }
    }

    /// Carry out the session's outputs. False when the connection went to another session.
    async fn process_outputs(&mut self) -> bool {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::OpenStream { id, from, features } => {
                    if let Some(t) = self.transport.as_mut() {
                        t.queue_open(&id, from.as_deref(), features.as_ref());
                    }
                }
                Output::Send(el) => {
                    if let Some(t) = self.transport.as_mut() {
                        t.queue(&el);
                    }
                }
                Output::StartTls { domain } => self.start_tls(&domain).await,
                Output::ResetStream => {
                    if let Some(t) = self.transport.as_mut() {
                        t.reset();
                    }
                }
                Output::LookupCredentials { vhost, username } => {
                    let creds = match self.server.store.credentials(&vhost, &username).await {
                        Ok(c) => c,
                        Err(e) => {
                            warn!(error = %e, "credential lookup failed");
                            None
                        }
                    };
                    self.session.credentials(creds.as_ref());
                }
                Output::AuthFailed => {
                    let delay = self.server.auth_throttle.failure(self.peer, Instant::now());
                    info!(peer = %self.peer, delay_ms = delay.as_millis() as u64, "authentication failed");
                    self.flush().await;
                    tokio::time::sleep(delay).await;
                }
                Output::Authenticated { jid } => {
                    self.server.auth_throttle.success(self.peer);
                    info!(jid = %jid, peer = %self.peer, "authenticated");
                    self.account = Some(jid);
                }
                Output::Register { jid, password } => self.register(jid, password).await,
                Output::Bind { jid } => self.bind(jid).await,
                Output::SmEnabled { id } => {
                    if let Some(a) = &self.account {
                        self.server.add_resumable(&id, a.clone(), self.handle.clone());
                    }
                }
                Output::Resume { previd, h } => {
                    if self.try_resume(&previd, h).await {
                        return false;
                    }
                }
                Output::Stanza { stanza, to } => self.stanza(stanza, to).await,
                Output::Close(err) => self.close(err).await,
            }
        }
        true
    }

    async fn start_tls(&mut self, domain: &str) {
        let Some(t) = self.transport.as_mut() else { return };
        match t.start_tls(domain).await {
            Ok(()) => self.session.tls_established(),
            Err(e) => {
                warn!(peer = %self.peer, error = %e, "TLS handshake failed");
                self.transport = None;
                self.session.transport_lost();
            }
        }
    }

    async fn register(&mut self, jid: BareJid, password: String) {
        let result = async {
            let creds = tern_auth::StoredCredentials::from_password(&password)
                .map_err(|_| StanzaError::new(StanzaCondition::NotAcceptable))?;
            let user = jid.node().map(|n| n.as_str()).unwrap_or_default();
            match self.server.store.create_account(jid.domain().as_str(), user, &creds).await {
                Ok(()) => Ok(()),
                Err(tern_store::StoreError::AccountExists) => Err(StanzaError::new(StanzaCondition::Conflict)),
                Err(e) => {
                    warn!(error = %e, "registration failed");
                    Err(StanzaError::new(StanzaCondition::InternalServerError))
                }
            }
        }
        .await;
        if result.is_ok() {
            info!(jid = %jid, peer = %self.peer, "account registered in-band");
        }
        self.session.registered(result);
    }

    async fn bind(&mut self, jid: FullJid) {
        if let Err(e) = self.server.registry.register(&jid).await {
            warn!(jid = %jid, error = %e, "cluster registry refused the session");
            self.session.bound(Err(StanzaError::new(StanzaCondition::InternalServerError)));
            return;
        }
        if let Some(old) = self.server.router.bind(&jid, self.handle.clone()) {
            info!(jid = %jid, "resource conflict: replacing the older session");
            old.send(SessionMsg::Kick(Box::new(StreamError::new(StreamCondition::Conflict).with_text("replaced by a new session"))));
        }
        info!(jid = %jid, session = self.handle.id, "resource bound");
        self.im = Some(ImSession::new(jid.clone(), self.handle.id));
        self.session.bound(Ok(jid));
    }

    async fn stanza(&mut self, el: minidom::Element, to: Option<jid::Jid>) {
        let Some(im) = self.im.as_mut() else { return };
        let reply = im::handle(&self.server, im, el, to).await;
        for e in reply.to_client {
            self.session.deliver(e);
        }
        if reply.close_session {
            self.session.kick(StreamError::new(StreamCondition::NotAuthorized).with_text("account removed"));
        }
    }

    async fn close(&mut self, err: Option<StreamError>) {
        let timed_out = err.as_ref().is_some_and(|e| e.condition == StreamCondition::ConnectionTimeout);
        match &err {
            Some(e) => info!(session = self.handle.id, peer = %self.peer, error = %e, "closing stream with error"),
            None => debug!(session = self.handle.id, "stream closed"),
        }
        if let Some(t) = self.transport.take() {
            self.retire(t, Some(err.as_ref())).await;
        }
        if timed_out && self.session.sm_id().is_some() && self.session.jid().is_some() {
            // A dead peer is not a clean close: keep the session for resumption.
            self.lose_transport().await;
        }
    }

    async fn try_resume(&mut self, previd: &str, h: u32) -> bool {
        let owner = self.account.clone();
        let old = owner.as_ref().and_then(|a| self.server.find_resumable(previd, a));
        // Only take the transport once the session is found: an unknown SM-ID answers
        // `<failed/>` on this connection, which stays open for a normal bind (§5).
        let Some(old) = old else {
            self.session.resume_failed();
            return false;
        };
        let Some(mut transport) = self.transport.take() else {
            self.session.resume_failed();
            return false;
        };
        if transport.flush().await.is_err() {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        let req = ResumeRequest { transport, h, encrypted: self.session.is_encrypted(), reply: tx };
        if let Err(msg) = old.tx.try_send(SessionMsg::Resume(Box::new(req))) {
            if let SessionMsg::Resume(req) = msg {
                self.transport = Some(req.transport);
            }
            self.session.resume_failed();
            return false;
        }
        match rx.await {
            Ok(Ok(())) => true,
            Ok(Err(t)) => {
                self.transport = Some(t);
                self.session.resume_failed();
                false
            }
            Err(_) => true,
        }
    }

    async fn on_msg(&mut self, msg: SessionMsg) {
        match msg {
            SessionMsg::Stanza(el) => {
                if self.session.is_established() || self.session.is_hibernating() {
                    self.session.deliver(*el);
                } else {
                    im::reroute(&self.server, *el).await;
                }
                if self.session.unacked_len() > MAX_UNACKED {
                    warn!(session = self.handle.id, "too many unacknowledged stanzas");
                    if self.session.is_hibernating() {
                        self.stop = true;
                    } else {
                        self.session.kick(StreamError::new(StreamCondition::ResourceConstraint).with_text("stanzas not acknowledged"));
                    }
                }
            }
            SessionMsg::Kick(err) => {
                if self.session.is_hibernating() {
                    self.stop = true;
                } else {
                    self.session.kick(*err);
                }
            }
            SessionMsg::Resume(req) => self.resume_here(*req).await,
        }
    }

    /// Another connection resumes this session (XEP-0198 §5): a still-open old stream gets
    /// `conflict`, the new transport takes its place.
    async fn resume_here(&mut self, req: ResumeRequest) {
        let had_transport = self.transport.is_some();
        if let Some(t) = self.transport.take() {
            let conflict = StreamError::new(StreamCondition::Conflict).with_text("session resumed elsewhere");
            self.retire(t, Some(Some(&conflict))).await;
        }
        if self.session.resume_on_new_stream(req.h, req.encrypted, Instant::now()) {
            info!(session = self.handle.id, conn = %req.transport.describe(), "session resumed");
            self.transport = Some(req.transport);
            self.hibernate_until = None;
            let _ = req.reply.send(Ok(()));
        } else {
            let _ = req.reply.send(Err(req.transport));
            if had_transport {
                self.lose_transport().await;
            }
        }
    }

    /// The session is over: leave the router, tell contacts, and rehome every stanza this
    /// session still held (unacked or queued) so nothing is lost.
    async fn finish(&mut self) {
        if let Some(t) = self.transport.take() {
            self.retire(t, None).await;
        }
        if let Some(id) = self.session.sm_id() {
            self.server.remove_resumable(id, self.handle.id);
        }
        let mut was_bound = false;
        if let Some(im) = self.im.as_ref() {
            let jid = im.jid.clone();
            was_bound = self.server.router.unbind(&jid, self.handle.id);
            if was_bound && let Err(e) = self.server.registry.unregister(&jid).await {
                warn!(jid = %jid, error = %e, "cluster registry unregister failed");
            }
            let unacked = self.session.take_unacked();
            im::deliver_unacked(&self.server, unacked).await;
        }
        // What the last transport still held (no XEP-0198 queue to resend it from).
        let leftovers = std::mem::take(&mut self.leftovers);
        im::deliver_unacked(&self.server, leftovers).await;
        self.rx.close();
        while let Some(msg) = self.rx.try_recv() {
            match msg {
                SessionMsg::Stanza(el) => im::reroute(&self.server, *el).await,
                SessionMsg::Resume(req) => {
                    let _ = req.reply.send(Err(req.transport));
                }
                SessionMsg::Kick(_) => {}
            }
        }
        // Unavailable goes out last: once contacts see the session gone, every stanza it
        // held is already with another resource or in offline storage, so a client that
        // logs in again on that signal finds them (XEP-0198 §5, XEP-0160).
        if let Some(im) = self.im.as_mut() {
            if was_bound {
                im::session_ended(&self.server, im).await;
            }
            info!(jid = %im.jid, session = self.handle.id, "session ended");
        }
    }

    /// Close a transport (`close`: send the stream close, with this error) and keep the
    /// stanzas it never delivered; with XEP-0198 on they are in the unacked queue already.
    async fn retire(&mut self, mut t: Box<dyn Transport>, close: Option<Option<&StreamError>>) {
        if let Some(err) = close {
            t.queue_close(err);
        }
        t.shutdown().await;
        let left = t.take_undelivered();
        if !self.session.sm_enabled() {
            self.leftovers.extend(left);
        }
    }
}
