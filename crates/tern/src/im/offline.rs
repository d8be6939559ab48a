//! Offline storage (RFC 6121 §8.5.2.2.1, XEP-0160) and delayed-delivery stamps (XEP-0203,
//! XEP-0082 date-time format).

use std::time::{SystemTime, UNIX_EPOCH};

use jid::BareJid;
use minidom::Element;
use tern_core::ns;
use tern_core::xml::elem;
use tern_core::{StanzaCondition, StanzaError};
use tracing::warn;

use crate::server::Server;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Whether a message is worth storing: it carries content, not only chat states or receipts
/// (XEP-0160 §3).
fn storable(m: &Element) -> bool {
    m.has_child("body", ns::CLIENT) || m.has_child("subject", ns::CLIENT)
}

/// Store a message for `owner`. Full storage bounces with `service-unavailable`
/// (RFC 6121 §8.5.2.2.1); content-free messages are dropped.
pub(super) async fn store(server: &Server, owner: &BareJid, m: &Element) -> Result<(), StanzaError> {
    if !storable(m) {
        return Ok(());
    }
    let Some(user) = owner.node() else { return Ok(()) };
    let vhost = owner.domain().as_str();
    let max = server.config.limits.max_offline_messages as u64;
    let result = async {
        if server.store.offline_count(vhost, user.as_str()).await? >= max {
            return Ok(false);
        }
        server.store.offline_push(vhost, user.as_str(), &tern_wire::to_string(m), now_ms()).await?;
        Ok::<bool, tern_store::StoreError>(true)
    }
    .await;
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(StanzaError::new(StanzaCondition::ServiceUnavailable).with_text("offline storage full")),
        Err(e) => {
            warn!(error = %e, owner = %owner, "offline storage failed");
            Err(StanzaError::new(StanzaCondition::InternalServerError))
        }
    }
}

/// Messages stored for `owner`, each with a XEP-0203 `<delay/>`, and the id to delete up to
/// once they are handed to the session.
pub(super) async fn load(server: &Server, owner: &BareJid) -> (Vec<Element>, Option<i64>) {
    let Some(user) = owner.node() else { return (Vec::new(), None) };
    let vhost = owner.domain().as_str();
    let rows = match server.store.offline_peek(vhost, user.as_str()).await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, owner = %owner, "offline load failed");
            return (Vec::new(), None);
        }
    };
    let last = rows.last().map(|r| r.id);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        match row.stanza.parse::<Element>() {
            Ok(mut m) => {
                if !m.has_child("delay", ns::DELAY) {
                    let mut d = elem("delay", ns::DELAY, &[("from", vhost), ("stamp", &format_stamp(row.stamp_ms))]);
                    d.append_text_node("Offline storage");
                    m.append_child(d);
                }
                out.push(m);
            }
            Err(e) => warn!(error = %e, id = row.id, "unparsable offline message skipped"),
        }
    }
    (out, last)
}

/// Delete delivered offline messages.
pub(super) async fn delete(server: &Server, owner: &BareJid, up_to: i64) {
    let Some(user) = owner.node() else { return };
    if let Err(e) = server.store.offline_delete(owner.domain().as_str(), user.as_str(), up_to).await {
        warn!(error = %e, owner = %owner, "offline delete failed");
    }
}

/// XEP-0082 DateTime in UTC with milliseconds, e.g. `2026-11-25T04:28:59.123Z`.
pub fn format_stamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, (sod % 3600) / 60, sod % 60)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::xml::text_elem;

    #[test]
    fn stamps() {
        assert_eq!(format_stamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_stamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_stamp(1_795_235_339_123), "2026-11-21T04:28:59.123Z");
    }

    #[test]
    fn storable_needs_content() {
        let mut m = elem("message", ns::CLIENT, &[("type", "chat")]);
        assert!(!storable(&m));
        m.append_child(text_elem("body", ns::CLIENT, "hi"));
        assert!(storable(&m));
    }
}
