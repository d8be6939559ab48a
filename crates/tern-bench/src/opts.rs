//! Command line of `tern-bench` (clap derive): the target server and transport (RFC 6120
//! TCP, XEP-0368 direct TLS, RFC 7395 WebSocket, XEP-0124/0206 BOSH), the accounts, the run
//! options and one scenario, or the null relay's ports. The library takes the same structures, so tests build a run by parsing a
//! command line ([`Cli::try_parse_from`](clap::Parser::try_parse_from)).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A load generator for XMPP servers.
#[derive(Parser, Clone, Debug)]
#[command(name = "tern-bench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub accounts: Accounts,
    #[command(flatten)]
    pub run: RunOpts,
}

/// How a client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    /// Plain c2s over TCP (RFC 6120), no STARTTLS: the server must allow auth without TLS.
    Tcp,
    /// Direct TLS (XEP-0368).
    Tls,
    /// WebSocket (RFC 7395) over plain HTTP.
    Ws,
    /// WebSocket (RFC 7395) over HTTPS.
    Wss,
    /// BOSH (XEP-0124, XEP-0206) over plain HTTP.
    Bosh,
    /// BOSH (XEP-0124, XEP-0206) over HTTPS.
    Boshs,
}

impl TransportKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Bosh => "bosh",
            Self::Boshs => "boshs",
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss | Self::Boshs)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    pub fn is_bosh(self) -> bool {
        matches!(self, Self::Bosh | Self::Boshs)
    }

    /// The usual port: 5222, 5223 (XEP-0368), 5280 and 5281 (HTTP and HTTPS).
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 5222,
            Self::Tls => 5223,
            Self::Ws | Self::Bosh => 5280,
            Self::Wss | Self::Boshs => 5281,
        }
    }
}

/// The SASL mechanism of the logins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mech {
    #[value(name = "SCRAM-SHA-1", alias = "scram-sha-1")]
    ScramSha1,
    #[value(name = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
}

impl Mech {
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    pub fn hash(self) -> tern_auth::ScramHash {
        match self {
            Self::ScramSha1 => tern_auth::ScramHash::Sha1,
            Self::ScramSha256 => tern_auth::ScramHash::Sha256,
        }
    }
}

/// Where the server is and how to connect to it.
#[derive(Args, Clone, Debug)]
pub struct Target {
    #[arg(long, value_enum, default_value_t = TransportKind::Tcp, global = true)]
    pub transport: TransportKind,
    /// Server host name or address.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Server port [default: 5222 tcp, 5223 tls, 5280 ws and bosh, 5281 wss and boshs].
    #[arg(long, global = true)]
    pub port: Option<u16>,
    /// HTTP path of the WebSocket or BOSH endpoint [default: /xmpp-websocket, /http-bind].
    #[arg(long, global = true)]
    pub path: Option<String>,
    /// BOSH: the longest a request may be held, asked for on session creation (`wait`).
    #[arg(long, default_value_t = 60, global = true)]
    pub bosh_wait: u32,
    /// The XMPP domain (stream `to`, JIDs).
    #[arg(long, default_value = "localhost", global = true)]
    pub domain: String,
    /// TLS server name (SNI and certificate check) [default: the domain].
    #[arg(long, global = true)]
    pub tls_name: Option<String>,
    /// Skip TLS certificate verification (loopback benchmarks only).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Trust the certificates in this PEM file (instead of --insecure).
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Bind outgoing sockets to these local addresses in turn (e.g. 127.0.0.2,127.0.0.3):
    /// one port range of connections per address.
    #[arg(long, value_delimiter = ',', global = true)]
    pub source_ips: Vec<IpAddr>,
    /// Origin header of the WebSocket handshake (none by default).
    #[arg(long, global = true)]
    pub origin: Option<String>,
    /// Seconds one login, registration or close may take.
    #[arg(long, default_value_t = 30.0, global = true)]
    pub timeout: f64,
}

impl Target {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.transport.default_port())
    }

    /// The HTTP path: `--path`, else the transport's usual one.
    pub fn path(&self) -> &str {
        match (&self.path, self.transport.is_bosh()) {
            (Some(p), _) => p,
            (None, true) => "/http-bind",
            (None, false) => "/xmpp-websocket",
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.max(0.001))
    }
}

/// The accounts: `{prefix}{n}@{domain}`, all with one password.
#[derive(Args, Clone, Debug)]
pub struct Accounts {
    #[arg(long, default_value = "bench", global = true)]
    pub prefix: String,
    /// Number of the first user.
    #[arg(long, default_value_t = 1, global = true)]
    pub first: u64,
    #[arg(long, default_value = "pass", global = true)]
    pub password: String,
    #[arg(long, value_enum, default_value_t = Mech::ScramSha1, global = true)]
    pub mech: Mech,
    /// Resource to bind [default: the server assigns one].
    #[arg(long, global = true)]
    pub resource: Option<String>,
    /// Keep SCRAM SaltedPasswords in this file between runs (client-side PBKDF2 dominates
    /// the loader's CPU otherwise).
    #[arg(long, global = true)]
    pub scram_cache: Option<PathBuf>,
}

impl Accounts {
    /// The local part of user number `first + i`.
    pub fn user(&self, i: u64) -> String {
        format!("{}{}", self.prefix, self.first + i)
    }
}

/// Concurrency, labelling, measurement and output.
#[derive(Args, Clone, Debug)]
pub struct RunOpts {
    /// Label of the run in the report (e.g. the server's name).
    #[arg(long, default_value = "server", global = true)]
    pub label: String,
    /// Connections being set up (or registrations, logins) at a time.
    #[arg(long, default_value_t = 50, global = true)]
    pub concurrency: usize,
    /// The server's process id: its CPU time and RSS are read from /proc.
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// A file holding the server's process id.
    #[arg(long, global = true)]
    pub server_pidfile: Option<PathBuf>,
    /// Append the JSON report to this file.
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Also print a one-row Markdown table line.
    #[arg(long, global = true)]
    pub markdown: bool,
    /// No progress line on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// What to measure.
#[derive(Subcommand, Clone, Debug)]
pub enum Scenario {
    /// Create accounts by in-band registration (XEP-0077); existing ones count as done.
    Register {
        #[arg(long, default_value_t = 1000)]
        count: u64,
    },
    /// Log in and out: connect, SASL, bind, initial presence, one ping round trip, close.
    Login {
        #[arg(long, default_value_t = 1000)]
        count: u64,
    },
    /// Hold authenticated sessions idle, then read the server's RSS per session.
    Idle {
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Seconds to hold the sessions after the last login.
        #[arg(long, default_value_t = 15.0)]
        hold: f64,
    },
    /// Pairs of users (2i, 2i+1) exchange messages; one-way latency from timestamps.
    Chat {
        #[arg(long, default_value_t = 100)]
        pairs: u64,
        /// Closed loop: messages in flight per pair.
        #[arg(long, default_value_t = 4)]
        window: u64,
        /// Open loop: total messages per second offered (instead of the closed loop).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds of traffic before measuring.
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
        /// Talk to the null relay (`tern-bench relay`, tcp or ws): pair up without logging
        /// in and exchange the same messages.
        #[arg(long)]
        relay: bool,
    },
    /// Users with rosters of mutual contacts change presence at a fixed total rate: the
    /// fan-out to their online contacts, deliveries per second and latency.
    Presence {
        /// Users, all online at once.
        #[arg(long, default_value_t = 200)]
        users: u64,
        /// Contacts per user (mutual subscriptions), set up through the protocol if missing.
        #[arg(long, default_value_t = 20)]
        contacts: u64,
        /// Presence changes per second, all users together.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Seconds of traffic before measuring.
        #[arg(long, default_value_t = 3.0)]
        warmup: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 20.0)]
        duration: f64,
    },
    /// Run the null relay, a server that pairs clients (`chat --relay`) and forwards their
    /// traffic untouched, on --host; until interrupted.
    Relay {
        /// TCP port (0: any free one).
        #[arg(long, default_value_t = 5222)]
        tcp_port: u16,
        /// WebSocket port (any path).
        #[arg(long, default_value_t = 5280)]
        ws_port: u16,
    },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "register",
            Self::Login { .. } => "login",
            Self::Idle { .. } => "idle",
            Self::Chat { .. } => "chat",
            Self::Presence { .. } => "presence",
            Self::Relay { .. } => "relay",
        }
    }
}
