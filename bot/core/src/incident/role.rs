//! Incident roles: the three built-in ones plus custom roles from config.

use serde::{Deserialize, Serialize};

/// A role that can be assigned in an incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    /// Stable key stored on incidents (`commander`).
    pub key: String,
    /// English label (`Incident Commander`).
    pub label_en: String,
    /// Chinese label (`事件指挥官`).
    pub label_zh: String,
    /// Other names users type (`ic`, `指挥`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The roles known to this deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles {
    defs: Vec<RoleDef>,
}

/// Key of the built-in Incident Commander role.
pub const COMMANDER: &str = "commander";

fn def(key: &str, en: &str, zh: &str, aliases: &[&str]) -> RoleDef {
    RoleDef {
        key: key.into(),
        label_en: en.into(),
        label_zh: zh.into(),
        aliases: aliases.iter().map(|a| (*a).into()).collect(),
    }
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            defs: vec![
                def(
                    COMMANDER,
                    "Incident Commander",
                    "事件指挥官",
                    &[
                        "ic",
                        "incident-commander",
                        "incident_commander",
                        "指挥官",
                        "指挥",
                    ],
                ),
                def(
                    "comms",
                    "Comms Lead",
                    "沟通负责人",
                    &[
                        "comms-lead",
                        "comms_lead",
                        "communications",
                        "沟通",
                        "沟通负责人",
                    ],
                ),
                def(
                    "ops",
                    "Ops Lead",
                    "运维负责人",
                    &["ops-lead", "ops_lead", "operations", "运维", "运维负责人"],
                ),
            ],
        }
    }
}

impl Roles {
    /// Built-in roles followed by `custom` (a custom role may not reuse a built-in key).
    ///
    /// # Errors
    /// The key or alias that is defined twice.
    pub fn with_custom(custom: Vec<RoleDef>) -> Result<Self, String> {
        let mut roles = Self::default();
        for d in custom {
            for name in std::iter::once(&d.key).chain(d.aliases.iter()) {
                if roles.find(name).is_some() {
                    return Err(name.clone());
                }
            }
            roles.defs.push(d);
        }
        Ok(roles)
    }

    /// Finds a role by key or alias, ignoring case.
    pub fn find(&self, name: &str) -> Option<&RoleDef> {
        let name = name.trim().to_lowercase();
        self.defs
            .iter()
            .find(|d| d.key == name || d.aliases.iter().any(|a| a.to_lowercase() == name))
    }

    /// All roles, built-in first.
    pub fn all(&self) -> &[RoleDef] {
        &self.defs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_built_in_roles_by_alias_in_both_languages() {
        let r = Roles::default();
        assert_eq!(r.find("IC").unwrap().key, COMMANDER);
        assert_eq!(r.find("沟通").unwrap().key, "comms");
        assert!(r.find("chef").is_none());
    }

    #[test]
    fn refuses_a_custom_role_that_shadows_a_built_in_name() {
        assert_eq!(
            Roles::with_custom(vec![def("scribe", "Scribe", "记录员", &["ic"])]).unwrap_err(),
            "ic"
        );
        let r = Roles::with_custom(vec![def("scribe", "Scribe", "记录员", &["记录"])]).unwrap();
        assert_eq!(r.find("记录").unwrap().label_en, "Scribe");
    }
}
