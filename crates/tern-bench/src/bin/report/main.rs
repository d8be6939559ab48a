//! `tern-bench-report`: turn the JSON lines of `tern-bench` runs against several servers (and
//! the null relay) into the comparison `bench/compare` publishes (issue 6): a Markdown table
//! and one PNG bar chart per metric.
//!
//!     tern-bench-report --out-dir bench/results/compare results.jsonl [more.jsonl ...]

mod chart;
mod table;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "tern-bench-report", about = "Markdown table and PNG charts from tern-bench JSON lines")]
struct Args {
    /// Where `compare.md` and the charts go.
    #[arg(long)]
    out_dir: PathBuf,
    /// Column order (other servers follow alphabetically).
    #[arg(long, value_delimiter = ',', default_value = "tern,prosody,ejabberd,relay")]
    order: Vec<String>,
    /// The null relay's label: shown, never marked best.
    #[arg(long, default_value = "relay")]
    reference: String,
    /// Skip the PNG charts.
    #[arg(long)]
    no_charts: bool,
    /// JSON-lines files written by tern-bench.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut lines = String::new();
    for p in &args.inputs {
        lines.push_str(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?);
        lines.push('\n');
    }
    let (figures, excluded) = table::collect(&lines);
    anyhow::ensure!(!figures.is_empty(), "no tern-bench results in the inputs");
    let servers = table::servers(&figures, &args.order);
    std::fs::create_dir_all(&args.out_dir).with_context(|| format!("creating {}", args.out_dir.display()))?;
    let mut md = table::markdown(&figures, &servers, Some(&args.reference));
    if !excluded.is_empty() {
        md.push_str("\nRuns left out (more than 1% of their operations failed):\n");
        for e in &excluded {
            md.push_str(&format!("- {e}\n"));
        }
    }
    if !args.no_charts {
        chart::load_font()?;
        md.push('\n');
        for m in table::METRICS {
            if let Some(file) = chart::draw(&args.out_dir, m, &figures, &servers)? {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                md.push_str(&format!("![{}]({name})\n", m.title));
            }
        }
    }
    let out = args.out_dir.join("compare.md");
    std::fs::write(&out, &md).with_context(|| format!("writing {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}
