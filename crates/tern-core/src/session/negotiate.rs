//! Negotiation steps before a session is established: STARTTLS (RFC 6120 §5.4), SASL
//! (RFC 6120 §6.4), in-band registration (XEP-0077 §3), resource binding (RFC 6120 §7.6).

use base64::Engine as _;
use jid::{BareJid, FullJid};
use minidom::Element;
use tern_auth::{AuthError, Mechanism, SaslServer, SaslStep, StoredCredentials};

use super::{C2sSession, Output, Phase};
use crate::error::{error_reply, StanzaCondition, StanzaError, StreamCondition};
use crate::ns;
use crate::stanza::iq_result;
use crate::xml::{random_id, text_elem};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sasl_failure(condition: &str) -> Element {
    let mut f = Element::bare("failure", ns::SASL);
    f.append_child(Element::bare(condition, ns::SASL));
    f
}

impl C2sSession {
    /// Only STARTTLS is acceptable on a stream that offered it as required (RFC 6120 §5.3.1).
    pub(super) fn handle_pre_tls(&mut self, el: Element) {
        if el.is("starttls", ns::TLS) {
            self.send(Element::bare("proceed", ns::TLS));
            let domain = self.vhost.clone().unwrap_or_default();
            self.phase = Phase::Waiting;
            self.out.push_back(Output::StartTls { domain });
        } else {
            self.stream_error(StreamCondition::PolicyViolation, "STARTTLS is required");
        }
    }

    /// The TLS handshake finished: the client restarts the stream (RFC 6120 §5.4.3.3).
    pub fn tls_established(&mut self) {
        if self.phase == Phase::Waiting {
            self.encrypted = true;
            self.phase = Phase::AwaitOpen;
        }
    }

    pub(super) fn handle_sasl(&mut self, el: Element) {
        if self.username.is_some() {
            return self.stream_error(StreamCondition::PolicyViolation, "already authenticated");
        }
        let step = match el.name() {
            "auth" => self.sasl_start(&el),
            "response" if self.sasl.is_some() => decode(&el).and_then(|data| match self.sasl.as_mut() {
                Some(s) => s.step(&data),
                None => Err(AuthError::MalformedRequest("no exchange".into())),
            }),
            "abort" => {
                self.sasl = None;
                return self.send(sasl_failure("aborted"));
            }
            _ => Err(AuthError::MalformedRequest("unexpected SASL element".into())),
        };
        self.sasl_outcome(step);
    }

    fn sasl_start(&mut self, el: &Element) -> Result<SaslStep, AuthError> {
        let mech = el
            .attr("mechanism")
            .and_then(Mechanism::from_name)
            .ok_or(AuthError::InvalidMechanism)?;
        if !self.mechanisms().contains(&mech) {
            return Err(if mech == Mechanism::Plain { AuthError::EncryptionRequired } else { AuthError::InvalidMechanism });
        }
        let data = decode(el)?;
        let vhost = self.vhost.clone().unwrap_or_default();
        let server = self.sasl.insert(SaslServer::new(mech, &vhost));
        server.start(&data)
    }

    /// Stored credentials for the user named in the exchange (None: no such user).
    pub fn credentials(&mut self, creds: Option<&StoredCredentials>) {
        if self.phase != Phase::Waiting {
            return;
        }
        self.phase = Phase::Open;
        let step = match self.sasl.as_mut() {
            Some(s) => s.credentials(creds),
            None => Err(AuthError::MalformedRequest("no exchange".into())),
        };
        self.sasl_outcome(step);
    }

    fn sasl_outcome(&mut self, step: Result<SaslStep, AuthError>) {
        match step {
            Ok(SaslStep::NeedCredentials { username }) => {
                self.phase = Phase::Waiting;
                let vhost = self.vhost.clone().unwrap_or_default();
                // Accounts are keyed by their nodeprep'd localpart ("Alice" logs in as alice);
                // a name that is no valid localpart matches no account.
                let username = crate::stanza::account_localpart(&username, &vhost).unwrap_or(username);
                self.out.push_back(Output::LookupCredentials { vhost, username });
            }
            Ok(SaslStep::Challenge(data)) => {
                self.send(text_elem("challenge", ns::SASL, B64.encode(data)));
            }
            Ok(SaslStep::Success { username, additional_data }) => {
                self.sasl = None;
                let vhost = self.vhost.clone().unwrap_or_default();
                let Ok(jid) = BareJid::new(&format!("{username}@{vhost}")) else {
                    return self.sasl_fail(AuthError::NotAuthorized);
                };
                let mut success = Element::bare("success", ns::SASL);
                if !additional_data.is_empty() {
                    success.append_text_node(B64.encode(additional_data));
                }
                self.username = Some(username);
                self.send(success);
                self.out.push_back(Output::Authenticated { jid });
                self.out.push_back(Output::ResetStream);
                self.phase = Phase::AwaitOpen;
            }
            Err(e) => self.sasl_fail(e),
        }
    }

    fn sasl_fail(&mut self, e: AuthError) {
        self.sasl = None;
        self.auth_failures += 1;
        self.out.push_back(Output::AuthFailed);
        self.send(sasl_failure(e.condition()));
        if self.auth_failures >= self.cfg.max_auth_failures {
            self.stream_error(StreamCondition::PolicyViolation, "too many failed authentication attempts");
        }
    }

    /// XEP-0077 before authentication: the form, or an account creation request.
    pub(super) fn handle_register(&mut self, iq: Element) {
        let policy = self.policy();
        let Some(query) = iq.get_child("query", ns::REGISTER) else { return };
        if !policy.registration {
            return self.iq_error(&iq, StanzaCondition::NotAllowed, "registration is closed");
        }
        if !(self.encrypted || policy.allow_plain_unencrypted) {
            return self.iq_error(&iq, StanzaCondition::NotAllowed, "registration needs an encrypted stream");
        }
        match iq.attr("type") {
            Some("get") => {
                let mut q = Element::bare("query", ns::REGISTER);
                q.append_child(text_elem("instructions", ns::REGISTER, "Choose a username and password."));
                q.append_child(Element::bare("username", ns::REGISTER));
                q.append_child(Element::bare("password", ns::REGISTER));
                self.send(iq_result(&iq, Some(q)));
            }
            Some("set") => {
                let field = |n: &str| query.get_child(n, ns::REGISTER).map(|e| e.text());
                let (Some(user), Some(password)) = (field("username"), field("password")) else {
                    return self.iq_error(&iq, StanzaCondition::NotAcceptable, "username and password required");
                };
                let vhost = self.vhost.clone().unwrap_or_default();
                let normalized = crate::stanza::account_localpart(&user, &vhost);
                let jid = match normalized.map(|u| BareJid::new(&format!("{u}@{vhost}"))) {
                    Some(Ok(j)) if !password.is_empty() => j,
                    _ => return self.iq_error(&iq, StanzaCondition::NotAcceptable, "invalid username or password"),
                };
                self.pending_iq = Some(iq);
                self.phase = Phase::Waiting;
                self.out.push_back(Output::Register { jid, password });
            }
            _ => self.iq_error(&iq, StanzaCondition::BadRequest, "bad iq type"),
        }
    }

    /// Result of [`Output::Register`].
    pub fn registered(&mut self, result: Result<(), StanzaError>) {
        self.finish_pending(result.map(|()| None));
    }

    fn finish_pending(&mut self, result: Result<Option<Element>, StanzaError>) {
        if self.phase != Phase::Waiting {
            return;
        }
        self.phase = Phase::Open;
        let Some(iq) = self.pending_iq.take() else { return };
        match result {
            Ok(payload) => self.send(iq_result(&iq, payload)),
            Err(e) => {
                if let Some(r) = error_reply(&iq, &e) {
                    self.send(r);
                }
            }
        }
    }

    pub(super) fn iq_error(&mut self, iq: &Element, cond: StanzaCondition, text: &str) {
        if let Some(r) = error_reply(iq, &StanzaError::new(cond).with_text(text)) {
            self.send(r);
        }
    }

    /// RFC 6120 §7.6: a resource of the client's choosing, or a random one.
    pub(super) fn handle_bind(&mut self, iq: Element) {
        if iq.attr("type") != Some("set") {
            return self.iq_error(&iq, StanzaCondition::BadRequest, "bind needs type='set'");
        }
        let (Some(user), Some(vhost)) = (self.username.clone(), self.vhost.clone()) else { return };
        let requested = iq
            .get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("resource", ns::BIND))
            .map(|r| r.text())
            .filter(|r| !r.trim().is_empty());
        let resource = requested.unwrap_or_else(|| format!("tern-{}", random_id(9)));
        let Ok(jid) = FullJid::new(&format!("{user}@{vhost}/{resource}")) else {
            return self.iq_error(&iq, StanzaCondition::BadRequest, "invalid resource");
        };
        self.pending_iq = Some(iq);
        self.phase = Phase::Waiting;
        self.out.push_back(Output::Bind { jid });
    }

    /// Result of [`Output::Bind`]: on success the session is established.
    pub fn bound(&mut self, result: Result<FullJid, StanzaError>) {
        let payload = result.map(|jid| {
            let mut b = Element::bare("bind", ns::BIND);
            b.append_child(text_elem("jid", ns::BIND, jid.as_str()));
            self.jid = Some(jid);
            Some(b)
        });
        self.finish_pending(payload);
    }
}

/// SASL payloads are base64; `=` stands for an empty response (RFC 6120 §6.4.2).
fn decode(el: &Element) -> Result<Vec<u8>, AuthError> {
    let t = el.text();
    let t = t.trim();
    if t.is_empty() || t == "=" {
        return Ok(Vec::new());
    }
    B64.decode(t).map_err(|_| AuthError::IncorrectEncoding)
}
