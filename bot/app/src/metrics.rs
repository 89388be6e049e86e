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

    /// The exposition text; `outbox_pending` is read at scrape time.
    pub fn render(&self, outbox_pending: usize) -> String {
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
        let _ = writeln!(s, "# HELP warroom_outbox_pending Actions waiting for delivery.\n# TYPE warroom_outbox_pending gauge\nwarroom_outbox_pending {outbox_pending}");
        let _ = writeln!(s, "# HELP warroom_engine_event_seconds Time to decide and durably store one event.\n# TYPE warroom_engine_event_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "warroom_engine_event_seconds_bucket{{le=\"{b}\"}} {}",
                g(&self.engine_buckets[i])
            );
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
