//! Why alerts belong together and why a cluster was declared, as data: the timeline
//! stores it and each language's `alert_reason` template words it. `Display` gives
//! the English line for logs and replay traces.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::incident::Severity;

/// How a joining alert relates to a member of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Link {
    /// The same alert name on the same service (another instance).
    SameAlert {
        /// The service.
        service: String,
    },
    /// Another alert of the same service.
    SameService {
        /// The service.
        service: String,
    },
    /// The same host.
    SameHost {
        /// The host.
        host: String,
    },
    /// The alert runs on the member's node.
    RunsOn {
        /// The node.
        node: String,
    },
    /// The alert's node is under a member's alert.
    NodeUnder {
        /// The node.
        node: String,
        /// The member's alert name.
        alertname: String,
    },
    /// A member's text names the alert's service as its cause.
    Names {
        /// The member's service (the one naming).
        by: String,
        /// The alert's service (the one named).
        cause: String,
    },
    /// `dependent` depends on `on` in the catalog.
    DependsOn {
        /// The dependent service.
        dependent: String,
        /// The service depended on.
        on: String,
        /// Hops between them.
        hops: u32,
    },
    /// The two services are named in each other's text.
    NamedTogether {
        /// The alert's service.
        a: String,
        /// The member's service.
        b: String,
    },
    /// Learned: the two services often start alerting together.
    OftenTogether {
        /// The alert's service.
        a: String,
        /// The member's service.
        b: String,
        /// How often.
        times: u32,
        /// Lift over chance, rounded.
        lift: u32,
    },
    /// No known relation; the alert started right after a root-cause member.
    RightAfter {
        /// The alert's service.
        later: String,
        /// The member's service.
        earlier: String,
    },
}

/// Why an alert joined a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JoinReason {
    /// The same alert fired again.
    Again,
    /// Related to a member and close in time.
    Related {
        /// Seconds between the alert's onset and the member's.
        gap_secs: i64,
        /// How it relates.
        link: Link,
        /// Title similarity in percent, when notable.
        similar_pct: Option<u8>,
    },
}

/// One signal of a cluster (service, alert name, severity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// Service, when known.
    pub service: Option<String>,
    /// Alert name.
    pub alertname: String,
    /// Severity.
    pub severity: Severity,
}

/// What made a pending cluster an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// An alert fired for its severity's pause.
    Firing {
        /// Its severity.
        severity: Severity,
        /// Its name.
        alertname: String,
        /// The pause, in seconds.
        pause_secs: i64,
        /// Held longer as chronic: alone and gone soon this many times...
        held_times: Option<u32>,
        /// ...within this many seconds.
        held_window_secs: i64,
    },
    /// Enough distinct signals fired together.
    Signals {
        /// How many.
        count: usize,
        /// The first few.
        signals: Vec<Signal>,
    },
    /// The cluster fired for its severity's pause.
    Pause {
        /// The cluster's severity.
        severity: Severity,
    },
}

/// Why a cluster was declared and why its alerts belong together.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Declaration {
    /// What declared it (none when no alert qualified on its own).
    pub trigger: Option<Trigger>,
    /// Why members joined (the first few, distinct).
    pub joins: Vec<JoinReason>,
}

/// `45s`, `2m`, `1h5m`: a gap, short.
pub fn short_gap(secs: i64) -> String {
    let s = secs.abs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", (s + 30) / 60)
    } else {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SameAlert { service } => write!(f, "same alert on {service}"),
            Self::SameService { service } => write!(f, "same service {service}"),
            Self::SameHost { host } => write!(f, "same host {host}"),
            Self::RunsOn { node } => write!(f, "runs on {node}"),
            Self::NodeUnder { node, alertname } => write!(f, "{node} under {alertname}"),
            Self::Names { by, cause } => write!(f, "{by} names {cause}"),
            Self::DependsOn {
                dependent,
                on,
                hops,
            } => {
                let s = if *hops == 1 { "" } else { "s" };
                write!(f, "{dependent} depends on {on} ({hops} hop{s})")
            }
            Self::NamedTogether { a, b } => write!(f, "{a} and {b} named together"),
            Self::OftenTogether { a, b, times, lift } => {
                write!(
                    f,
                    "{a} and {b} often alert together ({times}×, lift {lift})"
                )
            }
            Self::RightAfter { later, earlier } => write!(f, "{later} right after {earlier}"),
        }
    }
}

impl fmt::Display for JoinReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Again => f.write_str("same alert fired again"),
            Self::Related {
                gap_secs,
                link,
                similar_pct,
            } => {
                write!(f, "same window ({}), {link}", short_gap(*gap_secs))?;
                if let Some(p) = similar_pct {
                    write!(f, ", titles {:.1} similar", f64::from(*p) / 100.0)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Firing {
                severity,
                alertname,
                pause_secs,
                held_times,
                held_window_secs,
            } => {
                write!(
                    f,
                    "{} {alertname} firing for {}",
                    severity.code(),
                    super::Dur::secs(*pause_secs)
                )?;
                if let Some(n) = held_times {
                    write!(
                        f,
                        " (held: alone and gone soon {n} times in {})",
                        super::Dur::secs(*held_window_secs)
                    )?;
                }
                Ok(())
            }
            Self::Signals { count, signals } => {
                write!(f, "{count} signals: ")?;
                for (i, s) in signals.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    let svc = s.service.as_deref().unwrap_or("?");
                    write!(f, "{sep}{svc} {} {}", s.alertname, s.severity.code())?;
                }
                Ok(())
            }
            Self::Pause { severity } => write!(f, "{} firing for its pause", severity.code()),
        }
    }
}

impl fmt::Display for Declaration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.trigger.iter().map(ToString::to_string).collect();
        parts.extend(self.joins.iter().map(ToString::to_string));
        f.write_str(&parts.join("; "))
    }
}
