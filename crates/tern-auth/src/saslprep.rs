//! SASLprep, the stringprep profile for user names and passwords (RFC 4013).
//!
//! Delegates to the `stringprep` crate, which applies the mapping (§2.1),
//! NFKC normalization (§2.2), prohibited output (§2.3), bidirectional
//! (§2.4) and unassigned code point (§2.5, as for stored strings) rules.

use crate::AuthError;

/// Prepares `s` with SASLprep (RFC 4013). Errors with
/// [`AuthError::Saslprep`] if `s` contains prohibited characters, unassigned
/// code points or invalid bidirectional text. May return an empty string
/// (e.g. for a lone soft hyphen); callers reject that where it matters.
pub fn saslprep(s: &str) -> Result<String, AuthError> {
    stringprep::saslprep(s)
        .map(|c| c.into_owned())
        .map_err(|e| AuthError::Saslprep(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The examples of RFC 4013 §3.
    #[test]
    fn rfc4013_examples() {
        assert_eq!(saslprep("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(saslprep("user").unwrap(), "user");
        assert_eq!(saslprep("USER").unwrap(), "USER");
        assert_eq!(saslprep("\u{00AA}").unwrap(), "a");
        assert_eq!(saslprep("\u{2168}").unwrap(), "IX");
        assert!(matches!(saslprep("\u{0007}"), Err(AuthError::Saslprep(_))));
        assert!(matches!(
            saslprep("\u{0627}\u{0031}"),
            Err(AuthError::Saslprep(_))
        ));
    }

    #[test]
    fn mapping_and_prohibition() {
        // non-ASCII space maps to SPACE (§2.1)
        assert_eq!(saslprep("a\u{00A0}b").unwrap(), "a b");
        // ZERO WIDTH NO-BREAK SPACE maps to nothing (B.1)
        assert_eq!(saslprep("a\u{FEFF}b").unwrap(), "ab");
        // U+200B is in both B.1 and C.1.2; the `stringprep` crate maps it
        // to SPACE (C.1.2 first)
        assert_eq!(saslprep("a\u{200B}b").unwrap(), "a b");
        // private use (C.3) and DEL (C.2.1)
        assert!(saslprep("a\u{E000}").is_err());
        assert!(saslprep("a\u{7F}").is_err());
        assert!(saslprep("a\0b").is_err());
        assert_eq!(saslprep("").unwrap(), "");
        assert_eq!(saslprep("\u{00AD}").unwrap(), "");
        // RandALCat string that starts and ends with RandALCat is fine
        assert_eq!(saslprep("\u{0627}\u{0628}").unwrap(), "\u{0627}\u{0628}");
    }
}
