//! Change plans from spreadsheets (CSV) and hand-written YAML into a
//! validated [`Plan`]. Every problem is reported with its source line (1-based,
//! blank lines counted); nothing is imported while any remain. Field mapping
//! and format errors live here; ids, dependencies and cycles are checked by
//! [`Plan::validate`]. No clock is read: the caller passes `now`.
//!
//! # CSV ([`from_csv`])
//!
//! ```text
//! 编号,任务,负责人,团队,计划开始,计划结束,前置,关键
//! AC1,stop order feeds,@bob,trading,22:30,22:50,,
//! AC2,"drain core-sw-1, then core-sw-2",team:net,,22:50,23:40,AC1,yes
//! ```
//! - UTF-8, comma-separated; a leading byte-order mark (Excel's "CSV UTF-8")
//!   is skipped. Lines that are blank or hold only commas are skipped.
//! - The first row is the header; columns in any order, names case-insensitive
//!   (spaces and `-` count as `_`): `id`/`编号`, `title`/`任务`/`标题`,
//!   `owner`/`负责人`, `team`/`团队`, `start`/`开始`/`计划开始`,
//!   `end`/`结束`/`计划结束`, `depends_on`/`依赖`/`前置`, `critical`/`关键`,
//!   `status`/`状态` (every alias is listed in `docs/plans.md`). `id`, `title` and
//!   `owner` are required; `notes`/`备注`/`说明` columns are ignored; any
//!   other column is refused.
//! - Quoted fields (`"a, b"`, `"say ""hi"""`) are supported; a field cannot
//!   hold a line break. Every row has as many fields as the header.
//! - Plan-level fields (id, title, coordinator, channel, date, time zone) come
//!   from the caller as [`PlanMeta`].
//!
//! # YAML ([`from_yaml`])
//!
//! ```yaml
//! plan: {id: CHG-1123, title: core switch upgrade, coordinator: carol,
//!        channel: chg-night, date: 2026-11-23, timezone: Asia/Shanghai}
//! tasks:
//!   - id: AC1
//!     title: stop order feeds
//!     owner: "@bob"          # quote values starting with @ or #
//!     start: "22:30"
//!     end: "22:50"
//!   - id: AC2
//!     title: drain core-sw-1, then core-sw-2
//!     owner: team:net
//!     depends_on: [AC1]      # or "AC1;AC0"
//!     critical: true
//! ```
//! `plan` takes `id`, `title`, `coordinator`, `channel`, `date`, `timezone`
//! (IANA name, default: the caller's); each task takes the CSV column names.
//! Ids that YAML would read as numbers must be quoted when they are not plain
//! integers (`"1.10"`, `"007"`). Unknown keys are refused.
//!
//! **Lines in YAML** (best effort): syntax errors carry serde_yaml's location.
//! For field errors the text is scanned: the top-level `tasks:` key, then each
//! line at the indentation of its first `- ` item starts one task, and a
//! field's line is the first line in that item starting with `key:`. When the
//! items found do not match the tasks parsed (flow style `tasks: [...]`,
//! aliases), every task is reported at the `tasks:` line.
//!
//! # Values (both formats)
//! - Times: `YYYY-MM-DD HH:MM` (also `/` between date parts, `T` before the
//!   time, `:SS`, full-width `：`) in the plan's time zone; RFC 3339 with an
//!   offset; or `HH:MM` alone. A lone `HH:MM` start is on the plan's date
//!   (required then). A lone `HH:MM` end is on its start's day, or the next
//!   day when earlier than the start (`23:30`→`00:45` crosses midnight).
//!   Other tasks after midnight need their date; a task that would end before
//!   a task it depends on starts, with a lone `HH:MM` on either, is reported.
//!   Local times skipped or repeated by a clock change are refused.
//! - `start` and `end` come together or not at all (no window: never late).
//! - Dependencies: ids separated by `;`, `,`, spaces, `、`, `；` or `，`.
//! - Owner: `@name` or `name` is a person, `team:NAME` or `#NAME` a team.
//! - Critical: empty, `false`/`no`/`n`/`0`/`否`, or `true`/`yes`/`y`/`1`/`x`/`是`.
//! - Status: empty (pending), `pending`, `in_progress`, `done`, `skipped`,
//!   `blocked`, or `待办`, `进行中`, `完成`, `跳过`, `阻塞`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_yaml::Value;
use warroom_core::calendar::Calendars;
use warroom_core::tasks::{
    Owner, Plan, PlanDraft, PlanIssue, PlanKind, TaskDraft, TaskStatus, Window,
};
use warroom_core::Tz;

use crate::catalog_csv::fields;

/// The plan-level fields of a CSV import, which a sheet does not carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanMeta {
    /// Plan id (`CHG-2026-1123`).
    pub id: String,
    /// Plan title.
    pub title: String,
    /// Who escalations go to.
    pub coordinator: String,
    /// The chat channel the plan runs in.
    pub channel: Option<String>,
    /// The day lone `HH:MM` times are on.
    pub date: Option<NaiveDate>,
    /// The zone local times are in.
    pub tz: Tz,
}

/// Why an import failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The text could not be read into a draft at this line.
    Format {
        /// Source line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The draft was read but breaks the plan rules.
    Invalid(Vec<PlanIssue>),
}

impl ImportError {
    /// The first line the error points at; `None` for plan-level issues.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Format { line, .. } => Some(*line),
            Self::Invalid(issues) => issues.iter().filter_map(PlanIssue::line).min(),
        }
    }
}

impl fmt::Display for ImportError {
    /// `line N: …`, one line per issue (plan-level issues have no line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format { line, message } => write!(f, "line {line}: {message}"),
            Self::Invalid(issues) => {
                let parts: Vec<String> = issues.iter().map(issue_text).collect();
                f.write_str(&parts.join("\n"))
            }
        }
    }
}

impl std::error::Error for ImportError {}

/// An issue as `line N: …` (plan-level issues have no line).
fn issue_text(issue: &PlanIssue) -> String {
    let text = issue.to_string();
    match issue.line() {
        Some(n) if !text.starts_with("line ") => format!("line {n}: {text}"),
        _ => text,
    }
}

/// All errors as one text for a chat reply: one line per problem, ordered by
/// source line (plan-level issues first), format errors and rule issues mixed.
pub fn render(errors: &[ImportError]) -> String {
    let mut parts: Vec<(Option<usize>, String)> = Vec::new();
    for e in errors {
        match e {
            ImportError::Format { line, .. } => parts.push((Some(*line), e.to_string())),
            ImportError::Invalid(issues) => {
                parts.extend(issues.iter().map(|i| (i.line(), issue_text(i))));
            }
        }
    }
    parts.sort_by_key(|(line, _)| *line);
    let parts: Vec<String> = parts.into_iter().map(|(_, text)| text).collect();
    parts.join("\n")
}

/// A plan file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A spreadsheet export.
    Csv,
    /// A hand-written plan.
    Yaml,
}

/// Guesses the format from the first line that is neither blank nor a `#`
/// comment: YAML when it is `---`, `%YAML`, a `- ` item, a `{` mapping or a
/// `key:` without commas before the colon; CSV otherwise.
pub fn detect(text: &str) -> Format {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let yaml = t.starts_with("---")
            || t.starts_with("%YAML")
            || t == "-"
            || t.starts_with("- ")
            || t.starts_with('{')
            || yaml_key(t).is_some_and(|k| !k.contains(','));
        return if yaml { Format::Yaml } else { Format::Csv };
    }
    Format::Csv
}

/// A task field, named by a CSV column or a YAML key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Col {
    Id,
    Title,
    Owner,
    Team,
    Start,
    End,
    DependsOn,
    Critical,
    Status,
    Ignored,
}

const ALIASES: [(Col, &[&str]); 10] = [
    (Col::Id, &["id", "编号", "任务编号", "task_id"]),
    (Col::Title, &["title", "任务", "标题", "任务名称", "task"]),
    (Col::Owner, &["owner", "负责人"]),
    (Col::Team, &["team", "团队"]),
    (
        Col::Start,
        &["start", "开始", "计划开始", "开始时间", "计划开始时间"],
    ),
    (
        Col::End,
        &["end", "结束", "计划结束", "结束时间", "计划结束时间"],
    ),
    (
        Col::DependsOn,
        &["depends_on", "依赖", "前置", "前置任务", "dependencies"],
    ),
    (Col::Critical, &["critical", "关键"]),
    (Col::Status, &["status", "状态"]),
    (Col::Ignored, &["notes", "note", "comment", "备注", "说明"]),
];

/// The field a column or key names: case-insensitive, spaces and `-` as `_`.
fn column(name: &str) -> Option<Col> {
    let norm = name.trim().to_lowercase().replace([' ', '-'], "_");
    ALIASES
        .iter()
        .find(|(_, names)| names.contains(&norm.as_str()))
        .map(|(col, _)| *col)
}

fn known_columns() -> String {
    let names: Vec<&str> = ALIASES.iter().map(|(_, names)| names[0]).collect();
    names.join(", ")
}

/// One task as read, before any value is interpreted: each field's text and
/// the line it is on.
struct RawRow {
    line: usize,
    cells: Vec<(Col, String, usize)>,
}

impl RawRow {
    fn get(&self, col: Col) -> (&str, usize) {
        self.cells
            .iter()
            .find(|(c, _, _)| *c == col)
            .map_or(("", self.line), |(_, v, l)| (v.as_str(), *l))
    }
}

/// Plan-level fields and how to read local times.
struct Head {
    id: String,
    title: String,
    coordinator: String,
    channel: Option<String>,
    date: Option<NaiveDate>,
    tz: Tz,
    /// Markets for trading-session times (`SHFE:night`): the deployment's.
    calendars: Calendars,
}

fn format_error(line: usize, message: impl Into<String>) -> ImportError {
    ImportError::Format {
        line,
        message: message.into(),
    }
}

/// Imports a spreadsheet plan (format in the module header).
///
/// # Errors
/// Every format error (sorted by line), then [`ImportError::Invalid`] with the
/// plan rules broken by the rows that could be read.
pub fn from_csv(text: &str, meta: PlanMeta, now: DateTime<Utc>) -> Result<Plan, Vec<ImportError>> {
    from_csv_with(text, meta, now, &Calendars::builtin())
}

/// [`from_csv`] with the deployment's markets (its `[calendar] extra_files` included)
/// for trading-session times.
///
/// # Errors
/// As [`from_csv`].
pub fn from_csv_with(
    text: &str,
    meta: PlanMeta,
    now: DateTime<Utc>,
    calendars: &Calendars,
) -> Result<Plan, Vec<ImportError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut errors = Vec::new();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(vec![format_error(1, "the file is empty (no header row)")]);
    };
    let header = fields(header).map_err(|e| vec![format_error(header_line, e)])?;
    let mut cols = Vec::with_capacity(header.len());
    for name in &header {
        match column(name) {
            Some(col) if col != Col::Ignored && cols.contains(&col) => errors.push(format_error(
                header_line,
                format!("column `{name}` repeats another column"),
            )),
            Some(col) => cols.push(col),
            None => {
                errors.push(format_error(
                    header_line,
                    format!("unknown column `{name}` (known: {})", known_columns()),
                ));
                cols.push(Col::Ignored);
            }
        }
    }
    for (col, name) in [
        (Col::Id, "id"),
        (Col::Title, "title"),
        (Col::Owner, "owner"),
    ] {
        if !cols.contains(&col) {
            errors.push(format_error(
                header_line,
                format!("the `{name}` column is required"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut rows = Vec::new();
    // Ids of rows that could not be split: not "unknown" to their dependents.
    let mut broken = HashSet::new();
    for (n, line) in lines {
        let f = match fields(line) {
            Ok(f) => f,
            Err(e) => {
                errors.push(format_error(n, e));
                continue;
            }
        };
        if f.iter().all(String::is_empty) {
            continue;
        }
        if f.len() != cols.len() {
            errors.push(format_error(
                n,
                format!("{} fields, the header has {}", f.len(), cols.len()),
            ));
            if let Some(id) = cols
                .iter()
                .position(|c| *c == Col::Id)
                .and_then(|i| f.get(i))
            {
                broken.insert(id.clone());
            }
            continue;
        }
        let cells = cols
            .iter()
            .zip(f)
            .filter(|(col, _)| **col != Col::Ignored)
            .map(|(col, v)| (*col, v, n))
            .collect();
        rows.push(RawRow { line: n, cells });
    }
    if rows.is_empty() && errors.is_empty() {
        errors.push(format_error(header_line, "no tasks below the header"));
    }
    let head = Head {
        id: meta.id,
        title: meta.title,
        coordinator: meta.coordinator,
        channel: meta.channel,
        date: meta.date,
        tz: meta.tz,
        calendars: calendars.clone(),
    };
    finish(head, &rows, errors, &broken, now)
}

/// Imports a hand-written plan (format in the module header); the plan's
/// fields come from its `plan:` mapping, its time zone defaults to `default_tz`.
///
/// # Errors
/// A syntax error alone, or every format error (sorted by line) then
/// [`ImportError::Invalid`] with the plan rules broken.
pub fn from_yaml(text: &str, default_tz: Tz, now: DateTime<Utc>) -> Result<Plan, Vec<ImportError>> {
    from_yaml_with(text, default_tz, now, &Calendars::builtin())
}

/// [`from_yaml`] with the deployment's markets for trading-session times.
///
/// # Errors
/// As [`from_yaml`].
pub fn from_yaml_with(
    text: &str,
    default_tz: Tz,
    now: DateTime<Utc>,
    calendars: &Calendars,
) -> Result<Plan, Vec<ImportError>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc: Value = match serde_yaml::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line().max(1));
            let mut message = yaml_message(&e);
            if text
                .lines()
                .nth(line - 1)
                .is_some_and(|l| l.contains(": @") || l.contains("- @"))
            {
                message.push_str(" (a value starting with `@` must be quoted: \"@bob\")");
            }
            return Err(vec![format_error(line, message)]);
        }
    };
    let layout = Layout::scan(text);
    let mut errors = Vec::new();
    let Value::Mapping(top) = doc else {
        return Err(vec![format_error(
            1,
            "expected a mapping with `plan` and `tasks`",
        )]);
    };
    let mut head = Head {
        id: String::new(),
        title: String::new(),
        coordinator: String::new(),
        channel: None,
        date: None,
        tz: default_tz,
        calendars: calendars.clone(),
    };
    let mut tasks = None;
    for (key, value) in &top {
        match key.as_str() {
            Some("plan") => read_plan(value, &layout, &mut head, &mut errors),
            Some("tasks") => tasks = Some(value),
            _ => errors.push(format_error(
                key.as_str().map_or(1, |k| layout.top_line(k)),
                format!("unknown key `{}` (known: plan, tasks)", key_text(key)),
            )),
        }
    }
    let tasks_line = layout.top_line("tasks");
    let mut rows = Vec::new();
    match tasks {
        None | Some(Value::Null) => errors.push(format_error(tasks_line, "no `tasks`")),
        Some(Value::Sequence(items)) => {
            let spans = layout.items("tasks");
            let spans_fit = spans.len() == items.len();
            for (i, item) in items.iter().enumerate() {
                let span = match spans.get(i) {
                    Some(span) if spans_fit => *span,
                    _ => (tasks_line, tasks_line),
                };
                if let Some(row) = read_task(item, span, &layout, &mut errors) {
                    rows.push(row);
                }
            }
            if items.is_empty() {
                errors.push(format_error(tasks_line, "`tasks` is empty"));
            }
        }
        Some(_) => errors.push(format_error(tasks_line, "`tasks` must be a list")),
    }
    finish(head, &rows, errors, &HashSet::new(), now)
}

/// serde_yaml's message without its ` at line L column C` suffix.
fn yaml_message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn key_text(key: &Value) -> String {
    match scalar(key) {
        Ok(s) => s.chars().take(64).collect(),
        Err(_) => "(not text)".to_owned(),
    }
}

/// A scalar as text (`null` is empty); lists and mappings are refused.
fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        Value::Sequence(_) => Err("expected text, found a list".to_owned()),
        Value::Mapping(_) => Err("expected text, found a mapping".to_owned()),
        Value::Tagged(_) => Err("expected text, found a tagged value".to_owned()),
    }
}

/// Text of an id (or a list item of ids): numbers only when integers.
fn id_text(value: &Value) -> Result<String, String> {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => Err(format!(
            "`{n}` reads as a number, not an id: write the id in quotes"
        )),
        other => scalar(other),
    }
}

fn read_plan(value: &Value, layout: &Layout<'_>, head: &mut Head, errors: &mut Vec<ImportError>) {
    let plan_line = layout.top_line("plan");
    let Value::Mapping(map) = value else {
        errors.push(format_error(plan_line, "`plan` must be a mapping"));
        return;
    };
    let block = layout.block("plan");
    for (key, value) in map {
        let name = key.as_str().unwrap_or("");
        let line = block
            .and_then(|(from, to)| layout.key_line(from, to, name))
            .unwrap_or(plan_line);
        let text = match scalar(value) {
            Ok(t) => t.trim().to_owned(),
            Err(e) => {
                errors.push(format_error(line, format!("plan `{}`: {e}", key_text(key))));
                continue;
            }
        };
        match name {
            "id" => head.id = text,
            "title" => head.title = text,
            "coordinator" => head.coordinator = text,
            "channel" => head.channel = (!text.is_empty()).then_some(text),
            "date" if text.is_empty() => {}
            "date" => match parse_date(&text) {
                Some(d) => head.date = Some(d),
                None => errors.push(format_error(
                    line,
                    format!("plan date `{}` is not YYYY-MM-DD", clip(&text)),
                )),
            },
            "timezone" | "tz" if text.is_empty() => {}
            "timezone" | "tz" => match text.parse::<Tz>() {
                Ok(tz) => head.tz = tz,
                Err(_) => errors.push(format_error(
                    line,
                    format!("`{}` is not a time zone (e.g. Asia/Shanghai)", clip(&text)),
                )),
            },
            _ => errors.push(format_error(
                line,
                format!(
                    "unknown plan key `{}` (known: id, title, coordinator, channel, date, timezone)",
                    key_text(key)
                ),
            )),
        }
    }
}

fn read_task(
    item: &Value,
    (first, end): (usize, usize),
    layout: &Layout<'_>,
    errors: &mut Vec<ImportError>,
) -> Option<RawRow> {
    let Value::Mapping(map) = item else {
        errors.push(format_error(
            first,
            "a task must be a mapping (`id: …`, `title: …`)",
        ));
        return None;
    };
    let mut cells: Vec<(Col, String, usize)> = Vec::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or("");
        let line = layout
            .key_line(first.saturating_sub(1), end.saturating_sub(1), name)
            .unwrap_or(first);
        let Some(col) = column(name) else {
            errors.push(format_error(
                line,
                format!(
                    "unknown task key `{}` (known: {})",
                    key_text(key),
                    known_columns()
                ),
            ));
            continue;
        };
        if col == Col::Ignored {
            continue;
        }
        if cells.iter().any(|(c, _, _)| *c == col) {
            errors.push(format_error(
                line,
                format!("key `{name}` repeats another key"),
            ));
            continue;
        }
        let text = match (col, value) {
            (Col::DependsOn, Value::Sequence(ids)) => ids
                .iter()
                .map(id_text)
                .collect::<Result<Vec<String>, String>>()
                .map(|ids| ids.join(";")),
            (Col::Id | Col::DependsOn, v) => id_text(v),
            (_, v) => scalar(v),
        };
        match text {
            Ok(text) => cells.push((col, text.trim().to_owned(), line)),
            Err(e) => errors.push(format_error(line, format!("`{}`: {e}", key_text(key)))),
        }
    }
    Some(RawRow { line: first, cells })
}

/// Line positions in a YAML text, found by scanning (see the module header).
struct Layout<'a> {
    lines: Vec<&'a str>,
    /// Top-level keys and their 0-based line index.
    top: Vec<(&'a str, usize)>,
}

impl<'a> Layout<'a> {
    fn scan(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let top = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.starts_with([' ', '\t', '#', '-']))
            .filter_map(|(i, l)| yaml_key(l).map(|k| (k, i)))
            .collect();
        Self { lines, top }
    }

    /// The 1-based line of a top-level key, else 1.
    fn top_line(&self, key: &str) -> usize {
        self.top
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(1, |(_, i)| i + 1)
    }

    /// The 0-based line range below a top-level key, up to the next one.
    fn block(&self, key: &str) -> Option<(usize, usize)> {
        let pos = self.top.iter().position(|(k, _)| *k == key)?;
        let from = self.top[pos].1 + 1;
        let end = self.top.get(pos + 1).map_or(self.lines.len(), |(_, i)| *i);
        let end = self.lines[from.min(end)..end]
            .iter()
            .position(|l| l.starts_with("---") || l.starts_with("..."))
            .map_or(end, |p| from + p);
        Some((from, end))
    }

    /// The items of a block sequence under a top-level key, as 1-based
    /// `(first line, first line of the next item or end)`.
    fn items(&self, key: &str) -> Vec<(usize, usize)> {
        let Some((from, end)) = self.block(key) else {
            return Vec::new();
        };
        let mut indent = None;
        let mut starts = Vec::new();
        for i in from..end {
            let line = self.lines[i];
            let rest = line.trim_start_matches(' ');
            if rest.trim().is_empty() || rest.starts_with('#') {
                continue;
            }
            let here = line.len() - rest.len();
            let is_item = rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t");
            match indent {
                None if is_item => indent = Some(here),
                None => return Vec::new(),
                Some(_) => {}
            }
            if is_item && indent == Some(here) {
                starts.push(i + 1);
            }
        }
        let mut spans = Vec::with_capacity(starts.len());
        for (k, &s) in starts.iter().enumerate() {
            spans.push((s, starts.get(k + 1).copied().unwrap_or(end + 1)));
        }
        spans
    }

    /// The 1-based line of the first `key:` in 0-based lines `from..to`.
    fn key_line(&self, from: usize, to: usize, key: &str) -> Option<usize> {
        if key.is_empty() {
            return None;
        }
        let to = to.min(self.lines.len());
        let from = from.min(to);
        self.lines[from..to]
            .iter()
            .position(|l| {
                let mut t = l.trim_start();
                while let Some(rest) = t.strip_prefix("- ") {
                    t = rest.trim_start();
                }
                yaml_key(t) == Some(key)
            })
            .map(|p| from + p + 1)
    }
}

/// The key of a `key: value` line (quotes removed), if it is one.
fn yaml_key(line: &str) -> Option<&str> {
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == ':' && chars.peek().is_none_or(|(_, n)| n.is_whitespace()) {
            let key = line[..i].trim();
            let key = key
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
                .unwrap_or(key);
            return (!key.is_empty()).then_some(key);
        }
    }
    None
}

/// Turns the rows into a draft, checks it, and gathers every error.
fn finish(
    head: Head,
    rows: &[RawRow],
    mut errors: Vec<ImportError>,
    broken: &HashSet<String>,
    now: DateTime<Utc>,
) -> Result<Plan, Vec<ImportError>> {
    let mut tasks = Vec::with_capacity(rows.len());
    let mut lone_times = Vec::with_capacity(rows.len());
    for row in rows {
        let (task, lone) = task_draft(row, &head, &mut errors);
        tasks.push(task);
        lone_times.push(lone);
    }
    let checked = tasks.clone();
    let draft = PlanDraft {
        id: head.id,
        title: head.title,
        kind: PlanKind::ChangePlan,
        coordinator: head.coordinator,
        channel: head.channel,
        created_at: now,
        tasks,
    };
    let result = Plan::validate(draft);
    // Tasks in a cycle cannot all start after their dependencies end.
    let in_cycle: HashSet<&str> = match &result {
        Ok(_) => HashSet::new(),
        Err(issues) => issues
            .iter()
            .filter_map(|i| match i {
                PlanIssue::Cycle { ids, .. } => Some(ids.iter().map(|id| id.as_str())),
                _ => None,
            })
            .flatten()
            .collect(),
    };
    check_order(&checked, &lone_times, &in_cycle, head.tz, &mut errors);
    errors.sort_by_key(ImportError::line);
    match result {
        Ok(plan) if errors.is_empty() => Ok(plan),
        Ok(_) => Err(errors),
        Err(mut issues) => {
            issues.retain(|i| {
                !matches!(i, PlanIssue::UnknownDependency { dependency, .. } if broken.contains(dependency))
            });
            if !issues.is_empty() || errors.is_empty() {
                errors.push(ImportError::Invalid(issues));
            }
            Err(errors)
        }
    }
}

/// One row as a draft; format errors are recorded and the faulty value left
/// at its default, so the row still takes part in dependency checks. Also
/// tells whether a lone `HH:MM` was used.
fn task_draft(row: &RawRow, head: &Head, errors: &mut Vec<ImportError>) -> (TaskDraft, bool) {
    let (id, _) = row.get(Col::Id);
    let (title, _) = row.get(Col::Title);
    let (owner, _) = row.get(Col::Owner);
    let mut task =
        TaskDraft::new(row.line, id, title, parse_owner(owner)).team(row.get(Col::Team).0);
    let (deps, _) = row.get(Col::DependsOn);
    task.depends_on = split_ids(deps);
    let (critical, line) = row.get(Col::Critical);
    match parse_critical(critical) {
        Ok(c) => task.critical = c,
        Err(e) => errors.push(format_error(line, e)),
    }
    let (status, line) = row.get(Col::Status);
    match parse_status(status) {
        Ok(s) => task.status = s,
        Err(e) => errors.push(format_error(line, e)),
    }
    let (window, lone) = window(row.get(Col::Start), row.get(Col::End), head, errors);
    task.window = window;
    (task, lone)
}

fn parse_owner(s: &str) -> Owner {
    let s = s.trim();
    if let Some(team) = s.strip_prefix('#') {
        return Owner::Team(team.trim().to_owned());
    }
    if s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("team:")) {
        return Owner::Team(s[5..].trim().to_owned());
    }
    Owner::Person(s.strip_prefix('@').unwrap_or(s).trim().to_owned())
}

fn split_ids(s: &str) -> Vec<String> {
    s.split(|c: char| matches!(c, ';' | ',' | '、' | '；' | '，') || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

fn parse_critical(s: &str) -> Result<bool, String> {
    match s.trim().to_lowercase().as_str() {
        "" | "false" | "no" | "n" | "0" | "否" => Ok(false),
        "true" | "yes" | "y" | "1" | "x" | "是" => Ok(true),
        other => Err(format!("critical `{}` is not yes or no", clip(other))),
    }
}

fn parse_status(s: &str) -> Result<TaskStatus, String> {
    let norm = s.trim().to_lowercase().replace([' ', '-'], "_");
    Ok(match norm.as_str() {
        "" | "pending" | "待办" | "未开始" => TaskStatus::Pending,
        "in_progress" | "进行中" => TaskStatus::InProgress,
        "done" | "完成" | "已完成" => TaskStatus::Done,
        "skipped" | "跳过" | "已跳过" => TaskStatus::Skipped,
        "blocked" | "阻塞" => TaskStatus::Blocked,
        _ => {
            return Err(format!(
                "status `{}` is not pending, in_progress, done, skipped or blocked",
                clip(s)
            ))
        }
    })
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A time as written.
#[derive(Clone, Copy)]
enum When {
    /// `HH:MM`, no date.
    Lone(NaiveTime),
    /// Date and time in the plan's zone.
    Local(NaiveDateTime),
    /// RFC 3339, with its offset.
    Instant(DateTime<Utc>),
    /// A trading session of the plan's trading day: `SHFE:night`, `SSE:afternoon`.
    /// As a start it means the session's open, as an end its close.
    Session(SessionRef),
}

/// `MARKET:session`, resolved against the built-in trading calendar.
#[derive(Clone, Copy)]
struct SessionRef {
    /// Index into the text: market and session names are re-read when resolving.
    market: [u8; 16],
    market_len: usize,
    session: [u8; 24],
    session_len: usize,
}

impl SessionRef {
    fn parse(s: &str) -> Option<Self> {
        let (m, n) = s.split_once(':')?;
        let (m, n) = (m.trim(), n.trim());
        let ok = |x: &str, max: usize| {
            !x.is_empty()
                && x.len() <= max
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok(m, 16) || !ok(n, 24) || m.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut r = Self {
            market: [0; 16],
            market_len: m.len(),
            session: [0; 24],
            session_len: n.len(),
        };
        r.market[..m.len()].copy_from_slice(m.as_bytes());
        r.session[..n.len()].copy_from_slice(n.as_bytes());
        Some(r)
    }

    fn names(&self) -> (String, String) {
        (
            String::from_utf8_lossy(&self.market[..self.market_len]).into_owned(),
            String::from_utf8_lossy(&self.session[..self.session_len]).to_lowercase(),
        )
    }

    /// The session's (open, close) on trading day `date`.
    fn resolve(
        &self,
        date: NaiveDate,
        cals: &Calendars,
    ) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
        let (market, name) = self.names();
        let cal = cals.get(&market).ok_or_else(|| {
            format!(
                "unknown market `{market}` (known: {})",
                cals.markets().join(", ")
            )
        })?;
        let sessions = cal.sessions_of(date).map_err(|e| e.to_string())?;
        if sessions.is_empty() {
            return Err(format!("{} does not trade on {date}", cal.code()));
        }
        sessions
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&name))
            .map(|s| (s.start, s.end))
            .ok_or_else(|| {
                format!(
                    "{} has no `{name}` session on {date} (sessions: {})",
                    cal.code(),
                    sessions
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    ["%Y-%m-%d", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
}

fn parse_when(s: &str) -> Result<Option<When>, String> {
    let s = s.trim().replace('：', ":");
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Ok(Some(When::Instant(t.with_timezone(&Utc))));
    }
    const DATE_TIMES: [&str; 6] = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
    ];
    if let Some(t) = DATE_TIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
    {
        return Ok(Some(When::Local(t)));
    }
    if let Some(t) = ["%H:%M", "%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(&s, f).ok())
    {
        return Ok(Some(When::Lone(t)));
    }
    if let Some(r) = SessionRef::parse(&s) {
        return Ok(Some(When::Session(r)));
    }
    Err(format!(
        "`{}` is not a time (YYYY-MM-DD HH:MM, HH:MM, MARKET:session or RFC 3339)",
        clip(&s)
    ))
}

fn localize(t: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, String> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(..) => Err(format!(
            "{} happens twice in {tz} (clock change): write it in RFC 3339 with its offset",
            t.format("%Y-%m-%d %H:%M")
        )),
        LocalResult::None => Err(format!(
            "{} does not exist in {tz} (clock change)",
            t.format("%Y-%m-%d %H:%M")
        )),
    }
}

/// The window of a row, and whether a lone `HH:MM` was used.
fn window(
    (start, start_line): (&str, usize),
    (end, end_line): (&str, usize),
    head: &Head,
    errors: &mut Vec<ImportError>,
) -> (Option<Window>, bool) {
    let (start, end) = match (parse_when(start), parse_when(end)) {
        (Ok(s), Ok(e)) => (s, e),
        (s, e) => {
            for (r, line) in [(s, start_line), (e, end_line)] {
                if let Err(msg) = r {
                    errors.push(format_error(line, format!("bad time: {msg}")));
                }
            }
            return (None, false);
        }
    };
    let (start, end) = match (start, end) {
        (None, None) => return (None, false),
        (Some(s), Some(e)) => (s, e),
        (Some(_), None) => {
            errors.push(format_error(start_line, "a start needs an end"));
            return (None, false);
        }
        (None, Some(_)) => {
            errors.push(format_error(end_line, "an end needs a start"));
            return (None, false);
        }
    };
    let lone = matches!(start, When::Lone(_)) || matches!(end, When::Lone(_));
    // Trading sessions (`SHFE:night`) need the plan's trading day.
    let session =
        |r: SessionRef, line: usize| -> Result<(DateTime<Utc>, DateTime<Utc>), (usize, String)> {
            let date = head.date.ok_or((
                line,
                "a trading session needs the plan's date (its trading day)".to_owned(),
            ))?;
            r.resolve(date, &head.calendars).map_err(|e| (line, e))
        };
    let result = (|| {
        if let When::Session(r) = start {
            let start = session(r, start_line)?.0;
            let end = match end {
                When::Session(e) => session(e, end_line)?.1,
                When::Instant(t) => t,
                When::Local(t) => localize(t, head.tz).map_err(|e| (end_line, e))?,
                When::Lone(t) => {
                    let local = start.with_timezone(&head.tz).naive_local();
                    let same = local.date().and_time(t);
                    let t = if same < local {
                        same.checked_add_days(Days::new(1))
                            .ok_or((end_line, "the end is out of range".to_owned()))?
                    } else {
                        same
                    };
                    localize(t, head.tz).map_err(|e| (end_line, e))?
                }
            };
            return Ok(Window { start, end });
        }
        // The start as local time (its anchor for a lone end) and as an instant.
        let (anchor, start) = match start {
            When::Instant(t) => (t.with_timezone(&head.tz).naive_local(), t),
            When::Local(t) => (t, localize(t, head.tz).map_err(|e| (start_line, e))?),
            // Handled above.
            When::Session(r) => {
                let t = session(r, start_line)?.0;
                (t.with_timezone(&head.tz).naive_local(), t)
            }
            When::Lone(t) => {
                let Some(date) = head.date else {
                    return Err((
                        start_line,
                        format!(
                            "`{}` has no date: give the plan date or write YYYY-MM-DD HH:MM",
                            t.format("%H:%M")
                        ),
                    ));
                };
                let t = date.and_time(t);
                (t, localize(t, head.tz).map_err(|e| (start_line, e))?)
            }
        };
        let end = match end {
            When::Instant(t) => t,
            When::Local(t) => localize(t, head.tz).map_err(|e| (end_line, e))?,
            When::Session(r) => session(r, end_line)?.1,
            When::Lone(t) => {
                let same_day = anchor.date().and_time(t);
                let t = if same_day < anchor {
                    same_day
                        .checked_add_days(Days::new(1))
                        .ok_or((end_line, "the end is out of range".to_owned()))?
                } else {
                    same_day
                };
                localize(t, head.tz).map_err(|e| (end_line, e))?
            }
        };
        Ok(Window { start, end })
    })();
    match result {
        Ok(w) => (Some(w), lone),
        Err((line, msg)) => {
            errors.push(format_error(line, format!("bad time: {msg}")));
            (None, lone)
        }
    }
}

/// A task that ends before a task it depends on starts, where a lone `HH:MM`
/// was used on either: most likely a task after midnight without its date.
/// Pairs inside a dependency cycle are left to the cycle's report.
fn check_order(
    tasks: &[TaskDraft],
    lone: &[bool],
    in_cycle: &HashSet<&str>,
    tz: Tz,
    errors: &mut Vec<ImportError>,
) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        first.entry(t.id.trim()).or_insert(i);
    }
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    for (i, task) in tasks.iter().enumerate() {
        let Some(w) = task.window else { continue };
        for dep in &task.depends_on {
            let Some(&j) = first.get(dep.trim()) else {
                continue;
            };
            let Some(d) = tasks[j].window else { continue };
            let either_lone =
                lone.get(i).copied().unwrap_or(false) || lone.get(j).copied().unwrap_or(false);
            let cyclic = in_cycle.contains(task.id.trim()) && in_cycle.contains(dep.trim());
            if either_lone && !cyclic && w.end < d.start {
                errors.push(format_error(
                    task.line,
                    format!(
                        "{} ends at {}, before {} (line {}), which it depends on, starts at {}; if it runs after midnight, write its date (YYYY-MM-DD HH:MM)",
                        clip(task.id.trim()),
                        local(w.end),
                        clip(dep.trim()),
                        tasks[j].line,
                        local(d.start)
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn windows_can_be_trading_sessions_of_the_plans_trading_day() {
        // SHFE's night session of trading day Monday 2026-11-23 opens Friday 21:00.
        let csv = "id,title,owner,start,end\nN1,switch feeds,@bob,SHFE:night,SHFE:night\nD1,check fills,@bob,SSE:morning,SSE:afternoon\n";
        let plan = from_csv(
            csv,
            PlanMeta {
                date: NaiveDate::from_ymd_opt(2026, 11, 23),
                ..meta(None)
            },
            now(),
        )
        .unwrap_or_else(|e| panic!("{}", render(&e)));
        let w = |id: &str| {
            plan.tasks
                .iter()
                .find(|t| t.id.as_str() == id)
                .and_then(|t| t.window)
                .map(|w| (w.start.to_rfc3339(), w.end.to_rfc3339()))
        };
        assert_eq!(
            w("N1"),
            Some((
                "2026-11-20T13:00:00+00:00".into(),
                "2026-11-20T18:30:00+00:00".into()
            ))
        );
        assert_eq!(
            w("D1"),
            Some((
                "2026-11-23T01:30:00+00:00".into(),
                "2026-11-23T07:00:00+00:00".into()
            ))
        );
        let bad = "id,title,owner,start,end\nX,x,@bob,SSE:night,SSE:night\n";
        let e = render(
            &from_csv(
                bad,
                PlanMeta {
                    date: NaiveDate::from_ymd_opt(2026, 11, 23),
                    ..meta(None)
                },
                now(),
            )
            .expect_err("no such session"),
        );
        assert!(
            e.contains("line 2") && e.contains("no `night` session"),
            "{e}"
        );
        let holiday = "id,title,owner,start,end\nX,x,@bob,SSE:morning,SSE:morning\n";
        let e = render(
            &from_csv(
                holiday,
                PlanMeta {
                    date: NaiveDate::from_ymd_opt(2026, 10, 1),
                    ..meta(None)
                },
                now(),
            )
            .expect_err("holiday"),
        );
        assert!(e.contains("does not trade on 2026-10-01"), "{e}");
    }

    #[test]
    fn trading_sessions_come_from_the_deployments_markets_extra_files_included() {
        // A deployment's extra market file (e.g. a desk's own exchange).
        let mut cals = Calendars::builtin();
        cals.add_toml(
            "code = \"XTEST\"\ntimezone = \"Asia/Shanghai\"\ncovered_years = [2026, 2026]\nholidays = []\n\n[[sessions]]\nname = \"day\"\nstart = \"10:00\"\nend = \"11:00\"\n",
        )
        .expect("market");
        let csv = "id,title,owner,start,end\nN1,switch,@bob,XTEST:day,XTEST:day\n";
        let m = || PlanMeta {
            date: NaiveDate::from_ymd_opt(2026, 11, 23),
            ..meta(None)
        };
        let plan =
            from_csv_with(csv, m(), now(), &cals).unwrap_or_else(|e| panic!("{}", render(&e)));
        assert_eq!(
            plan.tasks[0].window.map(|w| w.start.to_rfc3339()),
            Some("2026-11-23T02:00:00+00:00".into())
        );
        let e = render(&from_csv(csv, m(), now()).expect_err("built-in markets only"));
        assert!(e.contains("unknown market `XTEST`"), "{e}");
    }
    use proptest::prelude::*;
    use warroom_core::tasks::TaskId;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        at("2026-11-23T12:00:00Z")
    }

    fn meta(date: Option<&str>) -> PlanMeta {
        PlanMeta {
            id: "CHG-1123".into(),
            title: "core switch upgrade".into(),
            coordinator: "carol".into(),
            channel: Some("chg-night".into()),
            date: date.map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap()),
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    fn lines(errors: &[ImportError]) -> Vec<String> {
        render(errors).lines().map(String::from).collect()
    }

    const SIX_CSV: &str = "\u{feff}编号,任务,负责人,团队,计划开始,计划结束,前置,关键,状态\r\n\
        AC1,stop order feeds,@bob,trading,2026-11-23 22:00,22:20,,,\r\n\
        AC2,\"drain core-sw-1, then core-sw-2\",team:net,,2026-11-23 22:20,23:00,AC1,,\r\n\
        \r\n\
        AC3,upgrade core-sw-1,#net,,2026-11-23 23:00,23:40,AC2,是,待办\r\n\
        AC10,upgrade core-sw-2,@dave,net,2026-11-23 23:40,00:30,AC3,,\r\n\
        ,,,,,,,,\r\n\
        AC11,restart feeds,bob,trading,2026-11-24 00:30,2026-11-24 00:50,AC10;AC1,,\r\n\
        AC20,smoke test,erin,qa,2026-11-24T00:50:00+08:00,01:10,AC11 、AC3,yes,done\r\n";

    const SIX_YAML: &str = "\u{feff}# the same plan as SIX_CSV
plan:
  id: CHG-1123
  title: core switch upgrade
  coordinator: carol
  channel: chg-night
  timezone: Asia/Shanghai
tasks:
  - id: AC1
    title: stop order feeds
    owner: \"@bob\"
    team: trading
    start: 2026-11-23 22:00
    end: \"22:20\"
  - id: AC2
    title: drain core-sw-1, then core-sw-2
    owner: team:net
    start: 2026-11-23 22:20
    end: \"23:00\"
    depends_on: [AC1]

  - 编号: AC3
    任务: upgrade core-sw-1
    负责人: \"#net\"
    开始: 2026-11-23 23:00
    结束: \"23:40\"
    前置: AC2
    关键: 是
  - id: AC10
    title: upgrade core-sw-2
    owner: \"@dave\"
    team: net
    start: 2026-11-23 23:40
    end: \"00:30\"
    depends_on:
      - AC3
  - id: AC11
    title: restart feeds
    owner: bob
    team: trading
    start: 2026-11-24 00:30
    end: 2026-11-24 00:50
    depends_on: AC10;AC1
  - id: AC20
    title: smoke test
    owner: erin
    team: qa
    start: 2026-11-24T00:50:00+08:00
    end: \"01:10\"
    depends_on: [AC11, AC3]
    critical: true
    status: done
";

    #[test]
    fn a_six_task_csv_with_a_bom_and_chinese_headers_imports_with_natural_order_ids() {
        let plan = from_csv(SIX_CSV, meta(None), now()).unwrap();
        let ids: Vec<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["AC1", "AC2", "AC3", "AC10", "AC11", "AC20"]);
        let mut sorted: Vec<TaskId> = plan.tasks.iter().map(|t| t.id.clone()).collect();
        sorted.sort();
        assert_eq!(
            sorted,
            plan.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>()
        );
        let t = &plan.tasks;
        assert_eq!(
            (t[0].owner.clone(), t[0].team.as_str()),
            (Owner::Person("bob".into()), "trading")
        );
        assert_eq!(
            (t[1].owner.clone(), t[1].team.as_str()),
            (Owner::Team("net".into()), "net")
        );
        assert_eq!(t[1].title, "drain core-sw-1, then core-sw-2");
        assert_eq!(t[2].owner, Owner::Team("net".into()));
        assert_eq!(t[4].depends_on.len(), 2);
        assert_eq!(t[5].status, TaskStatus::Done);
        let w = t[0].window.unwrap();
        assert_eq!(
            (w.start, w.end),
            (at("2026-11-23T14:00:00Z"), at("2026-11-23T14:20:00Z"))
        );
        assert!(
            t.iter().all(|t| t.critical),
            "a chain: the whole plan is the critical path"
        );
        assert_eq!((plan.id.as_str(), plan.created_at), ("CHG-1123", now()));
        assert_eq!(plan.channel.as_deref(), Some("chg-night"));
    }

    #[test]
    fn a_window_from_23_30_to_00_45_crosses_midnight() {
        let csv = "id,title,owner,start,end\nAC1,swap,bob,23:30,00:45\n";
        let plan = from_csv(csv, meta(Some("2026-11-23")), now()).unwrap();
        let w = plan.tasks[0].window.unwrap();
        assert_eq!(w.start, at("2026-11-23T23:30:00+08:00"));
        assert_eq!(w.end, at("2026-11-24T00:45:00+08:00"));
        assert_eq!(w.duration(), chrono::Duration::minutes(75));
    }

    #[test]
    fn unknown_dependency_cycle_and_bad_time_are_reported_with_their_csv_lines_and_nothing_is_imported(
    ) {
        let csv = "id,title,owner,start,end,depends_on\n\
            AC1,a,bob,22:00,22:10,AC3\n\
            AC2,b,bob,22:10,22:20,AC1\n\
            \n\
            AC3,c,bob,22:20,22:30,AC2\n\
            AC4,d,bob,22:30,25:61,\n\
            AC5,e,bob,22:40,22:50,AC99\n";
        let errors = from_csv(csv, meta(Some("2026-11-23")), now()).unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "line 2: dependency cycle AC1 → AC2 → AC3 → AC1 (lines 2, 3, 5)",
                "line 6: bad time: `25:61` is not a time (YYYY-MM-DD HH:MM, HH:MM, MARKET:session or RFC 3339)",
                "line 7: AC5 depends on unknown task `AC99`",
            ]
        );
        assert!(matches!(&errors[1], ImportError::Invalid(issues) if issues.len() == 2));
    }

    #[test]
    fn yaml_with_the_same_plan_gives_the_same_plan_as_the_csv() {
        let from_sheet = from_csv(SIX_CSV, meta(None), now()).unwrap();
        let from_text = from_yaml(SIX_YAML, chrono_tz::UTC, now()).unwrap();
        assert_eq!(from_text, from_sheet);
    }

    #[test]
    fn a_yaml_syntax_error_reports_its_line() {
        let yaml = "plan:\n  id: CHG-1\ntasks:\n  - id: AC1\n    title: [unclosed\n  - id: AC2\n";
        let errors = from_yaml(yaml, chrono_tz::UTC, now()).unwrap_err();
        assert_eq!(errors.len(), 1);
        // The flow list opened on line 5 is found unclosed on line 6.
        assert_eq!(errors[0].line(), Some(6), "{errors:?}");
        let yaml = "plan:\n  id: CHG-1\n\ttitle: tab\n";
        assert_eq!(
            from_yaml(yaml, chrono_tz::UTC, now()).unwrap_err()[0].line(),
            Some(3)
        );
        let yaml = "plan: {id: P}\ntasks:\n  - id: A\n    owner: @bob\n";
        assert_eq!(
            lines(&from_yaml(yaml, chrono_tz::UTC, now()).unwrap_err()),
            ["line 4: found character that cannot start any token (a value starting with `@` must be quoted: \"@bob\")"]
        );
    }

    #[test]
    fn yaml_field_errors_point_at_the_line_of_their_key() {
        let yaml = "plan:\n  id: CHG-1\n  title: t\n  coordinator: carol\n  date: 2026-11-23\n  timezone: Mars/Olympus\ntasks:\n- id: AC1\n  title: a\n  owner: bob\n  start: \"22:00\"\n  end: \"22:10\"\n- title: b\n  owner: bob\n\n  # comment\n  start: 2026-11-23 22:10\n  end: \"half past\"\n  colour: red\n  depends_on: [AC1, 1.10]\n- id: ''\n  title: c\n  owner: bob\n";
        let errors = from_yaml(yaml, chrono_tz::UTC, now()).unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "line 6: `Mars/Olympus` is not a time zone (e.g. Asia/Shanghai)",
                "line 13: `` is not a task id (1-32 letters, digits, `_`, `.` or `-`)",
                "line 18: bad time: `half past` is not a time (YYYY-MM-DD HH:MM, HH:MM, MARKET:session or RFC 3339)",
                "line 19: unknown task key `colour` (known: id, title, owner, team, start, end, depends_on, critical, status, notes)",
                "line 20: `depends_on`: `1.1` reads as a number, not an id: write the id in quotes",
                "line 21: `` is not a task id (1-32 letters, digits, `_`, `.` or `-`)",
            ]
        );
    }

    #[test]
    fn yaml_in_flow_style_reports_tasks_at_the_tasks_line() {
        let yaml = "plan: {id: P, title: t, coordinator: c}\ntasks: [{id: A, title: a, owner: bob}, {id: B, title: b, owner: bob, depends_on: Z}]\n";
        let errors = from_yaml(yaml, chrono_tz::UTC, now()).unwrap_err();
        assert_eq!(lines(&errors), ["line 2: B depends on unknown task `Z`"]);
    }

    #[test]
    fn quoted_fields_keep_commas_and_doubled_quotes() {
        let csv = "title,id,owner,depends_on\n\"drain \"\"sw-1\"\", then sw-2\",AC1,\"@bob\",\n\"x\",AC2,team:net,\"AC1, AC1\"\n";
        let plan = from_csv(csv, meta(None), now()).unwrap();
        assert_eq!(plan.tasks[0].title, "drain \"sw-1\", then sw-2");
        assert_eq!(plan.tasks[1].depends_on.len(), 1);
        assert_eq!(plan.tasks[1].window, None);
    }

    #[test]
    fn header_and_row_shape_errors_name_their_lines_without_cascading() {
        let errors = from_csv("编号,任务,colour\n", meta(None), now()).unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "line 1: unknown column `colour` (known: id, title, owner, team, start, end, depends_on, critical, status, notes)",
                "line 1: the `owner` column is required",
            ]
        );
        let csv = "id,title,owner,depends_on\nAC1,a, b,bob,\nAC2,c,bob,AC1\nAC3,\"open,bob,\nAC4,d,bob,AC2,,\n";
        let errors = from_csv(csv, meta(None), now()).unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "line 2: 5 fields, the header has 4",
                "line 4: a quoted field is not closed",
                "line 5: 6 fields, the header has 4",
            ]
        );
    }

    #[test]
    fn lone_times_need_a_date_and_a_task_after_midnight_without_its_date_is_caught() {
        let csv = "id,title,owner,start,end,depends_on,critical\nA,a,bob,23:30,23:50,,maybe\nB,b,bob,00:10,00:40,A,\nC,c,bob,2026-11-23 23:00,,,\n";
        let errors = from_csv(csv, meta(None), now()).unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "line 2: critical `maybe` is not yes or no",
                "line 2: bad time: `23:30` has no date: give the plan date or write YYYY-MM-DD HH:MM",
                "line 3: bad time: `00:10` has no date: give the plan date or write YYYY-MM-DD HH:MM",
                "line 4: a start needs an end",
            ]
        );
        let errors = from_csv(csv, meta(Some("2026-11-23")), now()).unwrap_err();
        assert_eq!(
            lines(&errors)[1],
            "line 3: B ends at 2026-11-23 00:40, before A (line 2), which it depends on, starts at 2026-11-23 23:30; if it runs after midnight, write its date (YYYY-MM-DD HH:MM)"
        );
    }

    #[test]
    fn detect_tells_csv_from_yaml_by_content() {
        assert_eq!(detect(SIX_CSV), Format::Csv);
        assert_eq!(detect(SIX_YAML), Format::Yaml);
        assert_eq!(detect("---\nplan: {}\n"), Format::Yaml);
        assert_eq!(detect("\n- id: A\n"), Format::Yaml);
        assert_eq!(detect("id,title,owner\nA,\"x: y\",bob\n"), Format::Csv);
        assert_eq!(detect(""), Format::Csv);
    }

    #[test]
    fn plan_level_issues_and_empty_inputs_are_reported() {
        let errors = from_yaml(
            "tasks:\n  - {id: A, title: a, owner: bob}\n",
            chrono_tz::UTC,
            now(),
        )
        .unwrap_err();
        assert_eq!(
            lines(&errors),
            [
                "the plan has no id",
                "the plan has no title",
                "the plan has no coordinator"
            ]
        );
        assert_eq!(
            lines(&from_csv("", meta(None), now()).unwrap_err()),
            ["line 1: the file is empty (no header row)"]
        );
        assert_eq!(
            lines(&from_csv("\nid,title,owner\n", meta(None), now()).unwrap_err()),
            ["line 2: no tasks below the header"]
        );
        assert_eq!(
            lines(&from_yaml("", chrono_tz::UTC, now()).unwrap_err()),
            ["line 1: expected a mapping with `plan` and `tasks`"]
        );
    }

    /// The first fenced block of `lang` after `heading` in docs/plans.md.
    fn doc_example(heading: &str, lang: &str) -> String {
        let doc = include_str!("../../../docs/plans.md");
        let from = doc.find(heading).unwrap();
        let fence = format!("```{lang}\n");
        let start = from + doc[from..].find(&fence).unwrap() + fence.len();
        let len = doc[start..].find("```").unwrap();
        doc[start..start + len].to_owned()
    }

    #[test]
    fn the_documented_examples_import() {
        let csv = doc_example("## CSV", "text");
        let plan = from_csv(&csv, meta(Some("2026-11-23")), now()).unwrap();
        assert_eq!(plan.tasks.len(), 4);
        let w = plan.tasks[2].window.unwrap();
        assert_eq!(w.end, at("2026-11-24T00:30:00+08:00"));
        assert_eq!(detect(&csv), Format::Csv);
        let yaml = doc_example("## YAML", "yaml");
        let plan = from_yaml(&yaml, chrono_tz::UTC, now()).unwrap();
        assert_eq!((plan.id.as_str(), plan.tasks.len()), ("CHG-2026-1123", 2));
        assert_eq!(
            plan.tasks[0].window.unwrap().start,
            at("2026-11-23T22:30:00+08:00")
        );
        assert_eq!(detect(&yaml), Format::Yaml);

        // And the module header's.
        let header: String = include_str!("plan_import.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| format!("{}\n", l.strip_prefix(' ').unwrap_or(l)))
            .collect();
        let block = |lang: &str| {
            let fence = format!("```{lang}\n");
            let start = header.find(&fence).unwrap() + fence.len();
            header[start..start + header[start..].find("```").unwrap()].to_owned()
        };
        let plan = from_csv(&block("text"), meta(Some("2026-11-23")), now()).unwrap();
        assert_eq!(plan.tasks.len(), 2);
        let plan = from_yaml(&block("yaml"), chrono_tz::UTC, now()).unwrap();
        assert_eq!(plan.tasks[1].owner, Owner::Team("net".into()));
    }

    fn garble() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "id",
            "title",
            "owner",
            ",",
            ";",
            "\n",
            "\r\n",
            "\"",
            "\"\"",
            "22:30",
            "00:45",
            "25:99",
            "2026-11-23 ",
            "2026-11-24T00:50:00+08:00",
            "9999-12-31 23:59",
            "AC1",
            "AC2",
            "- ",
            "  ",
            "tasks:",
            "plan:",
            "depends_on: ",
            "start: ",
            "end: ",
            "[",
            "]",
            "{",
            "}",
            "#",
            "@",
            "team:",
            "；",
            "、",
            "\u{feff}",
            "编号",
            "：",
            "*a",
            "&a ",
            "!!str ",
            "|",
            ">",
            "---",
            "\t",
            "é",
            "\0",
        ]);
        prop_oneof![
            any::<String>(),
            prop::collection::vec(pieces, 0..80).prop_map(|p| p.concat()),
            (
                0..2usize,
                any::<prop::sample::Index>(),
                any::<prop::sample::Index>(),
                ".{0,4}"
            )
                .prop_map(|(which, at, len, insert)| {
                    let doc = if which == 0 { SIX_CSV } else { SIX_YAML };
                    let chars: Vec<char> = doc.chars().collect();
                    let from = at.index(chars.len());
                    let to = (from + len.index(12)).min(chars.len());
                    let mut out: String = chars[..from].iter().collect();
                    out.push_str(&insert);
                    out.extend(&chars[to..]);
                    out
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn garbage_never_panics(text in garble()) {
            let _ = detect(&text);
            let _ = from_csv(&text, meta(Some("2026-11-23")), now());
            let _ = from_csv(&text, PlanMeta { date: Some(NaiveDate::MAX), ..meta(None) }, now());
            let _ = from_yaml(&text, chrono_tz::America::New_York, now());
        }
    }
}
