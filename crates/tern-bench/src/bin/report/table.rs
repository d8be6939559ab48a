//! The comparison table of `bench/compare` (issue 6): the JSON lines `tern-bench` wrote for
//! each server, reduced to one figure per (metric, transport, server), as Markdown.

use std::collections::BTreeMap;

use serde_json::Value;

/// A figure the comparison reports, read from one kind of run.
pub struct Metric {
    pub key: &'static str,
    pub title: &'static str,
    /// Lower is better (all but rates).
    pub lower_is_better: bool,
    scenario: &'static str,
    /// `params.loop` of chat runs: "closed", "open", or any.
    chat_loop: Option<&'static str>,
    /// Path of the number in the JSON object.
    path: &'static [&'static str],
}

pub const METRICS: &[Metric] = &[
    Metric { key: "login_cpu", title: "server CPU-s per 1000 logins", lower_is_better: true, scenario: "login", chat_loop: None, path: &["server_cpu_s_per_1000_logins"] },
    Metric { key: "login_rate", title: "logins/s", lower_is_better: false, scenario: "login", chat_loop: None, path: &["logins_per_s"] },
    Metric { key: "idle_rss", title: "RSS per idle session, KiB", lower_is_better: true, scenario: "idle", chat_loop: None, path: &["server_rss_per_session_kb"] },
    Metric { key: "chat_cpu", title: "server CPU-s per 10k messages (closed loop)", lower_is_better: true, scenario: "chat", chat_loop: Some("closed"), path: &["server_cpu_s_per_10k_msgs"] },
    Metric { key: "chat_rate", title: "messages/s delivered (closed loop)", lower_is_better: false, scenario: "chat", chat_loop: Some("closed"), path: &["msgs_per_s"] },
    Metric { key: "chat_p50", title: "latency p50, ms (open loop)", lower_is_better: true, scenario: "chat", chat_loop: Some("open"), path: &["latency_ms", "p50"] },
    Metric { key: "chat_p99", title: "latency p99, ms (open loop)", lower_is_better: true, scenario: "chat", chat_loop: Some("open"), path: &["latency_ms", "p99"] },
    Metric { key: "presence_cpu", title: "server CPU-s per 10k presence stanzas delivered", lower_is_better: true, scenario: "presence", chat_loop: None, path: &["server_cpu_s_per_10k_msgs"] },
    Metric { key: "presence_p99", title: "presence fan-out latency p99, ms", lower_is_better: true, scenario: "presence", chat_loop: None, path: &["latency_ms", "p99"] },
];

/// metric key → transport → server label → value (the last run wins).
pub type Figures = BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, f64>>>;

fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Collect the figures of JSON lines (other lines are skipped). A run where more than 1% of
/// its operations failed gives no figure: it is listed in the returned notes instead.
pub fn collect(lines: &str) -> (Figures, Vec<String>) {
    let mut figures = Figures::new();
    let mut excluded = Vec::new();
    for v in lines.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        let (Some(label), Some(transport), Some(scenario)) = (
            v.get("label").and_then(Value::as_str),
            v.get("transport").and_then(Value::as_str),
            v.get("scenario").and_then(Value::as_str),
        ) else {
            continue;
        };
        let count = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        if count("failed") > 0.01 * (count("ok") + count("failed")) {
            let errors = v.get("errors").map(Value::to_string).unwrap_or_default();
            excluded.push(format!("{label} {transport} {scenario}: {} of {} failed {errors}", count("failed"), count("ok") + count("failed")));
            continue;
        }
        let chat_loop = lookup(&v, &["params", "loop"]).and_then(Value::as_str);
        for m in METRICS.iter().filter(|m| m.scenario == scenario && m.chat_loop.is_none_or(|l| Some(l) == chat_loop)) {
            if let Some(x) = lookup(&v, m.path).and_then(Value::as_f64) {
                figures.entry(m.key).or_default().entry(transport.to_owned()).or_default().insert(label.to_owned(), x);
            }
        }
    }
    (figures, excluded)
}

/// Server labels in order: the given ones first, then any others alphabetically.
pub fn servers(figures: &Figures, order: &[String]) -> Vec<String> {
    let mut all: Vec<String> = figures.values().flat_map(|t| t.values().flat_map(|s| s.keys().cloned())).collect();
    all.sort();
    all.dedup();
    let mut out: Vec<String> = order.iter().filter(|o| all.contains(o)).cloned().collect();
    out.extend(all.into_iter().filter(|s| !order.contains(s)));
    out
}

fn fmt(x: f64) -> String {
    match x.abs() {
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 10.0 => format!("{x:.1}"),
        _ => format!("{x:.3}"),
    }
}

/// One Markdown row per (metric, transport), one column per server, the best figure among
/// the servers other than `reference` (the null relay) in bold.
pub fn markdown(figures: &Figures, servers: &[String], reference: Option<&str>) -> String {
    let mut out = format!("| metric | transport | {} |\n|---|---|{}\n", servers.join(" | "), "---|".repeat(servers.len()));
    for m in METRICS {
        let Some(by_transport) = figures.get(m.key) else { continue };
        for (transport, by_server) in by_transport {
            let peers = by_server.iter().filter(|(s, _)| Some(s.as_str()) != reference).map(|(_, v)| *v);
            let best = if m.lower_is_better { peers.fold(f64::INFINITY, f64::min) } else { peers.fold(f64::NEG_INFINITY, f64::max) };
            let cells: Vec<String> = servers
                .iter()
                .map(|s| match by_server.get(s) {
                    Some(v) if *v == best && Some(s.as_str()) != reference => format!("**{}**", fmt(*v)),
                    Some(v) => fmt(*v),
                    None => "–".to_owned(),
                })
                .collect();
            out.push_str(&format!("| {} | {transport} | {} |\n", m.title, cells.join(" | ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"{"label":"tern","transport":"ws","scenario":"idle","server_rss_per_session_kb":8.3}
{"label":"prosody","transport":"ws","scenario":"idle","server_rss_per_session_kb":37.6}
{"label":"ejabberd","transport":"ws","scenario":"idle","ok":100,"failed":400,"errors":{"timed out":400},"server_rss_per_session_kb":9.0}
not json
{"label":"tern","transport":"ws","scenario":"chat","params":{"loop":"open"},"latency_ms":{"p50":0.5,"p99":0.9},"msgs_per_s":1000.0}
{"label":"relay","transport":"ws","scenario":"chat","params":{"loop":"closed"},"server_cpu_s_per_10k_msgs":0.05,"msgs_per_s":90000.0}
{"label":"tern","transport":"ws","scenario":"chat","params":{"loop":"closed"},"server_cpu_s_per_10k_msgs":0.19,"msgs_per_s":43907.0}"#;

    #[test]
    fn figures_by_metric_transport_and_server() {
        let (f, excluded) = collect(LINES);
        assert_eq!(excluded, ["ejabberd ws idle: 400 of 500 failed {\"timed out\":400}"]);
        assert!(!f["idle_rss"]["ws"].contains_key("ejabberd"), "a failed run gives no figure");
        assert_eq!(f["idle_rss"]["ws"]["prosody"], 37.6);
        assert_eq!(f["chat_p99"]["ws"]["tern"], 0.9);
        assert!(!f["chat_rate"]["ws"].contains_key("prosody"));
        assert_eq!(f["chat_rate"]["ws"]["tern"], 43907.0, "open-loop rates are not closed-loop figures");
        assert_eq!(servers(&f, &["tern".into(), "ejabberd".into()]), ["tern", "prosody", "relay"]);
    }

    #[test]
    fn markdown_marks_the_best_server_but_not_the_relay() {
        let (f, _) = collect(LINES);
        let md = markdown(&f, &servers(&f, &["tern".into()]), Some("relay"));
        assert!(md.starts_with("| metric | transport | tern | prosody | relay |\n|---|---|---|---|---|\n"), "{md}");
        assert!(md.contains("| RSS per idle session, KiB | ws | **8.300** | 37.6 | – |"), "{md}");
        assert!(md.contains("| server CPU-s per 10k messages (closed loop) | ws | **0.190** | – | 0.050 |"), "{md}");
    }
}
