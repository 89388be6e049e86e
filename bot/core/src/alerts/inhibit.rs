//! Inhibition rules with Alertmanager semantics: a firing alert matching the source
//! matchers mutes alerts matching the target matchers that have the same values for
//! every `equal` label (a label missing on both sides counts as equal, as in
//! Alertmanager). An alert never inhibits itself, and when the target also matches the
//! source side, sources that also match the target side do not count (so a rule cannot
//! make two alerts mute each other).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::matcher::{matches_all, Matcher};
use super::Labels;

/// One inhibition rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    /// What the inhibiting alert matches.
    pub source_matchers: Vec<Matcher>,
    /// What the inhibited alert matches.
    pub target_matchers: Vec<Matcher>,
    /// Labels whose values must be equal on both.
    #[serde(default)]
    pub equal: Vec<String>,
}

impl InhibitRule {
    fn equal_key(&self, labels: &Labels) -> String {
        let mut k = String::new();
        for n in &self.equal {
            k.push_str(labels.get(n).map_or("", String::as_str));
            k.push('\u{ff}');
        }
        k
    }
}

/// Firing source alerts indexed per rule and `equal` values, so a check is a lookup.
#[derive(Clone, Debug, Default)]
pub struct Inhibitor {
    index: Vec<BTreeMap<String, BTreeSet<String>>>,
}

impl Inhibitor {
    /// An empty index for `rules`.
    pub fn new(rules: &[InhibitRule]) -> Self {
        Self {
            index: vec![BTreeMap::new(); rules.len()],
        }
    }

    /// Records that alert `fp` with `labels` is firing.
    pub fn add(&mut self, rules: &[InhibitRule], fp: &str, labels: &Labels) {
        for (i, r) in rules.iter().enumerate() {
            if matches_all(&r.source_matchers, labels) {
                if let Some(idx) = self.index.get_mut(i) {
                    idx.entry(r.equal_key(labels))
                        .or_default()
                        .insert(fp.to_string());
                }
            }
        }
    }

    /// Records that alert `fp` stopped firing.
    pub fn remove(&mut self, rules: &[InhibitRule], fp: &str, labels: &Labels) {
        for (i, r) in rules.iter().enumerate() {
            if let Some(idx) = self.index.get_mut(i) {
                let key = r.equal_key(labels);
                if let Some(set) = idx.get_mut(&key) {
                    set.remove(fp);
                    if set.is_empty() {
                        idx.remove(&key);
                    }
                }
            }
        }
    }

    /// The fingerprint of a firing alert that inhibits `fp`/`labels`, if any.
    /// `labels_of` gives the labels of a firing source (for the two-sided rule).
    pub fn inhibited_by<'a>(
        &self,
        rules: &[InhibitRule],
        fp: &str,
        labels: &Labels,
        labels_of: impl Fn(&str) -> Option<&'a Labels>,
    ) -> Option<String> {
        for (i, r) in rules.iter().enumerate() {
            if !matches_all(&r.target_matchers, labels) {
                continue;
            }
            let two_sided = matches_all(&r.source_matchers, labels);
            let Some(sources) = self
                .index
                .get(i)
                .and_then(|idx| idx.get(&r.equal_key(labels)))
            else {
                continue;
            };
            for s in sources {
                if s == fp {
                    continue;
                }
                if two_sided && labels_of(s).is_some_and(|sl| matches_all(&r.target_matchers, sl)) {
                    continue;
                }
                return Some(s.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    fn rule(equal: &[&str]) -> InhibitRule {
        InhibitRule {
            source_matchers: vec![Matcher::parse("severity=critical").unwrap()],
            target_matchers: vec![Matcher::parse("severity=warning").unwrap()],
            equal: equal.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    fn check(rules: &[InhibitRule], firing: &[(&str, Labels)], target: &Labels) -> Option<String> {
        let mut inh = Inhibitor::new(rules);
        for (fp, ls) in firing {
            inh.add(rules, fp, ls);
        }
        let map: BTreeMap<String, Labels> = firing
            .iter()
            .map(|(f, ls)| ((*f).to_string(), ls.clone()))
            .collect();
        inh.inhibited_by(rules, "target", target, |f| map.get(f))
    }

    #[test]
    fn a_firing_source_inhibits_targets_sharing_the_equal_labels() {
        let rules = [rule(&["service"])];
        let src = l(&[("severity", "critical"), ("service", "db")]);
        assert_eq!(
            check(
                &rules,
                &[("src", src.clone())],
                &l(&[("severity", "warning"), ("service", "db")])
            ),
            Some("src".into())
        );
        assert_eq!(
            check(
                &rules,
                &[("src", src)],
                &l(&[("severity", "warning"), ("service", "web")])
            ),
            None
        );
    }

    #[test]
    fn a_missing_equal_label_is_equal_only_when_missing_on_both_sides() {
        let rules = [rule(&["cluster"])];
        let src = l(&[("severity", "critical")]);
        assert!(
            check(
                &rules,
                &[("src", src.clone())],
                &l(&[("severity", "warning")])
            )
            .is_some(),
            "missing on both = equal"
        );
        assert!(check(
            &rules,
            &[("src", src)],
            &l(&[("severity", "warning"), ("cluster", "sh")])
        )
        .is_none());
    }

    #[test]
    fn resolved_sources_stop_inhibiting_and_nothing_inhibits_itself() {
        let rules = [InhibitRule {
            source_matchers: vec![Matcher::parse("alertname=NodeDown").unwrap()],
            target_matchers: vec![Matcher::parse("node=~\".+\"").unwrap()],
            equal: vec!["node".into()],
        }];
        let down = l(&[("alertname", "NodeDown"), ("node", "n1")]);
        let mut inh = Inhibitor::new(&rules);
        inh.add(&rules, "down", &down);
        let map: BTreeMap<String, Labels> = [("down".to_string(), down.clone())].into();
        assert_eq!(
            inh.inhibited_by(&rules, "down", &down, |f| map.get(f)),
            None,
            "not by itself"
        );
        let pod = l(&[("alertname", "PodNotReady"), ("node", "n1")]);
        assert!(inh
            .inhibited_by(&rules, "pod", &pod, |f| map.get(f))
            .is_some());
        inh.remove(&rules, "down", &down);
        assert!(inh
            .inhibited_by(&rules, "pod", &pod, |f| map.get(f))
            .is_none());
    }

    #[test]
    fn alerts_matching_both_sides_do_not_inhibit_each_other() {
        let rules = [InhibitRule {
            source_matchers: vec![Matcher::parse("alertname=~\"A|B\"").unwrap()],
            target_matchers: vec![Matcher::parse("alertname=~\"A|B\"").unwrap()],
            equal: vec![],
        }];
        let a = l(&[("alertname", "A")]);
        assert!(check(&rules, &[("b", l(&[("alertname", "B")]))], &a).is_none());
    }
}
