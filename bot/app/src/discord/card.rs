//! What the adapter shows in Discord: war room channel names and topics, the card
//! (an embed built from the rendered card text plus buttons and selects), and the
//! custom ids of those components, which carry the incident id so a click needs no
//! stored state and the pinned card can be found again after a restart.

use std::collections::BTreeMap;

use serde_json::Value;
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateButton, CreateEmbed, CreateEmbedFooter, CreateSelectMenu,
    CreateSelectMenuKind, CreateSelectMenuOption,
};
use warroom_core::incident::{Incident, IncidentId, Milestone, Severity, Status};

use crate::config::Lang;

/// Longest Discord message content, in characters.
pub const MAX_CONTENT: usize = 2000;
/// Longest channel name.
pub const MAX_CHANNEL_NAME: usize = 100;
/// Prefix of every component custom id the bot makes.
pub const PREFIX: &str = "wr";

/// The war room channel name: the lower-case id, then the title's ASCII words,
/// lower-case, joined by `-` (`ims-20261123-001-payments-down`). Non-ASCII words
/// (a Chinese title) are left out, so such a title keeps only the id and any ASCII
/// words. At most 100 characters, never ending in `-`.
pub fn channel_name(id: &IncidentId, title: &str) -> String {
    let mut name = id.to_string().to_ascii_lowercase();
    let mut word = String::new();
    let mut words = Vec::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    for w in words {
        if name.len() + 1 + w.len() > MAX_CHANNEL_NAME {
            let room = MAX_CHANNEL_NAME.saturating_sub(name.len() + 1);
            if room >= 3 {
                name.push('-');
                name.push_str(&w[..room]);
            }
            break;
        }
        name.push('-');
        name.push_str(&w);
    }
    name
}

/// The channel topic: id, severity and title (no words of any language), ≤ 1024 chars.
pub fn topic(inc: &Incident) -> String {
    let services = if inc.services.is_empty() {
        String::new()
    } else {
        format!(" · {}", inc.services.join(", "))
    };
    let t = format!(
        "{} · {} · {}{services}",
        inc.id,
        inc.severity.code(),
        inc.title
    );
    t.chars().take(1024).collect()
}

/// Splits text into Discord messages of at most [`MAX_CONTENT`] characters, at line
/// breaks where possible.
pub fn split_message(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_len = 0usize;
    for line in text.split_inclusive('\n') {
        let len = line.chars().count();
        if cur_len + len <= MAX_CONTENT {
            cur.push_str(line);
            cur_len += len;
            continue;
        }
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_len = 0;
        }
        // A single line longer than a message: cut it at character boundaries.
        let mut chars = line.chars().peekable();
        while chars.peek().is_some() {
            let piece: String = chars.by_ref().take(MAX_CONTENT).collect();
            let n = piece.chars().count();
            if n == MAX_CONTENT {
                out.push(piece);
            } else {
                cur = piece;
                cur_len = n;
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out.into_iter()
        .map(|s| s.trim_end().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What a card component does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Click {
    /// Acknowledge (→ investigating).
    Ack,
    /// Take the Incident Commander role.
    TakeIc,
    /// Set severity (select).
    Severity,
    /// Mark a milestone now (select).
    Milestone,
    /// Resolve: asks for confirmation first.
    Resolve,
    /// The confirmation of Resolve.
    ResolveConfirmed,
}

impl Click {
    fn key(&self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::TakeIc => "ic",
            Self::Severity => "sev",
            Self::Milestone => "ms",
            Self::Resolve => "resolve",
            Self::ResolveConfirmed => "resolve-yes",
        }
    }

    /// The custom id of this component on `incident`'s card.
    pub fn custom_id(&self, incident: &IncidentId) -> String {
        format!("{PREFIX}:{}:{incident}", self.key())
    }

    /// Reads a custom id made by [`Click::custom_id`].
    pub fn parse(custom_id: &str) -> Option<(Click, IncidentId)> {
        let mut parts = custom_id.splitn(3, ':');
        if parts.next()? != PREFIX {
            return None;
        }
        let click = match parts.next()? {
            "ack" => Self::Ack,
            "ic" => Self::TakeIc,
            "sev" => Self::Severity,
            "ms" => Self::Milestone,
            "resolve" => Self::Resolve,
            "resolve-yes" => Self::ResolveConfirmed,
            _ => return None,
        };
        let id = IncidentId::parse(parts.next()?).ok()?;
        Some((click, id))
    }

    /// The chat command the click stands for, through the one parser. `value` is the
    /// selected option of a select; `user_id` the Discord id of who clicked.
    pub fn command_text(
        &self,
        id: &IncidentId,
        value: Option<&str>,
        user_id: &str,
    ) -> Option<String> {
        Some(match self {
            Self::Ack => format!("/incident ack {id}"),
            Self::TakeIc => format!(
                "/role assign {id} {} <@{user_id}>",
                warroom_core::incident::COMMANDER
            ),
            Self::Severity => format!(
                "/incident sev {id} {}",
                Severity::parse(value?).ok()?.code()
            ),
            Self::Milestone => format!("/milestone {id} {}", Milestone::parse(value?)?.key()),
            Self::Resolve => return None,
            Self::ResolveConfirmed => format!("/incident resolve {id}"),
        })
    }
}

/// Custom id prefix of a reminder's Start button (then `PLAN:TASK`).
const TASK_START: &str = "wr:task-start:";
/// Custom id prefix of a reminder's Done button (then `PLAN:TASK`).
const TASK_DONE: &str = "wr:task-done:";

/// Start and Done buttons for a task reminder; `None` when the ids do not fit in a
/// custom id (100 characters).
pub fn task_buttons(plan: &str, task: &str, labels: &Labels) -> Option<CreateActionRow> {
    let start = format!("{TASK_START}{plan}:{task}");
    let done = format!("{TASK_DONE}{plan}:{task}");
    if done.chars().count() > 100 || start.chars().count() > 100 {
        return None;
    }
    Some(CreateActionRow::Buttons(vec![
        CreateButton::new(start)
            .label(labels.get("discord", "task_start"))
            .style(ButtonStyle::Primary),
        CreateButton::new(done)
            .label(labels.get("discord", "task_done"))
            .style(ButtonStyle::Success),
    ]))
}

/// Custom id prefixes of the change gate's buttons (then the change id), with the
/// command each stands for.
const GATE: [(&str, &str); 3] = [
    ("wr:gate-approve:", "/change approve {} (Discord button)"),
    ("wr:gate-reject:", "/change reject {} (Discord button)"),
    ("wr:gate-override:", "/change override {} Discord button"),
];

/// Buttons for a gate verdict that waits for a person: Approve and Reject for
/// `needs_approval`, Override and Reject for `deny`. `None` when the id does not fit.
pub fn gate_buttons(change: &str, deny: bool, labels: &Labels) -> Option<CreateActionRow> {
    if change.chars().count() > 80 || change.contains(char::is_whitespace) {
        return None;
    }
    let (first, label, style) = if deny {
        (GATE[2].0, "gate_override", ButtonStyle::Danger)
    } else {
        (GATE[0].0, "gate_approve", ButtonStyle::Success)
    };
    Some(CreateActionRow::Buttons(vec![
        CreateButton::new(format!("{first}{change}"))
            .label(labels.get("discord", label))
            .style(style),
        CreateButton::new(format!("{}{change}", GATE[1].0))
            .label(labels.get("discord", "gate_reject"))
            .style(ButtonStyle::Secondary),
    ]))
}

/// Custom id prefixes of the Confirm and Cancel buttons under a proposal (then its id).
const PROPOSAL: [(&str, &str); 2] = [
    ("wr:prop-yes:", "/confirm {}"),
    ("wr:prop-no:", "/cancel {}"),
];

/// Confirm and Cancel under each proposal of an answer that has an id (one row each, at
/// most five: Discord's limit); the rest are confirmed by typing `/confirm <id>`.
pub fn proposal_buttons(
    proposals: &[warroom_core::assist::ProposalLine],
    labels: &Labels,
) -> Vec<CreateActionRow> {
    proposal_rows(proposals.iter().filter_map(|p| p.id.as_deref()), labels)
}

/// The proposal id a Confirm or Cancel button carries.
pub fn proposal_of(custom_id: &str) -> Option<&str> {
    PROPOSAL
        .iter()
        .find_map(|(prefix, _)| custom_id.strip_prefix(prefix))
}

/// Confirm and Cancel rows for these proposal ids.
pub fn proposal_rows<'a>(
    ids: impl Iterator<Item = &'a str>,
    labels: &Labels,
) -> Vec<CreateActionRow> {
    ids.filter(|id| id.chars().count() <= 64 && !id.contains(char::is_whitespace))
        .take(5)
        .map(|id| {
            CreateActionRow::Buttons(vec![
                CreateButton::new(format!("{}{id}", PROPOSAL[0].0))
                    .label(
                        labels
                            .get("discord", "proposal_confirm")
                            .replace("{id}", id),
                    )
                    .style(ButtonStyle::Success),
                CreateButton::new(format!("{}{id}", PROPOSAL[1].0))
                    .label(labels.get("discord", "proposal_cancel").replace("{id}", id))
                    .style(ButtonStyle::Secondary),
            ])
        })
        .collect()
}

/// The command a reminder, gate or proposal button stands for (`/task start PLAN:TASK`,
/// `/change approve CHG-1 …`, `/confirm P-7`), if it is one.
pub fn button_command(custom_id: &str) -> Option<String> {
    for (prefix, command) in GATE.into_iter().chain(PROPOSAL) {
        if let Some(id) = custom_id.strip_prefix(prefix) {
            let ok = !id.is_empty() && !id.contains(char::is_whitespace);
            return ok.then(|| command.replace("{}", id));
        }
    }
    let (verb, target) = if let Some(t) = custom_id.strip_prefix(TASK_START) {
        ("start", t)
    } else {
        ("done", custom_id.strip_prefix(TASK_DONE)?)
    };
    let ok = target.contains(':') && !target.contains(char::is_whitespace);
    ok.then(|| format!("/task {verb} {target}"))
}

/// Words on buttons and selects, from `prompts/<lang>/labels.toml` (`[discord]`, and
/// `[milestone]` for the milestone names). A missing word shows as its key.
pub struct Labels {
    words: BTreeMap<String, BTreeMap<String, String>>,
}

const EN_LABELS: &str = include_str!("../../../../prompts/en/labels.toml");
const ZH_LABELS: &str = include_str!("../../../../prompts/zh/labels.toml");

/// The `[discord]` keys the adapter uses.
pub const DISCORD_KEYS: [&str; 14] = [
    "gate_approve",
    "gate_reject",
    "gate_override",
    "ack",
    "take_ic",
    "severity",
    "milestone",
    "resolve",
    "confirm_resolve",
    "confirm",
    "task_start",
    "task_done",
    "proposal_confirm",
    "proposal_cancel",
];

impl Labels {
    /// The labels of `lang`.
    pub fn new(lang: Lang) -> Self {
        let text = match lang {
            Lang::En => EN_LABELS,
            Lang::Zh => ZH_LABELS,
        };
        let words = toml::from_str(text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "labels.toml does not parse; labels show their keys");
            BTreeMap::new()
        });
        Self { words }
    }

    /// A word by section and key; the key itself when the file has no such word.
    pub fn get(&self, section: &str, key: &str) -> String {
        self.words
            .get(section)
            .and_then(|s| s.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// A command description for `/help` entries (Discord allows 100 characters).
    pub fn help(&self, key: &str) -> String {
        let d = self.get("help", key);
        let d: String = d.chars().take(100).collect();
        if d.is_empty() {
            key.to_string()
        } else {
            d
        }
    }
}

/// The embed colour of an incident.
fn colour(inc: &Incident) -> u32 {
    if matches!(inc.status, Status::Resolved | Status::Closed) {
        return 0x95_A5_A6;
    }
    match inc.severity.level() {
        1 => 0xE7_4C_3C,
        2 => 0xE6_7E_22,
        3 => 0xF1_C4_0F,
        _ => 0x34_98_DB,
    }
}

fn clip(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    if t.is_empty() {
        "-".into()
    } else {
        t
    }
}

fn split_label(s: &str) -> Option<(&str, &str)> {
    let a = s.find(": ").map(|i| (i, 2));
    let b = s.find('：').map(|i| (i, '：'.len_utf8()));
    let (i, w) = match (a, b) {
        (Some(x), Some(y)) => {
            if x.0 <= y.0 {
                x
            } else {
                y
            }
        }
        (x, y) => x.or(y)?,
    };
    Some((s[..i].trim(), s[i + w..].trim()))
}

fn label_count(s: &str) -> usize {
    s.matches(": ").count() + s.matches('：').count()
}

/// The card embed, from the rendered card text (so every word comes from the
/// templates): the first line is the title, `Label: value` lines become fields,
/// `Label:` blocks of `•` items become one field each, the last line is the footer.
/// If the text has another shape, it all goes into the description.
pub fn embed(inc: &Incident, rendered: &str) -> CreateEmbed {
    let lines: Vec<&str> = rendered.lines().collect();
    let base = CreateEmbed::new().colour(colour(inc));
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return base.title(clip(&format!("{} {}", inc.id, inc.title), 256));
    };
    let title = first
        .replace("**", "")
        .trim_start_matches("🚨")
        .trim()
        .to_string();
    let mut fields: Vec<(String, String, bool)> = Vec::new();
    let mut block: Option<(String, Vec<String>)> = None;
    let body = if lines.len() > 2 {
        &lines[1..lines.len() - 1]
    } else {
        &[][..]
    };
    for line in body {
        let trimmed = line.trim();
        if let Some(item) = trimmed.strip_prefix('•') {
            match &mut block {
                Some((_, items)) => items.push(item.trim().to_string()),
                None => fields.push((String::new(), item.trim().to_string(), false)),
            }
            continue;
        }
        if let Some((name, items)) = block.take() {
            fields.push((name, items.join("\n"), false));
        }
        if let Some(head) = trimmed
            .strip_suffix(':')
            .or_else(|| trimmed.strip_suffix('：'))
        {
            block = Some((head.trim().to_string(), Vec::new()));
            continue;
        }
        let segments: Vec<&str> = trimmed.split(" · ").collect();
        if segments.first().is_some_and(|s| label_count(s) >= 2) {
            // `Roles: Incident Commander: bob · Comms Lead: carol`: one field.
            if let Some((name, value)) = split_label(trimmed) {
                fields.push((name.into(), value.replace(" · ", "\n"), false));
            }
            continue;
        }
        for seg in segments {
            match split_label(seg) {
                Some((name, value)) => fields.push((name.into(), value.into(), true)),
                None => fields.push((String::new(), seg.trim().into(), false)),
            }
        }
    }
    if let Some((name, items)) = block.take() {
        fields.push((name, items.join("\n"), false));
    }
    if fields.iter().all(|(n, _, _)| n.is_empty()) || lines.len() < 3 {
        return base
            .title(clip(&title, 256))
            .description(clip(rendered, 4000));
    }
    let mut e = base.title(clip(&title, 256));
    for (name, value, inline) in fields.into_iter().take(25) {
        let name = if name.is_empty() {
            "\u{200b}".to_string()
        } else {
            clip(&name, 256)
        };
        e = e.field(name, clip(&value, 1024), inline);
    }
    e.footer(CreateEmbedFooter::new(clip(last, 2048)))
}

/// The card's buttons and selects (buttons only, disabled, once the incident is closed).
pub fn components(
    inc: &Incident,
    labels: &Labels,
    severity_names: &BTreeMap<String, String>,
) -> Vec<CreateActionRow> {
    let id = &inc.id;
    let closed = inc.status == Status::Closed;
    let over = closed || inc.status == Status::Resolved;
    let buttons = CreateActionRow::Buttons(vec![
        CreateButton::new(Click::Ack.custom_id(id))
            .label(labels.get("discord", "ack"))
            .style(ButtonStyle::Primary)
            .disabled(inc.status != Status::Declared),
        CreateButton::new(Click::TakeIc.custom_id(id))
            .label(labels.get("discord", "take_ic"))
            .style(ButtonStyle::Secondary)
            .disabled(closed),
        CreateButton::new(Click::Resolve.custom_id(id))
            .label(labels.get("discord", "resolve"))
            .style(ButtonStyle::Success)
            .disabled(over),
    ]);
    // A closed incident is read-only: its card keeps only the (disabled) buttons, which
    // still carry the incident id the card is found by.
    if closed {
        return vec![buttons];
    }
    let severities = Severity::ALL
        .iter()
        .map(|s| {
            let code = s.code();
            // The configured name, else the language's own, as on the card.
            let name = severity_names
                .get(&code)
                .cloned()
                .unwrap_or_else(|| labels.get("severity", &code));
            let label = if name.is_empty() || name == code {
                code.clone()
            } else {
                format!("{code} · {name}")
            };
            CreateSelectMenuOption::new(clip(&label, 100), code)
                .default_selection(*s == inc.severity)
        })
        .collect();
    let severity = CreateActionRow::SelectMenu(
        CreateSelectMenu::new(
            Click::Severity.custom_id(id),
            CreateSelectMenuKind::String {
                options: severities,
            },
        )
        .placeholder(labels.get("discord", "severity")),
    );
    let milestones = Milestone::ALL
        .iter()
        .map(|m| CreateSelectMenuOption::new(clip(&labels.get("milestone", m.key()), 100), m.key()))
        .collect();
    let milestone = CreateActionRow::SelectMenu(
        CreateSelectMenu::new(
            Click::Milestone.custom_id(id),
            CreateSelectMenuKind::String {
                options: milestones,
            },
        )
        .placeholder(labels.get("discord", "milestone")),
    );
    vec![buttons, severity, milestone]
}

/// Whether a message (as JSON) is the card of `incident`: one of its components
/// carries the incident's custom id.
pub fn is_card_of(message: &Value, incident: &IncidentId) -> bool {
    let wanted = Click::Ack.custom_id(incident);
    message
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|row| row.get("components").and_then(Value::as_array))
        .flatten()
        .any(|c| c.get("custom_id").and_then(Value::as_str) == Some(wanted.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> IncidentId {
        IncidentId::parse("IMS-20261123-001").unwrap()
    }

    #[test]
    fn channel_names_are_the_id_and_ascii_words() {
        assert_eq!(
            channel_name(&id(), "Payments down!"),
            "ims-20261123-001-payments-down"
        );
        assert_eq!(channel_name(&id(), "支付 API 超时"), "ims-20261123-001-api");
        assert_eq!(channel_name(&id(), "支付超时"), "ims-20261123-001");
        let long = channel_name(&id(), &"word ".repeat(60));
        assert!(
            long.len() <= MAX_CHANNEL_NAME && !long.ends_with('-'),
            "{long}"
        );
    }

    #[test]
    fn long_text_is_split_below_the_limit_at_line_breaks() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1500));
        let parts = split_message(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CONTENT));
        let one_line = "字".repeat(4500);
        let parts = split_message(&one_line);
        assert_eq!(parts.iter().map(|p| p.chars().count()).sum::<usize>(), 4500);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_CONTENT));
    }

    fn embed_json(rendered: &str) -> Value {
        let inc = Incident::declare(
            id(),
            "Payments down".into(),
            Severity::P1,
            vec![],
            warroom_core::incident::Person::named("alice"),
            chrono::Utc::now(),
        );
        serde_json::to_value(embed(&inc, rendered)).unwrap()
    }

    #[test]
    fn the_card_text_becomes_an_embed_with_a_field_per_label_in_both_languages() {
        let en = embed_json(include_str!("../../../../tests/snapshots/en/card.txt"));
        assert_eq!(en["title"], "IMS-20261123-001 Payments down");
        let names: Vec<&str> = en["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Severity",
                "Status",
                "Services",
                "Roles",
                "Milestones",
                "Durations"
            ]
        );
        assert_eq!(
            en["fields"][3]["value"],
            "Incident Commander: bob\nComms Lead: carol"
        );
        assert!(en["footer"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Declared by alice"));
        let zh = embed_json(include_str!("../../../../tests/snapshots/zh/card.txt"));
        let names: Vec<&str> = zh["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["级别", "状态", "服务", "角色", "里程碑", "耗时"]);
        // Text of another shape still shows, as the description.
        let odd = embed_json("just one line");
        assert_eq!(odd["description"], "just one line");
    }

    #[test]
    fn custom_ids_round_trip_and_foreign_ones_are_ignored() {
        let c = Click::ResolveConfirmed.custom_id(&id());
        assert_eq!(Click::parse(&c), Some((Click::ResolveConfirmed, id())));
        assert_eq!(Click::parse("other:ack:IMS-20261123-001"), None);
        assert_eq!(Click::parse("wr:ack:nonsense"), None);
        assert_eq!(
            Click::Severity
                .command_text(&id(), Some("P2"), "42")
                .as_deref(),
            Some("/incident sev IMS-20261123-001 P2")
        );
        assert_eq!(Click::Severity.command_text(&id(), Some("P9"), "42"), None);
    }

    #[test]
    fn reminder_buttons_carry_plan_and_task() {
        let l = Labels::new(Lang::En);
        let row = task_buttons("CHG-1", "T3", &l).expect("fits");
        let v = serde_json::to_value(row).expect("json");
        let ids: Vec<&str> = v["components"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["custom_id"].as_str())
            .collect();
        assert_eq!(ids, ["wr:task-start:CHG-1:T3", "wr:task-done:CHG-1:T3"]);
        assert_eq!(
            button_command(ids[0]).as_deref(),
            Some("/task start CHG-1:T3")
        );
        assert_eq!(
            button_command(ids[1]).as_deref(),
            Some("/task done CHG-1:T3")
        );
        assert_eq!(button_command("wr:ack:IMS-20261123-001"), None);
        assert_eq!(
            button_command("wr:gate-override:CHG-9").as_deref(),
            Some("/change override CHG-9 Discord button")
        );
        assert_eq!(button_command("wr:gate-approve:"), None);
        assert!(task_buttons(&"x".repeat(90), "T1", &l).is_none());
    }

    #[test]
    fn every_label_the_adapter_uses_exists_in_both_languages() {
        for lang in [Lang::En, Lang::Zh] {
            let l = Labels::new(lang);
            for key in DISCORD_KEYS {
                assert!(
                    l.words.get("discord").is_some_and(|s| s.contains_key(key)),
                    "{lang:?}: [discord] {key} is missing"
                );
            }
            for m in Milestone::ALL {
                assert!(
                    l.words
                        .get("milestone")
                        .is_some_and(|s| s.contains_key(m.key())),
                    "{lang:?}: [milestone] {} is missing",
                    m.key()
                );
            }
        }
    }
}
