//! The registry: the skills on offer, by name, and their tool specs for the model.
//! It owns uniqueness of names; it does not run anything.

use std::sync::Arc;

use crate::model::ToolSpec;
use crate::skill::{Skill, SkillKind};
use crate::skills::{
    add_timeline_entry::AddTimelineEntrySkill, alert_query::AlertQuerySkill,
    calendar::CalendarSkill, change_query::ChangeQuerySkill,
    create_action_item::CreateActionItemSkill, incident_lookup::IncidentLookupSkill,
    oncall_lookup::OncallLookupSkill, page_oncall::PageOncallSkill,
    runbook_search::RunbookSearchSkill, set_milestone::SetMilestoneSkill,
    similar_incidents::SimilarIncidentsSkill, snapshot_diff::SnapshotDiffSkill,
    task_status::TaskStatusSkill,
};

/// Two skills with one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("two skills are named `{0}`")]
pub struct DuplicateSkill(pub String);

/// The skills the agent may call, in a fixed order.
#[derive(Clone)]
pub struct Registry {
    skills: Vec<Arc<dyn Skill>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.skills.iter().map(|s| s.name()))
            .finish()
    }
}

impl Registry {
    /// A registry of `skills`.
    ///
    /// # Errors
    /// [`DuplicateSkill`] when two share a name.
    pub fn new(skills: Vec<Arc<dyn Skill>>) -> Result<Self, DuplicateSkill> {
        let mut seen = std::collections::BTreeSet::new();
        for s in &skills {
            if !seen.insert(s.name()) {
                return Err(DuplicateSkill(s.name().to_string()));
            }
        }
        Ok(Self { skills })
    }

    /// Every built-in skill: nine read skills, then four write skills.
    pub fn builtin() -> Self {
        Self {
            skills: vec![
                Arc::new(ChangeQuerySkill),
                Arc::new(SnapshotDiffSkill),
                Arc::new(RunbookSearchSkill),
                Arc::new(SimilarIncidentsSkill),
                Arc::new(IncidentLookupSkill),
                Arc::new(OncallLookupSkill),
                Arc::new(AlertQuerySkill),
                Arc::new(TaskStatusSkill),
                Arc::new(CalendarSkill),
                Arc::new(PageOncallSkill),
                Arc::new(AddTimelineEntrySkill),
                Arc::new(CreateActionItemSkill),
                Arc::new(SetMilestoneSkill),
            ],
        }
    }

    /// Only the read skills (for the fault-localization card, which proposes nothing).
    pub fn read_only(&self) -> Self {
        Self {
            skills: self
                .skills
                .iter()
                .filter(|s| s.kind() == SkillKind::Read)
                .cloned()
                .collect(),
        }
    }

    /// A skill by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Skill>> {
        self.skills.iter().find(|s| s.name() == name)
    }

    /// The skills, in order.
    pub fn skills(&self) -> &[Arc<dyn Skill>] {
        &self.skills
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.skills.iter().map(|s| s.name()).collect()
    }

    /// The tool specs to offer the model.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.skills
            .iter()
            .map(|s| ToolSpec {
                name: s.name().to_string(),
                description: s.description(),
                parameters: s.parameters(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn builtin_skills_have_unique_names_and_strict_object_schemas() {
        let r = Registry::builtin();
        assert_eq!(r.skills().len(), 13);
        assert!(Registry::new(r.skills().to_vec()).is_ok());
        for spec in r.specs() {
            let p = &spec.parameters;
            assert_eq!(p["type"], "object", "{}: {p}", spec.name);
            assert_eq!(p["additionalProperties"], false, "{}: {p}", spec.name);
            assert!(p["properties"].is_object(), "{}: {p}", spec.name);
            let text = p.to_string();
            assert!(
                !text.contains("$ref") && !text.contains("\"null\"") && !text.contains(",null]"),
                "{}: {p}",
                spec.name
            );
            assert!(
                spec.description.len() > 60,
                "{} has no description",
                spec.name
            );
            for (field, schema) in p["properties"].as_object().into_iter().flatten() {
                assert!(
                    schema
                        .get("description")
                        .and_then(Value::as_str)
                        .is_some_and(|d| !d.is_empty()),
                    "{}.{field} has no description",
                    spec.name
                );
            }
            for req in p["required"].as_array().into_iter().flatten() {
                assert!(p["properties"].get(req.as_str().unwrap_or("")).is_some());
            }
        }
    }

    #[test]
    fn a_registry_refuses_two_skills_with_one_name() {
        let r = Registry::builtin();
        let mut twice = r.skills().to_vec();
        twice.push(r.skills()[0].clone());
        assert_eq!(
            Registry::new(twice).err(),
            Some(DuplicateSkill("change_query".into()))
        );
    }

    #[test]
    fn descriptions_carry_no_example_ids_the_model_could_copy() {
        for spec in Registry::builtin().specs() {
            let text = format!("{} {}", spec.description, spec.parameters);
            assert!(
                !text.contains("CHG-") && !text.contains("IMS-2"),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn read_only_keeps_exactly_the_nine_read_skills() {
        let r = Registry::builtin().read_only();
        assert_eq!(r.skills().len(), 9);
        assert!(r.get("page_oncall").is_none());
    }
}
