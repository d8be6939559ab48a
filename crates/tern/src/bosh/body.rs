//! Serialization of connection manager responses (XEP-0124 §7.1 creation response and its
//! attributes, §8 payloads, §9 `ack`, §17 terminal conditions; XEP-0206 §3 `xmpp:version`
//! and `xmpp:restartlogic`).

use tern_core::bosh::{Payload, Response, NS_HTTPBIND, NS_XBOSH};

/// What the creation response advertises.
#[derive(Clone, Debug)]
pub struct SessionAttrs {
    pub sid: String,
    pub wait: u32,
    pub hold: u32,
    pub requests: u32,
    pub polling: u32,
    pub inactivity: u32,
    pub maxpause: u32,
    /// The served domain (`from`).
    pub from: String,
    /// This node's public host name, for clients that pin a session to one node.
    pub host: Option<String>,
    /// The client asked for acknowledgements (§9): the creation response says so.
    pub acks: bool,
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// The `<body/>` for `resp`; `session` is given for the creation response only.
pub fn render(resp: &Response, session: Option<&SessionAttrs>) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<body");
    attr(&mut out, "xmlns", NS_HTTPBIND);
    if let Some(s) = session.filter(|_| resp.creation) {
        attr(&mut out, "xmlns:xmpp", NS_XBOSH);
        attr(&mut out, "xmlns:stream", tern_wire::NS_STREAMS);
        attr(&mut out, "sid", &s.sid);
        for (k, v) in [
            ("wait", s.wait),
            ("hold", s.hold),
            ("requests", s.requests),
            ("polling", s.polling),
            ("inactivity", s.inactivity),
            ("maxpause", s.maxpause),
        ] {
            attr(&mut out, k, &v.to_string());
        }
        attr(&mut out, "ver", "1.11");
        attr(&mut out, "from", &s.from);
        attr(&mut out, "xmpp:version", "1.0");
        attr(&mut out, "xmpp:restartlogic", "true");
        if let Some(h) = &s.host {
            attr(&mut out, "host", h);
        }
        if s.acks {
            attr(&mut out, "ack", &resp.rid.to_string());
        }
    } else if let Some(a) = resp.ack {
        attr(&mut out, "ack", &a.to_string());
    }
    if let Some((rid, ms)) = resp.report {
        attr(&mut out, "report", &rid.to_string());
        attr(&mut out, "time", &ms.to_string());
    }
    if resp.recoverable_error {
        attr(&mut out, "type", "error");
    }
    if let Some(t) = &resp.terminate {
        attr(&mut out, "type", "terminate");
        if !t.condition.is_empty() {
            attr(&mut out, "condition", t.condition);
        }
    }
    let children = resp.terminate.as_ref().map(|t| t.children.as_slice()).unwrap_or(&[]);
    if resp.payload.is_empty() && children.is_empty() {
        out.push_str("/>");
        return out;
    }
    out.push('>');
    let stanzas = match &resp.payload {
        Payload::Stanzas(v) => v.as_slice(),
        Payload::Serialized(xml) => {
            out.push_str(xml);
            &[]
        }
    };
    for el in stanzas.iter().chain(children) {
        tern_wire::write_element(&mut out, el, None);
    }
    out.push_str("</body>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use minidom::Element;
    use tern_core::bosh::Terminal;

    fn resp(creation: bool) -> Response {
        Response { rid: 10, payload: Payload::default(), terminate: None, ack: None, creation, recoverable_error: false, report: None }
    }

    #[test]
    fn creation_response_carries_session_attributes() {
        let attrs = SessionAttrs {
            sid: "s1".into(),
            wait: 50,
            hold: 1,
            requests: 2,
            polling: 2,
            inactivity: 90,
            maxpause: 300,
            from: "example.com".into(),
            host: Some("t1.example.com".into()),
            acks: false,
        };
        let mut r = resp(true);
        r.payload = Payload::Stanzas(vec![Element::bare("features", tern_wire::NS_STREAMS)]);
        let xml = render(&r, Some(&attrs));
        let el: Element = xml.parse().expect("well-formed");
        assert_eq!(el.attr("sid"), Some("s1"));
        assert_eq!(el.attr("wait"), Some("50"));
        assert_eq!(el.attr("host"), Some("t1.example.com"));
        assert_eq!(el.attr_ns(NS_XBOSH, "restartlogic"), Some("true"));
        assert!(el.has_child("features", tern_wire::NS_STREAMS));
        // Later responses carry none of it.
        let later: Element = render(&resp(false), Some(&attrs)).parse().expect("xml");
        assert_eq!(later.attr("sid"), None);
    }

    #[test]
    fn terminate_with_stream_error() {
        let mut r = resp(false);
        let mut err = Element::bare("error", tern_wire::NS_STREAMS);
        err.append_child(Element::bare("conflict", "urn:ietf:params:xml:ns:xmpp-streams"));
        r.terminate = Some(Terminal { condition: "remote-stream-error", children: vec![err] });
        let el: Element = render(&r, None).parse().expect("xml");
        assert_eq!(el.attr("type"), Some("terminate"));
        assert_eq!(el.attr("condition"), Some("remote-stream-error"));
        assert!(el.has_child("error", tern_wire::NS_STREAMS));
    }
}
