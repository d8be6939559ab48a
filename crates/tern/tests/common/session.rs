//! The negotiation and stanza helpers of the test [`Client`]: stream open, STARTTLS
//! (RFC 6120 §5), SASL SCRAM/PLAIN (§6), bind (§7), IQs, pings, chat messages and
//! XEP-0198 enable.

use base64::Engine as _;
use minidom::Element;
use tern_auth::client::plain_message;
use tern_auth::ScramHash;
use tern_core::ns;

use super::client::{show, tls_connect, Client, Ev, TIMEOUT};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

impl Client {
    /// Send a stream header for `self.domain` and wait for the server's header and features.
    pub async fn open_stream(&mut self) -> Element {
        let header = match self.ws {
            Some(_) => format!("<open xmlns='{}' to='{}' version='1.0' xml:lang='en'/>", tern_wire::websocket::NS_FRAMING, self.domain),
            None => format!(
                "<?xml version='1.0'?><stream:stream to='{}' version='1.0' xml:lang='en' xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams'>",
                self.domain
            ),
        };
        self.send_str(&header).await;
        match self.next_event(TIMEOUT).await {
            Some(Ev::Open(h)) => self.header = Some(h),
            other => panic!("expected the server's stream header, got {other:?}"),
        }
        let f = self.expect("<stream:features/>", |e| e.is("features", ns::STREAMS)).await;
        self.features = Some(f.clone());
        f
    }

    /// SASL mechanisms offered in the last features.
    pub fn mechanisms(&self) -> Vec<String> {
        let Some(f) = &self.features else { return Vec::new() };
        let Some(m) = f.get_child("mechanisms", ns::SASL) else { return Vec::new() };
        m.children().map(|c| c.text()).collect()
    }

    /// RFC 6120 §5: `<starttls/>`, `<proceed/>`, handshake, stream restart.
    pub async fn starttls(&mut self) {
        let offered = self.features.as_ref().is_some_and(|f| f.has_child("starttls", ns::TLS));
        assert!(offered, "STARTTLS not offered: {:?}", self.features.as_ref().map(show));
        self.send_str("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await;
        self.expect("<proceed/>", |e| e.is("proceed", ns::TLS)).await;
        let io = self.io.take().expect("connection open");
        self.io = Some(tls_connect(self.tls.clone(), &self.domain.clone(), io).await);
        self.framer.reset();
        self.open_stream().await;
    }

    /// Wait for the outcome of a SASL exchange step.
    async fn sasl_reply(&mut self) -> Element {
        self.expect("a SASL reply", |e| e.ns() == ns::SASL).await
    }

    async fn sasl_success(&mut self) {
        self.framer.reset();
        self.open_stream().await;
    }

    /// SCRAM (RFC 5802) as `user`. On `<failure/>` returns it.
    pub async fn auth_scram(&mut self, hash: ScramHash, user: &str, password: &str) -> Result<(), Element> {
        super::sasl::scram(self, hash, user, password).await?;
        self.sasl_success().await;
        Ok(())
    }

    /// SASL PLAIN (RFC 4616). On `<failure/>` returns it.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), Element> {
        let msg = B64.encode(plain_message("", user, password));
        self.send_str(&format!("<auth xmlns='{}' mechanism='PLAIN'>{msg}</auth>", ns::SASL)).await;
        let reply = self.sasl_reply().await;
        if reply.name() != "success" {
            return Err(reply);
        }
        self.sasl_success().await;
        Ok(())
    }

    /// RFC 6120 §7: bind `resource` (or let the server choose); returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let inner = resource.map(|r| format!("<resource>{r}</resource>")).unwrap_or_default();
        let iq = format!("<iq type='set' id='bind-1'><bind xmlns='{}'>{inner}</bind></iq>", ns::BIND);
        self.send_str(&iq).await;
        let r = self.expect("bind result", |e| e.is("iq", ns::CLIENT) && e.attr("id") == Some("bind-1")).await;
        assert_eq!(r.attr("type"), Some("result"), "bind failed: {}", show(&r));
        let jid = r
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .map(|j| j.text())
            .unwrap_or_else(|| panic!("bind result without jid: {}", show(&r)));
        self.jid = Some(jid.clone());
        jid
    }

    // ---- stanzas ----

    /// Send an IQ given as XML (its `id` attribute must be `{id}`, replaced by a fresh one)
    /// and wait for the result or error with that id.
    pub async fn iq(&mut self, xml_with_id_placeholder: &str) -> Element {
        let id = self.id();
        let xml = xml_with_id_placeholder.replace("{id}", &id);
        assert!(xml.contains(&id), "the IQ template needs id='{{id}}': {xml}");
        self.send_str(&xml).await;
        self.expect(&format!("IQ response id={id} to {xml}"), |e| {
            e.is("iq", ns::CLIENT) && e.attr("id") == Some(id.as_str()) && matches!(e.attr("type"), Some("result" | "error"))
        })
        .await
    }

    /// Like [`iq`](Self::iq), asserting `type='result'`.
    pub async fn iq_ok(&mut self, xml: &str) -> Element {
        let r = self.iq(xml).await;
        assert_eq!(r.attr("type"), Some("result"), "IQ failed: {}", show(&r));
        r
    }

    /// XEP-0199 ping of the server, asserting the result.
    pub async fn ping_server(&mut self) {
        let xml = format!("<iq type='get' id='{{id}}' to='{}'><ping xmlns='urn:xmpp:ping'/></iq>", self.domain);
        self.iq_ok(&xml).await;
    }

    /// Two ping round trips: everything the server queued for this session before the
    /// call has been written to us afterwards.
    pub async fn barrier(&mut self) {
        self.ping_server().await;
        self.ping_server().await;
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
        self.send_str(&format!("<message type='chat' to='{to}' id='{id}'><body>{body}</body></message>")).await;
    }

    /// XEP-0198 `<enable/>`; returns `<enabled/>`.
    pub async fn enable_sm(&mut self, resume: bool) -> Element {
        let attr = if resume { " resume='true'" } else { "" };
        self.send_str(&format!("<enable xmlns='{}'{attr}/>", ns::SM)).await;
        let e = self.expect("<enabled/>", |e| e.ns() == ns::SM && matches!(e.name(), "enabled" | "failed")).await;
        assert_eq!(e.name(), "enabled", "SM enable failed: {}", show(&e));
        e
    }

    /// Continue counting `h` from a previous connection (before `<resume/>`).
    pub fn set_h(&mut self, h: u32) {
        self.h_in = h;
    }
}

impl super::sasl::SaslPeer for Client {
    async fn send_sasl(&mut self, xml: &str) {
        self.send_str(xml).await;
    }

    async fn sasl_reply(&mut self) -> Element {
        Client::sasl_reply(self).await
    }
}
