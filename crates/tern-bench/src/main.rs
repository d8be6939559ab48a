//! `tern-bench`: the command line of the load generator (see the library's documentation
//! and `tern-bench --help`). Prints one JSON object per run on stdout; `tern-bench relay`
//! runs the null relay instead.

use anyhow::Context as _;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = tern_bench::Cli::parse();
    if let tern_bench::Scenario::Relay { tcp_port, ws_port } = cli.scenario {
        return tern_bench::relay::serve(&cli.target.host, tcp_port, ws_port)
            .await
            .context("null relay");
    }
    let report = tern_bench::run(&cli).await?;
    report
        .emit(cli.run.markdown, cli.run.out.as_deref())
        .context("writing the report")?;
    Ok(())
}
