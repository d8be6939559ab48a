//! One benchmark client's XMPP session: stream negotiation (RFC 6120 §4.3), SASL SCRAM
//! (§6, RFC 5802/7677) with a cached SaltedPassword, stream restart, resource binding
//! (§7), the legacy session (RFC 3921 §3) when a server requires it, initial presence,
//! XEP-0199 pings both ways, in-band registration (XEP-0077) and a clean close.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use minidom::Element;
use tern_auth::client::ScramClient;
use tern_core::ns;

use crate::conn::{Conn, Escaped, Event};
use crate::error::ClientError;
use crate::scenario::Ctx;

/// An authenticated, bound session.
pub struct Session {
    pub conn: Conn,
    /// The full JID the server bound.
    pub jid: String,
}

/// What a registration attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    Created,
    /// The account existed already (`<conflict/>`, XEP-0077 §3.1).
    Existing,
}

/// Connect and open a stream; returns the connection and the server's features.
async fn open(ctx: &Ctx) -> Result<(Conn, Element), ClientError> {
    let mut conn = Conn::connect(&ctx.dialer, &ctx.target).await?;
    let features = reopen(&mut conn, ctx).await?;
    Ok((conn, features))
}

/// Send a stream header (first or restart) and wait for the features.
async fn reopen(conn: &mut Conn, ctx: &Ctx) -> Result<Element, ClientError> {
    conn.queue_open(&ctx.target.domain);
    conn.flush().await?;
    expect(conn, "stream features", |el| el.is("features", ns::STREAMS)).await
}

/// Wait for an element matching `want`, answering the server's iq requests meanwhile and
/// skipping other stanzas; a stream error or close ends the wait with an error.
async fn expect(
    conn: &mut Conn,
    waiting: &'static str,
    want: impl Fn(&Element) -> bool,
) -> Result<Element, ClientError> {
    loop {
        let event = match conn.recv().await {
            Err(ClientError::Eof) => return Err(ClientError::EofDuring(waiting)),
            other => other?,
        };
        match event {
            Event::Element(el) if want(&el) => return Ok(el),
            Event::Element(el) if el.is("error", ns::STREAMS) => {
                return Err(ClientError::StreamError(first_child_name(&el)));
            }
            Event::Element(el) => {
                if answer_iq(conn, &el) {
                    conn.flush().await?;
                }
            }
            Event::Control => conn.flush().await?,
            Event::Open => {}
            Event::Close => return Err(ClientError::StreamClosed(waiting)),
        }
    }
}

/// Wait for the response to our iq `id`; an error response fails with its condition.
async fn expect_iq(conn: &mut Conn, id: &str, what: &'static str) -> Result<Element, ClientError> {
    let reply = expect(conn, what, |el| {
        el.is("iq", ns::CLIENT)
            && el.attr("id") == Some(id)
            && matches!(el.attr("type"), Some("result" | "error"))
    })
    .await?;
    match reply.attr("type") {
        Some("result") => Ok(reply),
        _ => Err(ClientError::IqError {
            what,
            condition: error_condition(&reply),
        }),
    }
}

/// If `el` is an iq request, queue its answer (XEP-0199 §4: a ping gets an empty result;
/// anything else `<service-unavailable/>`, RFC 6120 §8.2.3) and return true.
pub fn answer_iq(conn: &mut Conn, el: &Element) -> bool {
    if !el.is("iq", ns::CLIENT) || !matches!(el.attr("type"), Some("get" | "set")) {
        return false;
    }
    let id = Escaped(el.attr("id").unwrap_or(""));
    let to = el.attr("from").map(Escaped);
    let is_ping = el.get_child("ping", ns::PING).is_some();
    conn.queue_with(|s| {
        write!(s, "<iq xmlns='jabber:client' id='{id}'")?;
        if let Some(to) = &to {
            write!(s, " to='{to}'")?;
        }
        match is_ping {
            true => s.write_str(" type='result'/>"),
            false => write!(
                s,
                " type='error'><error type='cancel'><service-unavailable xmlns='{}'/></error></iq>",
                ns::XMPP_STANZAS
            ),
        }
    });
    true
}

/// Log `user` in: SASL, restart, bind, (session), initial presence, and one ping round trip.
pub async fn login(ctx: &Ctx, user: &str) -> Result<Session, ClientError> {
    let (mut conn, features) = open(ctx).await?;
    authenticate(&mut conn, ctx, user, &features).await?;
    let features = reopen(&mut conn, ctx).await?;
    let jid = bind(&mut conn, ctx.accounts.resource.as_deref()).await?;
    let session_required = features
        .get_child("session", ns::SESSION)
        .is_some_and(|s| s.get_child("optional", ns::SESSION).is_none());
    if session_required {
        conn.queue_with(|s| {
            write!(
                s,
                "<iq xmlns='jabber:client' type='set' id='sess'><session xmlns='{}'/></iq>",
                ns::SESSION
            )
        });
        conn.flush().await?;
        expect_iq(&mut conn, "sess", "session").await?;
    }
    conn.queue_str("<presence xmlns='jabber:client'/>");
    let mut session = Session { conn, jid };
    session.ping(&ctx.target.domain).await?;
    Ok(session)
}

/// SASL SCRAM (RFC 6120 §6.4, RFC 5802 §5) with the SaltedPassword from the cache.
async fn authenticate(
    conn: &mut Conn,
    ctx: &Ctx,
    user: &str,
    features: &Element,
) -> Result<(), ClientError> {
    let mech = ctx.accounts.mech;
    let offered = features.get_child("mechanisms", ns::SASL).is_some_and(|m| {
        m.children()
            .any(|c| c.is("mechanism", ns::SASL) && c.text() == mech.name())
    });
    if !offered {
        return Err(ClientError::NotOffered(mech.name()));
    }
    let mut scram = ScramClient::new(mech.hash(), user, &ctx.accounts.password)?;
    let first = B64.encode(scram.client_first());
    conn.queue_with(|s| {
        write!(
            s,
            "<auth xmlns='{}' mechanism='{}'>{first}</auth>",
            ns::SASL,
            mech.name()
        )
    });
    conn.flush().await?;
    let challenge = sasl_step(conn, "challenge").await?;
    let server_first = decode_b64(&challenge)?;
    let fin = scram.handle_server_first_with(&server_first, |input| ctx.cache.salted(input))?;
    let fin = B64.encode(fin);
    conn.queue_with(|s| write!(s, "<response xmlns='{}'>{fin}</response>", ns::SASL));
    conn.flush().await?;
    let mut outcome = sasl_step(conn, "success").await?;
    if outcome.name() == "challenge" {
        // RFC 6120 §6.4.3: the additional data may come in a challenge instead.
        scram.verify_server_final(&decode_b64(&outcome)?)?;
        conn.queue_with(|s| write!(s, "<response xmlns='{}'/>", ns::SASL));
        conn.flush().await?;
        outcome = sasl_step(conn, "success").await?;
        if outcome.name() == "success" {
            return Ok(());
        }
    }
    match outcome.name() {
        "success" => Ok(scram.verify_server_final(&decode_b64(&outcome)?)?),
        _ => Err(ClientError::Unexpected {
            got: outcome.name().to_owned(),
            waiting: "SASL success",
        }),
    }
}

/// The next SASL element; `<failure/>` becomes an error with its condition.
async fn sasl_step(conn: &mut Conn, waiting: &'static str) -> Result<Element, ClientError> {
    let el = expect(conn, waiting, |el| el.has_ns(ns::SASL)).await?;
    match el.name() {
        "failure" => Err(ClientError::SaslFailure(first_child_name(&el))),
        "challenge" | "success" => Ok(el),
        other => Err(ClientError::Unexpected {
            got: other.to_owned(),
            waiting,
        }),
    }
}

fn decode_b64(el: &Element) -> Result<Vec<u8>, ClientError> {
    let text = el.text();
    let text = text.trim();
    if text == "=" {
        return Ok(Vec::new());
    }
    B64.decode(text)
        .map_err(|_| ClientError::SaslFailure("incorrect-encoding (from the server)".into()))
}

/// Resource binding (RFC 6120 §7); returns the bound full JID.
async fn bind(conn: &mut Conn, resource: Option<&str>) -> Result<String, ClientError> {
    conn.queue_with(|s| {
        write!(
            s,
            "<iq xmlns='jabber:client' type='set' id='bind'><bind xmlns='{}'",
            ns::BIND
        )?;
        match resource {
            Some(r) => write!(s, "><resource>{}</resource></bind></iq>", Escaped(r)),
            None => s.write_str("/></iq>"),
        }
    });
    conn.flush().await?;
    let reply = expect_iq(conn, "bind", "bind").await?;
    reply
        .get_child("bind", ns::BIND)
        .and_then(|b| b.get_child("jid", ns::BIND))
        .map(Element::text)
        .ok_or(ClientError::Unexpected {
            got: "iq without a bound jid".into(),
            waiting: "bind result",
        })
}

impl Session {
    /// One XEP-0199 ping round trip to `to` (flushes what was queued before).
    pub async fn ping(&mut self, to: &str) -> Result<(), ClientError> {
        self.conn.queue_with(|s| {
            write!(
                s,
                "<iq xmlns='jabber:client' type='get' id='ping' to='{}'><ping xmlns='{}'/></iq>",
                Escaped(to),
                ns::PING
            )
        });
        self.conn.flush().await?;
        expect_iq(&mut self.conn, "ping", "ping").await.map(drop)
    }

    /// Close the stream cleanly.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.conn.close().await
    }
}

/// A session with the null relay (no XMPP server): connect, send the pair line of user
/// `i` (pair i/2, side i%2), then a stream header for the partner's parser.
pub async fn relay_session(ctx: &Ctx, i: u64) -> Result<Session, ClientError> {
    let mut conn = Conn::connect(&ctx.dialer, &ctx.target).await?;
    conn.queue_str(&format!("pair {} {}\n", i / 2, i % 2));
    conn.queue_open(&ctx.target.domain);
    conn.flush().await?;
    let jid = format!("{}@{}/relay", ctx.accounts.user(i), ctx.target.domain);
    Ok(Session { conn, jid })
}

/// In-band registration of `user` (XEP-0077 §3.1), then close.
pub async fn register(ctx: &Ctx, user: &str) -> Result<Registered, ClientError> {
    let (mut conn, _features) = open(ctx).await?;
    let password = &ctx.accounts.password;
    conn.queue_with(|s| {
        write!(
            s,
            "<iq xmlns='jabber:client' type='set' id='reg'><query xmlns='{}'><username>{}</username>\
             <password>{}</password></query></iq>",
            ns::REGISTER,
            Escaped(user),
            Escaped(password)
        )
    });
    conn.flush().await?;
    let outcome = match expect_iq(&mut conn, "reg", "registration").await {
        Ok(_) => Registered::Created,
        Err(ClientError::IqError { condition, .. }) if condition == "conflict" => {
            Registered::Existing
        }
        Err(e) => return Err(e),
    };
    conn.close().await?;
    Ok(outcome)
}

/// The defined condition of a stanza error (RFC 6120 §8.3.3), or "undefined-condition".
fn error_condition(stanza: &Element) -> String {
    stanza
        .get_child("error", ns::CLIENT)
        .and_then(|e| {
            e.children()
                .find(|c| c.has_ns(ns::XMPP_STANZAS) && c.name() != "text")
        })
        .map_or_else(|| "undefined-condition".to_owned(), |c| c.name().to_owned())
}

/// The name of the first child (the condition of a stream error or SASL failure).
fn first_child_name(el: &Element) -> String {
    el.children()
        .find(|c| c.name() != "text")
        .map_or_else(|| "(none)".to_owned(), |c| c.name().to_owned())
}
