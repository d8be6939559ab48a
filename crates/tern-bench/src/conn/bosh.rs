//! The client side of BOSH (XEP-0124) carrying an XMPP stream (XEP-0206). Session creation
//! (XEP-0124 §7.1, XEP-0206 §3: `wait`, `hold='1'`, `ver`, `xmpp:version`), then requests
//! with increasing `rid` and the `sid` (§7.2), the restart after SASL (XEP-0206 §5,
//! `xmpp:restart='true'`) and termination (§13, `type='terminate'` with unavailable
//! presence). At most `requests` (the creation response's, at most 2) are outstanding: one
//! stays held by the server while idle, and a new request goes out beside it when there is
//! something to send. Each request has its own keep-alive HTTP/1.1 connection of the two
//! ([`super::http`]); a reused connection that the server closed meanwhile is redialled and
//! the request sent again once (the same `rid`, §14). Responses are read in `rid` order.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::task::{Context, Poll};

use minidom::Element;
use rand::Rng as _;
use tokio::io::AsyncWriteExt as _;

use super::Event;
use super::bosh_body::{Next, read, render};
use super::http::{self, Response, ResponseReader};
use crate::error::ClientError;
use crate::net::{Dialer, Io, poll_read_into, write_all};
use crate::opts::Target;

/// HTTP connections per session, hence requests outstanding at most.
const LINKS: usize = 2;
/// Largest response body parsed.
const MAX_BODY: usize = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    /// The creation request is out.
    Creating,
    Live,
    /// The terminate request is out.
    Terminating,
    Ended,
}

/// A request awaiting its response.
struct InFlight {
    rid: u64,
    /// The bytes sent, kept to send again if the connection turns out closed.
    request: Vec<u8>,
    /// It opens the stream (creation or restart).
    opens: bool,
    /// Sent on a connection that existed before it (it may have been closed meanwhile).
    reused: bool,
}

/// One keep-alive HTTP connection.
#[derive(Default)]
struct HttpLink {
    io: Option<Io>,
    busy: Option<InFlight>,
    reader: ResponseReader,
}

pub(super) struct BoshConn {
    dialer: Arc<Dialer>,
    wait: u32,
    links: [HttpLink; LINKS],
    sid: Option<String>,
    state: State,
    /// The last rid sent.
    rid: u64,
    /// The rid whose response is processed next.
    next_rid: u64,
    /// Requests allowed outstanding.
    requests: usize,
    queue: VecDeque<Next>,
    /// Responses read ahead of an earlier rid's, with their request's `opens`.
    ahead: BTreeMap<u64, (bool, Element)>,
    events: VecDeque<Event>,
}

impl BoshConn {
    /// Open the first HTTP connection; the first rid is random (§7.1).
    pub(super) async fn connect(
        dialer: &Arc<Dialer>,
        target: &Target,
    ) -> Result<Self, ClientError> {
        let io = dialer.dial().await?;
        let mut conn = Self::new(dialer.clone(), target.bosh_wait);
        conn.links[0].io = Some(io);
        Ok(conn)
    }

    fn new(dialer: Arc<Dialer>, wait: u32) -> Self {
        let mut raw = [0u8; 4];
        rand::rng().fill_bytes(&mut raw);
        let rid = u64::from(u32::from_be_bytes(raw));
        BoshConn {
            dialer,
            wait,
            links: Default::default(),
            sid: None,
            state: State::New,
            rid,
            next_rid: rid + 1,
            requests: 1,
            queue: VecDeque::new(),
            ahead: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    pub(super) fn queue_open(&mut self, domain: &str) {
        self.queue.push_back(Next::Open(domain.to_owned()));
    }

    /// Add an element to the next request's payload.
    pub(super) fn queue_with(&mut self, build: impl FnOnce(&mut String) -> std::fmt::Result) {
        if let Some(Next::Payload(p)) = self.queue.back_mut() {
            let _ = build(p);
            return;
        }
        let mut p = String::new();
        let _ = build(&mut p);
        self.queue.push_back(Next::Payload(p));
    }

    pub(super) fn has_buffered(&self) -> bool {
        !self.events.is_empty()
    }

    pub(super) fn outstanding(&self) -> usize {
        self.links.iter().filter(|l| l.busy.is_some()).count()
    }

    /// What may be sent now: `Some(true)` the queue's front, `Some(false)` an empty request
    /// so that one is held while idle.
    fn sendable(&self) -> Option<bool> {
        let outstanding = self.outstanding();
        match (self.queue.front(), self.state) {
            (Some(Next::Terminate), State::Live) if outstanding < LINKS => Some(true),
            (Some(Next::Terminate), _) => None,
            (Some(_), State::New | State::Live) if outstanding < self.requests => Some(true),
            (None, State::Live) if outstanding == 0 => Some(false),
            _ => None,
        }
    }

    fn needs_flush(&self) -> bool {
        self.sendable().is_some()
            || self
                .links
                .iter()
                .any(|l| l.busy.is_some() && l.io.is_none())
    }

    /// Send what may be sent, and again any request whose connection turned out closed.
    pub(super) async fn flush(&mut self) -> Result<(), ClientError> {
        for i in 0..LINKS {
            if self.links[i].busy.is_some() && self.links[i].io.is_none() {
                self.transmit(i).await?;
            }
        }
        while let Some(queued) = self.sendable() {
            let next = match queued {
                true => self
                    .queue
                    .pop_front()
                    .unwrap_or(Next::Payload(String::new())),
                false => Next::Payload(String::new()),
            };
            let request = self.render(next);
            let free = |l: &HttpLink| l.busy.is_none();
            let i = (self.links.iter().position(|l| free(l) && l.io.is_some()))
                .or_else(|| self.links.iter().position(free))
                .ok_or_else(|| ClientError::Bosh("no free connection".into()))?;
            self.links[i].busy = Some(request);
            self.transmit(i).await?;
        }
        Ok(())
    }

    /// Send link `i`'s request, on a new connection if it has none or the old one failed.
    async fn transmit(&mut self, i: usize) -> Result<(), ClientError> {
        let BoshConn { links, dialer, .. } = self;
        let link = &mut links[i];
        let Some(request) = link.busy.as_mut() else {
            return Ok(());
        };
        loop {
            let fresh = link.io.is_none();
            let io = match &mut link.io {
                Some(io) => io,
                None => link.io.insert(dialer.dial().await?),
            };
            request.reused = !fresh;
            match write_all(io, &request.request).await {
                Ok(()) => return Ok(()),
                Err(_) if !fresh => link.io = None,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next request, wrapped in HTTP.
    fn render(&mut self, next: Next) -> InFlight {
        self.rid += 1;
        let body = render(&next, self.rid, self.sid.as_deref(), self.wait);
        match (&next, &self.sid) {
            (Next::Open(_), None) => self.state = State::Creating,
            (Next::Terminate, _) => self.state = State::Terminating,
            _ => {}
        }
        let mut request = Vec::with_capacity(body.len() + 128);
        let (host, path) = (self.dialer.http_host(), self.dialer.http_path());
        http::post(&mut request, host, path, &body);
        InFlight {
            rid: self.rid,
            request,
            opens: matches!(next, Next::Open(_)),
            reused: false,
        }
    }

    /// The next event. Cancel-safe: reading consumes bytes within the poll that read them,
    /// and anything to send is left to the caller's flush ([`Event::Control`]).
    pub(super) async fn recv(&mut self) -> Result<Event, ClientError> {
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(ev);
            }
            if self.state == State::Ended {
                return Err(ClientError::Eof);
            }
            if self.needs_flush() {
                return Ok(Event::Control);
            }
            if self.outstanding() == 0 {
                return Err(ClientError::Bosh("nothing sent to wait for".into()));
            }
            std::future::poll_fn(|cx| self.poll_links(cx)).await?;
        }
    }

    /// Read from both connections until a response is complete or a connection ended.
    fn poll_links(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let mut changed = false;
        for i in 0..LINKS {
            loop {
                let HttpLink { io, reader, .. } = &mut self.links[i];
                let Some(io) = io.as_mut() else { break };
                match poll_read_into(io, cx, |bytes| reader.feed(bytes)) {
                    Poll::Pending => break,
                    Poll::Ready(Ok(Some(Ok(None)))) => {}
                    Poll::Ready(Ok(Some(Ok(Some(response))))) => {
                        return Poll::Ready(self.take_response(i, response));
                    }
                    Poll::Ready(Ok(Some(Err(e)))) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(None)) => {
                        self.link_ended(i, None)?;
                        changed = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.link_ended(i, Some(e))?;
                        changed = true;
                    }
                }
            }
        }
        match changed {
            true => Poll::Ready(Ok(())),
            false => Poll::Pending,
        }
    }

    /// Connection `i` ended. Idle, it was a keep-alive connection the server closed; with a
    /// request sent on it as a reused connection and nothing read, that request goes again.
    fn link_ended(&mut self, i: usize, error: Option<std::io::Error>) -> Result<(), ClientError> {
        let link = &mut self.links[i];
        link.io = None;
        let nothing_read = link.reader.is_idle();
        link.reader = ResponseReader::default();
        match &link.busy {
            None => Ok(()),
            Some(f) if f.reused && nothing_read => Ok(()),
            Some(_) => {
                Err(error.map_or(ClientError::EofDuring("a BOSH response"), ClientError::Io))
            }
        }
    }

    /// A response on connection `i`: parsed, then processed in rid order.
    fn take_response(&mut self, i: usize, response: Response) -> Result<(), ClientError> {
        let link = &mut self.links[i];
        let request = link
            .busy
            .take()
            .ok_or_else(|| ClientError::Http("response without a request".into()))?;
        if response.close {
            link.io = None;
        }
        if response.status != 200 {
            return Err(ClientError::Http(format!("status {}", response.status)));
        }
        let limits = tern_wire::Limits {
            max_stanza_bytes: MAX_BODY,
            ..tern_wire::Limits::default()
        };
        let body = tern_wire::parse_document(&response.body, limits)?;
        self.ahead.insert(request.rid, (request.opens, body));
        while let Some((opens, body)) = self.ahead.remove(&self.next_rid) {
            self.next_rid += 1;
            self.process(opens, body)?;
        }
        Ok(())
    }

    /// One response body, in order: its stanzas become events; a terminate body ends the
    /// session with [`Event::Close`].
    fn process(&mut self, opens: bool, body: Element) -> Result<(), ClientError> {
        let answer = read(body, self.state == State::Terminating)?;
        if self.state == State::Creating {
            let (sid, requests) = answer
                .session
                .ok_or_else(|| ClientError::Bosh("creation response without sid".into()))?;
            self.sid = Some(sid);
            self.requests = requests.unwrap_or(LINKS).clamp(1, LINKS);
            self.state = State::Live;
        }
        if opens && !answer.terminated {
            self.events.push_back(Event::Open);
        }
        self.events
            .extend(answer.payload.into_iter().map(Event::Element));
        if answer.terminated {
            self.events.push_back(Event::Close);
            self.state = State::Ended;
        }
        Ok(())
    }

    /// Give back buffer capacity (before holding a session idle).
    pub(super) fn trim(&mut self) {
        self.events.shrink_to_fit();
        self.queue.shrink_to_fit();
        for link in &mut self.links {
            link.reader.release();
        }
    }

    /// Terminate the session (§13) and wait for the server's terminate response, then
    /// close both connections.
    pub(super) async fn close(&mut self) -> Result<(), ClientError> {
        if self.state == State::Live {
            self.queue.push_back(Next::Terminate);
            loop {
                self.flush().await?;
                match self.recv().await {
                    Ok(Event::Close) | Err(ClientError::Eof) => break,
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for link in &mut self.links {
            if let Some(mut io) = link.io.take() {
                let _ = io.shutdown().await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "bosh_tests.rs"]
mod tests;
