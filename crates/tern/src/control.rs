//! The local control socket of a running server, `<data_dir>/tern.ctl` (a Unix socket), and
//! the certificate reload it triggers (RFC 6120 §5 / RFC 7590 certificates, reloaded without
//! dropping connections).
//!
//! Protocol: the client connects and writes one command line; the server replies with one
//! line and closes. Commands are at most [`MAX_LINE`] bytes and must arrive within
//! [`READ_TIMEOUT`], so a stuck or hostile client cannot hold a task or grow memory.
//!
//! | command       | reply                                        |
//! |---------------|----------------------------------------------|
//! | `cert-reload` | `ok <n> certificates` or `error <message>`   |
//!
//! `tern cert reload` and SIGHUP both run [`reload_certificates`].

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::config::{Config, normalize_domain};
use crate::server::Server;

/// The socket's file name inside the data directory.
pub const SOCKET_NAME: &str = "tern.ctl";
/// Longest accepted command line, newline included.
pub const MAX_LINE: u64 = 256;
/// How long the server waits for a command line.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for the reply (a reload reads files, or generates keys).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest reply the client accepts.
const MAX_REPLY: u64 = 64 * 1024;

/// The command that reloads the certificates.
pub const CERT_RELOAD: &str = "cert-reload";

/// Control socket errors (server start-up and client side).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("another tern server is running with data directory {dir} (it answers on {path})", dir = dir.display(), path = path.display())]
    AlreadyRunning { dir: PathBuf, path: PathBuf },
    #[error("{path} exists and is not a socket; remove it or choose another data directory", path = path.display())]
    NotASocket { path: PathBuf },
    #[error("no tern server is running with data directory {dir} (nothing answers on {path})", dir = dir.display(), path = path.display())]
    NotRunning {
        dir: PathBuf,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("control socket {path}: no reply within {secs} s", path = path.display(), secs = REPLY_TIMEOUT.as_secs())]
    Timeout { path: PathBuf },
}

/// The control socket of the data directory `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// Removes the socket file when the listening task ends (shutdown aborts it).
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Bind `<data_dir>/tern.ctl` and serve it until the returned task is aborted. A stale socket
/// left by a killed server is replaced; one that a live server answers on is an error.
pub async fn listen(server: Arc<Server>) -> Result<JoinHandle<()>, ControlError> {
    let dir = server.config.data_dir.clone();
    let path = socket_path(&dir);
    let io = |source| ControlError::Io { path: path.clone(), source };
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if !meta.file_type().is_socket() => return Err(ControlError::NotASocket { path }),
        Ok(_) => {
            if UnixStream::connect(&path).await.is_ok() {
                return Err(ControlError::AlreadyRunning { dir, path });
            }
            std::fs::remove_file(&path).map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(&path).map_err(io)?;
    let guard = SocketFile(path.clone());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    info!(path = %path.display(), "control socket listening");
    Ok(tokio::spawn(async move {
        let _guard = guard;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(handle(server.clone(), stream));
                }
                Err(e) => {
                    warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }))
}

/// Read one bounded line within `within`: `Ok(None)` when the peer sent nothing, `Err` with a
/// reason when it was too long, too slow or not UTF-8.
async fn read_line<R: tokio::io::AsyncRead + Unpin>(io: R, max: u64, within: Duration) -> Result<Option<String>, String> {
    let mut buf = Vec::new();
    let mut limited = BufReader::new(io.take(max));
    match tokio::time::timeout(within, limited.read_until(b'\n', &mut buf)).await {
        Err(_) => return Err(format!("no complete line within {within:?}")),
        Ok(Err(e)) => return Err(format!("read failed: {e}")),
        Ok(Ok(0)) => return Ok(None),
        Ok(Ok(_)) => {}
    }
    if buf.last() != Some(&b'\n') && buf.len() as u64 >= max {
        return Err(format!("line longer than {max} bytes"));
    }
    let line = String::from_utf8(buf).map_err(|_| "not UTF-8".to_owned())?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

async fn handle(server: Arc<Server>, mut stream: UnixStream) {
    let (read, mut write) = stream.split();
    let reply = match read_line(read, MAX_LINE, READ_TIMEOUT).await {
        Ok(None) => return,
        Ok(Some(cmd)) if cmd.trim() == CERT_RELOAD => {
            let server = server.clone();
            match tokio::task::spawn_blocking(move || reload_certificates(&server)).await {
                Ok(Ok(n)) => format!("ok {n} certificates"),
                Ok(Err(msg)) => format!("error {msg}"),
                Err(e) => format!("error reload task failed: {e}"),
            }
        }
        Ok(Some(cmd)) => format!("error unknown command {:?}", cmd.chars().take(64).collect::<String>()),
        Err(reason) => format!("error {reason}"),
    };
    let _ = write.write_all(format!("{reply}\n").as_bytes()).await;
    let _ = write.shutdown().await;
}

/// Send `command` to the server of `data_dir` and return its reply line.
pub async fn request(data_dir: &Path, command: &str) -> Result<String, ControlError> {
    let path = socket_path(data_dir);
    let mut stream = UnixStream::connect(&path).await.map_err(|source| ControlError::NotRunning {
        dir: data_dir.to_owned(),
        path: path.clone(),
        source,
    })?;
    let io = |source| ControlError::Io { path: path.clone(), source };
    stream.write_all(format!("{command}\n").as_bytes()).await.map_err(io)?;
    match read_line(&mut stream, MAX_REPLY, REPLY_TIMEOUT).await {
        Ok(Some(reply)) => Ok(reply),
        Ok(None) => Err(io(std::io::ErrorKind::UnexpectedEof.into())),
        Err(reason) if reason.starts_with("no complete line") => Err(ControlError::Timeout { path }),
        Err(reason) => Err(io(std::io::Error::other(reason))),
    }
}

/// Reload every certificate, keeping the old ones on any failure (the message names the
/// failing file). A server started with a configuration file re-reads that file, so renewed
/// certificates at new paths are picked up; otherwise the start-up configuration is used.
/// Returns the number of certificates now served (vhosts plus `[[certificates]]`).
pub fn reload_certificates(server: &Server) -> Result<usize, String> {
    let cfg = match &server.config.config_path {
        Some(path) => match Config::load(path) {
            Ok(c) => {
                warn_on_vhost_changes(&server.config, &c);
                // The data directory (self-signed certificates) is the running one: the file
                // may differ from it when --data-dir overrode it.
                c.with_data_dir(&server.config.data_dir)
            }
            Err(e) => {
                let msg = one_line(&format!("{e}; keeping the old certificates"));
                error!(config = %path.display(), error = %msg, "certificate reload failed: the configuration file does not parse");
                return Err(msg);
            }
        },
        None => server.config.clone(),
    };
    let n = cfg.vhosts.len() + cfg.certificates.len();
    match server.certs.reload(&cfg) {
        Ok(()) => {
            info!(certificates = n, domains = ?server.certs.domains(), "certificates reloaded");
            Ok(n)
        }
        Err(e) => {
            let msg = one_line(&e.to_string());
            error!(error = %msg, "certificate reload failed; keeping the old certificates");
            Err(msg)
        }
    }
}

/// Vhosts are fixed at start-up; a reload only changes certificates.
fn warn_on_vhost_changes(running: &Config, file: &Config) {
    let names = |c: &Config| {
        let mut v: Vec<String> = c.vhosts.iter().map(|v| normalize_domain(&v.domain)).collect();
        v.sort();
        v
    };
    if names(running) != names(file) {
        warn!("the configuration file lists other vhosts than the running server; vhost changes need a restart");
    }
}

/// Multi-line messages (TOML errors show the offending line) as one reply line.
fn one_line(msg: &str) -> String {
    msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn read_line_is_bounded() {
        let long = vec![b'x'; 300];
        let r = read_line(&long[..], MAX_LINE, READ_TIMEOUT).await;
        assert_eq!(r, Err(format!("line longer than {MAX_LINE} bytes")));
        let exact = format!("{}\n", "y".repeat(255));
        let r = read_line(exact.as_bytes(), MAX_LINE, READ_TIMEOUT).await;
        assert_eq!(r, Ok(Some("y".repeat(255))));
        assert_eq!(read_line(&b"cert-reload\r\n"[..], MAX_LINE, READ_TIMEOUT).await, Ok(Some(CERT_RELOAD.to_owned())));
        assert_eq!(read_line(&b""[..], MAX_LINE, READ_TIMEOUT).await, Ok(None));
    }

    #[tokio::test]
    async fn read_line_times_out_on_a_silent_peer() {
        let (_keep, server_side) = tokio::io::duplex(64);
        let r = read_line(server_side, MAX_LINE, Duration::from_millis(20)).await;
        assert!(r.is_err_and(|e| e.starts_with("no complete line")));
    }

    #[test]
    fn one_line_joins_lines() {
        assert_eq!(one_line("a.toml: bad\n  |\n3 | x =\n"), "a.toml: bad | | | 3 | x =");
    }
}
