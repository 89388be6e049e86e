//! What goes into the engine ([`Event`]) and what comes out ([`Action`], carrying
//! [`Message`]s that adapters render through the templates).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::command::{Command, ParseError, Syntax};
use crate::incident::{
    ChannelRef, Entry, Incident, IncidentId, InvalidTransition, Person, TimelineEntry,
};
use crate::rbac::Permission;
use crate::time::TimeError;

/// Where an event came from; decides where the reply goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Origin {
    /// A chat channel: the reply is sent back there.
    Chat {
        /// The channel.
        channel: ChannelRef,
    },
    /// The HTTP API: the reply is the HTTP response, nothing is sent to chat.
    Api,
}

/// Something that happened, for the engine to decide on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A chat message; the engine parses it (plain chat is ignored for now).
    Chat {
        /// Channel it was typed in.
        channel: ChannelRef,
        /// Author.
        actor: Person,
        /// Raw text.
        text: String,
    },
    /// An already-parsed command (slash commands, buttons, the API).
    Command {
        /// Where it came from.
        origin: Origin,
        /// Who issued it.
        actor: Person,
        /// What.
        command: Command,
    },
    /// A chat message to copy into the timeline of the channel's incident (a 📌 reaction,
    /// or war-room capture). Ignored in channels without an incident.
    Capture {
        /// Channel of the message.
        channel: ChannelRef,
        /// Its author.
        author: Person,
        /// Its text.
        text: String,
        /// Link to it.
        link: Option<String>,
    },
    /// The scheduler's heartbeat: fire due escalation steps, task reminders and digests.
    Tick,
    /// Store a validated change plan (import from CSV/YAML/JSON).
    ImportPlan {
        /// The plan (already validated by `Plan::validate`).
        plan: crate::tasks::Plan,
        /// Who imports it from chat (checked for the `update` permission); `None` for
        /// the API, whose bearer token is the authority.
        actor: Option<Person>,
    },
    /// Add an on-call override (API).
    AddOverride {
        /// Schedule name.
        schedule: String,
        /// Who covers.
        person: String,
        /// From.
        start: DateTime<Utc>,
        /// Until.
        end: DateTime<Utc>,
    },
    /// Remove a plan (API).
    DeletePlan {
        /// Plan id.
        plan: String,
    },
    /// Move a task from the API (same rules as `/task`).
    TaskAction {
        /// Plan id.
        plan: String,
        /// Task id.
        task: String,
        /// What to do.
        action: crate::tasks::TaskAction,
        /// Who (recorded in the reply).
        actor: Person,
    },
    /// A chat adapter posted a digest and reports its message id (for later edits).
    DigestPosted {
        /// Plan id.
        plan: String,
        /// Team.
        team: String,
        /// Chat message id.
        message: String,
    },
    /// Alerts durably logged by the intake at `received_at`, for the pipeline.
    Alerts {
        /// Normalized alerts.
        alerts: Vec<crate::alerts::Alert>,
        /// When the intake stored them.
        received_at: DateTime<Utc>,
    },
    /// Add a silence (API).
    AddSilence {
        /// The silence.
        silence: crate::alerts::Silence,
    },
    /// Change silence `silence.id` (API), as Alertmanager does: in place when only its
    /// end, comment or (if still to come) start change; otherwise the old one ends and
    /// the new one is added as `fresh_id`. Refused when no silence has that id.
    UpdateSilence {
        /// The silence as it should be.
        silence: crate::alerts::Silence,
        /// The id of the new silence when it cannot be changed in place.
        fresh_id: String,
    },
    /// End a silence now (API).
    ExpireSilence {
        /// Its id.
        id: String,
    },
    /// Store change events (API, bulk import), replacing those with the same id.
    RecordChanges {
        /// Validated changes.
        changes: Vec<crate::changes::ChangeEvent>,
    },
    /// A deployment pipeline asks the change gate whether `change` may go ahead (API).
    /// The change is recorded; a verdict that needs a decision asks for one in chat.
    CheckChange {
        /// The validated change.
        change: crate::changes::ChangeEvent,
    },
    /// Add or replace catalog services (API, CSV import).
    UpsertServices {
        /// Services.
        services: Vec<crate::catalog::Service>,
    },
    /// The assistant's answer to an [`Action::Assist`].
    Assisted {
        /// What it found.
        result: crate::assist::AssistResult,
    },
    /// An adapter created (or chose) the war room channel for an incident.
    WarRoomOpened {
        /// Incident.
        incident: IncidentId,
        /// Its war room.
        channel: ChannelRef,
    },
    /// The configuration file changed: replace the alert pipeline's routes, inhibit
    /// rules and configured silences, keeping its state. Refused (`Refusal::BadSilence`,
    /// `Refusal::AlertsOff`) without a change.
    ReloadAlertRules {
        /// The new rules.
        rules: crate::alerts::AlertRules,
    },
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Destination {
    /// A specific channel.
    Channel {
        /// The channel.
        channel: ChannelRef,
    },
    /// The incident's war room (the primary adapter's default channel until one exists).
    WarRoom {
        /// Incident.
        incident: IncidentId,
    },
}

/// Something the outside world must do; persisted in the outbox before it is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Post a message.
    Send {
        /// Where.
        to: Destination,
        /// What.
        message: Message,
    },
    /// Create a war room for the incident (a channel in Discord; the console is its own).
    OpenWarRoom {
        /// Incident.
        incident: IncidentId,
    },
    /// Post the incident card in the war room and pin it; later edited in place.
    PostCard {
        /// Incident.
        incident: IncidentId,
        /// War room.
        channel: ChannelRef,
    },
    /// Post or edit a team's overdue digest in a plan's channel; a post is reported back
    /// with [`Event::DigestPosted`] so later changes edit it.
    Digest {
        /// Where.
        channel: ChannelRef,
        /// Plan id.
        plan: String,
        /// Team.
        team: String,
        /// The message to edit, when one was posted before.
        edit: Option<String>,
        /// The digest.
        message: Message,
    },
    /// Notify someone of a page.
    Notify {
        /// The page.
        page: PageNotice,
        /// Through chat (mention + direct message) or the outbound webhook.
        via: Via,
    },
    /// The incident is closed: archive and lock its war room.
    ArchiveWarRoom {
        /// Incident.
        incident: IncidentId,
    },
    /// The incident changed: edit its pinned card in place.
    RefreshCard {
        /// Incident.
        incident: IncidentId,
    },
    /// Work for the assistant (retrieval, similar incidents, history indexing); its result
    /// comes back as [`Event::Assisted`].
    Assist {
        /// The work.
        request: crate::assist::AssistRequest,
    },
}

/// A message to render. Carries data, never text in a particular language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "message", rename_all = "snake_case")]
pub enum Message {
    /// The incident card (status reply; also the war room's pinned card).
    Card {
        /// Snapshot of the incident.
        incident: Box<Incident>,
    },
    /// Confirmation that an incident was declared.
    Declared {
        /// Snapshot.
        incident: Box<Incident>,
        /// Its services that the catalog does not know (a typo pages the default
        /// policy and finds no owner); empty without a catalog.
        #[serde(default)]
        unknown: Vec<String>,
    },
    /// Open and recent incidents.
    List {
        /// Newest first.
        incidents: Vec<Incident>,
    },
    /// Confirmation of one change, with who and what.
    Notice {
        /// Incident.
        incident: IncidentId,
        /// Who.
        who: Person,
        /// What changed.
        entry: Entry,
        /// The incident after the change (for durations on the notice).
        after: Box<Incident>,
    },
    /// A page, as chat renders it.
    Page {
        /// The page.
        page: PageNotice,
    },
    /// Who is on call.
    OnCall {
        /// When.
        at: DateTime<Utc>,
        /// What was asked.
        query: Option<String>,
        /// One per schedule.
        entries: Vec<OnCallEntry>,
    },
    /// An on-call override was stored.
    OverrideSet {
        /// Schedule.
        schedule: String,
        /// Who covers.
        person: String,
        /// From.
        start: DateTime<Utc>,
        /// Until.
        end: DateTime<Utc>,
    },
    /// The trading calendar now.
    Calendar {
        /// The answer.
        view: CalendarView,
    },
    /// A task changed.
    TaskUpdate {
        /// Plan id.
        plan: String,
        /// The task after the change.
        task: crate::tasks::Task,
        /// What happened (incl. tasks it unblocked).
        events: Vec<crate::tasks::TaskEvent>,
        /// Who.
        who: Person,
    },
    /// Tasks of open plans.
    TaskList {
        /// Filter used.
        team: Option<String>,
        /// The tasks.
        tasks: Vec<TaskLine>,
    },
    /// Progress of plans, per team.
    PlanStatus {
        /// One per plan.
        plans: Vec<PlanProgress>,
    },
    /// A reminder for a task owner.
    Reminder {
        /// Plan id.
        plan: String,
        /// The task.
        task: TaskLine,
        /// Which reminder.
        kind: crate::tasks::ReminderKind,
    },
    /// A task whose dependencies are now all finished.
    Unblocked {
        /// Plan id.
        plan: String,
        /// The task.
        task: TaskLine,
    },
    /// A team's overdue digest ("@ops: 4 subtasks overdue (AC3 AC21 AC40 AC58)").
    Digest {
        /// Plan id.
        plan: String,
        /// Team.
        team: String,
        /// Late tasks, natural order (empty: all clear).
        tasks: Vec<String>,
    },
    /// Tasks that stay late, for the plan's coordinator.
    CoordinatorEscalation {
        /// The escalation.
        escalation: crate::tasks::CoordinatorEscalation,
    },
    /// A plan was removed.
    PlanDeleted {
        /// Plan id.
        plan: String,
    },
    /// A stored plan.
    PlanImported {
        /// Plan id.
        plan: String,
        /// Tasks.
        tasks: usize,
        /// Tasks of the plan it replaced (same id) whose progress it kept.
        #[serde(default)]
        kept: usize,
    },
    /// An alert storm started or ended: one notice instead of a post per alert.
    AlertStorm {
        /// `service <name>` or `source <kind>`.
        key: String,
        /// Started (else ended).
        started: bool,
        /// Alerts in the window (started) or during the storm (ended).
        count: usize,
        /// The window, in seconds.
        window_secs: i64,
        /// Storm start.
        since: DateTime<Utc>,
    },
    /// A silence was added.
    SilenceSet {
        /// It.
        silence: crate::alerts::Silence,
    },
    /// A silence was ended.
    SilenceEnded {
        /// Its id.
        silence: String,
    },
    /// `/alerts`: the alerts firing now, worst first.
    AlertList {
        /// Them.
        alerts: Vec<crate::alerts::FiringAlert>,
    },
    /// `/silence list`.
    SilenceList {
        /// In force or to come.
        silences: Vec<crate::alerts::Silence>,
        /// Ended within [`crate::alerts::ENDED_SILENCES_KEPT`], latest first.
        ended: Vec<crate::alerts::Silence>,
    },
    /// Changes were stored.
    ChangesRecorded {
        /// Their ids, in input order.
        ids: Vec<String>,
    },
    /// `/changes`: changes of a service and its neighbours, newest first.
    ChangeList {
        /// What was asked.
        query: ChangeListQuery,
        /// At most 20 changes, newest first.
        changes: Vec<crate::changes::ChangeEvent>,
        /// How many matched in all.
        total: usize,
    },
    /// The change gate's answer (the API's reply; also posted when someone must decide).
    GateVerdict {
        /// The change.
        change: Box<crate::changes::ChangeEvent>,
        /// The final verdict (approvals applied).
        verdict: crate::changes::Verdict,
        /// What people decided so far, if anyone must.
        approval: Option<crate::changes::ApprovalState>,
    },
    /// Someone approved, overrode or rejected a gated change.
    ChangeDecided {
        /// The change.
        change: String,
        /// What they did.
        action: crate::changes::ApprovalAction,
        /// Who.
        who: Person,
        /// Why.
        note: Option<String>,
    },
    /// `/diff`: what changed on each host.
    SnapshotDiff {
        /// The change id or host asked for.
        target: String,
        /// One entry per host with a before and an after snapshot.
        hosts: Vec<HostDiff>,
    },
    /// Catalog services were stored.
    ServicesUpdated {
        /// How many.
        count: usize,
    },
    /// A status update (for the war room and the stakeholders channel).
    StatusUpdate {
        /// Snapshot.
        incident: Box<Incident>,
        /// Who posted it.
        who: Person,
        /// The update.
        text: String,
    },
    /// The timeline.
    Timeline {
        /// Snapshot.
        incident: Box<Incident>,
        /// Entries, oldest first.
        entries: Vec<TimelineEntry>,
    },
    /// The postmortem draft.
    Postmortem {
        /// Snapshot.
        incident: Box<Incident>,
        /// Entries, oldest first.
        entries: Vec<TimelineEntry>,
        /// The incident's action items.
        actions: Vec<TaskLine>,
        /// When the draft was made.
        generated_at: DateTime<Utc>,
    },
    /// An answer from the runbooks (`/ask`, a mention).
    Answer {
        /// The question.
        question: String,
        /// Passages with citations, or an abstention.
        answer: crate::assist::Answer,
    },
    /// Similar past incidents (`/similar`, and on declare).
    Similar {
        /// The incident they are similar to, if any.
        incident: Option<IncidentId>,
        /// What was matched.
        text: String,
        /// Best first.
        similar: Vec<crate::assist::SimilarIncident>,
    },
    /// A fault-localization card (on declare and `/analyze`).
    Analysis {
        /// The incident.
        incident: IncidentId,
        /// Its sections.
        analysis: Box<crate::assist::Analysis>,
    },
    /// A proposal of the language model was cancelled.
    ProposalCancelled {
        /// `P-7`.
        id: String,
        /// Its command, not run.
        command: String,
        /// Who cancelled it.
        by: Person,
    },
    /// The knowledge base could not answer (not a user mistake).
    AssistUnavailable {
        /// The machinery's reason.
        reason: String,
    },
    /// The command list.
    Help,
    /// A malformed command and the usage line.
    Usage {
        /// What was wrong.
        error: ParseError,
    },
    /// RBAC said no.
    Denied {
        /// Missing permission.
        permission: Permission,
        /// Command that was refused.
        command: Syntax,
    },
    /// A well-formed command that cannot be carried out.
    Refused {
        /// Why.
        problem: Refusal,
    },
}

impl Message {
    /// The command it answers was not carried out: denied, malformed, or refused.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::Denied { .. } | Self::Usage { .. } | Self::Refused { .. }
        )
    }
}

/// Why a well-formed command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    /// The command needs an incident and none is linked to this channel.
    NoIncidentHere,
    /// No such incident.
    NotFound {
        /// The id asked for.
        incident: IncidentId,
    },
    /// The status move is not allowed.
    Transition {
        /// Details.
        error: InvalidTransitionView,
    },
    /// The severity is already that.
    SameSeverity {
        /// Current severity code.
        severity: String,
    },
    /// The role is not configured.
    UnknownRole {
        /// As typed.
        role: String,
        /// Configured role keys.
        known: Vec<String>,
    },
    /// The person is not recognisable.
    BadUser {
        /// As typed.
        user: String,
    },
    /// The time could not be used.
    BadTime {
        /// Details.
        error: TimeError,
    },
    /// `/oncall` matched no schedule, service or team.
    UnknownOnCall {
        /// As typed.
        query: String,
        /// The name is a service or team, but no schedule covers it (nobody to page).
        #[serde(default)]
        uncovered: bool,
    },
    /// `/calendar` named an unknown market.
    UnknownMarket {
        /// As typed.
        market: String,
        /// Known codes.
        known: Vec<String>,
    },
    /// A catalog update would leave the catalog invalid.
    CatalogInvalid {
        /// Every problem.
        problems: Vec<String>,
    },
    /// No open plan has that task.
    UnknownTask {
        /// As typed.
        task: String,
    },
    /// Several plans have that task id.
    AmbiguousTask {
        /// As typed.
        task: String,
        /// Plans that have it.
        plans: Vec<String>,
    },
    /// The task cannot make that move (done, already there, dependencies unfinished…).
    Task {
        /// Why, structured so each language words it.
        error: crate::tasks::TaskError,
    },
    /// An action item could not be added.
    TaskRefused {
        /// Why.
        reason: String,
    },
    /// No such plan.
    UnknownPlan {
        /// As typed.
        plan: String,
    },
    /// The due time could not be read.
    BadDue {
        /// As typed.
        text: String,
    },
    /// A milestone time that would come before one that must precede it (or after
    /// one that must follow it).
    MilestoneOrder {
        /// The milestone being set.
        milestone: crate::incident::Milestone,
        /// Its time.
        time: DateTime<Utc>,
        /// The one it conflicts with.
        other: crate::incident::Milestone,
        /// That one's time.
        other_time: DateTime<Utc>,
    },
    /// How long an on-call override lasts (`for 8h`, `until 18:00`) could not be read,
    /// or it would end before it starts.
    BadSpan {
        /// As typed.
        text: String,
        /// It reads as a time, but one already past.
        #[serde(default)]
        past: bool,
    },
    /// A closed incident is read-only.
    Closed {
        /// Incident.
        incident: IncidentId,
    },
    /// The alert pipeline is switched off.
    AlertsOff,
    /// The silence cannot be used.
    BadSilence {
        /// Why (records written before it was structured carry an English `reason`).
        #[serde(alias = "reason", deserialize_with = "silence_problem_or_text")]
        problem: SilenceProblem,
    },
    /// No silence has that id.
    UnknownSilence {
        /// As typed.
        silence: String,
    },
    /// The silence has already ended.
    SilenceEnded {
        /// Its id.
        silence: String,
    },
    /// No change has that id.
    UnknownChange {
        /// As typed.
        change: String,
    },
    /// The decision does not fit the change's verdict.
    Approval {
        /// Why.
        error: crate::changes::ApprovalError,
    },
    /// No before/after pair of snapshots for that change or host.
    NoSnapshots {
        /// As typed.
        target: String,
    },
    /// The proposal cannot be confirmed or cancelled.
    Proposal {
        /// As typed.
        id: String,
        /// `unknown`, `confirmed`, `cancelled`, `expired` or `invalid`.
        state: String,
        /// Who decided it, when someone did.
        by: Option<String>,
    },
    /// The look-back reaches dates the trading calendar does not cover.
    CalendarGap {
        /// The market.
        market: String,
    },
}

/// A [`SilenceProblem`], or the English sentence an older version stored instead.
fn silence_problem_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<SilenceProblem, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Structured(SilenceProblem),
        Text(String),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Structured(p) => p,
        Stored::Text(reason) => SilenceProblem::Rules { reason },
    })
}

/// Why a silence was refused, structured so each language words it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SilenceProblem {
    /// A matcher that cannot be read.
    Matcher {
        /// As typed.
        text: String,
        /// The regex engine's words, for a regex that does not compile.
        detail: Option<String>,
    },
    /// How long it lasts cannot be read.
    Duration {
        /// As typed.
        text: String,
    },
    /// The silence itself is invalid (matches everything, ends before it starts…).
    Invalid {
        /// Why.
        error: crate::alerts::SilenceError,
    },
    /// A recurring window from the configuration file cannot be changed through the API.
    Recurring {
        /// Its id.
        silence: String,
    },
    /// The configuration file's silences are invalid (hot reload).
    Rules {
        /// The pipeline's words, naming the silence.
        reason: String,
    },
}

/// The question behind a [`Message::ChangeList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeListQuery {
    /// The service, if one was named.
    pub service: Option<String>,
    /// The services included (the service and its neighbours).
    pub services: Vec<String>,
    /// From.
    pub since: DateTime<Utc>,
    /// The look-back as asked.
    pub lookback: crate::command::Lookback,
    /// Environment filter.
    pub environment: Option<String>,
    /// Operator filter.
    pub operator: Option<String>,
    /// The named service is neither in the catalog nor in any recorded change (a typo?).
    #[serde(default)]
    pub unknown: bool,
}

/// One host's before/after diff, for a card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDiff {
    /// Host.
    pub host: String,
    /// Snapshot ids compared.
    pub before: u64,
    /// After.
    pub after: u64,
    /// When they were taken.
    pub taken: (DateTime<Utc>, DateTime<Utc>),
    /// `(category, added, missing, modified)` for non-empty categories.
    pub summary: Vec<(String, usize, usize, usize)>,
    /// Lines (see [`crate::changes::diff_lines`]).
    pub lines: Vec<String>,
    /// Lines left out.
    pub omitted: usize,
}

/// Serializable view of [`InvalidTransition`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidTransitionView {
    /// Current status key.
    pub from: String,
    /// Requested status key.
    pub to: String,
    /// Reason key.
    pub reason: crate::incident::TransitionReason,
}

impl From<InvalidTransition> for InvalidTransitionView {
    fn from(e: InvalidTransition) -> Self {
        Self {
            from: e.from.key().into(),
            to: e.to.key().into(),
            reason: e.reason,
        }
    }
}

/// How a page is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Mention in the war room and a direct message.
    Chat,
    /// The outbound JSON webhook (phone/SMS gateways).
    Webhook,
}

/// Who a page reached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PageTarget {
    /// A person (from a schedule when `schedule` is set).
    Person {
        /// Who.
        name: String,
        /// Schedule they are on call for.
        schedule: Option<String>,
    },
    /// A team channel.
    Channel {
        /// Channel name.
        name: String,
    },
    /// A schedule with nobody on call right now.
    Nobody {
        /// The schedule.
        schedule: String,
    },
}

impl PageTarget {
    /// (kind, name, schedule) for templates and the paging webhook: `person`, `channel`
    /// or `nobody`.
    pub fn parts(&self) -> (&'static str, Option<String>, Option<String>) {
        match self {
            Self::Person { name, schedule } => ("person", Some(name.clone()), schedule.clone()),
            Self::Channel { name } => ("channel", Some(name.clone()), None),
            Self::Nobody { schedule } => ("nobody", None, Some(schedule.clone())),
        }
    }

    /// A short label for the timeline.
    pub fn label(&self) -> String {
        match self {
            Self::Person {
                name,
                schedule: Some(s),
            } => format!("{name} ({s})"),
            Self::Person {
                name,
                schedule: None,
            } => name.clone(),
            Self::Channel { name } => format!("#{name}"),
            Self::Nobody { schedule } => format!("nobody on call ({schedule})"),
        }
    }
}

/// One page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageNotice {
    /// Incident.
    pub incident: IncidentId,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: crate::incident::Severity,
    /// Policy.
    pub policy: String,
    /// Step (1-based).
    pub step: usize,
    /// Pass (0 = first).
    pub round: u32,
    /// Who.
    pub target: PageTarget,
    /// Who paged by hand (`/page`); none for a policy's page.
    #[serde(default)]
    pub by: Option<String>,
    /// The reason they gave.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the policy's next step pages if nobody acknowledges; none for a manual
    /// page or a policy's last step.
    #[serde(default)]
    pub next: Option<crate::oncall::NextStep>,
}

/// One schedule in an `/oncall` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnCallEntry {
    /// Schedule.
    pub schedule: String,
    /// Team.
    pub team: Option<String>,
    /// Who is on call (None: nobody).
    pub person: Option<String>,
    /// Which layer (or `override`).
    pub layer: Option<String>,
    /// Services that page this schedule.
    pub services: Vec<String>,
}

/// A `/calendar` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarView {
    /// Market code.
    pub market: String,
    /// Its time zone.
    pub tz: String,
    /// When asked.
    pub at: DateTime<Utc>,
    /// False when the holiday data does not cover `at`.
    pub covered: bool,
    /// In a session now.
    pub trading: bool,
    /// Session name.
    pub session: Option<String>,
    /// When the session ends.
    pub session_end: Option<DateTime<Utc>>,
    /// The trading day `at` belongs to.
    pub trading_day: Option<chrono::NaiveDate>,
    /// The next session start.
    pub next_open: Option<DateTime<Utc>>,
}

/// One task, flattened for lists and reminders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLine {
    /// Plan id.
    pub plan: String,
    /// Task id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Owner name.
    pub owner: String,
    /// Team.
    pub team: String,
    /// Status key.
    pub status: String,
    /// Window start.
    pub start: Option<DateTime<Utc>>,
    /// Window end.
    pub end: Option<DateTime<Utc>>,
    /// Late now (past end + grace, unfinished).
    pub overdue: bool,
    /// On the critical path.
    pub critical: bool,
    /// Unfinished dependencies, for a task not started yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits_for: Vec<String>,
}

/// Progress of one team in one plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamProgress {
    /// Team.
    pub team: String,
    /// Done or skipped.
    pub done: usize,
    /// In progress.
    pub in_progress: usize,
    /// Pending or blocked.
    pub waiting: usize,
    /// Late task ids, natural order.
    pub overdue: Vec<String>,
}

/// Progress of one plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProgress {
    /// Plan id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Coordinator.
    pub coordinator: String,
    /// Finished tasks.
    pub done: usize,
    /// All tasks.
    pub total: usize,
    /// Per team, by name.
    pub teams: Vec<TeamProgress>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silence_refusal_stored_by_an_older_version_still_reads() {
        let old = r#"{"refusal":"bad_silence","reason":"`x` is not a duration such as 30m or 2h"}"#;
        let r: Refusal = serde_json::from_str(old).expect("old shape");
        assert_eq!(
            r,
            Refusal::BadSilence {
                problem: SilenceProblem::Rules {
                    reason: "`x` is not a duration such as 30m or 2h".into()
                }
            }
        );
        let new = Refusal::BadSilence {
            problem: SilenceProblem::Duration {
                text: "两周半".into(),
            },
        };
        let back: Refusal =
            serde_json::from_str(&serde_json::to_string(&new).expect("json")).expect("new shape");
        assert_eq!(back, new);
    }
}
