//! Client-to-server connections: the transport-independent session driver and the TCP
//! transport with its listeners (RFC 6120 over TCP, STARTTLS on 5222, XEP-0368 direct TLS
//! on 5223).

pub mod driver;
pub mod readbuf;
pub mod resume;
pub mod tcp;
pub mod throttle;
pub mod timer;
pub mod transport;

use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tracing::debug;

use crate::server::Server;
use driver::ConnInfo;
use tcp::TcpTransport;
use throttle::ByteThrottle;

/// Accept c2s connections on `listener` until the task is dropped.
pub async fn serve_tcp(server: Arc<Server>, listener: TcpListener, direct_tls: bool, tls_required: bool) {
    // One TLS configuration per listener; its resolver sees certificate reloads.
    let acceptor = tokio_rustls::TlsAcceptor::from(server.certs.server_config());
    crate::listen::accept_forever(listener, move |stream, peer| {
        let server = server.clone();
        let acceptor = acceptor.clone();
        async move {
            let l = &server.config.limits;
            let limits = tern_wire::Limits { max_stanza_bytes: l.max_stanza_bytes, ..tern_wire::Limits::default() };
            let throttle = ByteThrottle::new(l.bytes_per_second, l.burst_bytes, Instant::now());
            let certs = server.certs.clone();
            let transport = if direct_tls {
                match tokio::time::timeout(l.auth_timeout(), acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => TcpTransport::tls(tls, peer, limits, throttle, certs),
                    Ok(Err(e)) => return debug!(peer = %peer, error = %e, "TLS handshake failed"),
                    Err(_) => return debug!(peer = %peer, "TLS handshake timed out"),
                }
            } else {
                TcpTransport::plain(stream, peer, limits, throttle, certs)
            };
            let info = ConnInfo { peer: peer.ip(), encrypted: direct_tls, starttls: !direct_tls, tls_required };
            driver::run(server, Box::new(transport), info).await;
        }
    })
    .await;
}
