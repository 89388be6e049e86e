//! The routing tree, as in Alertmanager: every alert enters at the root; a child whose
//! matchers match takes it (and unless that child has `continue`, the search stops);
//! when no child matches, the node itself takes it. Unset options inherit from the
//! parent. Each route that takes an alert puts it into the group named by the route and
//! the values of its `group_by` labels.

use serde::{Deserialize, Serialize};

use super::duration::Dur;
use super::matcher::{matches_all, Matcher};
use super::Labels;

/// One node of the routing tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Name shown in outputs (defaults to the parent's, `default` at the root).
    #[serde(default)]
    pub receiver: Option<String>,
    /// All must match for this node to take an alert (ignored at the root).
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// Labels that split alerts into groups; `["..."]` means every label.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// Wait before the first notification of a new group.
    #[serde(default)]
    pub group_wait: Option<Dur>,
    /// Wait between notifications of changes to a group.
    #[serde(default)]
    pub group_interval: Option<Dur>,
    /// Wait before repeating an unchanged notification of a still-firing group.
    #[serde(default)]
    pub repeat_interval: Option<Dur>,
    /// Keep matching later siblings after this node matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Children, tried in order.
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// The effective options of the route that took an alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteOpts {
    /// Path in the tree (`0`, `0.2`, `0.2.1`), part of the group key.
    pub path: String,
    /// Receiver name.
    pub receiver: String,
    /// `None` = every label.
    pub group_by: Option<Vec<String>>,
    /// See [`Route::group_wait`].
    pub group_wait: Dur,
    /// See [`Route::group_interval`].
    pub group_interval: Dur,
    /// See [`Route::repeat_interval`].
    pub repeat_interval: Dur,
}

impl RouteOpts {
    /// The group key of `labels` under this route.
    pub fn group_key(&self, labels: &Labels) -> String {
        let mut k = format!("{}:{{", self.path);
        match &self.group_by {
            None => {
                for (n, v) in labels {
                    k.push_str(&format!("{n}={v:?},"));
                }
            }
            Some(names) => {
                for n in names {
                    k.push_str(&format!(
                        "{n}={:?},",
                        labels.get(n).map_or("", String::as_str)
                    ));
                }
            }
        }
        k.push('}');
        k
    }

    /// The labels that name the group of `labels` under this route: its `group_by`
    /// labels that the alert has (every label for `...`), as Alertmanager lists groups.
    pub fn group_labels(&self, labels: &Labels) -> Labels {
        match &self.group_by {
            None => labels.clone(),
            Some(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

impl Route {
    /// The default root: group by alert name and service, 30s / 5m / 4h as in Alertmanager.
    pub fn default_root() -> Self {
        Self {
            receiver: Some("default".into()),
            group_by: Some(vec!["alertname".into(), "service".into()]),
            group_wait: Some(Dur::secs(30)),
            group_interval: Some(Dur::mins(5)),
            repeat_interval: Some(Dur::hours(4)),
            ..Self::default()
        }
    }

    fn opts(&self, parent: Option<&RouteOpts>, path: String) -> RouteOpts {
        let group_by = match &self.group_by {
            Some(g) if g.iter().any(|n| n == "...") => None,
            Some(g) => Some(g.clone()),
            None => parent.map_or_else(|| Some(Vec::new()), |p| p.group_by.clone()),
        };
        RouteOpts {
            path,
            receiver: self
                .receiver
                .clone()
                .or_else(|| parent.map(|p| p.receiver.clone()))
                .unwrap_or_else(|| "default".into()),
            group_by,
            group_wait: self
                .group_wait
                .or(parent.map(|p| p.group_wait))
                .unwrap_or(Dur::secs(30)),
            group_interval: self
                .group_interval
                .or(parent.map(|p| p.group_interval))
                .unwrap_or(Dur::mins(5)),
            repeat_interval: self
                .repeat_interval
                .or(parent.map(|p| p.repeat_interval))
                .unwrap_or(Dur::hours(4)),
        }
    }

    /// The routes that take an alert with `labels` (at least one: the root takes what
    /// no child takes).
    pub fn resolve(&self, labels: &Labels) -> Vec<RouteOpts> {
        let root = self.opts(None, "0".into());
        let mut out = Vec::new();
        self.walk(labels, &root, &mut out);
        out
    }

    fn walk(&self, labels: &Labels, me: &RouteOpts, out: &mut Vec<RouteOpts>) {
        let mut matched = false;
        for (i, child) in self.routes.iter().enumerate() {
            if !matches_all(&child.matchers, labels) {
                continue;
            }
            matched = true;
            let opts = child.opts(Some(me), format!("{}.{i}", me.path));
            child.walk(labels, &opts, out);
            if !child.continue_matching {
                break;
            }
        }
        if !matched {
            out.push(me.clone());
        }
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

    #[test]
    fn children_take_matching_alerts_and_inherit_unset_options() {
        let root = Route {
            routes: vec![
                Route {
                    receiver: Some("dba".into()),
                    matchers: vec![Matcher::parse("service=db").unwrap()],
                    group_wait: Some(Dur::secs(10)),
                    continue_matching: true,
                    ..Route::default()
                },
                Route {
                    receiver: Some("infra".into()),
                    matchers: vec![Matcher::parse("team=infra").unwrap()],
                    ..Route::default()
                },
                Route {
                    receiver: Some("never".into()),
                    ..Route::default()
                },
            ],
            ..Route::default_root()
        };
        let r = root.resolve(&l(&[("service", "db"), ("team", "infra")]));
        assert_eq!(
            r.iter().map(|o| o.receiver.as_str()).collect::<Vec<_>>(),
            vec!["dba", "infra"]
        );
        assert_eq!(
            (r[0].group_wait, r[0].group_interval),
            (Dur::secs(10), Dur::mins(5))
        );
        assert_eq!(
            root.resolve(&l(&[("service", "web")]))[0].receiver,
            "never",
            "an empty matcher list matches"
        );
        let plain = Route::default_root();
        assert_eq!(plain.resolve(&l(&[("service", "web")]))[0].path, "0");
    }

    #[test]
    fn group_keys_use_the_group_by_values_with_missing_labels_empty() {
        let o = Route::default_root().resolve(&l(&[("alertname", "Up")]));
        assert_eq!(
            o[0].group_key(&l(&[("alertname", "Up"), ("x", "1")])),
            "0:{alertname=\"Up\",service=\"\",}"
        );
    }

    #[test]
    fn group_labels_are_the_group_by_labels_the_alert_has_or_all_of_them() {
        let alert = l(&[("alertname", "Up"), ("x", "1")]);
        let o = Route::default_root().resolve(&alert);
        assert_eq!(o[0].group_labels(&alert), l(&[("alertname", "Up")]));
        let all = Route {
            group_by: Some(vec!["...".into()]),
            ..Route::default_root()
        };
        assert_eq!(all.resolve(&alert)[0].group_labels(&alert), alert);
    }
}
