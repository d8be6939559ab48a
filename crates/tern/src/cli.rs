//! The `tern` command line: `serve`, `user add|passwd|del|list`, `cert reload` (through the
//! running server's control socket, see [`crate::control`]), `check-config`.

use std::io::BufRead as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use jid::BareJid;

use crate::config::Config;

#[derive(Parser, Debug)]
#[command(name = "tern", version, about = "An XMPP server for the web: TCP, BOSH and WebSocket clients on one session core")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the configuration comes from.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Configuration file (TOML). Without it: the development default (vhost `localhost`).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, generated certificates); overrides the file's.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ConfigArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the TLS certificates of the running server.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Parse and validate a configuration file; prints each problem with its key.
    CheckConfig { file: PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (password from --password or the first line of stdin).
    Add {
        jid: String,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Change an account's password.
    Passwd {
        jid: String,
        #[arg(long)]
        password: Option<String>,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Delete an account with its roster, offline messages and block list.
    Del {
        jid: String,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// List the accounts of a vhost.
    List {
        vhost: String,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Ask the running server to reload its certificates (re-reading its configuration file);
    /// on failure it keeps the old ones and the error names the failing file.
    Reload(ConfigArgs),
}

impl ConfigArgs {
    /// Load (or default) the configuration, without validating it.
    fn parse(&self) -> anyhow::Result<Config> {
        let mut cfg = match &self.config {
            Some(p) => {
                let mut cfg = Config::load(p)?;
                cfg.config_path = Some(p.clone());
                cfg
            }
            None => Config::development_default(),
        };
        if let Some(d) = &self.data_dir {
            cfg = cfg.with_data_dir(d);
        }
        Ok(cfg)
    }

    /// Load (or default) and validate the configuration.
    pub fn load(&self) -> anyhow::Result<Config> {
        let cfg = self.parse()?;
        let problems = cfg.validate();
        if !problems.is_empty() {
            for p in &problems {
                eprintln!("config: {p}");
            }
            bail!("the configuration has {} problem(s)", problems.len());
        }
        Ok(cfg)
    }
}

fn password(given: Option<String>) -> anyhow::Result<String> {
    let pw = match given {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(pw)
}

/// Split an account JID into (vhost, user), checking the vhost is served.
fn account(cfg: &Config, jid: &str) -> anyhow::Result<(String, String)> {
    let bare = BareJid::new(jid).with_context(|| format!("invalid JID {jid}"))?;
    let Some(node) = bare.node() else { bail!("{jid} has no local part") };
    let vhost = bare.domain().as_str().to_owned();
    if cfg.vhost(&vhost).is_none() {
        bail!("{vhost} is not a configured vhost");
    }
    let Some(user) = tern_core::stanza::account_localpart(node.as_str(), &vhost) else {
        bail!("{jid} has no stable local part");
    };
    Ok((vhost, user))
}

async fn store(cfg: &Config) -> anyhow::Result<std::sync::Arc<dyn tern_store::Store>> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    let url = cfg.storage_url();
    tern_store::open_store(&url).await.with_context(|| format!("opening storage {url}"))
}

/// Run a `user` subcommand.
pub async fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add { jid, password: pw, cfg } => {
            let cfg = cfg.load()?;
            let (vhost, user) = account(&cfg, &jid)?;
            let creds = tern_auth::StoredCredentials::from_password(&password(pw)?)?;
            store(&cfg).await?.create_account(&vhost, &user, &creds).await?;
            println!("created {user}@{vhost}");
        }
        UserCommand::Passwd { jid, password: pw, cfg } => {
            let cfg = cfg.load()?;
            let (vhost, user) = account(&cfg, &jid)?;
            let creds = tern_auth::StoredCredentials::from_password(&password(pw)?)?;
            store(&cfg).await?.set_credentials(&vhost, &user, &creds).await?;
            println!("password changed for {user}@{vhost}");
        }
        UserCommand::Del { jid, cfg } => {
            let cfg = cfg.load()?;
            let (vhost, user) = account(&cfg, &jid)?;
            if !store(&cfg).await?.delete_account(&vhost, &user).await? {
                bail!("no such account {user}@{vhost}");
            }
            println!("deleted {user}@{vhost}");
        }
        UserCommand::List { vhost, cfg } => {
            let cfg = cfg.load()?;
            for u in store(&cfg).await?.list_accounts(&vhost.to_ascii_lowercase()).await? {
                println!("{u}@{vhost}");
            }
        }
    }
    Ok(())
}

/// Run a `cert` subcommand against the server of the configuration's data directory.
pub async fn cert(cmd: CertCommand) -> anyhow::Result<()> {
    let CertCommand::Reload(args) = cmd;
    // Only the data directory is needed: the server checks the certificates (and re-reads
    // its configuration file) itself, so a broken file is reported by the server, naming it.
    let data_dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            let cfg = args.parse().context("finding the data directory (nothing was reloaded; --data-dir skips this)")?;
            cfg.data_dir
        }
    };
    let reply = crate::control::request(&data_dir, crate::control::CERT_RELOAD).await?;
    match reply.strip_prefix("ok ") {
        Some(done) => {
            println!("certificates reloaded: {done}");
            Ok(())
        }
        None => bail!("certificate reload failed: {}", reply.strip_prefix("error ").unwrap_or(&reply)),
    }
}

/// `tern check-config FILE`: exit status 0 when valid, 1 otherwise.
pub fn check_config(file: &std::path::Path) -> i32 {
    let cfg = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let problems = cfg.validate();
    for p in &problems {
        println!("{p}");
    }
    if problems.is_empty() {
        println!("{}: ok", file.display());
        0
    } else {
        1
    }
}
