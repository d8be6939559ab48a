//! tern-bench: a load generator for XMPP servers (issue 6). It speaks RFC 6120 client
//! streams over TCP and direct TLS (XEP-0368), RFC 7395 over WebSocket (`ws`, `wss`) and
//! XEP-0124/0206 BOSH (`bosh`, `boshs`), and runs five scenarios:
//!
//! - `register`: in-band registration (XEP-0077) of `{prefix}{first}..`;
//! - `login`: connect, SASL SCRAM, bind, initial presence, one XEP-0199 ping, close;
//! - `idle`: hold N sessions, then the server's RSS per session;
//! - `chat`: pairs exchange messages (closed or open loop), one-way latency;
//! - `presence`: rosters of mutual contacts, presence changes fanned out to them.
//!
//! It also holds the null relay ([`relay`]), which pairs clients and forwards their traffic
//! untouched: `chat --relay` against it measures the machine's limit.
//!
//! Given the server's pid it reads the server's CPU time and RSS from procfs around each
//! measured phase. The binary is a thin wrapper: tests drive the same [`run`].
//!
//! ```no_run
//! use clap::Parser as _;
//! # async fn demo() -> Result<(), tern_bench::SetupError> {
//! let cli = tern_bench::Cli::parse_from(["tern-bench", "login", "--transport", "ws", "--port", "5280", "--count", "100"]);
//! let report = tern_bench::run(&cli).await?;
//! println!("{}", report.to_json());
//! # Ok(()) }
//! ```

pub mod client;
pub mod conn;
pub mod error;
pub mod net;
pub mod opts;
pub mod procfs;
pub mod progress;
pub mod relay;
pub mod report;
pub mod scenario;
pub mod scram_cache;
pub mod stats;

pub use error::{ClientError, SetupError};
pub use opts::{Cli, Scenario, TransportKind};
pub use report::Report;
pub use scenario::run;
