//! The `tern` binary: command line parsing and logging set-up; everything else lives in
//! the library.

use clap::Parser as _;
use tern::cli::{Cli, Command};

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => {
            let cfg = args.load()?;
            init_logging(&cfg.log_level);
            rt.block_on(tern::serve::serve(cfg))
        }
        Command::User(cmd) => {
            init_logging("warn");
            rt.block_on(tern::cli::user(cmd))
        }
        Command::Cert(cmd) => {
            init_logging("warn");
            rt.block_on(tern::cli::cert(cmd))
        }
        Command::CheckConfig { file } => std::process::exit(tern::cli::check_config(&file)),
    }
}
