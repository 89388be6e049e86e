//! Escalation policies and the state of one running escalation.
//!
//! A policy is ordered steps (notify targets, then wait N minutes), repeated K times.
//! Waits run in wall time or in trading time of a market. The state is plain data the
//! store persists in the same commit as the pages it caused, so a restart neither
//! repeats a page (the state already says it fired) nor skips one (a step that came
//! due while the bot was down fires once, late, and the chain continues from then).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::Calendars;

/// Who a step notifies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Target {
    /// A person.
    User(String),
    /// Whoever is on call on a schedule at the time.
    Schedule(String),
    /// A team channel.
    Channel(String),
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Notified together.
    pub targets: Vec<Target>,
    /// Wait before the next step.
    pub wait_minutes: u32,
}

/// Which clock waits run on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WaitClock {
    /// Wall time.
    #[default]
    Wall,
    /// Trading time of a market: waits pause outside sessions.
    Trading {
        /// Market code.
        market: String,
    },
}

/// An escalation policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Unique name.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
    /// How many times the whole list runs again after the first pass.
    pub repeat: u32,
    /// Clock for waits.
    pub clock: WaitClock,
}

/// One notification to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// What is escalated (an incident id).
    pub key: String,
    /// Policy name.
    pub policy: String,
    /// Step index (0-based).
    pub step: usize,
    /// Pass (0 = first).
    pub round: u32,
    /// Whom.
    pub target: Target,
    /// Who paged by hand (`/page`), with the reason they gave; none for a policy's page.
    #[serde(default)]
    pub by: Option<String>,
    /// The reason given with `/page`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// When an escalation's next step is due, as told with a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextStep {
    /// When it pages, unless someone acknowledges first.
    pub at: DateTime<Utc>,
    /// The wait counts trading time only and the market is closed for part of it,
    /// so the step comes later than the wait on the wall clock.
    #[serde(default)]
    pub waits_for_open: bool,
}

/// A running escalation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// What is escalated (an incident id).
    pub key: String,
    /// Policy name.
    pub policy: String,
    /// Step last fired.
    pub step: usize,
    /// Pass of the step last fired.
    pub round: u32,
    /// When the next step is due; `None` once finished or acknowledged.
    pub next_at: Option<DateTime<Utc>>,
    /// Who acknowledged, and when.
    pub acked: Option<(String, DateTime<Utc>)>,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// A policy that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// No steps.
    #[error("policy `{0}` has no steps")]
    NoSteps(String),
    /// A step with no targets.
    #[error("policy `{0}` step {1} has no targets")]
    EmptyStep(String, usize),
    /// Unknown market for a trading-time clock.
    #[error("policy `{0}` waits in trading time of unknown market `{1}`")]
    UnknownMarket(String, String),
}

impl Policy {
    /// Checks the policy.
    ///
    /// # Errors
    /// The first problem.
    pub fn validate(&self, cal: &Calendars) -> Result<(), PolicyError> {
        if self.steps.is_empty() {
            return Err(PolicyError::NoSteps(self.name.clone()));
        }
        if let Some(i) = self.steps.iter().position(|s| s.targets.is_empty()) {
            return Err(PolicyError::EmptyStep(self.name.clone(), i + 1));
        }
        if let WaitClock::Trading { market } = &self.clock {
            if cal.get(market).is_none() {
                return Err(PolicyError::UnknownMarket(
                    self.name.clone(),
                    market.clone(),
                ));
            }
        }
        Ok(())
    }

    fn due_after(&self, from: DateTime<Utc>, minutes: u32, cal: &Calendars) -> DateTime<Utc> {
        let d = Duration::minutes(i64::from(minutes));
        match &self.clock {
            WaitClock::Wall => from + d,
            // Without calendar data, fall back to wall time rather than never escalating.
            WaitClock::Trading { market } => cal
                .get(market)
                .and_then(|c| c.add_trading_time(from, d).ok())
                .unwrap_or(from + d),
        }
    }

    fn pages(&self, key: &str, step: usize, round: u32) -> Vec<Page> {
        self.steps[step]
            .targets
            .iter()
            .map(|t| Page {
                key: key.into(),
                policy: self.name.clone(),
                step,
                round,
                target: t.clone(),
                by: None,
                reason: None,
            })
            .collect()
    }

    /// Starts an escalation for `key` at `now`: step 1 fires at once.
    pub fn start(&self, key: &str, now: DateTime<Utc>, cal: &Calendars) -> (Escalation, Vec<Page>) {
        let Some(first) = self.steps.first() else {
            let done = Escalation {
                key: key.into(),
                policy: self.name.clone(),
                step: 0,
                round: 0,
                next_at: None,
                acked: None,
                started_at: now,
            };
            return (done, Vec::new());
        };
        let esc = Escalation {
            key: key.into(),
            policy: self.name.clone(),
            step: 0,
            round: 0,
            next_at: Some(self.due_after(now, first.wait_minutes, cal)),
            acked: None,
            started_at: now,
        };
        (esc, self.pages(key, 0, 0))
    }
}

impl Escalation {
    /// True when a step is due at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.acked.is_none() && self.next_at.is_some_and(|t| t <= now)
    }

    /// Fires the next step if it is due: returns its pages and moves the state on.
    /// At most one step fires per call, however late `now` is.
    pub fn advance(&mut self, policy: &Policy, now: DateTime<Utc>, cal: &Calendars) -> Vec<Page> {
        if !self.is_due(now) || policy.steps.is_empty() {
            return Vec::new();
        }
        let (mut step, mut round) = (self.step + 1, self.round);
        if step >= policy.steps.len() {
            step = 0;
            round += 1;
        }
        if round > policy.repeat {
            self.next_at = None;
            return Vec::new();
        }
        self.step = step;
        self.round = round;
        let last = round == policy.repeat && step + 1 == policy.steps.len();
        self.next_at = if last {
            None
        } else {
            Some(policy.due_after(now, policy.steps[step].wait_minutes, cal))
        };
        policy.pages(&self.key, step, round)
    }

    /// Stops the chain. Acknowledging twice keeps the first.
    pub fn ack(&mut self, who: &str, now: DateTime<Utc>) {
        if self.acked.is_none() {
            self.acked = Some((who.into(), now));
            self.next_at = None;
        }
    }

    /// When the next step pages after the step last fired at `now`, and whether the
    /// policy's trading clock holds it beyond its wall-clock wait.
    pub fn next_step(&self, policy: &Policy, now: DateTime<Utc>) -> Option<NextStep> {
        let at = self.next_at?;
        let wait = policy.steps.get(self.step).map_or(0, |s| s.wait_minutes);
        let wall = now + Duration::minutes(i64::from(wait));
        Some(NextStep {
            at,
            waits_for_open: matches!(policy.clock, WaitClock::Trading { .. }) && at > wall,
        })
    }

    /// True once nothing more will fire.
    pub fn is_finished(&self) -> bool {
        self.next_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn policy(clock: WaitClock, repeat: u32) -> Policy {
        Policy {
            name: "trading-critical".into(),
            steps: vec![
                Step {
                    targets: vec![Target::Schedule("trading-ops".into())],
                    wait_minutes: 5,
                },
                Step {
                    targets: vec![Target::User("lead".into()), Target::Channel("ops".into())],
                    wait_minutes: 10,
                },
            ],
            repeat,
            clock,
        }
    }

    #[test]
    fn steps_fire_in_order_after_their_waits_and_repeat_k_times() {
        let cal = Calendars::builtin();
        let p = policy(WaitClock::Wall, 1);
        let (mut e, first) = p.start("IMS-20261123-001", t("2026-11-23T02:00:00Z"), &cal);
        assert_eq!(first.len(), 1);
        assert!(
            e.advance(&p, t("2026-11-23T02:04:59Z"), &cal).is_empty(),
            "not due yet"
        );
        let second = e.advance(&p, t("2026-11-23T02:05:00Z"), &cal);
        assert_eq!(
            second.iter().map(|p| p.target.clone()).collect::<Vec<_>>(),
            vec![Target::User("lead".into()), Target::Channel("ops".into())]
        );
        assert_eq!(e.next_at, Some(t("2026-11-23T02:15:00Z")));
        let third = e.advance(&p, t("2026-11-23T02:15:00Z"), &cal);
        assert_eq!((third[0].step, third[0].round), (0, 1));
        let fourth = e.advance(&p, t("2026-11-23T02:20:00Z"), &cal);
        assert_eq!((fourth[0].step, fourth[0].round), (1, 1));
        assert!(e.is_finished());
        assert!(e.advance(&p, t("2026-11-23T05:00:00Z"), &cal).is_empty());
    }

    #[test]
    fn acknowledging_during_a_wait_stops_the_chain() {
        let cal = Calendars::builtin();
        let p = policy(WaitClock::Wall, 3);
        let (mut e, _) = p.start("k", t("2026-11-23T02:00:00Z"), &cal);
        e.ack("bob", t("2026-11-23T02:03:00Z"));
        assert!(e.advance(&p, t("2026-11-23T02:10:00Z"), &cal).is_empty());
        assert_eq!(e.acked, Some(("bob".into(), t("2026-11-23T02:03:00Z"))));
    }

    #[test]
    fn a_late_tick_fires_one_step_and_does_not_skip_the_rest() {
        let cal = Calendars::builtin();
        let p = policy(WaitClock::Wall, 0);
        let (mut e, _) = p.start("k", t("2026-11-23T02:00:00Z"), &cal);
        // The bot was down for an hour: both waits have passed.
        let late = e.advance(&p, t("2026-11-23T03:00:00Z"), &cal);
        assert_eq!(late.len(), 2);
        assert_eq!(late[0].step, 1);
        assert!(e.is_finished(), "step 2 was the last one");
    }

    #[test]
    fn trading_time_waits_pause_over_the_lunch_break() {
        let cal = Calendars::builtin();
        let p = policy(
            WaitClock::Trading {
                market: "SSE".into(),
            },
            0,
        );
        // 11:28 Shanghai: 2 trading minutes before lunch, 3 after 13:00.
        let (e, _) = p.start("k", t("2026-11-23T03:28:00Z"), &cal);
        assert_eq!(e.next_at, Some(t("2026-11-23T05:03:00Z")));
        assert_eq!(
            e.next_step(&p, t("2026-11-23T03:28:00Z")),
            Some(NextStep {
                at: t("2026-11-23T05:03:00Z"),
                waits_for_open: true
            }),
            "the page says the next step waits for the afternoon session"
        );
    }

    #[test]
    fn a_page_tells_when_the_next_step_follows_and_the_last_step_tells_nothing() {
        let cal = Calendars::builtin();
        let p = policy(WaitClock::Wall, 0);
        let (mut e, _) = p.start("k", t("2026-11-23T02:00:00Z"), &cal);
        assert_eq!(
            e.next_step(&p, t("2026-11-23T02:00:00Z")),
            Some(NextStep {
                at: t("2026-11-23T02:05:00Z"),
                waits_for_open: false
            })
        );
        let _ = e.advance(&p, t("2026-11-23T02:05:00Z"), &cal);
        assert_eq!(e.next_step(&p, t("2026-11-23T02:05:00Z")), None);
        // In session, a trading-time wait is the wall-clock wait.
        let sse = policy(
            WaitClock::Trading {
                market: "SSE".into(),
            },
            0,
        );
        let (e, _) = sse.start("k", t("2026-11-23T02:00:00Z"), &cal);
        assert_eq!(
            e.next_step(&sse, t("2026-11-23T02:00:00Z"))
                .map(|n| n.waits_for_open),
            Some(false)
        );
    }

    #[test]
    fn the_state_survives_serialization_unchanged() {
        let cal = Calendars::builtin();
        let p = policy(WaitClock::Wall, 2);
        let (mut e, _) = p.start("k", t("2026-11-23T02:00:00Z"), &cal);
        let _ = e.advance(&p, t("2026-11-23T02:05:00Z"), &cal);
        let back: Escalation = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
