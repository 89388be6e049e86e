//! Prometheus metrics, kept as atomics and written in the text exposition format.
//! Hand-written: a handful of counters does not justify a metrics framework.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the engine latency histogram.
const BUCKETS: [f64; 8] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Events handled by the engine.
    pub events: AtomicU64,
    /// Events that failed in the store.
    pub engine_errors: AtomicU64,
    /// Incidents declared.
    pub declared: AtomicU64,
    /// Alerts accepted by the webhook and mail sources.
    pub alerts_received: AtomicU64,
    /// Logged alerts the engine's pipeline has taken (received − this = backlog).
    pub alerts_pipelined: AtomicU64,
    /// Replies that were usage errors, refusals or denials.
    pub rejected_commands: AtomicU64,
    /// Outbox actions delivered.
    pub delivered: AtomicU64,
    /// Outbox delivery failures.
    pub delivery_failures: AtomicU64,
    /// HTTP requests answered 4xx.
    pub http_client_errors: AtomicU64,
    /// HTTP requests answered 2xx.
    pub http_ok: AtomicU64,
    /// Alert rule reloads that took effect.
    pub config_reloads: AtomicU64,
    /// Alert rule reloads refused (bad file, bad rules).
    pub config_reload_failures: AtomicU64,
    engine_buckets: [AtomicU64; BUCKETS.len()],
    engine_sum_micros: AtomicU64,
}

impl Metrics {
    /// Records one engine event's latency.
    pub fn observe_engine(&self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.engine_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.engine_sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `outbox_pending` and the response figures are read at scrape time.
    pub fn render(&self, outbox_pending: usize, response: &ResponseTimes) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            "warroom_engine_errors_total",
            "Events the engine could not store.",
            g(&self.engine_errors),
        );
        counter(
            "warroom_incidents_declared_total",
            "Incidents declared.",
            g(&self.declared),
        );
        counter(
            "warroom_alerts_received_total",
            "Alerts accepted by the sources and durably logged.",
            g(&self.alerts_received),
        );
        counter(
            "warroom_alerts_pipelined_total",
            "Logged alerts the pipeline has taken; the difference to received is the backlog.",
            g(&self.alerts_pipelined),
        );
        counter(
            "warroom_commands_rejected_total",
            "Commands answered with usage, refusal or denial.",
            g(&self.rejected_commands),
        );
        counter(
            "warroom_outbox_delivered_total",
            "Outbox actions delivered.",
            g(&self.delivered),
        );
        counter(
            "warroom_outbox_delivery_failures_total",
            "Outbox delivery attempts that failed.",
            g(&self.delivery_failures),
        );
        counter(
            "warroom_http_ok_total",
            "HTTP requests answered 2xx.",
            g(&self.http_ok),
        );
        counter(
            "warroom_http_client_errors_total",
            "HTTP requests answered 4xx.",
            g(&self.http_client_errors),
        );
        counter(
            "warroom_config_reloads_total",
            "Reloads of the alert rules from the configuration file that took effect.",
            g(&self.config_reloads),
        );
        counter(
            "warroom_config_reload_failures_total",
            "Reloads of the configuration file refused; the rules in force stayed.",
            g(&self.config_reload_failures),
        );
        let _ = writeln!(s, "# HELP warroom_outbox_pending Actions waiting for delivery.\n# TYPE warroom_outbox_pending gauge\nwarroom_outbox_pending {outbox_pending}");
        let _ = writeln!(s, "# HELP warroom_engine_event_seconds Time to decide and durably store one event.\n# TYPE warroom_engine_event_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "warroom_engine_event_seconds_bucket{{le=\"{b}\"}} {}",
                g(&self.engine_buckets[i])
            );
        }
        for (name, help, series) in [
            (
                "warroom_incident_mtta_seconds",
                "Discovered → responded, per incident (MTTA = sum / count).",
                &response.mtta,
            ),
            (
                "warroom_incident_mttr_seconds",
                "Discovered → recovered, per incident (MTTR = sum / count).",
                &response.mttr,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} summary");
            for (clock, (sum, count)) in [("wall", series.wall), ("trading", series.trading)] {
                let _ = writeln!(
                    s,
                    "{name}_sum{{clock=\"{clock}\",market=\"{}\"}} {sum}",
                    response.market
                );
                let _ = writeln!(
                    s,
                    "{name}_count{{clock=\"{clock}\",market=\"{}\"}} {count}",
                    response.market
                );
            }
        }
        let n = g(&self.events);
        let _ = writeln!(s, "warroom_engine_event_seconds_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            s,
            "warroom_engine_event_seconds_sum {}",
            g(&self.engine_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(s, "warroom_engine_event_seconds_count {n}");
        s
    }
}

/// Sum and count of one response figure, in wall and trading time.
#[derive(Default, Debug, Clone, Copy)]
pub struct Series {
    /// (sum of seconds, incidents) in wall time.
    pub wall: (i64, u64),
    /// (sum of seconds, incidents) in trading time of the market.
    pub trading: (i64, u64),
}

/// MTTA and MTTR inputs over all incidents.
#[derive(Default, Debug, Clone)]
pub struct ResponseTimes {
    /// Market of the trading-time figures.
    pub market: String,
    /// Discovered → responded.
    pub mtta: Series,
    /// Discovered → recovered.
    pub mttr: Series,
}

impl ResponseTimes {
    /// Adds up every incident's spans (incidents missing an end are skipped).
    pub fn over(
        incidents: &[warroom_core::incident::Incident],
        cal: Option<&warroom_core::calendar::Calendar>,
        market: &str,
    ) -> Self {
        use warroom_core::incident::Milestone;
        let mut r = Self {
            market: market.to_string(),
            ..Self::default()
        };
        for i in incidents {
            for (to, series) in [
                (Milestone::Responded, &mut r.mtta),
                (Milestone::Recovered, &mut r.mttr),
            ] {
                let (Some(a), Some(b)) = (
                    i.milestones.get(&Milestone::Discovered),
                    i.milestones.get(&to),
                ) else {
                    continue;
                };
                // Recovered before it was noticed (self-healed) counts as zero.
                let b = (*b).max(*a);
                series.wall.0 += (b - *a).num_seconds();
                series.wall.1 += 1;
                if let Some(d) = cal.and_then(|c| c.trading_duration(*a, b).ok()) {
                    series.trading.0 += d.num_seconds();
                    series.trading.1 += 1;
                }
            }
        }
        r
    }
}
