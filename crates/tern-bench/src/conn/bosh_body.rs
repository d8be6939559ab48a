//! The `<body/>` wrapper of BOSH (XEP-0124 §4) as a client writes and reads it: session
//! creation (§7.1 with XEP-0206 §3's `xmpp:version`), requests with `sid` and `rid` (§7.2),
//! the stream restart (XEP-0206 §5), termination (§13); and the connection manager's
//! responses: the creation response's `sid` and `requests`, the payload (§8), terminal
//! binding conditions (§17.2, XEP-0206 §8: a stream error rides inside
//! `remote-stream-error`) and the recoverable binding error (§17.1).

use std::fmt::Write as _;

use minidom::Element;

use super::Escaped;
use crate::error::ClientError;

const NS_HTTPBIND: &str = "http://jabber.org/protocol/httpbind";
const NS_XBOSH: &str = "urn:xmpp:xbosh";

/// What a request carries.
pub(super) enum Next {
    /// Session creation (no sid yet) or a restart, to this domain.
    Open(String),
    /// Stanzas (none: an empty request for the server to hold).
    Payload(String),
    Terminate,
}

/// The body of request `rid`; `sid` is `None` for the creation request, which asks for
/// `wait` seconds and `hold='1'`.
pub(super) fn render(next: &Next, rid: u64, sid: Option<&str>, wait: u32) -> String {
    let mut b = format!("<body xmlns='{NS_HTTPBIND}' rid='{rid}'");
    let _ = match (next, sid.map(Escaped)) {
        (Next::Open(to), None) => write!(
            b,
            " xmlns:xmpp='{NS_XBOSH}' to='{}' xml:lang='en' ver='1.6' wait='{wait}' hold='1' \
             content='text/xml; charset=utf-8' xmpp:version='1.0'/>",
            Escaped(to),
        ),
        (Next::Open(to), Some(sid)) => write!(
            b,
            " sid='{sid}' xmlns:xmpp='{NS_XBOSH}' to='{}' xml:lang='en' xmpp:restart='true'/>",
            Escaped(to)
        ),
        (Next::Payload(p), Some(sid)) if p.is_empty() => write!(b, " sid='{sid}'/>"),
        (Next::Payload(p), Some(sid)) => write!(b, " sid='{sid}'>{p}</body>"),
        (Next::Terminate, Some(sid)) => write!(
            b,
            " sid='{sid}' type='terminate'><presence xmlns='jabber:client' type='unavailable'/></body>"
        ),
        (_, None) => b.write_str("/>"),
    };
    b
}

/// A response body, read.
#[derive(Debug)]
pub(super) struct Answer {
    /// The creation response's `sid` and `requests`.
    pub session: Option<(String, Option<usize>)>,
    pub payload: Vec<Element>,
    /// `type='terminate'` without a condition, or with a stream error inside.
    pub terminated: bool,
}

/// Read a response body; terminal conditions other than a stream error, and the
/// recoverable binding error (never expected: no request is ever sent twice while its
/// response is outstanding), are errors. Once our own terminate request is out
/// (`terminating`), `other-request` on a held request is the session ending as asked
/// (XEP-0124 §17.2: "another request being processed at the same time has caused the
/// session to be terminated"; ejabberd answers held requests so).
pub(super) fn read(mut body: Element, terminating: bool) -> Result<Answer, ClientError> {
    if !body.is("body", NS_HTTPBIND) {
        return Err(ClientError::Bosh(
            "response is not an httpbind <body/>".into(),
        ));
    }
    let terminated = match body.attr("type") {
        Some("terminate") => match body.attr("condition").unwrap_or("") {
            "" | "remote-stream-error" => true,
            "other-request" if terminating => true,
            other => return Err(ClientError::Bosh(format!("terminated: {other}"))),
        },
        Some("error") => return Err(ClientError::Bosh("recoverable binding error".into())),
        _ => false,
    };
    let session = body.attr("sid").map(|sid| {
        let requests = body.attr("requests").and_then(|r| r.parse().ok());
        (sid.to_owned(), requests)
    });
    Ok(Answer {
        session,
        payload: body.take_contents_as_children().collect(),
        terminated,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn answer(xml: &str) -> Result<Answer, ClientError> {
        read(xml.replace("HB", NS_HTTPBIND).parse().unwrap(), false)
    }

    #[test]
    fn renders_each_kind_of_request() {
        let open = Next::Open("d'x".into());
        let create = render(&open, 7, None, 60);
        let el: Element = create.parse().unwrap();
        assert_eq!((el.attr("rid"), el.attr("sid")), (Some("7"), None));
        assert_eq!(
            (el.attr("to"), el.attr("wait"), el.attr("hold")),
            (Some("d'x"), Some("60"), Some("1"))
        );
        assert_eq!(el.attr_ns(NS_XBOSH, "version"), Some("1.0"));
        let restart: Element = render(&open, 8, Some("s"), 60).parse().unwrap();
        assert_eq!(restart.attr_ns(NS_XBOSH, "restart"), Some("true"));
        assert_eq!(restart.attr("sid"), Some("s"));
        let poll = render(&Next::Payload(String::new()), 9, Some("s"), 60);
        assert_eq!(
            poll,
            format!("<body xmlns='{NS_HTTPBIND}' rid='9' sid='s'/>")
        );
        let msg = render(
            &Next::Payload("<message xmlns='jabber:client'/>".into()),
            10,
            Some("s"),
            60,
        );
        let el: Element = msg.parse().unwrap();
        assert!(el.has_child("message", "jabber:client"));
        let end: Element = render(&Next::Terminate, 11, Some("s"), 60).parse().unwrap();
        assert_eq!(end.attr("type"), Some("terminate"));
        assert!(end.has_child("presence", "jabber:client"));
    }

    #[test]
    fn reads_responses() {
        let a = answer("<body xmlns='HB' sid='S1' requests='2'><f xmlns='x'/></body>").unwrap();
        assert_eq!(a.session, Some(("S1".to_owned(), Some(2))));
        assert_eq!((a.payload.len(), a.terminated), (1, false));
        let a = answer("<body xmlns='HB' type='terminate'/>").unwrap();
        assert!(a.terminated && a.session.is_none());
        let e = answer("<body xmlns='HB' type='terminate' condition='item-not-found'/>");
        assert_eq!(e.unwrap_err().kind(), "bosh: terminated: item-not-found");
        let held = "<body xmlns='HB' type='terminate' condition='other-request'/>";
        assert_eq!(
            answer(held).unwrap_err().kind(),
            "bosh: terminated: other-request"
        );
        let ended = read(held.replace("HB", NS_HTTPBIND).parse().unwrap(), true).unwrap();
        assert!(ended.terminated);
        let e = read(
            "<body xmlns='http://jabber.org/protocol/httpbind' type='terminate' condition='item-not-found'/>"
                .parse()
                .unwrap(),
            true,
        );
        assert_eq!(e.unwrap_err().kind(), "bosh: terminated: item-not-found");
        let e = answer("<body xmlns='HB' type='error'/>");
        assert_eq!(e.unwrap_err().kind(), "bosh: recoverable binding error");
        let e = answer("<body xmlns='other'/>");
        assert_eq!(
            e.unwrap_err().kind(),
            "bosh: response is not an httpbind <body/>"
        );
    }
}
