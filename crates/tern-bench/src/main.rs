//! `tern-bench`: the command line of the load generator (see the library's documentation
//! and `tern-bench --help`). Prints one JSON object per run on stdout.

use anyhow::Context as _;
use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = tern_bench::Cli::parse();
    let report = tern_bench::run(&cli).await?;
    report
        .emit(cli.run.markdown, cli.run.out.as_deref())
        .context("writing the report")?;
    Ok(())
}
