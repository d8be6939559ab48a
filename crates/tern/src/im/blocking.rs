//! XEP-0191 blocking command: block list retrieval (§3.2), blocking (§3.3) and unblocking
//! (§3.4), with pushes to the user's resources.

use jid::Jid;
use minidom::Element;
use tern_core::stanza::iq_result;
use tern_core::xml::elem;
use tern_core::{ns, StanzaCondition, StanzaError};
use tracing::warn;

use super::roster::parts;
use super::{presence, ImSession, Reply};
use crate::router::deliver_to;
use crate::server::Server;

pub(super) async fn handle(server: &Server, s: &mut ImSession, iq: &Element, payload: &Element) -> Reply {
    let (vhost, user) = parts(&s.bare);
    match (iq.attr("type"), payload.name()) {
        (Some("get"), "blocklist") => match server.store.blocklist(vhost, user).await {
            Ok(list) => {
                let mut q = Element::bare("blocklist", ns::BLOCKING);
                for j in list {
                    q.append_child(elem("item", ns::BLOCKING, &[("jid", &j)]));
                }
                Reply::one(iq_result(iq, Some(q)))
            }
            Err(e) => failed(iq, e),
        },
        (Some("set"), "block" | "unblock") => {
            let mut jids = Vec::new();
            for item in payload.children().filter(|c| c.is("item", ns::BLOCKING)) {
                match item.attr("jid").map(Jid::new) {
                    Some(Ok(j)) => jids.push(j.to_string()),
                    _ => return Reply::error(iq, StanzaError::new(StanzaCondition::JidMalformed)),
                }
            }
            let block = payload.name() == "block";
            if block && jids.is_empty() {
                return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest).with_text("no items"));
            }
            if block {
                // §3.3: blocked contacts stop seeing us.
                for j in &jids {
                    if let Ok(to) = Jid::new(j) {
                        let mut p = elem("presence", ns::CLIENT, &[("type", "unavailable")]);
                        tern_core::xml::set_attr(&mut p, "from", s.jid.as_str());
                        tern_core::xml::set_attr(&mut p, "to", to.as_str());
                        presence::deliver_inbound(server, p, &to).await;
                    }
                }
            }
            let result = if block {
                server.store.block(vhost, user, &jids).await
            } else {
                server.store.unblock(vhost, user, &jids).await
            };
            if let Err(e) = result {
                return failed(iq, e);
            }
            server.blocklist_changed(&s.bare);
            push(server, s, payload);
            Reply::one(iq_result(iq, None))
        }
        _ => Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest)),
    }
}

fn failed(iq: &Element, e: tern_store::StoreError) -> Reply {
    warn!(error = %e, "block list storage failed");
    Reply::error(iq, StanzaError::new(StanzaCondition::InternalServerError))
}

/// §3.3/§3.4: the change is pushed to every resource of the user.
fn push(server: &Server, s: &ImSession, payload: &Element) {
    for r in server.router.resources(&s.bare) {
        let id = format!("block-{}", tern_core::xml::random_id(6));
        let mut iq = elem("iq", ns::CLIENT, &[("type", "set"), ("id", &id), ("to", r.jid.as_str())]);
        iq.append_child(payload.clone());
        deliver_to(&r, iq, false);
    }
}
