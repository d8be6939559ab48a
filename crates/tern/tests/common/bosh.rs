//! A small BOSH client (XEP-0124, XEP-0206) for the integration tests: session creation,
//! requests with increasing rids, each on its own HTTP connection (at most `requests`
//! outstanding, like a browser client keeping one request held), SASL SCRAM in bodies,
//! `xmpp:restart`, bind, and waiting for stanzas with a timeout.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use minidom::Element;
use tern_auth::ScramHash;
use tern_core::bosh::NS_HTTPBIND;
use tern_core::ns;
use tokio::task::JoinHandle;

use super::client::{show, TIMEOUT};
use super::http::{Endpoint, HttpResponse};


/// The opening of every request body (both namespaces declared).
pub fn body_open(rid: u64, attrs: &str) -> String {
    format!("<body xmlns='{NS_HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' rid='{rid}'{attrs}")
}

/// A whole request body.
pub fn body_xml(rid: u64, attrs: &str, payload: &str) -> String {
    if payload.is_empty() {
        format!("{}/>", body_open(rid, attrs))
    } else {
        format!("{}>{payload}</body>", body_open(rid, attrs))
    }
}

/// A session creation request for `localhost` (XEP-0124 §7.1, XEP-0206 §3).
pub fn creation_xml(rid: u64, wait: u32, extra: &str) -> String {
    body_xml(rid, &format!(" to='localhost' xml:lang='en' wait='{wait}' hold='1' ver='1.6' xmpp:version='1.0'{extra}"), "")
}

/// The `condition` of a `type='terminate'` response, if it is one.
pub fn terminate_condition(body: &Element) -> Option<String> {
    (body.attr("type") == Some("terminate")).then(|| body.attr("condition").unwrap_or_default().to_owned())
}

/// Assert `resp` is HTTP 200 with a terminal binding condition `condition` (XEP-0124 §17).
pub fn assert_terminal(resp: &HttpResponse, condition: &str) {
    assert_eq!(resp.status, 200, "terminal conditions are sent with HTTP 200: {resp:?}");
    let el = resp.xml();
    assert!(el.is("body", NS_HTTPBIND), "not a body: {resp:?}");
    assert_eq!(terminate_condition(&el).as_deref(), Some(condition), "expected terminate/{condition}: {}", resp.body);
}

/// One BOSH session.
pub struct Bosh {
    pub ep: Endpoint,
    pub sid: String,
    /// The last rid used.
    pub rid: u64,
    /// The creation response.
    pub creation: Element,
    /// `requests` from the creation response.
    pub requests: usize,
    /// Outstanding requests, oldest first.
    pub pending: VecDeque<(u64, JoinHandle<HttpResponse>)>,
    /// Request bodies and response bodies by rid (for retransmission tests).
    pub sent: HashMap<u64, String>,
    pub answers: HashMap<u64, String>,
    stash: Vec<Element>,
    pub features: Option<Element>,
    pub jid: Option<String>,
    next_id: u64,
}

impl super::sasl::SaslPeer for Bosh {
    async fn send_sasl(&mut self, xml: &str) {
        self.send(xml).await;
    }

    async fn sasl_reply(&mut self) -> Element {
        self.expect("a SASL reply", |e| e.ns() == ns::SASL).await
    }
}

impl Bosh {
    /// Create a session (client `wait`, hold 1) and check the response is a session.
    pub async fn create(ep: &Endpoint, wait: u32) -> Bosh {
        let rid = 1000 + u64::from(rand_u16());
        let resp = ep.post(&creation_xml(rid, wait, "")).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        let el = resp.xml();
        assert_eq!(terminate_condition(&el), None, "session creation refused: {}", resp.body);
        let sid = el.attr("sid").unwrap_or_else(|| panic!("no sid: {}", resp.body)).to_owned();
        let requests = el.attr("requests").and_then(|r| r.parse().ok()).unwrap_or(2);
        let features = el.get_child("features", ns::STREAMS).cloned();
        assert!(features.is_some(), "no stream features in the creation response: {}", resp.body);
        Bosh {
            ep: ep.clone(),
            sid,
            rid,
            creation: el,
            requests,
            pending: VecDeque::new(),
            sent: HashMap::new(),
            answers: HashMap::new(),
            stash: Vec::new(),
            features,
            jid: None,
            next_id: 0,
        }
    }

    /// Create a session, SCRAM-SHA-256, restart, bind `resource` (random if None).
    pub async fn login(ep: &Endpoint, wait: u32, user: &str, password: &str, resource: Option<&str>) -> Bosh {
        let mut b = Bosh::create(ep, wait).await;
        b.auth_scram(ScramHash::Sha256, user, password).await.unwrap_or_else(|f| panic!("BOSH login of {user}: {}", show(&f)));
        b.bind(resource).await;
        b
    }

    /// Login, then initial presence.
    pub async fn login_available(ep: &Endpoint, wait: u32, user: &str, password: &str, resource: Option<&str>) -> Bosh {
        let mut b = Bosh::login(ep, wait, user, password, resource).await;
        b.send("<presence xmlns='jabber:client'/>").await;
        b
    }

    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("b{}", self.next_id)
    }

    pub fn bare_jid(&self) -> String {
        let j = self.jid.as_deref().expect("bound");
        j.split('/').next().unwrap_or(j).to_owned()
    }

    /// The next request body (rid + 1) with this session's sid, without sending it.
    pub fn next_body(&mut self, attrs: &str, payload: &str) -> (u64, String) {
        self.rid += 1;
        let xml = body_xml(self.rid, &format!(" sid='{}'{attrs}", self.sid), payload);
        self.sent.insert(self.rid, xml.clone());
        (self.rid, xml)
    }

    /// Send a request in the background (after making room: at most `requests` outstanding).
    pub async fn send_with(&mut self, attrs: &str, payload: &str) {
        while self.pending.len() >= self.requests {
            assert!(self.complete_oldest(TIMEOUT).await, "an outstanding request was not answered in time");
        }
        let (rid, xml) = self.next_body(attrs, payload);
        let ep = self.ep.clone();
        self.pending.push_back((rid, tokio::spawn(async move { ep.post(&xml).await })));
    }

    pub async fn send(&mut self, payload: &str) {
        self.send_with("", payload).await;
    }

    /// Take in one response: stash its payload; panic on a terminal condition.
    pub fn absorb(&mut self, rid: u64, resp: HttpResponse) {
        assert_eq!(resp.status, 200, "rid {rid}: {resp:?}");
        let el = resp.xml();
        assert!(el.is("body", NS_HTTPBIND), "rid {rid}: not a body: {}", resp.body);
        if let Some(c) = terminate_condition(&el) {
            panic!("rid {rid}: the session was terminated ({c}): {}", resp.body);
        }
        self.answers.insert(rid, resp.body.clone());
        self.stash.extend(el.children().cloned());
    }

    /// Wait up to `within` for the oldest outstanding request; false on timeout.
    pub async fn complete_oldest(&mut self, within: Duration) -> bool {
        let Some((rid, mut h)) = self.pending.pop_front() else { return true };
        match tokio::time::timeout(within, &mut h).await {
            Ok(r) => {
                let resp = r.unwrap_or_else(|e| panic!("request rid {rid} failed: {e}"));
                self.absorb(rid, resp);
                true
            }
            Err(_) => {
                self.pending.push_front((rid, h));
                false
            }
        }
    }

    /// Wait (up to [`TIMEOUT`]) for a stanza matching `pred`, keeping a request held.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.stash.iter().position(&pred) {
                return self.stash.remove(i);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                let got: Vec<String> = self.stash.iter().map(show).collect();
                panic!("BOSH: timed out waiting for {what}; received meanwhile:\n  {}", got.join("\n  "));
            }
            if self.pending.is_empty() {
                self.send("").await;
            }
            self.complete_oldest(left).await;
        }
    }

    /// Everything received and not consumed yet.
    pub fn stashed(&self) -> &[Element] {
        &self.stash
    }

    /// SCRAM (RFC 5802) in bodies, then `xmpp:restart` (XEP-0206 §5). `<failure/>` is returned.
    pub async fn auth_scram(&mut self, hash: ScramHash, user: &str, password: &str) -> Result<(), Element> {
        super::sasl::scram(self, hash, user, password).await?;
        self.send_with(" xmpp:restart='true' to='localhost' xml:lang='en'", "").await;
        let f = self.expect("<stream:features/> after the restart", |e| e.is("features", ns::STREAMS)).await;
        self.features = Some(f);
        Ok(())
    }

    /// RFC 6120 §7 bind.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let f = self.features.as_ref().expect("features");
        assert!(f.has_child("bind", ns::BIND), "bind not offered: {}", show(f));
        let inner = resource.map(|r| format!("<resource>{r}</resource>")).unwrap_or_default();
        self.send(&format!("<iq type='set' id='bind-1' xmlns='jabber:client'><bind xmlns='{}'>{inner}</bind></iq>", ns::BIND))
            .await;
        let r = self.expect("bind result", |e| e.is("iq", ns::CLIENT) && e.attr("id") == Some("bind-1")).await;
        assert_eq!(r.attr("type"), Some("result"), "bind failed: {}", show(&r));
        let jid = r.get_child("bind", ns::BIND).and_then(|b| b.get_child("jid", ns::BIND)).map(|j| j.text());
        let jid = jid.unwrap_or_else(|| panic!("bind result without jid: {}", show(&r)));
        self.jid = Some(jid.clone());
        jid
    }

    /// XEP-0199 ping of the server; then no request is left outstanding (each ping
    /// releases the request held before it and is answered itself).
    pub async fn barrier(&mut self) {
        for _ in 0..5 {
            let id = self.id();
            self.send(&format!("<iq type='get' id='{id}' to='localhost' xmlns='jabber:client'><ping xmlns='urn:xmpp:ping'/></iq>"))
                .await;
            let r = self.expect("ping result", |e| e.is("iq", ns::CLIENT) && e.attr("id") == Some(id.as_str())).await;
            assert_eq!(r.attr("type"), Some("result"), "{}", show(&r));
            while !self.pending.is_empty() && self.complete_oldest(Duration::from_millis(500)).await {}
            if self.pending.is_empty() {
                return;
            }
        }
        panic!("BOSH: requests still held after pings");
    }

    /// Wait for a message whose `<body/>` is `body`.
    pub async fn expect_message(&mut self, body: &str) -> Element {
        self.expect(&format!("message with body {body:?}"), |e| {
            e.is("message", ns::CLIENT) && e.get_child("body", ns::CLIENT).is_some_and(|b| b.text() == body)
        })
        .await
    }

    /// A chat message to `to`.
    pub async fn send_chat(&mut self, to: &str, body: &str) {
        let id = self.id();
        self.send(&format!("<message type='chat' to='{to}' id='{id}' xmlns='jabber:client'><body>{body}</body></message>"))
            .await;
    }

    /// `type='terminate'` with `payload` (XEP-0124 §13); returns the response. Outstanding
    /// requests are answered first.
    pub async fn terminate(&mut self, payload: &str) -> HttpResponse {
        while self.pending.len() >= self.requests {
            assert!(self.complete_oldest(TIMEOUT).await, "an outstanding request was not answered in time");
        }
        let (_, xml) = self.next_body(" type='terminate'", payload);
        let resp = self.ep.post(&xml).await;
        while let Some((rid, h)) = self.pending.pop_front() {
            let r = tokio::time::timeout(TIMEOUT, h).await.expect("held request answered at terminate").expect("request");
            assert_eq!(r.status, 200, "{r:?}");
            let el = r.xml();
            assert_eq!(terminate_condition(&el), None, "rid {rid} answered normally at terminate: {}", r.body);
            self.stash.extend(el.children().cloned());
        }
        resp
    }
}

fn rand_u16() -> u16 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish() as u16
}
