//! Role-based access: users map to access roles, access roles to permissions.
//! (Access roles are not incident roles; an incident's commander is, however,
//! allowed everything on their own incident.)

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::incident::{Incident, Person};

/// Something a command needs permission for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read incidents, timelines, postmortems.
    View,
    /// Declare incidents.
    Declare,
    /// Change status to investigating/mitigated, severity, milestones, timeline, links.
    Update,
    /// Assign incident roles.
    Assign,
    /// Resolve and reopen.
    Resolve,
    /// Close.
    Close,
    /// Approve changes the change gate holds for approval, or reject them.
    Approve,
    /// Override the change gate's denial (break-glass).
    Override,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 8] = [
        Self::View,
        Self::Declare,
        Self::Update,
        Self::Assign,
        Self::Resolve,
        Self::Close,
        Self::Approve,
        Self::Override,
    ];

    /// Config name (`resolve`).
    pub fn key(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Declare => "declare",
            Self::Update => "update",
            Self::Assign => "assign",
            Self::Resolve => "resolve",
            Self::Close => "close",
            Self::Approve => "approve",
            Self::Override => "override",
        }
    }

    /// Looks a permission up by config name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == s)
    }
}

/// The access policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rbac {
    /// Access role → permissions.
    pub roles: BTreeMap<String, BTreeSet<Permission>>,
    /// User id or name → access roles.
    pub users: BTreeMap<String, Vec<String>>,
    /// Roles of users not listed (may be empty: then unlisted users can do nothing).
    pub default_roles: Vec<String>,
}

impl Default for Rbac {
    /// Everyone is a responder (all but close); nobody is named.
    fn default() -> Self {
        use Permission::*;
        Self {
            roles: BTreeMap::from([
                ("viewer".into(), BTreeSet::from([View])),
                (
                    "responder".into(),
                    BTreeSet::from([View, Declare, Update, Assign, Resolve]),
                ),
                ("commander".into(), BTreeSet::from(Permission::ALL)),
                ("approver".into(), BTreeSet::from([View, Approve])),
            ]),
            users: BTreeMap::new(),
            default_roles: vec!["responder".into()],
        }
    }
}

impl Rbac {
    /// Whether `who` may do `what`, optionally on `incident`.
    pub fn permits(&self, who: &Person, what: Permission, incident: Option<&Incident>) -> bool {
        if incident
            .and_then(Incident::commander)
            .is_some_and(|ic| ic.id == who.id)
        {
            return true;
        }
        let roles = self
            .users
            .get(&who.id)
            .or_else(|| self.users.get(&who.name))
            .unwrap_or(&self.default_roles);
        roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .any(|perms| perms.contains(&what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{IncidentId, Severity, COMMANDER};

    #[test]
    fn unlisted_users_get_the_default_roles_and_named_users_their_own() {
        let mut rbac = Rbac::default();
        rbac.users.insert("bob".into(), vec!["viewer".into()]);
        rbac.users.insert("alice".into(), vec!["commander".into()]);
        let (alice, bob, carol) = (
            Person::named("alice"),
            Person::named("bob"),
            Person::named("carol"),
        );
        assert!(rbac.permits(&alice, Permission::Close, None));
        assert!(!rbac.permits(&bob, Permission::Declare, None));
        assert!(rbac.permits(&carol, Permission::Resolve, None));
        assert!(!rbac.permits(&carol, Permission::Close, None));
    }

    #[test]
    fn the_incident_commander_may_do_anything_on_their_incident() {
        let rbac = Rbac {
            default_roles: vec![],
            ..Rbac::default()
        };
        let dave = Person::named("dave");
        let now = chrono::Utc::now();
        let mut inc = Incident::declare(
            IncidentId::new(now.date_naive(), 1),
            "t".into(),
            Severity::P2,
            vec![],
            dave.clone(),
            now,
        );
        assert!(!rbac.permits(&dave, Permission::Close, Some(&inc)));
        inc.roles.insert(COMMANDER.into(), dave.clone());
        assert!(rbac.permits(&dave, Permission::Close, Some(&inc)));
    }
}
