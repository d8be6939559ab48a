//! The client side of SCRAM (RFC 5802, RFC 7677) over any test transport: the exchange of
//! `<auth/>`, `<challenge/>`, `<response/>` and `<success/>` is the same on a TCP stream and in
//! BOSH bodies; only sending and receiving differ.

use base64::Engine as _;
use minidom::Element;
use tern_auth::client::ScramClient;
use tern_auth::ScramHash;
use tern_core::ns;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A test client that can send raw XML and wait for the next SASL element.
#[allow(async_fn_in_trait)]
pub trait SaslPeer {
    async fn send_sasl(&mut self, xml: &str);
    async fn sasl_reply(&mut self) -> Element;
}

/// Run a SCRAM exchange as `user`, checking the server's final proof. On `<failure/>` (or any
/// unexpected reply) returns it. The caller restarts the stream afterwards.
pub async fn scram<P: SaslPeer>(p: &mut P, hash: ScramHash, user: &str, password: &str) -> Result<(), Element> {
    let mech = match hash {
        ScramHash::Sha1 => "SCRAM-SHA-1",
        ScramHash::Sha256 => "SCRAM-SHA-256",
    };
    let mut scram = ScramClient::new(hash, user, password).expect("scram client");
    let first = B64.encode(scram.client_first());
    p.send_sasl(&format!("<auth xmlns='{}' mechanism='{mech}'>{first}</auth>", ns::SASL)).await;
    let reply = p.sasl_reply().await;
    if reply.name() != "challenge" {
        return Err(reply);
    }
    let server_first = B64.decode(reply.text().trim()).expect("challenge is base64");
    let fin = scram.handle_server_first(&server_first).expect("server-first is valid");
    p.send_sasl(&format!("<response xmlns='{}'>{}</response>", ns::SASL, B64.encode(fin))).await;
    let reply = p.sasl_reply().await;
    if reply.name() != "success" {
        return Err(reply);
    }
    let server_final = B64.decode(reply.text().trim()).expect("success data is base64");
    scram.verify_server_final(&server_final).expect("the server proves it knows the credentials");
    Ok(())
}
