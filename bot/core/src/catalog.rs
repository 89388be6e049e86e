//! The service catalog (the CMDB view): services with owner team, tier, labels,
//! hosts, namespaces and label matchers, and their dependencies.
//!
//! Direction words, used everywhere in warroom: a service's **upstream** services are
//! the ones it depends on (it calls them); its **downstream** services are the ones
//! that depend on it. A database is upstream of the payment service; the trading
//! front end is downstream of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

/// A label matcher for alert enrichment: `key` equals `value`, or (with `regex`
/// false and a trailing `*`) starts with the value before the `*`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelMatcher {
    /// Label name.
    pub key: String,
    /// Exact value, or `prefix*`.
    pub value: String,
}

impl LabelMatcher {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match labels.get(&self.key) {
            None => false,
            Some(v) => match self.value.strip_suffix('*') {
                Some(prefix) => v.starts_with(prefix),
                None => *v == self.value,
            },
        }
    }
}

/// One service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Unique name (lower case).
    pub name: String,
    /// Owning team.
    #[serde(default)]
    pub owner: Option<String>,
    /// 1 = most critical.
    #[serde(default)]
    pub tier: Option<u8>,
    /// Free labels (`system = "core-trading"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Hosts running it (alerts with `instance`/`host` labels on them enrich to it).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Kubernetes namespaces (alerts with a `namespace` label).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Extra matchers: all must match.
    #[serde(default)]
    pub matchers: Vec<LabelMatcher>,
    /// Upstream services: what this one depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// On-call schedule paged for it.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Escalation policy used when it is affected.
    #[serde(default)]
    pub escalation_policy: Option<String>,
}

impl Service {
    /// A service with only a name.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_lowercase(),
            owner: None,
            tier: None,
            labels: BTreeMap::new(),
            hosts: Vec::new(),
            namespaces: Vec::new(),
            matchers: Vec::new(),
            depends_on: Vec::new(),
            schedule: None,
            escalation_policy: None,
        }
    }
}

/// What is wrong with a catalog.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum CatalogError {
    /// Two services share a name.
    #[error("service `{name}` is defined twice")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// A dependency names no service.
    #[error("service `{service}` depends on unknown service `{missing}`")]
    UnknownDependency {
        /// The dependent.
        service: String,
        /// The missing dependency.
        missing: String,
    },
    /// A name is empty or has characters we do not allow.
    #[error("`{name}` is not a valid service name (letters, digits, - _ . only)")]
    BadName {
        /// The name.
        name: String,
    },
}

/// Which way to follow dependencies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards what a service depends on.
    Upstream,
    /// Towards what depends on the service.
    Downstream,
    /// Both.
    Both,
}

/// A service reached by a dependency walk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Related {
    /// Service name.
    pub name: String,
    /// Hops from the start (1 = direct).
    pub hops: u32,
    /// Which way it was reached.
    pub direction: Direction,
}

/// The validated catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    services: BTreeMap<String, Service>,
    dependents: BTreeMap<String, BTreeSet<String>>,
}

/// The catalog in force, shared between the engine (the only writer) and readers.
pub type SharedCatalog = crate::shared::Shared<Catalog>;

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 100
        && n.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Catalog {
    /// Validates `services` (unique valid names, known dependencies).
    ///
    /// # Errors
    /// Every problem found, in input order.
    pub fn new(services: Vec<Service>) -> Result<Self, Vec<CatalogError>> {
        let mut errors = Vec::new();
        let mut map = BTreeMap::new();
        for mut s in services {
            s.name = s.name.trim().to_lowercase();
            s.depends_on = s
                .depends_on
                .iter()
                .map(|d| d.trim().to_lowercase())
                .collect();
            if !valid_name(&s.name) {
                errors.push(CatalogError::BadName {
                    name: s.name.clone(),
                });
            } else if map.contains_key(&s.name) {
                errors.push(CatalogError::Duplicate {
                    name: s.name.clone(),
                });
            } else {
                map.insert(s.name.clone(), s);
            }
        }
        for s in map.values() {
            for d in &s.depends_on {
                if !map.contains_key(d) {
                    errors.push(CatalogError::UnknownDependency {
                        service: s.name.clone(),
                        missing: d.clone(),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut dependents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in map.values() {
            for d in &s.depends_on {
                dependents
                    .entry(d.clone())
                    .or_default()
                    .insert(s.name.clone());
            }
        }
        Ok(Self {
            services: map,
            dependents,
        })
    }

    /// This catalog with `incoming` added or replacing services of the same name.
    ///
    /// # Errors
    /// As [`Catalog::new`] for the merged set.
    pub fn merged(&self, incoming: Vec<Service>) -> Result<Self, Vec<CatalogError>> {
        let mut seen = BTreeSet::new();
        let mut dups = Vec::new();
        for s in &incoming {
            if !seen.insert(s.name.trim().to_lowercase()) {
                dups.push(CatalogError::Duplicate {
                    name: s.name.clone(),
                });
            }
        }
        if !dups.is_empty() {
            return Err(dups);
        }
        let mut all: BTreeMap<String, Service> = self.services.clone();
        for s in incoming {
            all.insert(s.name.trim().to_lowercase(), s);
        }
        Self::new(all.into_values().collect())
    }

    /// One service by name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Service> {
        self.services.get(&name.trim().to_lowercase())
    }

    /// All services, by name.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// True when there are no services.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Services within `hops` of `name` in `direction`, nearest first (breadth-first;
    /// each reported once, at its shortest distance). The start is not included.
    pub fn related(&self, name: &str, direction: Direction, hops: u32) -> Vec<Related> {
        let start = name.trim().to_lowercase();
        if !self.services.contains_key(&start) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for dir in match direction {
            Direction::Both => vec![Direction::Upstream, Direction::Downstream],
            d => vec![d],
        } {
            let mut seen = BTreeSet::from([start.clone()]);
            let mut queue = VecDeque::from([(start.clone(), 0u32)]);
            while let Some((cur, d)) = queue.pop_front() {
                if d >= hops {
                    continue;
                }
                let next: Vec<String> = match dir {
                    Direction::Upstream => self
                        .services
                        .get(&cur)
                        .map(|s| s.depends_on.clone())
                        .unwrap_or_default(),
                    _ => self
                        .dependents
                        .get(&cur)
                        .map(|s| s.iter().cloned().collect())
                        .unwrap_or_default(),
                };
                for n in next {
                    if seen.insert(n.clone()) {
                        out.push(Related {
                            name: n.clone(),
                            hops: d + 1,
                            direction: dir,
                        });
                        queue.push_back((n, d + 1));
                    }
                }
            }
        }
        out
    }

    /// The service an alert with `labels` belongs to: an explicit `service` label, then a
    /// host (`host`, `instance` without port, `hostname`), then a `namespace`, then the
    /// first service whose matchers all match.
    pub fn enrich(&self, labels: &BTreeMap<String, String>) -> Option<&Service> {
        if let Some(s) = labels.get("service").and_then(|n| self.get(n)) {
            return Some(s);
        }
        let host = ["host", "hostname", "instance", "node"]
            .iter()
            .find_map(|k| labels.get(*k))
            .map(|h| h.split(':').next().unwrap_or(h).to_string());
        if let Some(h) = host {
            if let Some(s) = self
                .services
                .values()
                .find(|s| s.hosts.iter().any(|x| *x == h))
            {
                return Some(s);
            }
        }
        if let Some(ns) = labels.get("namespace") {
            if let Some(s) = self
                .services
                .values()
                .find(|s| s.namespaces.iter().any(|x| x == ns))
            {
                return Some(s);
            }
        }
        self.services
            .values()
            .find(|s| !s.matchers.is_empty() && s.matchers.iter().all(|m| m.matches(labels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, deps: &[&str]) -> Service {
        Service {
            depends_on: deps.iter().map(|d| (*d).to_string()).collect(),
            ..Service::named(name)
        }
    }

    fn estate() -> Catalog {
        // web → trading-gateway → {order-router → matching, risk → db}; payments → db
        Catalog::new(vec![
            svc("web", &["trading-gateway"]),
            svc("trading-gateway", &["order-router", "risk"]),
            svc("order-router", &["matching"]),
            svc("matching", &[]),
            svc("risk", &["db"]),
            svc("payments", &["db"]),
            svc("db", &[]),
        ])
        .unwrap()
    }

    fn names(r: &[Related]) -> Vec<(String, u32)> {
        r.iter().map(|x| (x.name.clone(), x.hops)).collect()
    }

    #[test]
    fn upstream_walks_follow_dependencies_for_n_hops() {
        let c = estate();
        assert_eq!(
            names(&c.related("trading-gateway", Direction::Upstream, 1)),
            vec![("order-router".into(), 1), ("risk".into(), 1)]
        );
        let two = names(&c.related("trading-gateway", Direction::Upstream, 2));
        assert!(
            two.contains(&("matching".into(), 2))
                && two.contains(&("db".into(), 2))
                && two.len() == 4,
            "{two:?}"
        );
    }

    #[test]
    fn downstream_walks_find_everything_that_depends_on_a_service() {
        let c = estate();
        let d = names(&c.related("db", Direction::Downstream, 5));
        assert_eq!(
            d,
            vec![
                ("payments".into(), 1),
                ("risk".into(), 1),
                ("trading-gateway".into(), 2),
                ("web".into(), 3)
            ]
        );
        assert!(c.related("nope", Direction::Both, 3).is_empty());
    }

    #[test]
    fn invalid_catalogs_report_every_problem() {
        let errs = Catalog::new(vec![
            svc("a", &["ghost"]),
            svc("a", &[]),
            svc("bad name", &[]),
        ])
        .unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs.contains(&CatalogError::UnknownDependency {
            service: "a".into(),
            missing: "ghost".into()
        }));
    }

    #[test]
    fn merging_replaces_services_by_name_and_revalidates() {
        let c = estate();
        let m = c.merged(vec![svc("matching", &["db"])]).unwrap();
        assert_eq!(
            m.get("matching").unwrap().depends_on,
            vec!["db".to_string()]
        );
        assert!(c.merged(vec![svc("x", &["ghost"])]).is_err());
    }

    #[test]
    fn alerts_enrich_by_service_label_host_namespace_then_matchers() {
        let mut db = svc("db", &[]);
        db.hosts = vec!["db-01".into()];
        let mut md = svc("market-data", &[]);
        md.namespaces = vec!["md-prod".into()];
        let mut gw = svc("gateway", &[]);
        gw.matchers = vec![LabelMatcher {
            key: "job".into(),
            value: "fix-gw*".into(),
        }];
        let c = Catalog::new(vec![db, md, gw]).unwrap();
        let l = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            c.enrich(&l(&[("instance", "db-01:9100")])).unwrap().name,
            "db"
        );
        assert_eq!(
            c.enrich(&l(&[("namespace", "md-prod")])).unwrap().name,
            "market-data"
        );
        assert_eq!(
            c.enrich(&l(&[("job", "fix-gw-sh")])).unwrap().name,
            "gateway"
        );
        assert_eq!(
            c.enrich(&l(&[("service", "DB"), ("namespace", "md-prod")]))
                .unwrap()
                .name,
            "db"
        );
        assert!(c.enrich(&l(&[("job", "other")])).is_none());
    }
}
