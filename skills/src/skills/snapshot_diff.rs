//! `snapshot_diff`: what a change altered on its hosts, from the before and after
//! snapshots (processes, listeners, config files, sysctls, mounts, k8s objects).

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use warroom_core::changes::{diff, diff_lines};
use warroom_core::engine::snapshot_pairs;

use super::clip;
use crate::skill::{parse_args, Skill, SkillContext, SkillError, SkillOutput};

/// Diff lines per host handed to the model.
const LINES_PER_HOST: usize = 40;

/// Show what a change altered on its hosts (快照对比): the noise-filtered difference between the snapshots taken before and after a change, per host — processes, listening ports, config files, kernel parameters, mounts, Kubernetes objects. Give a change id, or a host name for that host's latest change (or its last two snapshots).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Args {
    /// A change id from change_query, or a host name.
    pub target: String,
}

/// The skill.
pub struct SnapshotDiffSkill;

#[async_trait]
impl Skill for SnapshotDiffSkill {
    crate::skill_meta!("snapshot_diff", Read);

    async fn run(&self, ctx: &dyn SkillContext, args: Value) -> Result<SkillOutput, SkillError> {
        let a: Args = parse_args(args)?;
        let target = a.target.trim();
        if target.is_empty() {
            return Err(SkillError::InvalidArgs(
                "target: a change id or a host name".into(),
            ));
        }
        let index = ctx.snapshot_index().await?;
        let pairs = snapshot_pairs(&index, target);
        if pairs.is_empty() {
            return Err(SkillError::NotFound(format!(
                "no before/after snapshots for `{}`",
                clip(target, 60)
            )));
        }
        let mut hosts = Vec::new();
        for (before, after) in pairs {
            let (Some(a), Some(b)) = (
                ctx.snapshot(before.id).await?,
                ctx.snapshot(after.id).await?,
            ) else {
                continue;
            };
            let d = diff(&a, &b);
            let (lines, omitted) = diff_lines(&d, LINES_PER_HOST);
            let summary: Vec<Value> = d
                .summary()
                .into_iter()
                .filter(|(_, x, y, z)| x + y + z > 0)
                .map(|(what, added, missing, modified)| {
                    json!({ "what": what, "added": added, "missing": missing, "modified": modified })
                })
                .collect();
            hosts.push(json!({
                "host": after.host,
                "change_id": after.change_id,
                "before": { "snapshot": before.id, "taken_at": a.taken_at },
                "after": { "snapshot": after.id, "taken_at": b.taken_at },
                "summary": summary,
                "lines": lines,
                "lines_omitted": omitted,
            }));
        }
        Ok(SkillOutput::Data(
            json!({ "target": target, "hosts": hosts }),
        ))
    }
}
