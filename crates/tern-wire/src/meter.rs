//! Byte-metered incremental parsing of one XML stream (RFC 6120 §4.2: the
//! stream is a single XML document received in arbitrary pieces), with the
//! stanza size limit of RFC 6120 §13.12 enforced while bytes arrive.
//!
//! # Accounting
//!
//! rxml attributes every consumed byte to exactly one event (its
//! `EventMetrics`), so `consumed - committed` is the number of bytes the
//! lexer holds for an event that is not complete yet. A *unit* is the
//! stream header (prolog + root start tag) or one top-level element; its
//! size so far is `consumed - unit_base`, where `unit_base` is moved to
//! `committed` at every unit boundary (end of header, end of a top-level
//! element, whitespace between top-level elements).
//!
//! The parser is never handed more than `limit + 1 - (consumed - unit_base)`
//! bytes, so a unit can exceed the limit by at most one byte before it is
//! rejected, whatever the split of the input: memory stays bounded and the
//! outcome does not depend on how the bytes were chunked.
//!
//! Directly under the root, rxml's text buffering is switched off, so
//! whitespace keepalives are reported (and forgotten) immediately instead of
//! accumulating in the lexer.

use rxml::error::EndOrError;
use rxml::parser::CommentMode;
use rxml::{Options, Parse, RawParser, WithOptions};

use crate::error::{FramerError, from_rxml};
use crate::limits::Limits;
use crate::tree::{Assembler, Output, is_xml_whitespace};

/// Incremental, metered parser producing [`Output`]s.
///
/// Between stanzas of an open stream (container mode, nothing partial buffered) the rxml
/// parser is dropped: its lexer reserves a token buffer of [`Limits::token_bytes`], which an
/// idle connection need not keep. The next bytes go to a fresh parser first fed the root's
/// start tag (`<stream:stream>`, not counted), which leaves it where the old one was: in the
/// root's content. Namespaces are resolved by the [`Assembler`], which keeps the root's.
pub(crate) struct Meter {
    /// `None` while released between stanzas.
    parser: Option<RawParser>,
    token_bytes: usize,
    /// The root's start tag as received (`<prefix:local>`), to prime a fresh parser.
    root_tag: Option<String>,
    tree: Assembler,
    limit: u64,
    /// bytes consumed by the parser since construction
    consumed: u64,
    /// bytes attributed to events returned by the parser
    committed: u64,
    /// `consumed` offset at which the current unit started
    unit_base: u64,
    /// `consumed` offset just after the last non-whitespace byte
    last_nonws_end: u64,
    /// the root start tag is complete (container mode)
    opened: bool,
    /// the document is complete
    done: bool,
    text_buffering: bool,
}

fn new_parser(token_bytes: usize) -> RawParser {
    let options = Options {
        max_token_length: token_bytes,
        comments: CommentMode::Reject,
        ..Options::default()
    };
    <RawParser as WithOptions>::with_options(options)
}

impl Meter {
    /// The rxml parser, recreated (in the root's content) if it was released.
    fn parser(&mut self) -> &mut RawParser {
        let (token_bytes, root_tag, buffering) = (self.token_bytes, self.root_tag.as_deref(), self.text_buffering);
        self.parser.get_or_insert_with(|| {
            let mut p = new_parser(token_bytes);
            let mut prime = root_tag.unwrap_or_default().as_bytes();
            // The root tag parsed before, so it parses again: two events, then NeedMoreData.
            while let Ok(Some(_)) = p.parse(&mut prime, false) {}
            p.set_text_buffering(buffering);
            p
        })
    }

    /// Drop the parser between stanzas of an open stream when it holds no partial input:
    /// every byte consumed is in a reported event, and none of them belongs to the next unit
    /// (a malformed byte rxml attributes to a whitespace event but reports later).
    fn release_if_idle(&mut self) {
        let clean = self.committed == self.consumed && self.unit_base == self.committed;
        if self.tree.is_container() && self.opened && !self.done && self.tree.at_root_level() && clean {
            self.parser = None;
            self.tree.release_idle();
        }
    }

    /// Whether the parser is released (between stanzas of an open stream).
    #[cfg(test)]
    pub(crate) fn is_released(&self) -> bool {
        self.parser.is_none()
    }

    /// `container`: see [`Assembler::new`].
    pub(crate) fn new(limits: Limits, container: bool) -> Self {
        let token_bytes = limits.token_bytes();
        let limit = u64::try_from(limits.max_stanza_bytes).unwrap_or(u64::MAX);
        Self {
            parser: Some(new_parser(token_bytes)),
            token_bytes,
            root_tag: None,
            tree: Assembler::new(limits, container),
            limit,
            consumed: 0,
            committed: 0,
            unit_base: 0,
            last_nonws_end: 0,
            opened: false,
            done: false,
            text_buffering: true,
        }
    }

    /// Bytes of the unit in progress: committed to its events so far, or
    /// held by the lexer for an incomplete event.
    fn unit_bytes(&self) -> u64 {
        self.consumed.saturating_sub(self.unit_base)
    }

    /// See [`Assembler::set_default_ns`].
    pub(crate) fn set_default_ns(&mut self, ns: &str) {
        self.tree.set_default_ns(ns);
    }

    /// [`Self::unit_bytes`], for memory accounting; 0 once the document is
    /// complete.
    pub(crate) fn buffered(&self) -> usize {
        if self.done {
            return 0;
        }
        usize::try_from(self.unit_bytes()).unwrap_or(usize::MAX)
    }

    /// Whether the document is complete (the root end tag was seen).
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether input ended in the middle of markup: some non-whitespace
    /// byte was received since the last unit boundary.
    pub(crate) fn is_mid_element(&self) -> bool {
        !self.done && self.last_nonws_end > self.unit_base
    }

    fn check_size(&self) -> Result<(), FramerError> {
        if self.done || self.unit_bytes() <= self.limit {
            return Ok(());
        }
        Err(self.too_large())
    }

    fn too_large(&self) -> FramerError {
        let what = if self.opened {
            "stanza"
        } else {
            "stream header"
        };
        FramerError::PolicyViolation(format!("{what} larger than {} bytes", self.limit))
    }

    /// Parse `input` completely, handing every completed output to `sink`.
    /// Stops at the first error; the caller must not feed more afterwards.
    pub(crate) fn feed(
        &mut self,
        mut input: &[u8],
        mut sink: impl FnMut(Output),
    ) -> Result<(), FramerError> {
        loop {
            let take = if self.done {
                input.len()
            } else {
                let allowed = self
                    .limit
                    .saturating_add(1)
                    .saturating_sub(self.unit_bytes());
                usize::try_from(allowed).map_or(input.len(), |a| a.min(input.len()))
            };
            let mut slice = &input[..take];
            let result = self.parser().parse(&mut slice, false);
            let used = take - slice.len();
            if let Some(pos) = input[..used].iter().rposition(|&b| !is_xml_whitespace(b)) {
                self.last_nonws_end = self.consumed + pos as u64 + 1;
            }
            self.consumed += used as u64;
            input = &input[used..];
            match result {
                Ok(Some(ev)) => {
                    let start = self.committed;
                    self.committed += ev.metrics().len() as u64;
                    let out = self.tree.process(ev)?;
                    self.after_event(out, start, &mut sink)?;
                    self.check_size()?;
                }
                Ok(None) => return Ok(()),
                Err(EndOrError::NeedMoreData) => {
                    self.check_size()?;
                    if input.is_empty() {
                        self.release_if_idle();
                        return Ok(());
                    }
                    if used == 0 {
                        return Err(FramerError::NotWellFormed(
                            "parser made no progress".to_owned(),
                        ));
                    }
                }
                Err(EndOrError::Error(e)) => return Err(from_rxml(e)),
            }
        }
    }

    /// Account for a completed output and pass it on. A completed unit is
    /// checked against the limit by its exact size before `unit_base` moves.
    fn after_event(
        &mut self,
        out: Output,
        event_start: u64,
        sink: &mut impl FnMut(Output),
    ) -> Result<(), FramerError> {
        if matches!(out, Output::RootOpen(_) | Output::Unit(_))
            && self.committed.saturating_sub(self.unit_base) > self.limit
        {
            return Err(self.too_large());
        }
        match out {
            Output::Nothing => {}
            // The boundary is right after the whitespace itself: bytes rxml attributed to
            // the event beyond it (a malformed byte it reports later) stay in the next unit,
            // so the outcome at EOF does not depend on how the input was split.
            Output::RootWhitespace(n) => {
                self.unit_base = self.committed.min(event_start + n as u64);
            }
            Output::RootOpen(info) => {
                self.opened = true;
                self.root_tag = Some(format!("<{}>", info.raw_name));
                self.unit_base = self.committed;
                sink(Output::RootOpen(info));
            }
            Output::Unit(el) => {
                self.unit_base = self.committed;
                if !self.tree.is_container() {
                    self.done = true;
                }
                sink(Output::Unit(el));
            }
            Output::RootClose => {
                self.done = true;
                sink(Output::RootClose);
            }
        }
        let buffering = !self.tree.at_root_level();
        if buffering != self.text_buffering {
            self.parser().set_text_buffering(buffering);
            self.text_buffering = buffering;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn units(m: &mut Meter, bytes: &[u8]) -> Result<Vec<Output>, FramerError> {
        let mut out = Vec::new();
        m.feed(bytes, |o| out.push(o))?;
        Ok(out)
    }

    /// Document mode, as an RFC 7395 framer would use it: one WebSocket
    /// message is one document whose root is the stanza.
    #[test]
    fn document_mode_yields_the_root() {
        let doc =
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>";
        for split in 0..doc.len() {
            let mut m = Meter::new(Limits::default(), false);
            let mut out = units(&mut m, &doc[..split]).unwrap();
            assert!(!m.is_done());
            out.extend(units(&mut m, &doc[split..]).unwrap());
            assert!(m.is_done());
            assert_eq!(m.buffered(), 0);
            assert!(!m.is_mid_element());
            let [Output::Unit(el)] = out.as_slice() else {
                panic!("{out:?}")
            };
            assert!(el.is("open", "urn:ietf:params:xml:ns:xmpp-framing"));
            assert_eq!(el.attr("to"), Some("example.com"));
        }
    }

    #[test]
    fn document_mode_limits_the_document() {
        let doc = b"<message xmlns='jabber:client'><body>hello</body></message>";
        let limits = Limits {
            max_stanza_bytes: doc.len(),
            ..Limits::default()
        };
        assert_eq!(
            units(&mut Meter::new(limits.clone(), false), doc)
                .unwrap()
                .len(),
            1
        );
        let limits = Limits {
            max_stanza_bytes: doc.len() - 1,
            ..limits
        };
        let err = units(&mut Meter::new(limits, false), doc).unwrap_err();
        assert_eq!(err.condition(), "policy-violation");
    }
}
