//! Namespace resolution and element assembly over rxml's raw event stream
//! (RFC 6120 §4.2-§4.3: a stream is one XML document whose root wraps the
//! stanzas; §4.8: namespaces; §13.12: depth and attribute limits).
//!
//! This is the transport-independent core shared by the framers: the TCP
//! stream framer uses it in *container* mode (the root is `<stream:stream>`,
//! its children are the units handed out), while a framer for documents
//! that *are* the stanza (RFC 7395 WebSocket frames) uses document mode.
//!
//! rxml's [`RawParser`](rxml::RawParser) checks XML well-formedness but not
//! namespace well-formedness; that is done here (undeclared prefixes and
//! duplicate attributes are `not-well-formed`), so the namespace
//! declarations of the stream root stay visible (RFC 6120 §4.8.5's content
//! namespace) and attributes can be counted as they arrive.

use minidom::Element;
use rxml::strings::Namespace;
use rxml::xml_map::Entry;
use rxml::{AttrMap, NcName, RawEvent, RawQName};

use crate::error::FramerError;
use crate::limits::Limits;

/// Namespace declarations made on one element.
#[derive(Debug, Default)]
struct Scope {
    /// `xmlns='...'` on this element (`Some("")` undeclares the default).
    default: Option<Namespace<'static>>,
    /// `xmlns:p='...'` on this element.
    prefixed: Vec<(NcName, Namespace<'static>)>,
}

/// An element start tag whose attributes are still arriving.
struct Head {
    name: RawQName,
    scope: Scope,
    attrs: Vec<(RawQName, String)>,
    /// attributes seen so far, namespace declarations included
    count: usize,
}

/// The root start tag, as seen by a container-mode assembler.
#[derive(Debug)]
pub(crate) struct RootInfo {
    pub local: String,
    /// The name as written, with its prefix (`stream:stream`).
    pub raw_name: String,
    pub ns: String,
    /// `xmlns='...'` declared on the root itself
    pub default_ns: Option<String>,
    pub attrs: AttrMap,
}

/// What an event completed, if anything.
#[derive(Debug)]
pub(crate) enum Output {
    /// Nothing complete yet.
    Nothing,
    /// Whitespace directly inside a container root: a unit boundary after this many bytes
    /// of whitespace text (the event's byte count can also cover a pending malformed byte
    /// that rxml reports with the next event).
    RootWhitespace(usize),
    /// The container root's start tag is complete.
    RootOpen(RootInfo),
    /// A unit (stanza) is complete.
    Unit(Element),
    /// The container root's end tag arrived.
    RootClose,
}

/// Builds minidom elements from rxml raw events.
pub(crate) struct Assembler {
    limits: Limits,
    /// `true`: the root is a wrapper whose children are the units.
    container: bool,
    scopes: Vec<Scope>,
    head: Option<Head>,
    /// elements under construction; `stack[0]` is the unit's top element
    stack: Vec<Element>,
    /// number of open elements (completed start tags without end tag)
    depth: usize,
}

fn nwf(msg: &str) -> FramerError {
    FramerError::NotWellFormed(msg.to_owned())
}

pub(crate) fn is_xml_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl Assembler {
    pub(crate) fn new(limits: Limits, container: bool) -> Self {
        Self {
            limits,
            container,
            scopes: Vec::new(),
            head: None,
            stack: Vec::new(),
            depth: 0,
        }
    }

    /// Depth, counted from the unit's top element (1), of the element whose
    /// start tag is being read.
    fn unit_depth(&self) -> usize {
        if self.container {
            self.depth
        } else {
            self.depth + 1
        }
    }

    /// Resolve unprefixed names without an `xmlns` in scope to `ns` instead of no
    /// namespace (RFC 7395 §3.3.3: stanzas in WebSocket messages default to jabber:client).
    pub(crate) fn set_default_ns(&mut self, ns: &str) {
        self.scopes.insert(0, Scope { default: Some(Namespace::from(ns.to_owned())), prefixed: Vec::new() });
    }

    /// Whether the root is a wrapper whose children are the units.
    pub(crate) fn is_container(&self) -> bool {
        self.container
    }

    /// Whether the root is open and no unit is in progress.
    pub(crate) fn at_root_level(&self) -> bool {
        self.container && self.depth == 1 && self.head.is_none()
    }

    /// Between units: keep no room sized for the last stanza's nesting.
    pub(crate) fn release_idle(&mut self) {
        if self.stack.capacity() > 0 {
            self.stack = Vec::new();
        }
        self.scopes.shrink_to_fit();
    }

    /// Feed one raw event.
    pub(crate) fn process(&mut self, ev: RawEvent) -> Result<Output, FramerError> {
        match ev {
            RawEvent::XmlDeclaration(..) => Ok(Output::Nothing),
            RawEvent::ElementHeadOpen(_, name) => {
                if self.unit_depth() > self.limits.max_depth {
                    return Err(FramerError::PolicyViolation(format!(
                        "element nesting deeper than {}",
                        self.limits.max_depth
                    )));
                }
                self.head = Some(Head {
                    name,
                    scope: Scope::default(),
                    attrs: Vec::new(),
                    count: 0,
                });
                Ok(Output::Nothing)
            }
            RawEvent::Attribute(_, name, value) => {
                self.attribute(name, value)?;
                Ok(Output::Nothing)
            }
            RawEvent::ElementHeadClose(_) => self.head_close(),
            RawEvent::Text(_, text) => self.text(text),
            RawEvent::ElementFoot(_) => self.foot(),
        }
    }

    fn attribute(&mut self, name: RawQName, value: String) -> Result<(), FramerError> {
        let head = self
            .head
            .as_mut()
            .ok_or_else(|| nwf("attribute outside start tag"))?;
        head.count += 1;
        if head.count > self.limits.max_attributes {
            return Err(FramerError::PolicyViolation(format!(
                "more than {} attributes on one element",
                self.limits.max_attributes
            )));
        }
        match name {
            (None, local) if local == "xmlns" => {
                if head.scope.default.is_some() {
                    return Err(nwf("duplicate default namespace declaration"));
                }
                head.scope.default = Some(Namespace::from(value));
            }
            (Some(prefix), local) if prefix == "xmlns" => {
                if head.scope.prefixed.iter().any(|(p, _)| *p == local) {
                    return Err(nwf("duplicate namespace prefix declaration"));
                }
                head.scope.prefixed.push((local, Namespace::from(value)));
            }
            name => head.attrs.push((name, value)),
        }
        Ok(())
    }

    /// Resolve a prefix against the open scopes (innermost first).
    fn resolve(
        scopes: &[Scope],
        prefix: Option<&NcName>,
    ) -> Result<Namespace<'static>, FramerError> {
        match prefix {
            None => Ok(scopes
                .iter()
                .rev()
                .find_map(|s| s.default.clone())
                .unwrap_or(Namespace::NONE)),
            Some(p) if p == "xml" => Ok(Namespace::XML),
            Some(p) => scopes
                .iter()
                .rev()
                .find_map(|s| {
                    s.prefixed
                        .iter()
                        .find(|(q, _)| q == p)
                        .map(|(_, ns)| ns.clone())
                })
                .ok_or_else(|| {
                    FramerError::NotWellFormed(format!("undeclared namespace prefix '{p}'"))
                }),
        }
    }

    fn head_close(&mut self) -> Result<Output, FramerError> {
        let Head {
            name, scope, attrs, ..
        } = self
            .head
            .take()
            .ok_or_else(|| nwf("start tag end without start"))?;
        self.scopes.push(scope);
        let ns = Self::resolve(&self.scopes, name.0.as_ref())?;
        let mut map = AttrMap::new();
        for ((prefix, local), value) in attrs {
            let attr_ns = match prefix {
                None => Namespace::NONE,
                Some(p) => Self::resolve(&self.scopes, Some(&p))?,
            };
            match map.entry(attr_ns, local) {
                Entry::Occupied(_) => return Err(nwf("duplicate attribute")),
                Entry::Vacant(v) => {
                    v.insert(value);
                }
            }
        }
        self.depth += 1;
        if self.container && self.depth == 1 {
            let default_ns = self
                .scopes
                .last()
                .and_then(|s| s.default.as_ref())
                .map(|ns| ns.as_str().to_owned());
            let raw_name = match &name.0 {
                Some(prefix) => format!("{}:{}", prefix.as_str(), name.1.as_str()),
                None => name.1.as_str().to_owned(),
            };
            return Ok(Output::RootOpen(RootInfo {
                raw_name,
                local: name.1.as_str().to_owned(),
                ns: ns.as_str().to_owned(),
                default_ns,
                attrs: map,
            }));
        }
        let mut el = Element::builder(name.1.as_str(), ns.as_str()).build();
        *el.attrs_mut() = map;
        self.stack.push(el);
        Ok(Output::Nothing)
    }

    fn text(&mut self, text: String) -> Result<Output, FramerError> {
        if let Some(top) = self.stack.last_mut() {
            top.append_text(text);
            Ok(Output::Nothing)
        } else if text.bytes().all(is_xml_whitespace) {
            Ok(Output::RootWhitespace(text.len()))
        } else {
            Err(nwf("character data directly inside the stream root"))
        }
    }

    fn foot(&mut self) -> Result<Output, FramerError> {
        self.scopes.pop();
        self.depth = self.depth.saturating_sub(1);
        if self.container && self.depth == 0 {
            return Ok(Output::RootClose);
        }
        let el = self
            .stack
            .pop()
            .ok_or_else(|| nwf("end tag without start tag"))?;
        match self.stack.last_mut() {
            Some(parent) => {
                parent.append_child(el);
                Ok(Output::Nothing)
            }
            None => Ok(Output::Unit(el)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rxml::{Parse, RawParser};

    fn run(doc: &str, container: bool, limits: Limits) -> Result<Vec<Output>, FramerError> {
        let mut p = RawParser::new();
        let mut a = Assembler::new(limits, container);
        let mut buf = doc.as_bytes();
        let mut out = Vec::new();
        loop {
            match p.parse(&mut buf, true) {
                Ok(Some(ev)) => match a.process(ev)? {
                    Output::Nothing => {}
                    o => out.push(o),
                },
                Ok(None) => return Ok(out),
                Err(rxml::error::EndOrError::Error(e)) => return Err(crate::error::from_rxml(e)),
                Err(rxml::error::EndOrError::NeedMoreData) => return Err(nwf("eof")),
            }
        }
    }

    #[test]
    fn document_mode_yields_root_as_unit() {
        let out = run(
            "<a xmlns='urn:x' xmlns:p='urn:p' p:k='v'><p:b/>t</a>",
            false,
            Limits::default(),
        );
        let out = out.unwrap_or_default();
        assert_eq!(out.len(), 1);
        let Some(Output::Unit(el)) = out.first() else {
            panic!("expected unit, got {out:?}");
        };
        assert!(el.is("a", "urn:x"));
        assert_eq!(el.attr_ns("urn:p", "k"), Some("v"));
        assert!(el.get_child("b", "urn:p").is_some());
        assert_eq!(el.text(), "t");
    }

    #[test]
    fn container_mode_reports_root_and_default_ns() {
        let out =
            run("<r xmlns='urn:c' a='1'> <x/></r>", true, Limits::default()).unwrap_or_default();
        assert_eq!(out.len(), 4, "{out:?}");
        match &out[0] {
            Output::RootOpen(info) => {
                assert_eq!(info.local, "r");
                assert_eq!(info.ns, "urn:c");
                assert_eq!(info.default_ns.as_deref(), Some("urn:c"));
                assert_eq!(info.attrs.len(), 1);
            }
            o => panic!("unexpected {o:?}"),
        }
        assert!(matches!(out[1], Output::RootWhitespace(_)));
        assert!(matches!(&out[2], Output::Unit(el) if el.is("x", "urn:c")));
        assert!(matches!(out[3], Output::RootClose));
    }

    #[test]
    fn undeclaring_default_namespace() {
        let out = run(
            "<a xmlns='urn:x'><b xmlns=''/></a>",
            false,
            Limits::default(),
        )
        .unwrap_or_default();
        let Some(Output::Unit(el)) = out.first() else {
            panic!()
        };
        assert!(el.get_child("b", "").is_some());
    }

    #[test]
    fn namespace_errors() {
        let e = |d: &str| {
            run(d, false, Limits::default())
                .err()
                .map(|e| e.condition())
        };
        assert_eq!(e("<p:a/>"), Some("not-well-formed"));
        assert_eq!(e("<a q:x='1'/>"), Some("not-well-formed"));
        assert_eq!(e("<a x='1' x='2'/>"), Some("not-well-formed"));
        assert_eq!(
            e("<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>"),
            Some("not-well-formed")
        );
        assert_eq!(e("<a xmlns='u' xmlns='v'/>"), Some("not-well-formed"));
        assert_eq!(e("<a xmlns:p='u' xmlns:p='v'/>"), Some("not-well-formed"));
        assert_eq!(e("<a xml:lang='en'/>"), None);
    }

    #[test]
    fn depth_and_attribute_limits() {
        let limits = Limits {
            max_depth: 2,
            max_attributes: 2,
            ..Limits::default()
        };
        let e = |d: &str| run(d, false, limits.clone()).err().map(|e| e.condition());
        assert_eq!(e("<a><b/></a>"), None);
        assert_eq!(e("<a><b><c/></b></a>"), Some("policy-violation"));
        assert_eq!(e("<a x='1' y='2'/>"), None);
        assert_eq!(e("<a x='1' y='2' z='3'/>"), Some("policy-violation"));
        assert_eq!(e("<a xmlns='u' x='1' y='2'/>"), Some("policy-violation"));
    }
}
