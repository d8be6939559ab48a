//! IQs from the client (RFC 6120 §8.2.3, §8.4): those for the server or the user's own
//! account are answered here — roster (RFC 6121 §2), XEP-0030 disco, XEP-0199 ping,
//! XEP-0092 version, XEP-0280 carbons, XEP-0191 blocking, XEP-0077 account changes —
//! and the rest are routed.

use jid::Jid;
use minidom::Element;
use tern_core::stanza::iq_result;
use tern_core::xml::{elem, text_elem};
use tern_core::{ns, StanzaCondition, StanzaError};

use super::{blocking, delivery, recipient, register, roster, ImSession, Reply};
use crate::server::Server;

/// Features the server advertises in disco#info (XEP-0030 §3.1).
const SERVER_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::VERSION,
    ns::CARBONS,
    ns::BLOCKING,
    ns::ROSTERVER,
    ns::REGISTER,
    "urn:xmpp:sm:3",
    "msgoffline",
];

pub(super) async fn outbound(server: &Server, s: &mut ImSession, iq: Element, to: Option<Jid>) -> Reply {
    let to = recipient(s, to);
    let for_server = to.node().is_none() && to.resource().is_none() && to.domain().as_str() == s.vhost;
    let for_account = to.resource().is_none() && to.to_bare() == s.bare;
    let is_request = matches!(iq.attr("type"), Some("get") | Some("set"));
    if for_server || for_account {
        if !is_request {
            return Reply::default();
        }
        return handle_local(server, s, &iq, &to, for_server).await;
    }
    if to.resource().is_none() {
        // Addressed to another account's bare JID: the server answers for it (RFC 6121 §8.5.2.1.3).
        if !is_request {
            return Reply::default();
        }
        return for_other_account(server, &iq, &to).await;
    }
    match delivery::deliver_iq(server, &iq, &to).await {
        Ok(()) => Reply::default(),
        Err(e) => Reply::error(&iq, e),
    }
}

async fn handle_local(server: &Server, s: &mut ImSession, iq: &Element, to: &Jid, for_server: bool) -> Reply {
    let Some(payload) = iq.children().next() else {
        return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest));
    };
    let get = iq.attr("type") == Some("get");
    let pns = payload.ns();
    match (pns.as_str(), payload.name()) {
        (ns::ROSTER, "query") => roster::handle(server, s, iq, payload).await,
        (ns::PING, "ping") => Reply::one(iq_result(iq, None)),
        (ns::DISCO_INFO, "query") if get => Reply::one(iq_result(iq, Some(disco_info(for_server, payload)))),
        (ns::DISCO_ITEMS, "query") if get => {
            let q = Element::bare("query", ns::DISCO_ITEMS);
            Reply::one(iq_result(iq, Some(q)))
        }
        (ns::VERSION, "query") if get && for_server => Reply::one(iq_result(iq, Some(version()))),
        (ns::CARBONS, "enable") | (ns::CARBONS, "disable") if !get => {
            let on = payload.name() == "enable";
            server.router.update(&s.jid, |r| r.carbons = on);
            Reply::one(iq_result(iq, None))
        }
        (ns::BLOCKING, _) => blocking::handle(server, s, iq, payload).await,
        (ns::REGISTER, "query") => register::handle(server, s, iq, payload).await,
        _ => {
            let _ = to;
            Reply::error(iq, StanzaError::new(StanzaCondition::ServiceUnavailable))
        }
    }
}

/// Disco and ping on another local account's bare JID; everything else is unavailable.
async fn for_other_account(server: &Server, iq: &Element, to: &Jid) -> Reply {
    if !server.is_local(to.domain().as_str()) {
        return Reply::error(iq, super::remote_error());
    }
    let payload = iq.children().next();
    let exists = match to.node() {
        Some(n) => server.store.account_exists(to.domain().as_str(), n.as_str()).await.unwrap_or(false),
        None => false,
    };
    match payload.map(|p| (p.ns(), p.name().to_owned())) {
        Some((n, name)) if exists && n == ns::DISCO_INFO && name == "query" && iq.attr("type") == Some("get") => {
            let q = disco_info(false, payload.unwrap_or(iq));
            Reply::one(iq_result(iq, Some(q)))
        }
        _ => Reply::error(iq, StanzaError::new(StanzaCondition::ServiceUnavailable)),
    }
}

/// XEP-0030 info: the server (`server/im`) or an account (`account/registered`).
fn disco_info(for_server: bool, query: &Element) -> Element {
    let mut q = Element::bare("query", ns::DISCO_INFO);
    if let Some(node) = query.attr("node") {
        tern_core::xml::set_attr(&mut q, "node", node);
    }
    if for_server {
        q.append_child(elem("identity", ns::DISCO_INFO, &[("category", "server"), ("type", "im"), ("name", "tern")]));
        for f in SERVER_FEATURES {
            q.append_child(elem("feature", ns::DISCO_INFO, &[("var", f)]));
        }
    } else {
        q.append_child(elem("identity", ns::DISCO_INFO, &[("category", "account"), ("type", "registered")]));
        q.append_child(elem("feature", ns::DISCO_INFO, &[("var", ns::DISCO_INFO)]));
    }
    q
}

/// XEP-0092 answer.
fn version() -> Element {
    let mut q = Element::bare("query", ns::VERSION);
    q.append_child(text_elem("name", ns::VERSION, "tern"));
    q.append_child(text_elem("version", ns::VERSION, env!("CARGO_PKG_VERSION")));
    q
}
