//! The one command parser every chat adapter uses. Text in, [`Command`] or a
//! [`ParseError`] (with the usage line to reply with) out. Never panics.
//!
//! Grammar (words in `<>` required, `[]` optional; an incident id may follow the
//! subcommand wherever a command targets an incident, otherwise the channel's
//! incident is used):
//!
//! ```text
//! /incident declare <title…> [P1..P4] [service…]     title may be "quoted"
//! /incident status|ack|mitigate|resolve|close|reopen [id]
//! /incident sev [id] <P1..P4>
//! /incident list
//! /incident link <id>
//! /role assign [id] <role> <user>
//! /milestone [id] <name> [at <time>]
//! /timeline [id]            /timeline add [id] <text…>
//! /status [id] <text…>     /postmortem [id]          /help
//! /oncall [service|team|schedule]                     /calendar [market]
//! /task start|done|skip|block|reopen <task-id> [reason…]   /task list [team]
//! /plan status [plan-id]
//! /action add [id] <owner> <text…> [due 48h]          /action list [id]
//! /rootcause [id] <text…>   /resolution [id] <text…>
//! /ask <question…>          /similar [id | text…]     (a mention of the bot is an /ask)
//! ```

use serde::{Deserialize, Serialize};

use crate::incident::{IncidentId, Milestone, Severity, Status};

/// Longest accepted chat command, in characters.
pub const MAX_COMMAND_CHARS: usize = 4000;
mod changes;
mod silence;
pub use changes::{parse_lookback, ChangesArgs, Lookback};

/// Longest accepted incident title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A parsed chat command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// `/help`
    Help,
    /// `/changes [service] [last 3 trading days | 24h] [env=…] [by=…] [hops=N] [up|down|both]`
    Changes {
        /// What to list.
        args: ChangesArgs,
    },
    /// `/change approve|reject|override <change-id> [note…]`
    ChangeDecision {
        /// The change.
        change: String,
        /// What to decide.
        action: crate::changes::approval::ApprovalAction,
        /// Why (required for an override).
        note: Option<String>,
    },
    /// `/diff <change-id|host>`
    Diff {
        /// A change id or a host name.
        target: String,
    },
    /// `/silence <matcher…> for <span> [comment…]`
    Silence {
        /// Alertmanager matchers (`service="db"`, `alertname=~"Disk.*"`).
        matchers: Vec<String>,
        /// How long (`2h`, `30m`).
        span: String,
        /// Why.
        comment: Option<String>,
    },
    /// `/silence list`
    SilenceList,
    /// `/alerts [matcher…]`: the alerts firing now.
    AlertList {
        /// Alertmanager matchers the alerts' labels must satisfy.
        matchers: Vec<String>,
    },
    /// `/silence expire <id>`
    SilenceExpire {
        /// The silence.
        id: String,
    },
    /// `/incident declare`
    Declare {
        /// Title.
        title: String,
        /// Severity; the configured default when absent.
        severity: Option<Severity>,
        /// Affected services.
        services: Vec<String>,
    },
    /// `/incident status`
    Show {
        /// Target; the channel's incident when absent.
        incident: Option<IncidentId>,
    },
    /// `/incident list`
    List,
    /// `/incident link <id>`: attach this channel to an incident.
    Link {
        /// The incident.
        incident: IncidentId,
    },
    /// `/incident ack|mitigate|resolve|close|reopen`
    Transition {
        /// Target.
        incident: Option<IncidentId>,
        /// New status.
        to: Status,
        /// `reopen`: a move back to investigating, which `ack` never is.
        #[serde(default)]
        reopen: bool,
    },
    /// `/incident sev <P>`
    SetSeverity {
        /// Target.
        incident: Option<IncidentId>,
        /// New severity.
        severity: Severity,
    },
    /// `/role assign <role> <user>`
    AssignRole {
        /// Target.
        incident: Option<IncidentId>,
        /// Role name or alias as typed; resolved against config by the engine.
        role: String,
        /// User as typed (`alice`, `@alice`, `<@123>`).
        user: String,
    },
    /// `/milestone <name> [at <time>]`
    Milestone {
        /// Target.
        incident: Option<IncidentId>,
        /// Which milestone.
        milestone: Milestone,
        /// Time as typed after `at`; resolved by the engine against now and the time zone.
        at: Option<String>,
    },
    /// `/timeline add <text>`
    TimelineAdd {
        /// Target.
        incident: Option<IncidentId>,
        /// Text.
        text: String,
    },
    /// `/timeline`
    Timeline {
        /// Target.
        incident: Option<IncidentId>,
    },
    /// `/oncall [service|team|schedule]`
    OnCall {
        /// What to look up; all schedules when absent.
        query: Option<String>,
    },
    /// `/oncall override <schedule> <person> for <duration> | until <time>`
    OnCallOverride {
        /// Schedule name.
        schedule: String,
        /// Who covers.
        person: String,
        /// `for 4h` → "4h"; `until 09:00` → "09:00"; which one in `until`.
        span: String,
        /// True for `until <time>`, false for `for <duration>`.
        until: bool,
    },
    /// `/calendar [market]`
    Calendar {
        /// Market code; the configured default when absent.
        market: Option<String>,
    },
    /// `/task start|done|skip|block|reopen <id> [reason…]`
    Task {
        /// Task id as typed (`AC3`, or `PLAN:AC3` when ids repeat across plans).
        task: String,
        /// What to do.
        action: crate::tasks::TaskAction,
    },
    /// `/task list [team]`
    TaskList {
        /// Only this team's tasks.
        team: Option<String>,
    },
    /// `/plan status [plan-id]`
    PlanStatus {
        /// The plan; the channel's plan (or all open plans) when absent.
        plan: Option<String>,
    },
    /// `/action add [id] <owner> <text…> [due <when>]`
    ActionAdd {
        /// Target incident.
        incident: Option<IncidentId>,
        /// Owner as typed.
        owner: String,
        /// What to do.
        text: String,
        /// Due as typed after `due` (`48h`, `3d`, `2026-11-25 18:00`).
        due: Option<String>,
    },
    /// `/action list [id]`
    ActionList {
        /// Target incident.
        incident: Option<IncidentId>,
    },
    /// `/status <text>`: a status update for the war room and the stakeholders.
    StatusUpdate {
        /// Target.
        incident: Option<IncidentId>,
        /// The update.
        text: String,
    },
    /// `/postmortem`
    Postmortem {
        /// Target.
        incident: Option<IncidentId>,
    },
    /// `/rootcause [id] <text…>`: what caused it (for the postmortem and similar incidents).
    RootCause {
        /// Target.
        incident: Option<IncidentId>,
        /// The root cause.
        text: String,
    },
    /// `/resolution [id] <text…>`: what fixed it.
    Resolution {
        /// Target.
        incident: Option<IncidentId>,
        /// The resolution.
        text: String,
    },
    /// `/ask <question…>` (or a mention of the bot): an answer from the runbooks.
    Ask {
        /// The question, as typed.
        question: String,
    },
    /// `/analyze [id]`: the fault-localization card again.
    Analyze {
        /// Target.
        incident: Option<IncidentId>,
    },
    /// `/similar [id | text…]`: similar past incidents.
    Similar {
        /// An incident id, or text to match; empty: the channel's incident.
        target: Option<String>,
    },
    /// `/confirm <proposal-id>` or `/cancel <proposal-id>`: decide on a write the model
    /// proposed (the Confirm and Cancel buttons send these).
    Proposal {
        /// `P-7`.
        id: String,
        /// Confirm (true) or cancel.
        confirm: bool,
    },
    /// `/page [id] <service|team|schedule> [reason…]`: page the on-call now.
    Page {
        /// Target.
        incident: Option<IncidentId>,
        /// Service, team or schedule.
        target: String,
        /// Why.
        reason: String,
    },
}

impl Command {
    /// The incident explicitly named in the command, if any.
    pub fn explicit_incident(&self) -> Option<&IncidentId> {
        match self {
            Self::Show { incident }
            | Self::Transition { incident, .. }
            | Self::SetSeverity { incident, .. }
            | Self::AssignRole { incident, .. }
            | Self::Milestone { incident, .. }
            | Self::TimelineAdd { incident, .. }
            | Self::Timeline { incident }
            | Self::Postmortem { incident }
            | Self::StatusUpdate { incident, .. }
            | Self::ActionAdd { incident, .. }
            | Self::ActionList { incident }
            | Self::RootCause { incident, .. }
            | Self::Resolution { incident, .. }
            | Self::Analyze { incident }
            | Self::Page { incident, .. } => incident.as_ref(),
            Self::Link { incident } => Some(incident),
            Self::Help
            | Self::Declare { .. }
            | Self::List
            | Self::OnCall { .. }
            | Self::Calendar { .. }
            | Self::OnCallOverride { .. }
            | Self::Task { .. }
            | Self::TaskList { .. }
            | Self::PlanStatus { .. }
            | Self::Changes { .. }
            | Self::ChangeDecision { .. }
            | Self::Diff { .. }
            | Self::Silence { .. }
            | Self::SilenceList
            | Self::SilenceExpire { .. }
            | Self::AlertList { .. }
            | Self::Ask { .. }
            | Self::Similar { .. }
            | Self::Proposal { .. } => None,
        }
    }

    /// The syntax entry for this command (for usage replies and audit).
    pub fn syntax(&self) -> Syntax {
        match self {
            Self::Help => Syntax::Help,
            Self::Declare { .. } => Syntax::Declare,
            Self::Show { .. } => Syntax::Status,
            Self::List => Syntax::List,
            Self::Link { .. } => Syntax::Link,
            Self::Transition { .. } => Syntax::Transition,
            Self::SetSeverity { .. } => Syntax::Severity,
            Self::AssignRole { .. } => Syntax::Role,
            Self::Milestone { .. } => Syntax::Milestone,
            Self::TimelineAdd { .. } | Self::Timeline { .. } => Syntax::Timeline,
            Self::Postmortem { .. } => Syntax::Postmortem,
            Self::StatusUpdate { .. } => Syntax::StatusUpdate,
            Self::OnCall { .. } | Self::OnCallOverride { .. } => Syntax::OnCall,
            Self::Calendar { .. } => Syntax::Calendar,
            Self::Task { .. } | Self::TaskList { .. } => Syntax::Task,
            Self::PlanStatus { .. } => Syntax::Plan,
            Self::ActionAdd { .. } | Self::ActionList { .. } => Syntax::Action,
            Self::Changes { .. } => Syntax::Changes,
            Self::ChangeDecision { .. } => Syntax::Change,
            Self::Diff { .. } => Syntax::Diff,
            Self::Silence { .. } | Self::SilenceList | Self::SilenceExpire { .. } => {
                Syntax::Silence
            }
            Self::AlertList { .. } => Syntax::Alerts,
            Self::RootCause { .. } | Self::Resolution { .. } => Syntax::RootCause,
            Self::Ask { .. } => Syntax::Ask,
            Self::Analyze { .. } => Syntax::Analyze,
            Self::Similar { .. } => Syntax::Similar,
            Self::Proposal { .. } => Syntax::Proposal,
            Self::Page { .. } => Syntax::Page,
        }
    }
}

/// The commands' syntax lines, for `/help` and usage replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syntax {
    /// `/help`
    Help,
    /// `/incident declare`
    Declare,
    /// `/incident status`
    Status,
    /// `/incident list`
    List,
    /// `/incident link`
    Link,
    /// `/incident ack|mitigate|resolve|close|reopen`
    Transition,
    /// `/incident sev`
    Severity,
    /// `/role assign`
    Role,
    /// `/milestone`
    Milestone,
    /// `/timeline`
    Timeline,
    /// `/postmortem`
    Postmortem,
    /// `/status`
    StatusUpdate,
    /// `/oncall`
    OnCall,
    /// `/calendar`
    Calendar,
    /// `/task`
    Task,
    /// `/plan`
    Plan,
    /// `/action`
    Action,
    /// `/changes`
    Changes,
    /// `/change`
    Change,
    /// `/diff`
    Diff,
    /// `/silence`
    Silence,
    /// `/alerts`
    Alerts,
    /// `/rootcause`, `/resolution`
    RootCause,
    /// `/ask`
    Ask,
    /// `/similar`
    Similar,
    /// `/analyze`
    Analyze,
    /// `/confirm`, `/cancel`
    Proposal,
    /// `/page`
    Page,
}

impl Syntax {
    /// Every command, in help order.
    pub const ALL: [Syntax; 28] = [
        Self::Declare,
        Self::Status,
        Self::List,
        Self::Severity,
        Self::Transition,
        Self::Link,
        Self::Role,
        Self::Milestone,
        Self::Timeline,
        Self::StatusUpdate,
        Self::RootCause,
        Self::Postmortem,
        Self::Ask,
        Self::Similar,
        Self::Analyze,
        Self::Proposal,
        Self::OnCall,
        Self::Page,
        Self::Calendar,
        Self::Action,
        Self::Task,
        Self::Plan,
        Self::Changes,
        Self::Change,
        Self::Diff,
        Self::Alerts,
        Self::Silence,
        Self::Help,
    ];

    /// The usage line (language-neutral: command words are English in both languages).
    pub fn usage(self) -> &'static str {
        match self {
            Self::Help => "/help",
            Self::Declare => "/incident declare <title…> [P1|P2|P3|P4] [service…]",
            Self::Status => "/incident status [incident-id]",
            Self::List => "/incident list",
            Self::Link => "/incident link <incident-id>",
            Self::Transition => "/incident ack|mitigate|resolve|close|reopen [incident-id]",
            Self::Severity => "/incident sev [incident-id] <P1|P2|P3|P4>",
            Self::Role => "/role assign [incident-id] <role> <user>",
            Self::Milestone => "/milestone [incident-id] <occurred|discovered|responded|delimited|stop-loss|recovered|root-cause|postmortem> [at <HH:MM | YYYY-MM-DD HH:MM>]",
            Self::Timeline => "/timeline [incident-id]  ·  /timeline add [incident-id] <text…>",
            Self::Postmortem => "/postmortem [incident-id]",
            Self::StatusUpdate => "/status [incident-id] <text…>",
            Self::OnCall => "/oncall [service|team|schedule]  ·  /oncall override <schedule> <person> for <4h> | until <HH:MM | YYYY-MM-DD HH:MM>",
            Self::Calendar => "/calendar [market]",
            Self::Task => "/task start <task-id> [force]  ·  /task done|skip|reopen <task-id>  ·  /task block <task-id> <reason…>  ·  /task list [team]",
            Self::Plan => "/plan status [plan-id]",
            Self::Action => "/action add [incident-id] <owner> <text…> [due 48h | due <YYYY-MM-DD HH:MM>]  ·  /action list [incident-id]",
            Self::Changes => "/changes [service] [last 3 trading days | 24h | 2d] [env=prod] [by=operator] [hops=1] [up|down|both]",
            Self::Change => "/change approve|reject <change-id> [note…]  ·  /change override <change-id> <reason…>",
            Self::Diff => "/diff <change-id | host>",
            Self::Silence => "/silence <matcher…> for <2h> [comment…]  ·  /silence list  ·  /silence expire <id>",
            Self::Alerts => "/alerts [matcher…]",
            Self::RootCause => "/rootcause [incident-id] <text…>  ·  /resolution [incident-id] <text…>",
            Self::Ask => "/ask <question…>",
            Self::Similar => "/similar [incident-id | text…]",
            Self::Analyze => "/analyze [incident-id]",
            Self::Proposal => "/confirm <proposal-id>  ·  /cancel <proposal-id>",
            Self::Page => "/page [incident-id] <service|team|schedule> [reason…]",
        }
    }

    /// Machine name used by templates to pick the description (`declare`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::Declare => "declare",
            Self::Status => "status",
            Self::List => "list",
            Self::Link => "link",
            Self::Transition => "transition",
            Self::Severity => "severity",
            Self::Role => "role",
            Self::Milestone => "milestone",
            Self::Timeline => "timeline",
            Self::Postmortem => "postmortem",
            Self::StatusUpdate => "status_update",
            Self::OnCall => "oncall",
            Self::Calendar => "calendar",
            Self::Task => "task",
            Self::Plan => "plan",
            Self::Action => "action",
            Self::Changes => "changes",
            Self::Change => "change",
            Self::Diff => "diff",
            Self::Silence => "silence",
            Self::Alerts => "alerts",
            Self::RootCause => "root_cause",
            Self::Ask => "ask",
            Self::Similar => "similar",
            Self::Analyze => "analyze",
            Self::Proposal => "proposal",
            Self::Page => "page",
        }
    }
}

/// What is wrong with a command; rendered with the usage line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", content = "detail", rename_all = "snake_case")]
pub enum Problem {
    /// The first word is not a command.
    UnknownCommand(String),
    /// A subcommand we do not know.
    UnknownSubcommand(String),
    /// A required argument is missing (its name).
    Missing(String),
    /// A word that does not belong there.
    Unexpected(String),
    /// Not P1–P4.
    BadSeverity(String),
    /// Not a milestone name.
    BadMilestone(String),
    /// Not an incident id.
    BadIncidentId(String),
    /// A quote was opened and not closed.
    UnclosedQuote,
    /// Longer than allowed (the limit).
    TooLong(usize),
}

/// A command that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParseError {
    /// The command whose usage to show.
    pub syntax: Syntax,
    /// What went wrong.
    pub problem: Problem,
}

/// Result of looking at a chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not addressed to the bot (no leading `/`).
    NotACommand,
    /// A valid command.
    Command(Command),
    /// Addressed to the bot but malformed.
    Invalid(ParseError),
}

fn err(syntax: Syntax, problem: Problem) -> Parsed {
    Parsed::Invalid(ParseError { syntax, problem })
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Splits on whitespace, keeping "double quoted" and “curly quoted” runs together.
fn tokenize(s: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut had_quote = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '“' => {
                quote = Some(if c == '"' { '"' } else { '”' });
                had_quote = true;
            }
            None if c.is_whitespace() => {
                if !cur.is_empty() || had_quote {
                    out.push(std::mem::take(&mut cur));
                }
                had_quote = false;
            }
            None => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(Problem::UnclosedQuote);
    }
    if !cur.is_empty() || had_quote {
        out.push(cur);
    }
    Ok(out)
}

/// Takes a leading incident id off `args` if there is one. A word that looks
/// like an id (`IMS-…`) but is malformed is an error rather than silently text.
fn take_id(args: &mut &[String], syntax: Syntax) -> Result<Option<IncidentId>, ParseError> {
    match args.first() {
        Some(w) if w.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("ims-")) => {
            match IncidentId::parse(w) {
                Ok(id) => {
                    *args = &args[1..];
                    Ok(Some(id))
                }
                Err(_) => Err(ParseError {
                    syntax,
                    problem: Problem::BadIncidentId(clip(w)),
                }),
            }
        }
        _ => Ok(None),
    }
}

fn no_more(args: &[String], syntax: Syntax) -> Result<(), ParseError> {
    match args.first() {
        Some(w) => Err(ParseError {
            syntax,
            problem: Problem::Unexpected(clip(w)),
        }),
        None => Ok(()),
    }
}

/// Parses one chat message.
pub fn parse(text: &str) -> Parsed {
    let text = half_width(text);
    let text = text.trim();
    let Some(body) = text.strip_prefix('/').or_else(|| text.strip_prefix('／')) else {
        return Parsed::NotACommand;
    };
    let mut head = body.split_whitespace().map(str::to_lowercase);
    let (first, second) = (
        head.next().unwrap_or_default(),
        head.next().unwrap_or_default(),
    );
    let syntax_guess = match first.as_str() {
        "incident" | "inc" if matches!(second.as_str(), "declare" | "new" | "open") => {
            Syntax::Declare
        }
        "incident" | "inc" => Syntax::Status,
        "role" => Syntax::Role,
        "milestone" | "ms" => Syntax::Milestone,
        "timeline" | "tl" => Syntax::Timeline,
        "postmortem" | "pm" => Syntax::Postmortem,
        "status" | "update" => Syntax::StatusUpdate,
        "oncall" | "on-call" => Syntax::OnCall,
        "calendar" | "cal" => Syntax::Calendar,
        "task" => Syntax::Task,
        "plan" => Syntax::Plan,
        "action" => Syntax::Action,
        "changes" | "变更" => Syntax::Changes,
        "change" => Syntax::Change,
        "diff" | "对比" => Syntax::Diff,
        "silence" | "静默" => Syntax::Silence,
        "alerts" | "告警" => Syntax::Alerts,
        "rootcause" | "root-cause" | "resolution" | "根因" | "解决" => Syntax::RootCause,
        "ask" | "问" | "提问" => Syntax::Ask,
        "similar" | "相似" => Syntax::Similar,
        "analyze" | "analyse" | "定位" => Syntax::Analyze,
        "confirm" | "cancel" | "确认" | "取消" => Syntax::Proposal,
        "page" | "呼叫" => Syntax::Page,
        _ => Syntax::Help,
    };
    if text.chars().count() > MAX_COMMAND_CHARS {
        return err(syntax_guess, Problem::TooLong(MAX_COMMAND_CHARS));
    }
    // Free text is taken as typed, so a question may hold quotes and apostrophes.
    if matches!(syntax_guess, Syntax::Ask | Syntax::Similar) {
        let rest = body
            .trim_start()
            .split_once(char::is_whitespace)
            .map_or("", |(_, r)| r.trim());
        return match syntax_guess {
            Syntax::Ask if rest.is_empty() => err(Syntax::Ask, Problem::Missing("question".into())),
            Syntax::Ask => Parsed::Command(Command::Ask {
                question: rest.to_string(),
            }),
            _ => Parsed::Command(Command::Similar {
                target: (!rest.is_empty()).then(|| rest.to_string()),
            }),
        };
    }
    let words = match tokenize(body) {
        Ok(w) => w,
        Err(p) => return err(syntax_guess, p),
    };
    match parse_words(&words) {
        Ok(c) => Parsed::Command(c),
        Err(e) => Parsed::Invalid(e),
    }
}

fn parse_words(words: &[String]) -> Result<Command, ParseError> {
    let Some((head, rest)) = words.split_first() else {
        return Err(ParseError {
            syntax: Syntax::Help,
            problem: Problem::UnknownCommand(String::new()),
        });
    };
    match head.to_lowercase().as_str() {
        "help" | "h" | "帮助" => Ok(Command::Help),
        "incident" | "inc" => parse_incident(rest),
        "role" => parse_role(rest),
        "milestone" | "ms" => parse_milestone(rest),
        "timeline" | "tl" => parse_timeline(rest),
        "rootcause" | "root-cause" | "根因" => {
            parse_text(rest, Syntax::RootCause, |incident, text| {
                Command::RootCause { incident, text }
            })
        }
        "resolution" | "解决" => parse_text(rest, Syntax::RootCause, |incident, text| {
            Command::Resolution { incident, text }
        }),
        "confirm" | "cancel" | "确认" | "取消" => match rest {
            [id] => Ok(Command::Proposal {
                id: id.to_uppercase(),
                confirm: matches!(head.to_lowercase().as_str(), "confirm" | "确认"),
            }),
            [] => Err(ParseError {
                syntax: Syntax::Proposal,
                problem: Problem::Missing("proposal-id".into()),
            }),
            [_, extra, ..] => Err(ParseError {
                syntax: Syntax::Proposal,
                problem: Problem::Unexpected(clip(extra)),
            }),
        },
        "page" | "呼叫" => {
            let mut args = rest;
            let incident = take_id(&mut args, Syntax::Page)?;
            let Some((target, reason)) = args.split_first() else {
                return Err(ParseError {
                    syntax: Syntax::Page,
                    problem: Problem::Missing("service|team|schedule".into()),
                });
            };
            Ok(Command::Page {
                incident,
                target: target.trim_start_matches('@').to_string(),
                reason: reason.join(" "),
            })
        }
        "analyze" | "analyse" | "定位" => {
            let mut args = rest;
            let incident = take_id(&mut args, Syntax::Analyze)?;
            no_more(args, Syntax::Analyze)?;
            Ok(Command::Analyze { incident })
        }
        "oncall" | "on-call" | "值班" => match rest {
            [sub, args @ ..] if sub.eq_ignore_ascii_case("override") => match args {
                [schedule, person, kw, span @ ..]
                    if !span.is_empty()
                        && (kw.eq_ignore_ascii_case("for") || kw.eq_ignore_ascii_case("until")) =>
                {
                    Ok(Command::OnCallOverride {
                        schedule: schedule.clone(),
                        person: person.trim_start_matches('@').to_string(),
                        span: span.join(" "),
                        until: kw.eq_ignore_ascii_case("until"),
                    })
                }
                [_, person, ..]
                    if person.eq_ignore_ascii_case("for")
                        || person.eq_ignore_ascii_case("until") =>
                {
                    Err(ParseError {
                        syntax: Syntax::OnCall,
                        problem: Problem::Missing("person".into()),
                    })
                }
                [_, _, kw, ..]
                    if !(kw.eq_ignore_ascii_case("for") || kw.eq_ignore_ascii_case("until")) =>
                {
                    Err(ParseError {
                        syntax: Syntax::OnCall,
                        problem: Problem::Unexpected(clip(kw)),
                    })
                }
                [] => Err(ParseError {
                    syntax: Syntax::OnCall,
                    problem: Problem::Missing("schedule".into()),
                }),
                [_] => Err(ParseError {
                    syntax: Syntax::OnCall,
                    problem: Problem::Missing("person".into()),
                }),
                _ => Err(ParseError {
                    syntax: Syntax::OnCall,
                    problem: Problem::Missing("for <duration> | until <time>".into()),
                }),
            },
            [] => Ok(Command::OnCall { query: None }),
            [q] => Ok(Command::OnCall {
                query: Some(q.trim_start_matches('@').to_string()),
            }),
            [_, extra, ..] => Err(ParseError {
                syntax: Syntax::OnCall,
                problem: Problem::Unexpected(clip(extra)),
            }),
        },
        "calendar" | "cal" | "日历" => match rest {
            [] => Ok(Command::Calendar { market: None }),
            [m] => Ok(Command::Calendar {
                market: Some(m.clone()),
            }),
            [_, extra, ..] => Err(ParseError {
                syntax: Syntax::Calendar,
                problem: Problem::Unexpected(clip(extra)),
            }),
        },
        "task" | "任务" => parse_task(rest),
        "plan" | "计划" => match rest {
            [sub] if is_status(sub) => Ok(Command::PlanStatus { plan: None }),
            [sub, plan] if is_status(sub) => Ok(Command::PlanStatus {
                plan: Some(plan.clone()),
            }),
            [sub, _, extra, ..] if is_status(sub) => Err(ParseError {
                syntax: Syntax::Plan,
                problem: Problem::Unexpected(clip(extra)),
            }),
            [] => Err(ParseError {
                syntax: Syntax::Plan,
                problem: Problem::Missing("status".into()),
            }),
            [other, ..] => Err(ParseError {
                syntax: Syntax::Plan,
                problem: Problem::UnknownSubcommand(clip(other)),
            }),
        },
        "action" | "改进项" => parse_action(rest),
        "changes" | "变更" => changes::parse_changes(rest),
        "change" => changes::parse_change(rest),
        "diff" | "对比" => changes::parse_diff(rest),
        "silence" | "静默" => silence::parse_silence(rest),
        "alerts" | "告警" => silence::parse_alerts(rest),
        "status" | "update" => {
            let mut args = rest;
            let incident = take_id(&mut args, Syntax::StatusUpdate)?;
            let text = args.join(" ").trim().to_string();
            if text.is_empty() {
                return Err(ParseError {
                    syntax: Syntax::StatusUpdate,
                    problem: Problem::Missing("text".into()),
                });
            }
            Ok(Command::StatusUpdate { incident, text })
        }
        "postmortem" | "pm" => {
            let mut args = rest;
            let incident = take_id(&mut args, Syntax::Postmortem)?;
            no_more(args, Syntax::Postmortem)?;
            Ok(Command::Postmortem { incident })
        }
        other => Err(ParseError {
            syntax: Syntax::Help,
            problem: Problem::UnknownCommand(clip(other)),
        }),
    }
}

fn parse_incident(rest: &[String]) -> Result<Command, ParseError> {
    let Some((sub, rest)) = rest.split_first() else {
        return Err(ParseError {
            syntax: Syntax::Status,
            problem: Problem::Missing("subcommand".into()),
        });
    };
    let mut args = rest;
    let sub = sub.to_lowercase();
    let transition = match sub.as_str() {
        "ack" | "acknowledge" | "investigate" | "investigating" => Some(Status::Investigating),
        "mitigate" | "mitigated" => Some(Status::Mitigated),
        "resolve" | "resolved" => Some(Status::Resolved),
        "close" | "closed" => Some(Status::Closed),
        _ => None,
    };
    if let Some(to) = transition {
        let incident = take_id(&mut args, Syntax::Transition)?;
        no_more(args, Syntax::Transition)?;
        return Ok(Command::Transition {
            incident,
            to,
            reopen: false,
        });
    }
    match sub.as_str() {
        "declare" | "new" | "open" => parse_declare(args),
        "reopen" => {
            let incident = take_id(&mut args, Syntax::Transition)?;
            no_more(args, Syntax::Transition)?;
            Ok(Command::Transition {
                incident,
                to: Status::Investigating,
                reopen: true,
            })
        }
        "status" | "show" => {
            let incident = take_id(&mut args, Syntax::Status)?;
            no_more(args, Syntax::Status)?;
            Ok(Command::Show { incident })
        }
        "list" | "ls" => {
            no_more(args, Syntax::List)?;
            Ok(Command::List)
        }
        "link" => match take_id(&mut args, Syntax::Link)? {
            Some(incident) => {
                no_more(args, Syntax::Link)?;
                Ok(Command::Link { incident })
            }
            None => Err(ParseError {
                syntax: Syntax::Link,
                problem: Problem::Missing("incident-id".into()),
            }),
        },
        "sev" | "severity" => {
            let incident = take_id(&mut args, Syntax::Severity)?;
            let Some((sev, rest)) = args.split_first() else {
                return Err(ParseError {
                    syntax: Syntax::Severity,
                    problem: Problem::Missing("severity".into()),
                });
            };
            let severity = Severity::parse(sev).map_err(|_| ParseError {
                syntax: Syntax::Severity,
                problem: Problem::BadSeverity(clip(sev)),
            })?;
            no_more(rest, Syntax::Severity)?;
            Ok(Command::SetSeverity { incident, severity })
        }
        other => Err(ParseError {
            syntax: Syntax::Status,
            problem: Problem::UnknownSubcommand(clip(other)),
        }),
    }
}

fn parse_declare(args: &[String]) -> Result<Command, ParseError> {
    let sev_at = args.iter().position(|w| Severity::parse(w).is_ok());
    let (title_words, severity, services) = match sev_at {
        Some(i) => (&args[..i], Severity::parse(&args[i]).ok(), &args[i + 1..]),
        None => (args, None, &args[args.len()..]),
    };
    let title = title_words.join(" ").trim().to_string();
    if title.is_empty() {
        return Err(ParseError {
            syntax: Syntax::Declare,
            problem: Problem::Missing("title".into()),
        });
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ParseError {
            syntax: Syntax::Declare,
            problem: Problem::TooLong(MAX_TITLE_CHARS),
        });
    }
    let mut svc: Vec<String> = Vec::new();
    for s in services
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
    {
        if Severity::parse(&s).is_ok() {
            return Err(ParseError {
                syntax: Syntax::Declare,
                problem: Problem::Unexpected(clip(&s)),
            });
        }
        if !svc.contains(&s) {
            svc.push(s);
        }
    }
    Ok(Command::Declare {
        title,
        severity,
        services: svc,
    })
}

fn parse_role(rest: &[String]) -> Result<Command, ParseError> {
    let Some((sub, rest)) = rest.split_first() else {
        return Err(ParseError {
            syntax: Syntax::Role,
            problem: Problem::Missing("assign".into()),
        });
    };
    if !matches!(sub.to_lowercase().as_str(), "assign" | "set" | "give") {
        return Err(ParseError {
            syntax: Syntax::Role,
            problem: Problem::UnknownSubcommand(clip(sub)),
        });
    }
    let mut args = rest;
    let incident = take_id(&mut args, Syntax::Role)?;
    match args {
        [role, user] => Ok(Command::AssignRole {
            incident,
            role: role.clone(),
            user: user.clone(),
        }),
        [] => Err(ParseError {
            syntax: Syntax::Role,
            problem: Problem::Missing("role".into()),
        }),
        [_] => Err(ParseError {
            syntax: Syntax::Role,
            problem: Problem::Missing("user".into()),
        }),
        [_, _, extra, ..] => Err(ParseError {
            syntax: Syntax::Role,
            problem: Problem::Unexpected(clip(extra)),
        }),
    }
}

fn parse_milestone(rest: &[String]) -> Result<Command, ParseError> {
    let mut args = rest;
    let incident = take_id(&mut args, Syntax::Milestone)?;
    let Some((name, rest)) = args.split_first() else {
        return Err(ParseError {
            syntax: Syntax::Milestone,
            problem: Problem::Missing("milestone".into()),
        });
    };
    let milestone = Milestone::parse(name).ok_or_else(|| ParseError {
        syntax: Syntax::Milestone,
        problem: Problem::BadMilestone(clip(name)),
    })?;
    let at = match rest.split_first() {
        None => None,
        Some((kw, time)) if matches!(kw.to_lowercase().as_str(), "at" | "@" | "于" | "在") => {
            if time.is_empty() {
                return Err(ParseError {
                    syntax: Syntax::Milestone,
                    problem: Problem::Missing("time".into()),
                });
            }
            Some(time.join(" "))
        }
        Some((other, _)) => {
            return Err(ParseError {
                syntax: Syntax::Milestone,
                problem: Problem::Unexpected(clip(other)),
            })
        }
    };
    Ok(Command::Milestone {
        incident,
        milestone,
        at,
    })
}

/// `status`, or 状态 (`/计划 状态`).
fn is_status(word: &str) -> bool {
    word.eq_ignore_ascii_case("status") || word == "状态"
}

fn parse_task(rest: &[String]) -> Result<Command, ParseError> {
    use crate::tasks::TaskAction;
    let e = |problem| ParseError {
        syntax: Syntax::Task,
        problem,
    };
    let Some((sub, args)) = rest.split_first() else {
        return Err(e(Problem::Missing(
            "start|done|skip|block|reopen|list".into(),
        )));
    };
    let sub = sub.to_lowercase();
    if matches!(sub.as_str(), "list" | "ls" | "列表" | "清单") {
        return match args {
            [] => Ok(Command::TaskList { team: None }),
            [team] => Ok(Command::TaskList {
                team: Some(team.trim_start_matches('@').to_string()),
            }),
            [_, extra, ..] => Err(e(Problem::Unexpected(clip(extra)))),
        };
    }
    let Some((task, tail)) = args.split_first() else {
        return Err(e(Problem::Missing("task-id".into())));
    };
    let reason = tail.join(" ").trim().to_string();
    let action = match sub.as_str() {
        "start" | "begin" | "开始" => match tail {
            [] => TaskAction::Start { force: false },
            [f] if f == "--force" || f == "force" || f == "强制" => {
                TaskAction::Start { force: true }
            }
            [extra, ..] => return Err(e(Problem::Unexpected(clip(extra)))),
        },
        "done" | "finish" | "complete" | "完成" => TaskAction::Done,
        "skip" | "跳过" => TaskAction::Skip,
        "reopen" | "重开" | "重新打开" => TaskAction::Reopen,
        "block" | "blocked" | "阻塞" | "受阻" => {
            if reason.is_empty() {
                return Err(e(Problem::Missing("reason".into())));
            }
            TaskAction::Block { reason }
        }
        other => return Err(e(Problem::UnknownSubcommand(clip(other)))),
    };
    if !matches!(action, TaskAction::Block { .. } | TaskAction::Start { .. }) {
        if let Some(extra) = tail.first() {
            return Err(e(Problem::Unexpected(clip(extra))));
        }
    }
    Ok(Command::Task {
        task: task.clone(),
        action,
    })
}

fn parse_action(rest: &[String]) -> Result<Command, ParseError> {
    let e = |problem| ParseError {
        syntax: Syntax::Action,
        problem,
    };
    let Some((sub, args)) = rest.split_first() else {
        return Err(e(Problem::Missing("add|list".into())));
    };
    let mut args = args;
    match sub.to_lowercase().as_str() {
        "list" | "ls" => {
            let incident = take_id(&mut args, Syntax::Action)?;
            no_more(args, Syntax::Action)?;
            Ok(Command::ActionList { incident })
        }
        "add" | "new" => {
            let incident = take_id(&mut args, Syntax::Action)?;
            let Some((owner, words)) = args.split_first() else {
                return Err(e(Problem::Missing("owner".into())));
            };
            // `due` (or 截止) followed by a time; in `check due diligence docs` it is
            // a word of the text. After it, a word that starts like a time (`48hh`,
            // `yesterday 18:00`) makes a due the engine will refuse, not text.
            let due_at = words
                .iter()
                .rposition(|w| w.eq_ignore_ascii_case("due") || w == "截止");
            let (text_words, due) = match due_at {
                Some(i) if i + 1 == words.len() => return Err(e(Problem::Missing("due".into()))),
                Some(i) => {
                    let due = words[i + 1..].join(" ");
                    let mistyped = crate::time::is_time_word(&words[i + 1]);
                    if mistyped || crate::time::is_future_form(&due) {
                        (&words[..i], Some(due))
                    } else {
                        (words, None)
                    }
                }
                None => (words, None),
            };
            let text = text_words.join(" ").trim().to_string();
            if text.is_empty() {
                return Err(e(Problem::Missing("text".into())));
            }
            Ok(Command::ActionAdd {
                incident,
                owner: owner.clone(),
                text,
                due,
            })
        }
        other => Err(e(Problem::UnknownSubcommand(clip(other)))),
    }
}

/// `[id] <text…>`.
fn parse_text(
    rest: &[String],
    syntax: Syntax,
    make: impl FnOnce(Option<IncidentId>, String) -> Command,
) -> Result<Command, ParseError> {
    let mut args = rest;
    let incident = take_id(&mut args, syntax)?;
    let text = args.join(" ").trim().to_string();
    if text.is_empty() {
        return Err(ParseError {
            syntax,
            problem: Problem::Missing("text".into()),
        });
    }
    Ok(make(incident, text))
}

fn parse_timeline(rest: &[String]) -> Result<Command, ParseError> {
    let mut args = rest;
    match args.first().map(|w| w.to_lowercase()) {
        Some(w) if w == "add" || w == "note" => {
            args = &args[1..];
            let incident = take_id(&mut args, Syntax::Timeline)?;
            let text = args.join(" ").trim().to_string();
            if text.is_empty() {
                return Err(ParseError {
                    syntax: Syntax::Timeline,
                    problem: Problem::Missing("text".into()),
                });
            }
            Ok(Command::TimelineAdd { incident, text })
        }
        _ => {
            let incident = take_id(&mut args, Syntax::Timeline)?;
            no_more(args, Syntax::Timeline)?;
            Ok(Command::Timeline { incident })
        }
    }
}

/// Full-width letters, digits and the signs commands use (`＝ ！ ～ ＠ － ．`) as
/// their ASCII forms, as a Chinese input method types them (`Ｐ２`, `service＝db`,
/// `２h`), word by word: a word with Chinese text in it is free text and stays as
/// typed, except the name and operator of a matcher (`alertname＝磁盘使用率９０％` keeps
/// its value, which must match the alert's label exactly).
fn half_width(text: &str) -> String {
    let ascii = |c: char| match c {
        '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '＝' | '！' | '～' | '＠' | '－' | '．' => {
            char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
        }
        _ => c,
    };
    let wide = |c: char| c as u32 >= 0x2E80 && !matches!(c, '\u{FF01}'..='\u{FF5E}');
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.chars().any(wide) {
            // Up to the matcher's operator (`=`, `!=`, `=~`, `!~`), if there is one.
            let op = word
                .char_indices()
                .find(|(_, c)| matches!(ascii(*c), '=' | '!' | '~'))
                .map(|(i, _)| i);
            match op {
                Some(i) if !word[..i].chars().any(wide) => {
                    let (name, rest) = word.split_at(i);
                    out.extend(name.chars().map(ascii));
                    let mut rest = rest.chars().peekable();
                    while let Some(c) = rest.next_if(|c| matches!(ascii(*c), '=' | '!' | '~')) {
                        out.push(ascii(c));
                    }
                    out.extend(rest);
                }
                _ => out.push_str(word),
            }
        } else {
            out.extend(word.chars().map(ascii));
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Command {
        match parse(s) {
            Parsed::Command(c) => c,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn problem(s: &str) -> (Syntax, Problem) {
        match parse(s) {
            Parsed::Invalid(e) => (e.syntax, e.problem),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn task_and_plan_subcommands_can_be_typed_in_chinese() {
        use crate::tasks::TaskAction;
        for (typed, action) in [
            ("/任务 完成 AC3", TaskAction::Done),
            ("/任务 开始 AC3 强制", TaskAction::Start { force: true }),
            ("/任务 跳过 AC3", TaskAction::Skip),
            ("/任务 重开 AC3", TaskAction::Reopen),
        ] {
            assert_eq!(
                cmd(typed),
                Command::Task {
                    task: "AC3".into(),
                    action
                },
                "{typed}"
            );
        }
        assert_eq!(cmd("/任务 列表"), Command::TaskList { team: None });
        assert_eq!(
            cmd("/计划 状态 CHG-1123"),
            Command::PlanStatus {
                plan: Some("CHG-1123".into())
            }
        );
    }

    #[test]
    fn full_width_letters_digits_and_signs_read_as_typed_in_ascii() {
        match cmd("/incident declare 行情延迟（上交所） Ｐ２ market-data") {
            Command::Declare {
                title,
                severity,
                services,
            } => {
                assert_eq!(title, "行情延迟（上交所）");
                assert_eq!(severity, Some(crate::incident::Severity::P2));
                assert_eq!(services, vec!["market-data".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            cmd("/silence service＝market-data for ２h"),
            Command::Silence { matchers, span, .. } if matchers == ["service=market-data"] && span == "2h"
        ));
        // A label value with Chinese text keeps its full-width digits; so does a title word.
        assert!(matches!(
            cmd("/silence alertname＝磁盘使用率９０％ for 2h"),
            Command::Silence { matchers, .. } if matchers == ["alertname=磁盘使用率９０％"]
        ));
        assert!(matches!(
            cmd("/timeline add 第２次重启 Ｐ２"),
            Command::TimelineAdd { text, .. } if text == "第２次重启 P2"
        ));
    }

    #[test]
    fn due_is_a_keyword_only_before_a_time() {
        let add = |s: &str| match cmd(s) {
            Command::ActionAdd { text, due, .. } => (text, due),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            add("/action add bob check due diligence docs"),
            ("check due diligence docs".into(), None)
        );
        assert_eq!(
            add("/action add bob check due diligence docs due 2d"),
            ("check due diligence docs".into(), Some("2d".into()))
        );
        assert_eq!(
            add("/action add bob 复盘 截止 明天 18:00"),
            ("复盘".into(), Some("明天 18:00".into()))
        );
        assert_eq!(
            add("/action add bob fix alerts due 1 day"),
            ("fix alerts".into(), Some("1 day".into()))
        );
        assert_eq!(
            add("/action add bob fix alerts due 48hh"),
            ("fix alerts".into(), Some("48hh".into())),
            "a mistyped due is refused by the engine, not kept in the text"
        );
        assert_eq!(
            add("/action add bob 复盘 截止 明天"),
            ("复盘".into(), Some("明天".into()))
        );
        assert_eq!(
            add("/action add bob fix alerts due yesterday 18:00"),
            ("fix alerts".into(), Some("yesterday 18:00".into())),
            "a due in the past is refused, not kept as text"
        );
        assert_eq!(
            problem("/action add bob fix alerts due"),
            (Syntax::Action, Problem::Missing("due".into()))
        );
    }

    #[test]
    fn declare_splits_title_severity_and_services() {
        assert_eq!(
            cmd("/incident declare Payments down P1 payments, clearing"),
            Command::Declare {
                title: "Payments down".into(),
                severity: Some(Severity::P1),
                services: vec!["payments".into(), "clearing".into()]
            }
        );
        assert_eq!(
            cmd("/incident declare \"P2 link flapping\" p3"),
            Command::Declare {
                title: "P2 link flapping".into(),
                severity: Some(Severity::P3),
                services: vec![]
            }
        );
        assert_eq!(
            cmd("/incident declare 行情延迟"),
            Command::Declare {
                title: "行情延迟".into(),
                severity: None,
                services: vec![]
            }
        );
    }

    #[test]
    fn commands_take_an_optional_incident_id_first() {
        let id = IncidentId::parse("IMS-20261123-002").unwrap();
        assert_eq!(
            cmd("/incident sev IMS-20261123-002 P2"),
            Command::SetSeverity {
                incident: Some(id.clone()),
                severity: Severity::P2
            }
        );
        assert_eq!(
            cmd("/milestone IMS-20261123-002 stop-loss at 2026-11-20 21:30"),
            Command::Milestone {
                incident: Some(id),
                milestone: Milestone::StopLoss,
                at: Some("2026-11-20 21:30".into())
            }
        );
        assert_eq!(
            cmd("/role assign ic @alice"),
            Command::AssignRole {
                incident: None,
                role: "ic".into(),
                user: "@alice".into()
            }
        );
        assert_eq!(
            cmd("/timeline add rolled back v2.3 to v2.2"),
            Command::TimelineAdd {
                incident: None,
                text: "rolled back v2.3 to v2.2".into()
            }
        );
    }

    #[test]
    fn malformed_commands_name_the_problem_and_the_usage() {
        assert_eq!(
            problem("/incident declare"),
            (Syntax::Declare, Problem::Missing("title".into()))
        );
        assert_eq!(
            problem("/incident sev P9"),
            (Syntax::Severity, Problem::BadSeverity("P9".into()))
        );
        assert_eq!(
            problem("/milestone lunch"),
            (Syntax::Milestone, Problem::BadMilestone("lunch".into()))
        );
        assert_eq!(
            problem("/milestone recovered yesterday"),
            (Syntax::Milestone, Problem::Unexpected("yesterday".into()))
        );
        assert_eq!(
            problem("/incident status IMS-2026-1"),
            (Syntax::Status, Problem::BadIncidentId("IMS-2026-1".into()))
        );
        assert_eq!(
            problem("/incident declare \"open"),
            (Syntax::Declare, Problem::UnclosedQuote)
        );
        assert_eq!(
            problem("/frobnicate"),
            (Syntax::Help, Problem::UnknownCommand("frobnicate".into()))
        );
        assert_eq!(
            problem("/role assign ic"),
            (Syntax::Role, Problem::Missing("user".into()))
        );
    }

    #[test]
    fn plain_chat_is_not_a_command() {
        assert_eq!(parse("the db is slow"), Parsed::NotACommand);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_any_input(s in "\\PC*") {
            let _ = parse(&s);
            let _ = parse(&format!("/{s}"));
            let _ = parse(&format!("/incident {s}"));
        }

        #[test]
        fn never_panics_on_command_shaped_input(
            words in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("/incident".to_string()), proptest::strategy::Just("declare".to_string()),
                proptest::strategy::Just("sev".to_string()), proptest::strategy::Just("P1".to_string()),
                proptest::strategy::Just("IMS-20261123-001".to_string()), proptest::strategy::Just("IMS-".to_string()),
                proptest::strategy::Just("at".to_string()), proptest::strategy::Just("\"".to_string()),
                proptest::strategy::Just("/milestone".to_string()), proptest::strategy::Just("/role".to_string()),
                proptest::strategy::Just("assign".to_string()), "[a-z冲突]{0,6}",
            ], 0..8)
        ) {
            let _ = parse(&words.join(" "));
        }

        #[test]
        fn declared_titles_round_trip_through_quotes(title in "[a-zA-Z0-9 行情交易]{1,60}") {
            let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
            proptest::prop_assume!(!title.is_empty());
            match parse(&format!("/incident declare \"{title}\" P2")) {
                Parsed::Command(Command::Declare { title: t, severity, .. }) => {
                    proptest::prop_assert_eq!(t, title);
                    proptest::prop_assert_eq!(severity, Some(Severity::P2));
                }
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }
    }

    #[test]
    fn ask_takes_the_question_as_typed_with_quotes_and_apostrophes() {
        assert_eq!(
            cmd("/ask what's the \"order gateway\" restart procedure?"),
            Command::Ask {
                question: "what's the \"order gateway\" restart procedure?".into()
            }
        );
        assert_eq!(
            cmd("/问 支付系统 连接池耗尽 怎么处理"),
            Command::Ask {
                question: "支付系统 连接池耗尽 怎么处理".into()
            }
        );
        assert!(matches!(
            parse("/ask   "),
            Parsed::Invalid(ParseError {
                syntax: Syntax::Ask,
                ..
            })
        ));
    }

    #[test]
    fn similar_takes_an_id_or_text_or_nothing() {
        assert_eq!(cmd("/similar"), Command::Similar { target: None });
        assert_eq!(
            cmd("/similar IMS-20261120-001"),
            Command::Similar {
                target: Some("IMS-20261120-001".into())
            }
        );
        assert_eq!(
            cmd("/similar kafka lag on quotes"),
            Command::Similar {
                target: Some("kafka lag on quotes".into())
            }
        );
    }

    #[test]
    fn root_cause_and_resolution_take_an_optional_id_and_text() {
        assert_eq!(
            cmd("/rootcause IMS-20261120-001 connection pool too small after release"),
            Command::RootCause {
                incident: Some(IncidentId::parse("IMS-20261120-001").expect("valid id")),
                text: "connection pool too small after release".into()
            }
        );
        assert_eq!(
            cmd("/resolution 回滚 pool_size 到 20"),
            Command::Resolution {
                incident: None,
                text: "回滚 pool_size 到 20".into()
            }
        );
        assert!(matches!(
            parse("/rootcause"),
            Parsed::Invalid(ParseError {
                syntax: Syntax::RootCause,
                ..
            })
        ));
    }
}
