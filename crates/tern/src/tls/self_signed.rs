//! Self-signed development certificates for RFC 6120 §5 / XEP-0368 TLS:
//! generated once under `<data_dir>/certs/<domain>.crt` / `.key` (key mode
//! 0600) and reused on every later start.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};

use super::{TlsError, file_err};

/// Return the certificate and key paths for `domain` in `dir`, generating
/// them if either file is missing.
pub(super) fn ensure(dir: &Path, domain: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    // The domain becomes a file name: refuse anything that is not a plain
    // host name so that it cannot escape `dir`.
    let plain = !domain.is_empty()
        && !domain.starts_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !plain {
        return Err(TlsError::InvalidDomain {
            domain: domain.to_owned(),
        });
    }
    let cert_path = dir.join(format!("{domain}.crt"));
    let key_path = dir.join(format!("{domain}.key"));
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let (cert_pem, key_pem) = generate(domain)?;
    create_private_dir(dir)?;
    // Key first: a crash in between leaves no certificate, so the next start
    // regenerates both instead of pairing a certificate with a stale key.
    write_atomic(&key_path, key_pem.as_bytes(), true)?;
    write_atomic(&cert_path, cert_pem.as_bytes(), false)?;
    tracing::warn!(
        domain,
        cert = %cert_path.display(),
        "generated a self-signed TLS certificate; clients will not trust it"
    );
    Ok((cert_path, key_path))
}

/// ECDSA P-256 certificate for `domain` and `*.domain`.
fn generate(domain: &str) -> Result<(String, String), TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate {
        domain: domain.to_owned(),
        msg: e.to_string(),
    };
    let mut params = CertificateParams::new(vec![domain.to_owned(), format!("*.{domain}")])
        .map_err(gen_err)?;
    params.distinguished_name.push(DnType::CommonName, domain);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "tern self-signed");
    params
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    let key = KeyPair::generate().map_err(gen_err)?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| file_err(dir, format!("cannot create directory: {e}")))
}

/// Write via a temporary file and rename, so readers never see half a file.
/// `private` files are created with mode 0600.
fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let io_err = |e: std::io::Error| file_err(path, format!("cannot write: {e}"));
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = opts.open(&tmp).map_err(io_err)?;
    file.write_all(data).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err)
}
