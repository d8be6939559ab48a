//! Syntax of SCRAM messages (RFC 5802 §7), shared by server and client.
//!
//! ```text
//! client-first-message = gs2-header client-first-message-bare
//! gs2-header           = gs2-cbind-flag "," [ authzid ] ","
//! client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
//! server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
//! client-final-message = channel-binding "," nonce ["," extensions] "," proof
//! server-final-message = (server-error / verifier) ["," extensions]
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::AuthError;

/// A parsed client-first-message.
#[derive(Debug)]
pub(crate) struct ClientFirst<'a> {
    /// The gs2 header including its final comma (the cbind-input for `c=`).
    pub gs2_header: &'a str,
    /// Decoded authzid, empty if absent.
    pub authzid: String,
    /// client-first-message-bare, verbatim (part of AuthMessage).
    pub bare: &'a str,
    /// Decoded username, not yet SASLprep'd.
    pub username: String,
    pub nonce: &'a str,
}

/// A parsed client-final-message.
#[derive(Debug)]
pub(crate) struct ClientFinal<'a> {
    /// Decoded `c=` value.
    pub channel_binding: Vec<u8>,
    pub nonce: &'a str,
    /// client-final-message-without-proof, verbatim (part of AuthMessage).
    pub without_proof: &'a str,
    /// Decoded `p=` value.
    pub proof: Vec<u8>,
}

/// A parsed server-first-message.
#[derive(Debug)]
pub(crate) struct ServerFirst<'a> {
    pub nonce: &'a str,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

pub(crate) fn malformed(msg: &str) -> AuthError {
    AuthError::malformed(msg)
}

/// Checks UTF-8 and the absence of NUL.
pub(crate) fn to_str(msg: &[u8]) -> Result<&str, AuthError> {
    let s = std::str::from_utf8(msg).map_err(|_| malformed("invalid UTF-8"))?;
    if s.contains('\0') {
        return Err(malformed("NUL in message"));
    }
    Ok(s)
}

pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, AuthError> {
    STANDARD.decode(s).map_err(|_| malformed("invalid base64"))
}

pub(crate) fn b64_encode(b: &[u8]) -> String {
    STANDARD.encode(b)
}

/// Decodes a saslname: `=2C` is `,` and `=3D` is `=`; any other `=` fails.
pub(crate) fn decode_saslname(s: &str) -> Result<String, AuthError> {
    if s.is_empty() {
        return Err(malformed("empty saslname"));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i + 1..i + 3);
        match esc {
            Some("2C") => out.push(','),
            Some("3D") => out.push('='),
            _ => return Err(malformed("invalid '=' escape in saslname")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Encodes a saslname (inverse of [`decode_saslname`]).
pub(crate) fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// A nonce is 1*printable: %x21-2B / %x2D-7E.
pub(crate) fn valid_nonce(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Strips `"<name>="` from an attribute.
fn attr(s: Option<&str>, name: char) -> Result<&str, AuthError> {
    let s = s.ok_or_else(|| AuthError::MalformedRequest(format!("missing attribute {name}")))?;
    let mut chars = s.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        Ok(&s[2..])
    } else if s.starts_with("m=") {
        Err(malformed("mandatory extension not supported"))
    } else {
        Err(AuthError::MalformedRequest(format!(
            "expected attribute {name}"
        )))
    }
}

/// Checks optional trailing extensions: `ALPHA "=" 1*value-char`, not `m`.
fn extensions<'a>(rest: impl Iterator<Item = &'a str>, reserved: &[u8]) -> Result<(), AuthError> {
    for ext in rest {
        match ext.as_bytes() {
            [b'm', b'=', ..] => return Err(malformed("mandatory extension not supported")),
            [name, b'=', _, ..] if name.is_ascii_alphabetic() && !reserved.contains(name) => {}
            _ => return Err(malformed("invalid extension")),
        }
    }
    Ok(())
}

pub(crate) fn parse_client_first(msg: &str) -> Result<ClientFirst<'_>, AuthError> {
    let (flag, rest) = msg
        .split_once(',')
        .ok_or_else(|| malformed("missing gs2 header"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(malformed("channel binding not supported")),
        _ => return Err(malformed("invalid gs2 channel binding flag")),
    }
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or_else(|| malformed("missing gs2 header"))?;
    let authzid = match authzid {
        "" => String::new(),
        a => decode_saslname(attr(Some(a), 'a')?)?,
    };
    let gs2_header = &msg[..msg.len() - bare.len()];
    let mut attrs = bare.split(',');
    let username = decode_saslname(attr(attrs.next(), 'n')?)?;
    let nonce = attr(attrs.next(), 'r')?;
    if !valid_nonce(nonce) {
        return Err(malformed("invalid nonce"));
    }
    extensions(attrs, b"nr")?;
    Ok(ClientFirst {
        gs2_header,
        authzid,
        bare,
        username,
        nonce,
    })
}

pub(crate) fn parse_client_final(msg: &str) -> Result<ClientFinal<'_>, AuthError> {
    let (without_proof, proof) = msg
        .rsplit_once(",p=")
        .ok_or_else(|| malformed("missing proof"))?;
    let proof = b64_decode(proof)?;
    let mut attrs = without_proof.split(',');
    let channel_binding = b64_decode(attr(attrs.next(), 'c')?)?;
    let nonce = attr(attrs.next(), 'r')?;
    if !valid_nonce(nonce) {
        return Err(malformed("invalid nonce"));
    }
    extensions(attrs, b"crp")?;
    Ok(ClientFinal {
        channel_binding,
        nonce,
        without_proof,
        proof,
    })
}

pub(crate) fn parse_server_first(msg: &str) -> Result<ServerFirst<'_>, AuthError> {
    let mut attrs = msg.split(',');
    let nonce = attr(attrs.next(), 'r')?;
    if !valid_nonce(nonce) {
        return Err(malformed("invalid nonce"));
    }
    let salt = b64_decode(attr(attrs.next(), 's')?)?;
    let iterations = attr(attrs.next(), 'i')?
        .parse::<u32>()
        .map_err(|_| malformed("invalid iteration count"))?;
    extensions(attrs, b"rsi")?;
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// Parses a server-final-message: `Ok(verifier)` for `v=`,
/// [`AuthError::NotAuthorized`] for a server error (`e=`).
pub(crate) fn parse_server_final(msg: &str) -> Result<Vec<u8>, AuthError> {
    let mut attrs = msg.split(',');
    let first = attrs.next().unwrap_or_default();
    if first.starts_with("e=") {
        return Err(AuthError::NotAuthorized);
    }
    let verifier = b64_decode(attr(Some(first), 'v')?)?;
    extensions(attrs, b"v")?;
    Ok(verifier)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn saslname_round_trip() {
        for name in ["user", "a,b", "a=b", "=,=2C", "\u{00FC}"] {
            assert_eq!(decode_saslname(&encode_saslname(name)).unwrap(), name);
        }
        assert_eq!(encode_saslname("a=,"), "a=3D=2C");
        assert!(decode_saslname("").is_err());
        assert!(decode_saslname("a=2").is_err());
        assert!(decode_saslname("a=\u{00FC}\u{00FC}").is_err());
    }

    #[test]
    fn server_messages() {
        let sf = parse_server_first("r=abc,s=QSXCR+Q6sek8bf92,i=4096,x=y").unwrap();
        assert_eq!((sf.nonce, sf.iterations, sf.salt.len()), ("abc", 4096, 12));
        assert!(parse_server_first("r=abc,s=QSXCR+Q6sek8bf92,i=-1").is_err());
        assert_eq!(parse_server_final("v=AAAA").unwrap(), vec![0, 0, 0]);
        assert_eq!(
            parse_server_final("e=other-error"),
            Err(AuthError::NotAuthorized)
        );
        assert!(parse_server_final("x=AAAA").is_err());
        assert!(parse_server_final("").is_err());
    }
}
