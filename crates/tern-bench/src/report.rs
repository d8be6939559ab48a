//! The result of one run: a JSON object (one line, serde_json) and optionally a one-row
//! Markdown table line. Server figures come from procfs readings before and after the
//! measured phase; per-unit CPU (per 1000 logins, per 10,000 messages) and RSS per
//! session stay meaningful when the loader is the bottleneck, and the loader's own CPU
//! use shows when it is.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::procfs::Snapshot;
use crate::stats::Percentiles;

const MIB: f64 = 1024.0 * 1024.0;

/// Everything one run reports. Fields that do not apply to a scenario are left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub label: String,
    pub transport: String,
    pub scenario: String,
    pub mech: String,
    /// The scenario's parameters (count, concurrency, pairs, window, ...).
    pub params: BTreeMap<String, Value>,
    pub requested: u64,
    pub ok: u64,
    pub failed: u64,
    /// Registration: accounts that existed already (counted in `ok`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<u64>,
    /// Failures and other errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// Length of the measured phase.
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logins_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_ms: Option<Latencies>,
    /// Presence: seconds the roster setup took, and the subscription stanzas and roster
    /// removals it sent (0 when the rosters were right already).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roster_setup_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roster_requests: Option<u64>,
    /// Chat and presence: stanzas (messages, presence changes) sent and delivered within
    /// the measured phase; `msgs_per_s` and `server_cpu_s_per_10k_msgs` count deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msgs_per_s: Option<f64>,
    /// Presence: deliveries per change (the online contacts reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fanout: Option<f64>,
    /// Chat and presence: one-way latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latencies>,
    /// Idle: sessions held when the server's RSS was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// Idle over BOSH: sessions with a request held by the server when the hold ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bosh_held: Option<u64>,
    #[serde(flatten)]
    pub server: ServerFigures,
    pub loader_cpu_s: f64,
    /// Loader CPU seconds per second of the phase (1.0 = one core busy).
    pub loader_cpu_util: f64,
    pub loader_rss_mb: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loader_rss_per_session_kb: Option<f64>,
}

/// Percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latencies {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl From<Percentiles> for Latencies {
    fn from(p: Percentiles) -> Self {
        Latencies {
            p50: round(p.p50),
            p90: round(p.p90),
            p99: round(p.p99),
            p999: round(p.p999),
            max: round(p.max),
        }
    }
}

/// The server's figures (only with a server pid).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Server CPU seconds per second of the phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_util: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s_per_1000_logins: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s_per_10k_msgs: Option<f64>,
    /// Idle: server CPU seconds per second while the sessions were held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_idle_cpu_util: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_before_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_after_mb: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_rss_per_session_kb: Option<f64>,
}

impl Report {
    /// Fill the phase length, server CPU and RSS, and loader figures from two snapshots.
    pub fn measure(&mut self, before: &Snapshot, after: &Snapshot) {
        let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        self.seconds = round(secs);
        if let (Some(b), Some(a)) = (before.server, after.server) {
            let cpu = a.cpu_s - b.cpu_s;
            self.server.server_cpu_s = Some(round(cpu));
            self.server.server_cpu_util = Some(round(cpu / secs));
            self.server.server_rss_before_mb = Some(round(b.rss_bytes as f64 / MIB));
            self.server.server_rss_after_mb = Some(round(a.rss_bytes as f64 / MIB));
        }
        if let (Some(b), Some(a)) = (before.loader, after.loader) {
            self.loader_cpu_s = round(a.cpu_s - b.cpu_s);
            self.loader_cpu_util = round((a.cpu_s - b.cpu_s) / secs);
            self.loader_rss_mb = round(a.rss_bytes as f64 / MIB);
        }
    }

    /// Server CPU seconds per `unit` of `count` things (1000 logins, 10,000 messages).
    pub fn cpu_per(&self, count: u64, unit: f64) -> Option<f64> {
        let cpu = self.server.server_cpu_s?;
        (count > 0).then(|| round(cpu * unit / count as f64))
    }

    /// The JSON object, on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The header of the Markdown table [`markdown_row`](Self::markdown_row) fills.
    pub fn markdown_header() -> &'static str {
        "| label | transport | scenario | ok | failed | rate/s | p50 ms | p99 ms | server CPU-s per unit | server KiB/session | loader CPU |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    }

    /// One Markdown table row: rate, latency, server cost per unit, loader CPU.
    pub fn markdown_row(&self) -> String {
        let opt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let rate = self
            .logins_per_s
            .or(self.msgs_per_s)
            .or(self.registrations_per_s);
        let lat = self.latency_ms.or(self.login_ms);
        let per_unit = match (
            self.server.server_cpu_s_per_1000_logins,
            self.server.server_cpu_s_per_10k_msgs,
        ) {
            (_, Some(m)) => format!("{m} / 10k msgs"),
            (Some(l), None) => format!("{l} / 1000 logins"),
            (None, None) => "-".to_owned(),
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.label,
            self.transport,
            self.scenario,
            self.ok,
            self.failed,
            opt(rate),
            opt(lat.map(|l| l.p50)),
            opt(lat.map(|l| l.p99)),
            per_unit,
            opt(self.server.server_rss_per_session_kb),
            self.loader_cpu_util
        )
    }

    /// Print the JSON line (and the Markdown row) on stdout; append the JSON to `out`.
    pub fn emit(&self, markdown: bool, out: Option<&Path>) -> std::io::Result<()> {
        let json = self.to_json();
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{json}")?;
        if markdown {
            writeln!(stdout, "{}", self.markdown_row())?;
        }
        stdout.flush()?;
        if let Some(path) = out {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(f, "{json}")?;
        }
        Ok(())
    }
}

/// Three decimals.
pub fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::procfs::ProcSample;
    use std::time::{Duration, Instant};

    fn sample_report() -> Report {
        let mut r = Report {
            label: "tern".into(),
            transport: "ws".into(),
            scenario: "login".into(),
            mech: "SCRAM-SHA-1".into(),
            requested: 2000,
            ok: 1999,
            failed: 1,
            ..Report::default()
        };
        r.params.insert("concurrency".into(), 50.into());
        r.errors.insert("timed out during bind".into(), 1);
        let t0 = Instant::now();
        let before = Snapshot {
            at: t0,
            server: Some(ProcSample {
                cpu_s: 10.0,
                rss_bytes: 64 << 20,
            }),
            loader: Some(ProcSample {
                cpu_s: 1.0,
                rss_bytes: 8 << 20,
            }),
        };
        let after = Snapshot {
            at: t0 + Duration::from_secs(2),
            server: Some(ProcSample {
                cpu_s: 11.5,
                rss_bytes: 80 << 20,
            }),
            loader: Some(ProcSample {
                cpu_s: 2.0,
                rss_bytes: 10 << 20,
            }),
        };
        r.measure(&before, &after);
        r.logins_per_s = Some(999.5);
        r.server.server_cpu_s_per_1000_logins = r.cpu_per(r.ok, 1000.0);
        r.login_ms = Some(Latencies {
            p50: 1.5,
            p90: 2.0,
            p99: 3.25,
            p999: 4.0,
            max: 9.0,
        });
        r
    }

    #[test]
    fn json_has_the_figures() {
        let json: Value = serde_json::from_str(&sample_report().to_json()).unwrap();
        assert_eq!(json["label"], "tern");
        assert_eq!(json["params"]["concurrency"], 50);
        assert_eq!(json["errors"]["timed out during bind"], 1);
        assert_eq!(json["seconds"], 2.0);
        assert_eq!(json["server_cpu_s"], 1.5);
        assert_eq!(json["server_cpu_util"], 0.75);
        assert_eq!(json["server_cpu_s_per_1000_logins"], 0.75);
        assert_eq!(json["server_rss_before_mb"], 64.0);
        assert_eq!(json["server_rss_after_mb"], 80.0);
        assert_eq!(json["loader_cpu_util"], 0.5);
        assert_eq!(json["login_ms"]["p99"], 3.25);
        assert!(json.get("msgs_per_s").is_none(), "chat fields left out");
        assert!(json.get("server_cpu_s_per_10k_msgs").is_none());
    }

    #[test]
    fn markdown_row_matches_the_header() {
        let row = sample_report().markdown_row();
        assert_eq!(
            row,
            "| tern | ws | login | 1999 | 1 | 999.5 | 1.5 | 3.25 | 0.75 / 1000 logins | - | 0.5 |"
        );
        let columns = |s: &str| s.matches('|').count();
        assert_eq!(
            columns(&row),
            columns(Report::markdown_header().lines().next().unwrap())
        );
    }

    #[test]
    fn without_a_server_pid_there_are_no_server_figures() {
        let mut r = Report::default();
        let s = Snapshot {
            at: Instant::now(),
            server: None,
            loader: None,
        };
        r.measure(&s, &s);
        assert_eq!(r.cpu_per(10, 1000.0), None);
        let json: Value = serde_json::from_str(&r.to_json()).unwrap();
        assert!(json.get("server_cpu_s").is_none());
    }
}
