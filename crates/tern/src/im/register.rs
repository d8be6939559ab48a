//! XEP-0077 in-band registration after authentication: the registered state (§3.1),
//! password change (§3.3) and account removal (§3.2).

use minidom::Element;
use tern_auth::StoredCredentials;
use tern_core::stanza::iq_result;
use tern_core::xml::text_elem;
use tern_core::{ns, StanzaCondition, StanzaError};
use tracing::{info, warn};

use super::roster::parts;
use super::{ImSession, Reply};
use crate::server::Server;

pub(super) async fn handle(server: &Server, s: &mut ImSession, iq: &Element, query: &Element) -> Reply {
    let (vhost, user) = parts(&s.bare);
    if iq.attr("type") == Some("get") {
        let mut q = Element::bare("query", ns::REGISTER);
        q.append_child(Element::bare("registered", ns::REGISTER));
        q.append_child(text_elem("username", ns::REGISTER, user));
        q.append_child(Element::bare("password", ns::REGISTER));
        return Reply::one(iq_result(iq, Some(q)));
    }
    if query.has_child("remove", ns::REGISTER) {
        return match server.store.delete_account(vhost, user).await {
            Ok(_) => {
                info!(jid = %s.bare, "account removed by its owner");
                Reply { to_client: vec![iq_result(iq, None)], close_session: true }
            }
            Err(e) => {
                warn!(error = %e, "account removal failed");
                Reply::error(iq, StanzaError::new(StanzaCondition::InternalServerError))
            }
        };
    }
    let field = |n: &str| query.get_child(n, ns::REGISTER).map(|e| e.text());
    let (Some(name), Some(password)) = (field("username"), field("password")) else {
        return Reply::error(iq, StanzaError::new(StanzaCondition::BadRequest));
    };
    if name != user || password.is_empty() {
        return Reply::error(iq, StanzaError::new(StanzaCondition::NotAllowed));
    }
    let creds = match StoredCredentials::from_password(&password) {
        Ok(c) => c,
        Err(_) => return Reply::error(iq, StanzaError::new(StanzaCondition::NotAcceptable)),
    };
    match server.store.set_credentials(vhost, user, &creds).await {
        Ok(()) => Reply::one(iq_result(iq, None)),
        Err(e) => {
            warn!(error = %e, "password change failed");
            Reply::error(iq, StanzaError::new(StanzaCondition::InternalServerError))
        }
    }
}
