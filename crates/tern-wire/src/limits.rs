//! Hard resource limits for XML streams (RFC 6120 §13.12, "Denial of
//! Service": resource exhaustion through oversized stanzas, deep nesting and
//! excessive attributes).
//!
//! A violation of any of these limits is reported as
//! [`FramerError::PolicyViolation`](crate::FramerError::PolicyViolation),
//! i.e. the `<policy-violation/>` stream error of RFC 6120 §4.9.3.15.

/// Longest single XML token (element or attribute name, attribute value,
/// entity reference) accepted by the parser, and the size of the chunks in
/// which long text is handed to the tree builder.
///
/// The underlying lexer preallocates a scratch buffer of this size per
/// parser, so it is kept well below the stanza limit to keep idle
/// connections cheap. A longer name or attribute value is a policy violation;
/// long *text* is fine (it is split into chunks).
pub const MAX_TOKEN_BYTES: usize = 8192;

/// Hard limits enforced by the framers while bytes are received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum raw size in bytes of one top-level element (stanza), counted
    /// from its `<` up to and including the `>` of its end tag. The same
    /// limit bounds the stream header (optional XML declaration plus the
    /// root start tag). Enforced while receiving: at most this many bytes
    /// (plus one) of an incomplete stanza are ever accepted.
    pub max_stanza_bytes: usize,
    /// Maximum element nesting depth *inside one stanza*: the top-level
    /// element itself has depth 1, its children depth 2, and so on. The
    /// stream root does not count.
    pub max_depth: usize,
    /// Maximum number of attributes on one element, namespace declarations
    /// (`xmlns`, `xmlns:*`) included. Applies to the stream root as well.
    pub max_attributes: usize,
}

impl Limits {
    /// Default for [`Limits::max_stanza_bytes`] (256 KiB).
    pub const DEFAULT_MAX_STANZA_BYTES: usize = 262_144;
    /// Default for [`Limits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: usize = 48;
    /// Default for [`Limits::max_attributes`].
    pub const DEFAULT_MAX_ATTRIBUTES: usize = 64;

    /// Token length handed to the lexer: never more than the stanza limit
    /// (a longer token cannot be part of an acceptable stanza anyway), never
    /// more than [`MAX_TOKEN_BYTES`], and never degenerate.
    pub(crate) fn token_bytes(&self) -> usize {
        self.max_stanza_bytes.clamp(16, MAX_TOKEN_BYTES)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_stanza_bytes: Self::DEFAULT_MAX_STANZA_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_attributes: Self::DEFAULT_MAX_ATTRIBUTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_documented_values() {
        let l = Limits::default();
        assert_eq!(l.max_stanza_bytes, 262_144);
        assert_eq!(l.max_depth, 48);
        assert_eq!(l.max_attributes, 64);
    }

    #[test]
    fn token_bytes_is_clamped() {
        let mut l = Limits::default();
        assert_eq!(l.token_bytes(), MAX_TOKEN_BYTES);
        l.max_stanza_bytes = 100;
        assert_eq!(l.token_bytes(), 100);
        l.max_stanza_bytes = 0;
        assert_eq!(l.token_bytes(), 16);
    }
}
