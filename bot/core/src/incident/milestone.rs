//! Milestones of an incident and the durations derived from them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A point in an incident's life that responders mark (now or back-dated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    /// The fault began (often back-dated from graphs).
    Occurred,
    /// Someone or something noticed it.
    Discovered,
    /// A responder acknowledged and started work.
    Responded,
    /// The fault was delimited: which system, which scope (定界).
    Delimited,
    /// The impact was stopped (止损), e.g. traffic switched away.
    StopLoss,
    /// Service fully recovered.
    Recovered,
    /// The root cause was located.
    RootCause,
    /// The postmortem is done.
    Postmortem,
}

impl Milestone {
    /// All milestones in the order they usually happen.
    pub const ALL: [Milestone; 8] = [
        Self::Occurred,
        Self::Discovered,
        Self::Responded,
        Self::Delimited,
        Self::StopLoss,
        Self::Recovered,
        Self::RootCause,
        Self::Postmortem,
    ];

    /// The canonical name used in commands and the API (`stop-loss`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Occurred => "occurred",
            Self::Discovered => "discovered",
            Self::Responded => "responded",
            Self::Delimited => "delimited",
            Self::StopLoss => "stop-loss",
            Self::Recovered => "recovered",
            Self::RootCause => "root-cause",
            Self::Postmortem => "postmortem",
        }
    }

    /// The milestone already set that `self` at `at` would put out of order: everything
    /// comes after *occurred*, and responding after *discovered* (time to respond is
    /// never negative). A service may recover before anyone noticed (a self-healed fault
    /// declared the next morning), and a root cause may be located after recovery: those
    /// are not checked.
    pub fn out_of_order(
        self,
        at: DateTime<Utc>,
        set: &BTreeMap<Milestone, DateTime<Utc>>,
    ) -> Option<(Milestone, DateTime<Utc>)> {
        const BEFORE: [(Milestone, Milestone); 8] = [
            (Milestone::Occurred, Milestone::Discovered),
            (Milestone::Occurred, Milestone::Responded),
            (Milestone::Occurred, Milestone::Delimited),
            (Milestone::Occurred, Milestone::StopLoss),
            (Milestone::Occurred, Milestone::Recovered),
            (Milestone::Occurred, Milestone::RootCause),
            (Milestone::Occurred, Milestone::Postmortem),
            (Milestone::Discovered, Milestone::Responded),
        ];
        BEFORE.iter().find_map(|&(first, then)| {
            let other = if self == then {
                first
            } else if self == first {
                then
            } else {
                return None;
            };
            let t = *set.get(&other)?;
            let wrong = if self == then { t > at } else { t < at };
            wrong.then_some((other, t))
        })
    }

    /// Every name a user may type for this milestone, English and Chinese.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Occurred => &["occurred", "start", "started", "发生", "故障发生"],
            Self::Discovered => &["discovered", "detected", "发现", "故障发现"],
            Self::Responded => &["responded", "ack", "acknowledged", "响应"],
            Self::Delimited => &["delimited", "scoped", "定界"],
            Self::StopLoss => &["stop-loss", "stoploss", "stop_loss", "mitigated", "止损"],
            Self::Recovered => &["recovered", "recovery", "恢复", "业务恢复"],
            Self::RootCause => &[
                "root-cause",
                "rootcause",
                "root_cause",
                "root-cause-located",
                "定位根因",
                "根因",
                "定位",
            ],
            Self::Postmortem => &["postmortem", "postmortem-done", "review", "复盘"],
        }
    }

    /// Looks a milestone up by any of its names, ignoring case.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_lowercase();
        Self::ALL
            .into_iter()
            .find(|m| m.aliases().iter().any(|a| *a == s))
    }
}

/// A duration derived from two milestones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationKind {
    /// occurred → discovered
    ToDiscover,
    /// discovered → responded
    ToRespond,
    /// occurred → delimited
    ToDelimit,
    /// occurred → stop-loss
    ToStopLoss,
    /// occurred → root cause located
    ToLocateRootCause,
    /// occurred → recovered
    ToRecover,
}

impl DurationKind {
    /// All derived durations, in card order.
    pub const ALL: [DurationKind; 6] = [
        Self::ToDiscover,
        Self::ToRespond,
        Self::ToDelimit,
        Self::ToStopLoss,
        Self::ToLocateRootCause,
        Self::ToRecover,
    ];

    /// The two milestones this duration runs between.
    pub fn span(self) -> (Milestone, Milestone) {
        use Milestone::*;
        match self {
            Self::ToDiscover => (Occurred, Discovered),
            Self::ToRespond => (Discovered, Responded),
            Self::ToDelimit => (Occurred, Delimited),
            Self::ToStopLoss => (Occurred, StopLoss),
            Self::ToLocateRootCause => (Occurred, RootCause),
            Self::ToRecover => (Occurred, Recovered),
        }
    }

    /// The machine name (`to_discover`).
    pub fn key(self) -> &'static str {
        match self {
            Self::ToDiscover => "to_discover",
            Self::ToRespond => "to_respond",
            Self::ToDelimit => "to_delimit",
            Self::ToStopLoss => "to_stop_loss",
            Self::ToLocateRootCause => "to_locate_root_cause",
            Self::ToRecover => "to_recover",
        }
    }
}

/// A derived duration with its value, when both ends are set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DerivedDuration {
    /// Which duration.
    pub kind: DurationKind,
    /// Seconds between the two milestones; `None` while one end is missing.
    /// Negative values are kept (they reveal a mis-dated milestone) rather than hidden.
    pub seconds: Option<i64>,
}

/// Computes every derived duration from the milestones set so far.
pub fn durations(milestones: &BTreeMap<Milestone, DateTime<Utc>>) -> Vec<DerivedDuration> {
    DurationKind::ALL
        .into_iter()
        .map(|kind| {
            let (from, to) = kind.span();
            let seconds = match (milestones.get(&from), milestones.get(&to)) {
                (Some(a), Some(b)) => Some((*b - *a).num_seconds()),
                _ => None,
            };
            DerivedDuration { kind, seconds }
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn milestones_out_of_order_name_the_one_they_conflict_with() {
        use chrono::TimeZone;
        let t = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        let set: BTreeMap<Milestone, DateTime<Utc>> = [
            (Milestone::Occurred, t(5, 50)),
            (Milestone::Discovered, t(6, 0)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            Milestone::Recovered.out_of_order(t(5, 0), &set),
            Some((Milestone::Occurred, t(5, 50)))
        );
        assert_eq!(
            Milestone::Responded.out_of_order(t(5, 55), &set),
            Some((Milestone::Discovered, t(6, 0))),
            "time to respond would be negative"
        );
        assert_eq!(
            Milestone::Recovered.out_of_order(t(5, 55), &set),
            None,
            "it healed before anyone noticed"
        );
        assert_eq!(
            Milestone::Occurred.out_of_order(t(6, 1), &set),
            Some((Milestone::Discovered, t(6, 0)))
        );
        assert_eq!(Milestone::Recovered.out_of_order(t(7, 0), &set), None);
        assert_eq!(
            Milestone::StopLoss.out_of_order(t(5, 55), &set),
            None,
            "impact may stop before anyone noticed"
        );
        assert_eq!(Milestone::Occurred.out_of_order(t(5, 40), &set), None);
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn finds_milestones_by_english_and_chinese_names() {
        assert_eq!(Milestone::parse("Stop-Loss"), Some(Milestone::StopLoss));
        assert_eq!(Milestone::parse("止损"), Some(Milestone::StopLoss));
        assert_eq!(Milestone::parse("定位根因"), Some(Milestone::RootCause));
        assert_eq!(Milestone::parse("lunch"), None);
    }

    #[test]
    fn derives_durations_only_when_both_ends_are_set() {
        let t = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        let ms = BTreeMap::from([
            (Milestone::Occurred, t(6, 0)),
            (Milestone::Discovered, t(6, 3)),
            (Milestone::Responded, t(6, 5)),
            (Milestone::Recovered, t(7, 30)),
        ]);
        let d = durations(&ms);
        let get = |k| d.iter().find(|x| x.kind == k).unwrap().seconds;
        assert_eq!(get(DurationKind::ToDiscover), Some(180));
        assert_eq!(get(DurationKind::ToRespond), Some(120));
        assert_eq!(get(DurationKind::ToRecover), Some(5400));
        assert_eq!(get(DurationKind::ToStopLoss), None);
    }
}
