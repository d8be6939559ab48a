//! A BOSH session as the connection manager sees it (XEP-0124 §7-§13, with XEP-0206 §3-§5
//! for XMPP): the rid window with in-order processing of requests that arrive out of order
//! (§7.1, §14.1), held requests up to `hold` answered after `wait` (§7.3), the buffer of
//! recent responses for retransmission (§14.3), acks (§9), overactivity (§12), pause
//! (§10), inactivity (§7.5) and termination (§13). Sans-I/O: the transport feeds parsed
//! requests and `now`, pushes outgoing stanzas, and carries out [`BoshOutput`]s.

mod request;
mod ridmap;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use minidom::Element;

use ridmap::RidMap;

pub use request::{key_matches, BodyError, BodyRequest, RequestKind, NS_HTTPBIND, NS_XBOSH};

/// How long a response may stay unacknowledged before the client is told (§9.2).
const REPORT_AFTER: Duration = Duration::from_secs(2);

/// Identifies one HTTP request to the transport.
pub type ReqId = u64;

/// Limits and defaults the connection manager advertises (documented in the README).
#[derive(Clone, Debug)]
pub struct BoshConfig {
    /// Longest a request is held; below common proxies' 60 s read timeout.
    pub max_wait: u32,
    /// Most requests held at once.
    pub max_hold: u32,
    /// Seconds without any request before the session is dropped.
    pub inactivity: u32,
    /// Longest `pause` a client may ask for (background tabs).
    pub maxpause: u32,
    /// Shortest interval between empty polls of a polling (`hold='0'`) session.
    pub polling: u32,
    /// Outgoing stanzas queued while no request is held; past this the session ends.
    pub max_queue: usize,
}

impl Default for BoshConfig {
    fn default() -> Self {
        Self { max_wait: 50, max_hold: 1, inactivity: 90, maxpause: 300, polling: 2, max_queue: 1000 }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// The client sent `type='terminate'`.
    ClientTerminated,
    /// No request for `inactivity` seconds (§7.5).
    Inactive,
    /// A terminal binding condition was sent (§17.2).
    Terminal(&'static str),
}

/// One `<body/>` response, before serialization.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// The rid of the request answered.
    pub rid: u64,
    /// The stanzas carried.
    pub payload: Payload,
    /// `type='terminate'` with this condition (`None`: a normal response).
    pub terminate: Option<Terminal>,
    /// `ack` attribute, when acks are in use and it differs from `rid` (§9.1).
    pub ack: Option<u64>,
    /// This is the session creation response (§7.1: only it carries the session attributes).
    pub creation: bool,
    /// A recoverable binding error (`type='error'`, §17.1): the request was superseded by a
    /// retransmission of the same rid, which will carry the real response.
    pub recoverable_error: bool,
    /// `report` and `time` (§9.2): the client's acks show it never got the response to
    /// this rid, sent this many milliseconds ago; it should ask for it again.
    pub report: Option<(u64, u64)>,
}

/// The stanzas of a response.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// Elements (server-built responses such as stream features in tests).
    Stanzas(Vec<Element>),
    /// Serialized when the response is made, so the buffer of recent responses (§14.3)
    /// keeps XML: a few hundred bytes a response, where element trees took KBs per idle
    /// session.
    Serialized(Box<str>),
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Stanzas(Vec::new())
    }
}

impl Payload {
    pub fn is_empty(&self) -> bool {
        match self {
            Payload::Stanzas(v) => v.is_empty(),
            Payload::Serialized(s) => s.is_empty(),
        }
    }

    /// The buffered copy of stanzas.
    fn serialized(stanzas: &[Element]) -> Self {
        let mut out = String::new();
        for el in stanzas {
            tern_wire::write_element(&mut out, el, None);
        }
        Payload::Serialized(out.into_boxed_str())
    }

    /// The stanzas as elements; a serialized payload (a response that could not be handed
    /// over) is parsed again. `None` only if that fails, which XML this module
    /// wrote never does.
    pub fn into_stanzas(self) -> Option<Vec<Element>> {
        match self {
            Payload::Stanzas(v) => Some(v),
            Payload::Serialized(s) => {
                let doc = format!("<body xmlns='{NS_HTTPBIND}'>{s}</body>");
                let limits = tern_wire::Limits { max_stanza_bytes: doc.len() + 1, ..tern_wire::Limits::default() };
                let body = tern_wire::parse_document(doc.as_bytes(), limits).ok()?;
                Some(body.children().cloned().collect())
            }
        }
    }
}

/// A terminal binding condition (§17.2), possibly wrapping a stream error (XEP-0206 §8).
#[derive(Clone, Debug, PartialEq)]
pub struct Terminal {
    pub condition: &'static str,
    /// Child elements: `<stream:error/>` for `remote-stream-error`, `<uri/>` for `see-other-uri`.
    pub children: Vec<Element>,
}

/// What the transport must do.
#[derive(Clone, Debug, PartialEq)]
pub enum BoshOutput {
    /// Answer HTTP request `req`.
    Respond { req: ReqId, response: Response },
    /// Payload of requests, in rid order, for the XMPP session.
    Stanzas(Vec<Element>),
    /// `xmpp:restart='true'` (XEP-0206 §5): the XMPP stream restarts.
    Restart,
    /// The session is over; no more requests will be accepted.
    Ended(EndReason),
}

#[derive(Debug)]
struct Held {
    req: ReqId,
    rid: u64,
    deadline: Instant,
}

/// The state of one BOSH session.
#[derive(Debug)]
pub struct BoshSession {
    cfg: BoshConfig,
    /// Negotiated values (never above the client's, §7.1).
    pub wait: u32,
    pub hold: u32,
    pub requests: u32,
    /// Inactivity allowed: doubled for polling sessions (`hold='0'`, §12), whose client
    /// has no request waiting at the server between polls.
    pub inactivity: u32,
    /// The client asked for acks on creation (§9).
    acks: bool,
    /// Highest rid processed in order.
    last_rid: u64,
    /// Requests ahead of a gap, waiting for the missing rid.
    ahead: RidMap<(ReqId, BodyRequest)>,
    held: VecDeque<Held>,
    queue: Vec<Element>,
    /// Recent responses by rid, for retransmission (§14.3), and when each went out.
    sent: RidMap<(Response, Instant)>,
    /// A `report` to attach to the next response (§9.2).
    report: Option<(u64, u64)>,
    creation_answered: bool,
    /// Key sequencing (§15): the key the next request must hash to.
    key: Option<String>,
    /// Set once the session is terminal: every request gets this.
    terminal: Option<Terminal>,
    ended: bool,
    last_activity: Instant,
    /// Inactivity allowance in force (a pause extends it until the next request).
    idle_allowance: Duration,
    last_empty_poll: Option<Instant>,
    /// The latest `now` given; inactivity counts from the last answered request.
    now: Instant,
    out: VecDeque<BoshOutput>,
}

impl BoshSession {
    /// A session from its creation request (§7.1); the request itself is held until the
    /// XMPP stream features are pushed.
    pub fn new(cfg: BoshConfig, req_id: ReqId, create: &BodyRequest, now: Instant) -> Self {
        let wait = create.wait.unwrap_or(cfg.max_wait).min(cfg.max_wait);
        let hold = create.hold.unwrap_or(1).min(cfg.max_hold);
        let inactivity = if hold == 0 { cfg.inactivity.saturating_mul(2) } else { cfg.inactivity };
        let mut s = Self {
            wait,
            hold,
            requests: hold + 1,
            inactivity,
            acks: create.ack.is_some(),
            last_rid: create.rid,
            ahead: RidMap::default(),
            held: VecDeque::new(),
            queue: Vec::new(),
            sent: RidMap::default(),
            report: None,
            creation_answered: false,
            key: create.newkey.clone(),
            terminal: None,
            ended: false,
            last_activity: now,
            idle_allowance: Duration::from_secs(u64::from(inactivity)),
            last_empty_poll: None,
            now,
            out: VecDeque::new(),
            cfg,
        };
        s.held.push_back(Held { req: req_id, rid: create.rid, deadline: now + s.wait_duration() });
        s
    }

    pub fn config(&self) -> &BoshConfig {
        &self.cfg
    }

    pub fn poll_output(&mut self) -> Option<BoshOutput> {
        let o = self.out.pop_front();
        if o.is_none() {
            // Responses are large: an idle session keeps no room for them.
            self.out = VecDeque::new();
        }
        o
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether the client asked for acks.
    pub fn uses_acks(&self) -> bool {
        self.acks
    }

    fn wait_duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.wait))
    }

    /// A request on this session (any rid).
    pub fn request(&mut self, req: ReqId, body: BodyRequest, now: Instant) {
        self.now = now;
        if self.ended {
            return self.respond_terminal(req, body.rid, "item-not-found");
        }
        if let Some(expected) = &self.key
            && !request::key_matches(body.key.as_deref(), expected) {
                // §15.3: not processed; the session stays for its legitimate owner.
                return self.out.push_back(BoshOutput::Respond { req, response: terminal_response(body.rid, "item-not-found") });
            }
        self.last_activity = now;
        self.idle_allowance = Duration::from_secs(u64::from(self.inactivity));
        if body.rid <= self.last_rid {
            return self.repeat(req, body);
        }
        if body.rid > self.last_rid + u64::from(self.requests) {
            return self.fail(req, body.rid, "item-not-found");
        }
        if let Some((old, _)) = self.ahead.get_mut(&body.rid) {
            // A retransmission of a request still waiting for the gap: keep the new one.
            let old = std::mem::replace(old, req);
            return self.out.push_back(BoshOutput::Respond { req: old, response: empty_response(body.rid) });
        }
        let counts = !matches!(body.kind, RequestKind::Terminate) && body.pause.is_none();
        if counts && self.held.len() + self.ahead.len() + 1 > self.requests as usize {
            return self.fail(req, body.rid, "policy-violation");
        }
        if let Some(k) = &body.key {
            self.key = Some(body.newkey.clone().unwrap_or_else(|| k.clone()));
        }
        self.ahead.insert(body.rid, (req, body));
        while let Some((req, body)) = self.ahead.remove(&(self.last_rid + 1)) {
            self.in_order(req, body, now);
            if self.ended {
                return;
            }
        }
    }

    /// A rid already seen: resend its response, take over its held slot, or fail (§14.3).
    fn repeat(&mut self, req: ReqId, body: BodyRequest) {
        if let Some((r, _)) = self.sent.get(&body.rid) {
            let response = r.clone();
            return self.out.push_back(BoshOutput::Respond { req, response });
        }
        if let Some(h) = self.held.iter_mut().find(|h| h.rid == body.rid) {
            let old = std::mem::replace(&mut h.req, req);
            return self.out.push_back(BoshOutput::Respond { req: old, response: empty_response(body.rid) });
        }
        self.fail(req, body.rid, "item-not-found");
    }

    fn in_order(&mut self, req: ReqId, body: BodyRequest, now: Instant) {
        self.last_rid = body.rid;
        if let Some(ack) = body.ack {
            self.sent.retain(|rid, _| *rid > ack);
            // §9.2: a response older than the ack window the client should have seen by now.
            let missed = self.sent.iter().map(|(rid, (_, at))| (rid, at)).find(|(rid, at)| **rid < body.rid.saturating_sub(1) && now.duration_since(**at) >= REPORT_AFTER);
            if let Some((rid, at)) = missed {
                self.report = Some((*rid, now.duration_since(*at).as_millis() as u64));
            }
        }
        if let Some(p) = body.pause
            && p > self.cfg.maxpause {
                return self.fail(req, body.rid, "policy-violation");
            }
        if self.hold == 0 && body.payload.is_empty() && !body.restart && body.kind == RequestKind::Normal {
            if self.last_empty_poll.is_some_and(|t| now.duration_since(t) < Duration::from_secs(u64::from(self.cfg.polling))) {
                return self.fail(req, body.rid, "policy-violation");
            }
            self.last_empty_poll = Some(now);
        }
        if body.restart {
            // XEP-0206 §5: a restart body carries no stanzas; any are ignored.
            self.out.push_back(BoshOutput::Restart);
        } else if !body.payload.is_empty() {
            self.out.push_back(BoshOutput::Stanzas(body.payload));
        }
        if body.kind == RequestKind::Terminate {
            // §13: payload forwarded, this request answered with terminate, the rest emptied.
            while let Some(h) = self.held.pop_front() {
                self.answer(h.req, h.rid);
            }
            self.out.push_back(BoshOutput::Respond { req, response: terminal_response(body.rid, "") });
            self.ended = true;
            self.out.push_back(BoshOutput::Ended(EndReason::ClientTerminated));
            return;
        }
        self.held.push_back(Held { req, rid: body.rid, deadline: now + self.wait_duration() });
        if let Some(p) = body.pause {
            // §10: answer everything now; the session may then be idle for `pause` seconds.
            while let Some(h) = self.held.pop_front() {
                self.answer(h.req, h.rid);
            }
            self.idle_allowance = Duration::from_secs(u64::from(p));
            return;
        }
        if let Some(t) = self.terminal.clone() {
            return self.finish_terminal(t);
        }
        self.send_queued();
        while self.held.len() > self.hold as usize {
            if let Some(h) = self.held.pop_front() {
                self.answer(h.req, h.rid);
            }
        }
    }

    /// Queue an outgoing stanza (or stream features) for the client.
    /// After the session ended the stanza stays queued: [`take_undelivered`] hands it back.
    ///
    /// [`take_undelivered`]: Self::take_undelivered
    pub fn push(&mut self, el: Element) {
        self.queue.push(el);
        if self.queue.len() > self.cfg.max_queue && !self.ended {
            // The client stopped polling: end the session now, so memory stays bounded; the
            // queue is handed back (`take_undelivered`) for rerouting or offline storage.
            let condition = "policy-violation";
            self.terminate(Terminal { condition, children: Vec::new() });
            if !self.ended {
                self.ended = true;
                self.out.push_back(BoshOutput::Ended(EndReason::Terminal(condition)));
            }
        }
    }

    /// Stanzas that never reached the client (the session ended first): the caller must
    /// deliver them elsewhere or store them, never drop them.
    pub fn take_undelivered(&mut self) -> Vec<Element> {
        std::mem::take(&mut self.queue)
    }

    /// Answer the oldest held request with everything queued (call after pushing).
    pub fn flush(&mut self, now: Instant) {
        self.now = now;
        self.send_queued();
    }

    fn send_queued(&mut self) {
        if self.queue.is_empty() || self.ended {
            return;
        }
        if let Some(h) = self.held.pop_front() {
            self.answer(h.req, h.rid);
        }
    }

    /// End the session from the server side with a terminal condition (§17.2): the held
    /// request (or the next one to arrive) carries it.
    pub fn terminate(&mut self, t: Terminal) {
        if self.ended {
            return;
        }
        if self.held.is_empty() {
            self.terminal = Some(t);
        } else {
            self.finish_terminal(t);
        }
    }

    fn finish_terminal(&mut self, t: Terminal) {
        let last = self.held.pop_back();
        while let Some(h) = self.held.pop_front() {
            self.answer(h.req, h.rid);
        }
        if let Some(h) = last {
            // §17.2: no stanzas ride on a terminate body (clients such as strophe.js drop
            // them); what is still queued stays for `take_undelivered`, which reroutes it.
            let mut response = terminal_response(h.rid, t.condition);
            if let Some(r) = &mut response.terminate {
                r.children = t.children;
            }
            self.out.push_back(BoshOutput::Respond { req: h.req, response });
        }
        self.ended = true;
        self.out.push_back(BoshOutput::Ended(EndReason::Terminal(t.condition)));
    }

    fn answer(&mut self, req: ReqId, rid: u64) {
        let creation = !self.creation_answered;
        self.creation_answered = true;
        let ack = (self.acks && self.last_rid != rid).then_some(self.last_rid);
        let stanzas = std::mem::take(&mut self.queue);
        let report = self.report.take();
        // Serialized once: the response and its buffered copy carry the same XML.
        let payload = Payload::serialized(&stanzas);
        let response = Response { rid, payload, terminate: None, ack, creation, recoverable_error: false, report };
        // The oldest goes first (this rid is the newest), so the buffer never needs room
        // for more than `requests` responses.
        while self.sent.len() >= (self.requests as usize).max(1) {
            self.sent.pop_first();
        }
        self.sent.insert(rid, (response.clone(), self.now));
        self.out.push_back(BoshOutput::Respond { req, response });
        if self.held.is_empty() {
            self.last_activity = self.now;
        }
    }

    fn fail(&mut self, req: ReqId, rid: u64, condition: &'static str) {
        while let Some(h) = self.held.pop_front() {
            self.out.push_back(BoshOutput::Respond { req: h.req, response: terminal_response(h.rid, condition) });
        }
        self.respond_terminal(req, rid, condition);
        if !self.ended {
            self.ended = true;
            self.out.push_back(BoshOutput::Ended(EndReason::Terminal(condition)));
        }
    }

    fn respond_terminal(&mut self, req: ReqId, rid: u64, condition: &'static str) {
        self.out.push_back(BoshOutput::Respond { req, response: terminal_response(rid, condition) });
    }

    /// Time-driven work: answer requests held for `wait`, drop an inactive session.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.ended {
            return;
        }
        while self.held.front().is_some_and(|h| h.deadline <= now) {
            if let Some(h) = self.held.pop_front() {
                self.answer(h.req, h.rid);
            }
        }
        if self.held.is_empty() && self.ahead.is_empty() && now.duration_since(self.last_activity) >= self.idle_allowance {
            self.ended = true;
            self.out.push_back(BoshOutput::Ended(EndReason::Inactive));
        }
    }

    /// When [`tick`](Self::tick) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        match self.held.front() {
            Some(h) => Some(h.deadline),
            None => Some(self.last_activity + self.idle_allowance),
        }
    }

    /// HTTP request `req` went away unanswered (the client closed its connection, e.g. on a
    /// page reload): forget it without using it, so queued stanzas wait for the next request.
    pub fn request_gone(&mut self, req: ReqId) {
        let before = self.held.len();
        self.held.retain(|h| h.req != req);
        if before != self.held.len() && self.held.is_empty() {
            self.last_activity = self.now;
        }
    }

    /// A response could not be handed over (its connection had closed): its stanzas go back
    /// to the front of the queue and it is no longer offered for retransmission.
    pub fn response_failed(&mut self, response: Response) {
        if response.terminate.is_some() {
            return;
        }
        let rid = response.rid;
        // Should the payload not parse again, it stays buffered for the client to ask for
        // once more: never dropped.
        let Some(mut payload) = response.payload.into_stanzas() else { return };
        self.sent.remove(&rid);
        payload.append(&mut self.queue);
        self.queue = payload;
    }

    /// Requests currently held.
    pub fn held_len(&self) -> usize {
        self.held.len()
    }
}

/// The answer that releases a superseded HTTP request (§14.3: a recoverable error).
fn empty_response(rid: u64) -> Response {
    Response { rid, payload: Payload::default(), terminate: None, ack: None, creation: false, recoverable_error: true, report: None }
}

fn terminal_response(rid: u64, condition: &'static str) -> Response {
    let terminate = Some(Terminal { condition, children: Vec::new() });
    Response { rid, payload: Payload::default(), terminate, ack: None, creation: false, recoverable_error: false, report: None }
}

#[cfg(test)]
mod tests;
