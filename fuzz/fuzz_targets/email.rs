//! `warroom::smtp::mail_to_alerts` (MIME parsing, rules, subject normalization) on any
//! bytes, with rules that capture from every field: errors are fine, panics are not.
#![no_main]

use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use warroom::smtp::{mail_to_alerts, EmailConfig, EmailRules};

fn rules() -> &'static EmailRules {
    static RULES: OnceLock<EmailRules> = OnceLock::new();
    RULES.get_or_init(|| {
        let cfg: EmailConfig = toml::from_str(
            r#"
            [[rules]]
            from = '(?i)@zabbix\.example$'
            subject = '(?P<alertname>\w+) on (?P<host>[\w.-]+)'
            labels = { service = "trading-db" }
            severity = "P2"
            resolve_subject = '(?i)^(resolved|ok|恢复)'
            [[rules]]
            subject = '(?P<severity>P[1-4])'
            body = '(?s)host=(?P<instance>\S+)'
            [[rules]]
            body = '(?P<alertname>[A-Z]\w+)'
            "#,
        )
        .expect("fuzz rules parse");
        EmailRules::compile(&cfg).expect("fuzz rules compile")
    })
}

fuzz_target!(|data: &[u8]| {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let _ = mail_to_alerts(rules(), "monitor@zabbix.example", data, now);
});
