//! `tern serve`: open storage, load certificates, bind the listeners, run until SIGINT or
//! SIGTERM (then `system-shutdown` to every session, RFC 6120 §4.9.3.19); SIGHUP reloads
//! certificates without dropping connections.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::FutureExt as _;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::{Config, ListenerKind};
use crate::server::Server;
use crate::tls::CertStore;

/// A running node: its shared state and the addresses it listens on.
pub struct Running {
    pub server: Arc<Server>,
    pub listening: Vec<(ListenerKind, std::net::SocketAddr)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Start everything the configuration asks for.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let url = config.storage_url();
    let store = tern_store::open_store(&url).await.with_context(|| format!("opening storage {url}"))?;
    let certs = Arc::new(CertStore::load(&config).context("loading certificates")?);
    info!(data_dir = %config.data_dir.display(), storage = %url, "storage ready");
    let listeners = config.listeners.clone();
    let (server, mut inbound) = Server::new(config, store, certs);
    let mut listening = Vec::new();
    let mut tasks = vec![crate::control::listen(server.clone()).await?];
    // Stanzas other nodes forward to sessions held here.
    let node = server.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(env) = inbound.recv().await {
            match env.stanza.parse::<minidom::Element>() {
                Ok(stanza) => crate::im::route(&node, stanza).await,
                Err(e) => warn!(error = %e, "unparsable stanza from the cluster bus"),
            }
        }
    }));
    for l in listeners {
        let addr = l.socket_addr().with_context(|| format!("listener address {}", l.address))?;
        let sock = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let local = sock.local_addr()?;
        info!(kind = ?l.kind, addr = %local, "listening");
        let task = match l.kind {
            ListenerKind::C2s => crate::c2s::serve_tcp(server.clone(), sock, false, l.require_encryption).boxed(),
            ListenerKind::C2sTls => crate::c2s::serve_tcp(server.clone(), sock, true, true).boxed(),
            ListenerKind::Http | ListenerKind::Https | ListenerKind::Ws | ListenerKind::Wss => {
                crate::http::serve(server.clone(), sock, l.kind).boxed()
            }
        };
        tasks.push(tokio::spawn(task));
        listening.push((l.kind, local));
    }
    Ok(Running { server, listening, tasks })
}

impl Running {
    /// Stop accepting, end every session with `system-shutdown`, give them a moment.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        info!(sessions = self.server.live_sessions(), "shutting down");
        // Every session task, bound or still negotiating, ends with `system-shutdown`.
        self.server.begin_shutdown();
        for _ in 0..40 {
            if self.server.live_sessions() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `tern serve` until a signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    // Handlers first: a SIGHUP or SIGTERM right after the listeners are up must not kill us.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let running = start(config).await?;
    let server = running.server.clone();
    loop {
        tokio::select! {
            // Logs the outcome itself (the failing file, or the number reloaded).
            _ = hup.recv() => {
                let _ = crate::control::reload_certificates(&server);
            }
            _ = term.recv() => break,
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    warn!(error = %e, "signal handler failed");
                }
                break;
            }
        }
    }
    running.shutdown().await;
    Ok(())
}
