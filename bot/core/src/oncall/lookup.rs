//! Which schedules an on-call question is about: the one place that resolves a
//! schedule, service or team name (used by `/oncall` and `GET /api/oncall`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Policy, Schedule, Target};
use crate::calendar::Calendars;
use crate::catalog::Catalog;
use crate::event::OnCallEntry;

/// Who is on call at `at` in each of the schedules `names` (unknown names are skipped), with
/// the services each one covers.
pub fn entries(
    names: &[String],
    schedules: &BTreeMap<String, Schedule>,
    catalog: &Catalog,
    calendars: &Calendars,
    at: DateTime<Utc>,
) -> Vec<OnCallEntry> {
    names
        .iter()
        .filter_map(|n| schedules.get(n))
        .map(|s| {
            let oc = s.on_call(at, calendars);
            OnCallEntry {
                schedule: s.name.clone(),
                team: s.team.clone(),
                person: oc.as_ref().map(|o| o.person.clone()),
                layer: oc.map(|o| o.layer),
                services: catalog
                    .services()
                    .filter(|svc| svc.schedule.as_deref() == Some(s.name.as_str()))
                    .map(|svc| svc.name.clone())
                    .collect(),
            }
        })
        .collect()
}

/// What an on-call question names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Every schedule.
    All,
    /// A schedule by name.
    Schedule(&'a str),
    /// A service: its own schedule and those its escalation policy pages.
    Service(&'a str),
    /// A team: the schedules it owns.
    Team(&'a str),
    /// Whatever the name is, tried as a schedule, then a service, then a team (chat).
    Any(&'a str),
}

/// The schedule called `name`, as it is written in the configuration, whatever the
/// case `name` is typed in (`NightDesk`, `nightdesk`).
pub fn schedule_name(schedules: &BTreeMap<String, Schedule>, name: &str) -> Option<String> {
    let name = name.trim();
    if schedules.contains_key(name) {
        return Some(name.to_string());
    }
    schedules
        .keys()
        .find(|k| k.to_lowercase() == name.to_lowercase())
        .cloned()
}

/// The schedule names a lookup resolves to, in order; `None` when the name matches
/// nothing (an unknown schedule or service, a team owning no schedule). A service with
/// neither a schedule nor a policy of its own is covered by the default policy's
/// schedules, as a declaration on it pages that policy.
pub fn schedules_for(
    lookup: Lookup<'_>,
    schedules: &BTreeMap<String, Schedule>,
    catalog: &Catalog,
    policies: &BTreeMap<String, Policy>,
    default_policy: Option<&str>,
) -> Option<Vec<String>> {
    match lookup {
        Lookup::All => Some(schedules.keys().cloned().collect()),
        Lookup::Schedule(name) => schedule_name(schedules, name).map(|n| vec![n]),
        Lookup::Service(name) => {
            let svc = catalog.get(name)?;
            let mut names: Vec<String> = svc.schedule.iter().cloned().collect();
            let policy = match (&svc.escalation_policy, &svc.schedule) {
                (Some(p), _) => policies.get(p),
                (None, Some(_)) => None,
                (None, None) => default_policy.and_then(|p| policies.get(p)),
            };
            for t in policy
                .into_iter()
                .flat_map(|p| p.steps.iter())
                .flat_map(|s| s.targets.iter())
            {
                if let Target::Schedule(s) = t {
                    if !names.contains(s) {
                        names.push(s.clone());
                    }
                }
            }
            Some(names)
        }
        Lookup::Team(team) => {
            let names: Vec<String> = schedules
                .values()
                .filter(|s| {
                    s.team
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case(team.trim()))
                })
                .map(|s| s.name.clone())
                .collect();
            (!names.is_empty()).then_some(names)
        }
        Lookup::Any(name) => {
            let as_ = |l| schedules_for(l, schedules, catalog, policies, default_policy);
            as_(Lookup::Schedule(name))
                .or_else(|| as_(Lookup::Service(name)))
                .or_else(|| as_(Lookup::Team(name)))
        }
    }
}
