//! On-call schedules: layers of rotations with a handoff time, restricted to
//! trading sessions, off-hours or a daily window, plus overrides. Answers "who is on
//! call at `t`" and renders the final schedule as shifts (for `/oncall` and iCal).
//!
//! Precedence at an instant: an override covering it, else the highest layer (last
//! in the list) whose restriction holds, else nobody.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::Calendars;

/// How long one member's turn lasts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// One day, handing off at the handoff time (local).
    Daily,
    /// Seven days.
    Weekly,
    /// A custom number of hours (counted in real time from the anchor).
    Hours(u32),
}

/// When a layer applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Restriction {
    /// Always.
    Always,
    /// Only while `market` is in a trading session.
    Sessions {
        /// Market code (`SSE`, `SHFE`).
        market: String,
    },
    /// Only while `market` is not in a trading session.
    OffHours {
        /// Market code.
        market: String,
    },
    /// Every day between two local times (`to` before `from` crosses midnight).
    Daily {
        /// Start, local.
        from: NaiveTime,
        /// End, local.
        to: NaiveTime,
    },
}

/// One rotation layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Name shown on cards.
    pub name: String,
    /// People in rotation order.
    pub members: Vec<String>,
    /// Turn length.
    pub rotation: Rotation,
    /// Local time of day turns change (daily/weekly).
    pub handoff: NaiveTime,
    /// Local date of the first turn (member 0 starts at `anchor` `handoff`).
    pub anchor: NaiveDate,
    /// When the layer applies.
    pub restriction: Restriction,
}

/// A temporary replacement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Who covers.
    pub person: String,
    /// From (inclusive).
    pub start: DateTime<Utc>,
    /// To (exclusive).
    pub end: DateTime<Utc>,
}

/// A schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unique name.
    pub name: String,
    /// Team it belongs to.
    pub team: Option<String>,
    /// Zone of handoff times and daily restrictions.
    pub tz: Tz,
    /// Layers, lowest first.
    pub layers: Vec<Layer>,
    /// Overrides.
    pub overrides: Vec<Override>,
}

/// Who is on call, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OnCall {
    /// The person.
    pub person: String,
    /// Layer name, or `override`.
    pub layer: String,
}

/// One stretch of the final schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Shift {
    /// Who (None: nobody on call).
    pub person: Option<String>,
    /// Layer name or `override`.
    pub layer: Option<String>,
    /// From.
    pub start: DateTime<Utc>,
    /// To.
    pub end: DateTime<Utc>,
}

/// A schedule that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// A layer has nobody in it.
    #[error("layer `{0}` has no members")]
    EmptyLayer(String),
    /// A custom rotation of zero hours.
    #[error("layer `{0}` has a rotation of 0 hours")]
    ZeroRotation(String),
    /// An override ends before it starts.
    #[error("override for `{0}` ends before it starts")]
    BadOverride(String),
    /// A restriction names a market the calendar does not know.
    #[error("layer `{layer}` is restricted to unknown market `{market}`")]
    UnknownMarket {
        /// Layer.
        layer: String,
        /// Market.
        market: String,
    },
}

fn local(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    // DST gap: the earliest valid instant after; overlap: the earlier one.
    let ndt = date.and_time(time);
    tz.from_local_datetime(&ndt)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(ndt + Duration::hours(1)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&ndt))
}

impl Layer {
    /// The member on turn at `t`, with that turn's start and end.
    fn turn(&self, tz: Tz, t: DateTime<Utc>) -> Option<(String, DateTime<Utc>, DateTime<Utc>)> {
        let n = self.members.len() as i64;
        if n == 0 {
            return None;
        }
        let (k, start, end) = match self.rotation {
            Rotation::Hours(h) => {
                let period = Duration::hours(i64::from(h.max(1)));
                let anchor = local(tz, self.anchor, self.handoff);
                let k = (t - anchor).num_seconds().div_euclid(period.num_seconds());
                let start = anchor + period * (k as i32);
                (k, start, start + period)
            }
            Rotation::Daily | Rotation::Weekly => {
                let days = if self.rotation == Rotation::Daily {
                    1
                } else {
                    7
                };
                let lt = t.with_timezone(&tz);
                let mut d = (lt.date_naive() - self.anchor).num_days();
                if lt.time() < self.handoff {
                    d -= 1;
                }
                let k = d.div_euclid(days);
                let start_date = self.anchor + Duration::days(k * days);
                let start = local(tz, start_date, self.handoff);
                let end = local(tz, start_date + Duration::days(days), self.handoff);
                (k, start, end)
            }
        };
        let who = self.members[k.rem_euclid(n) as usize].clone();
        Some((who, start, end))
    }

    /// Whether the restriction holds at `t`. Unknown calendar data fails open (the
    /// layer applies): paging someone beats paging no one.
    fn applies(&self, tz: Tz, t: DateTime<Utc>, cal: &Calendars) -> bool {
        match &self.restriction {
            Restriction::Always => true,
            Restriction::Sessions { market } => cal
                .get(market)
                .map(|c| c.is_trading(t).unwrap_or(true))
                .unwrap_or(true),
            Restriction::OffHours { market } => cal
                .get(market)
                .map(|c| !c.is_trading(t).unwrap_or(false))
                .unwrap_or(true),
            Restriction::Daily { from, to } => {
                let now = t.with_timezone(&tz).time();
                if from <= to {
                    *from <= now && now < *to
                } else {
                    now >= *from || now < *to
                }
            }
        }
    }
}

impl Schedule {
    /// Checks the schedule against the calendars.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self, cal: &Calendars) -> Result<(), ScheduleError> {
        for l in &self.layers {
            if l.members.is_empty() {
                return Err(ScheduleError::EmptyLayer(l.name.clone()));
            }
            if l.rotation == Rotation::Hours(0) {
                return Err(ScheduleError::ZeroRotation(l.name.clone()));
            }
            if let Restriction::Sessions { market } | Restriction::OffHours { market } =
                &l.restriction
            {
                if cal.get(market).is_none() {
                    return Err(ScheduleError::UnknownMarket {
                        layer: l.name.clone(),
                        market: market.clone(),
                    });
                }
            }
        }
        for o in &self.overrides {
            if o.end <= o.start {
                return Err(ScheduleError::BadOverride(o.person.clone()));
            }
        }
        Ok(())
    }

    /// Who is on call at `t`.
    pub fn on_call(&self, t: DateTime<Utc>, cal: &Calendars) -> Option<OnCall> {
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.start <= t && t < o.end)
        {
            return Some(OnCall {
                person: o.person.clone(),
                layer: "override".into(),
            });
        }
        self.layers
            .iter()
            .rev()
            .filter(|l| l.applies(self.tz, t, cal))
            .find_map(|l| {
                l.turn(self.tz, t).map(|(p, _, _)| OnCall {
                    person: p,
                    layer: l.name.clone(),
                })
            })
    }

    /// Instants in `[from, to)` where the answer of [`Schedule::on_call`] may change.
    fn boundaries(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cal: &Calendars,
    ) -> Vec<DateTime<Utc>> {
        let mut b = vec![from];
        for o in &self.overrides {
            b.extend([o.start, o.end]);
        }
        for l in &self.layers {
            let mut t = from;
            let mut guard = 0;
            while t < to && guard < 10_000 {
                guard += 1;
                match l.turn(self.tz, t) {
                    Some((_, _, end)) if end > t => {
                        b.push(end);
                        t = end;
                    }
                    _ => break,
                }
            }
            let mut day = from.with_timezone(&self.tz).date_naive() - Duration::days(1);
            let last = to.with_timezone(&self.tz).date_naive() + Duration::days(1);
            while day <= last {
                match &l.restriction {
                    Restriction::Always => {}
                    Restriction::Daily { from: f, to: e } => {
                        b.extend([local(self.tz, day, *f), local(self.tz, day, *e)])
                    }
                    Restriction::Sessions { market } | Restriction::OffHours { market } => {
                        if let Some(sessions) =
                            cal.get(market).and_then(|c| c.sessions_of(day).ok())
                        {
                            for s in sessions {
                                b.extend([s.start, s.end]);
                            }
                        }
                    }
                }
                day += Duration::days(1);
            }
        }
        b.retain(|x| *x >= from && *x < to);
        b.sort();
        b.dedup();
        b
    }

    /// The final schedule over `[from, to)` as consecutive shifts (gaps have no person).
    pub fn shifts(&self, from: DateTime<Utc>, to: DateTime<Utc>, cal: &Calendars) -> Vec<Shift> {
        let mut out: Vec<Shift> = Vec::new();
        let bounds = self.boundaries(from, to, cal);
        for (i, start) in bounds.iter().enumerate() {
            let end = bounds.get(i + 1).copied().unwrap_or(to);
            let who = self.on_call(*start, cal);
            let (person, layer) = (who.as_ref().map(|w| w.person.clone()), who.map(|w| w.layer));
            match out.last_mut() {
                Some(last) if last.person == person && last.layer == layer => last.end = end,
                _ => out.push(Shift {
                    person,
                    layer,
                    start: *start,
                    end,
                }),
            }
        }
        out
    }

    /// The shifts over `[from, to)`, the one under way at `from` with its real start:
    /// looked up 31 days back, then further back while that shift still began at the
    /// edge of the lookup, but never before the schedule's first turn or override (a
    /// one-person rotation has always been that person's: its shift starts there).
    fn shifts_since_their_start(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cal: &Calendars,
    ) -> Vec<Shift> {
        let first = self
            .layers
            .iter()
            .map(|l| local(self.tz, l.anchor, l.handoff))
            .chain(self.overrides.iter().map(|o| o.start))
            .min()
            .unwrap_or(from)
            .min(from);
        let mut back = Duration::days(31);
        loop {
            let start = (from - back).max(first);
            let shifts = self.shifts(start, to, cal);
            let cut = shifts
                .iter()
                .find(|sh| sh.end > from)
                .is_some_and(|sh| sh.start == start);
            if !cut || start == first || back >= Duration::days(3660) {
                return shifts;
            }
            back = back * 2;
        }
    }

    /// An iCalendar feed of the final schedule over `[from, to)`; one event per shift with
    /// someone on call. The shift under way at `from` keeps its real start
    /// ([`Self::shifts_since_their_start`]), so an event's UID and start stay the same
    /// from one fetch to the next.
    /// `on_call` and `override_layer` are the words of the feed's language ("On call",
    /// "override").
    pub fn ical(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        cal: &Calendars,
        on_call: &str,
        override_layer: &str,
    ) -> String {
        let fmt = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//warroom//oncall//EN\r\nCALSCALE:GREGORIAN\r\n");
        s.push_str(&format!(
            "X-WR-CALNAME:{}: {}\r\n",
            ical_text(on_call),
            ical_text(&self.name)
        ));
        let shifts = self.shifts_since_their_start(from, to, cal);
        for sh in shifts.into_iter().filter(|sh| sh.end > from) {
            let Some(person) = sh.person else { continue };
            s.push_str("BEGIN:VEVENT\r\n");
            s.push_str(&format!(
                "UID:{}-{}@warroom\r\n",
                ical_text(&self.name),
                fmt(sh.start)
            ));
            s.push_str(&format!("DTSTAMP:{}\r\n", fmt(from)));
            s.push_str(&format!(
                "DTSTART:{}\r\nDTEND:{}\r\n",
                fmt(sh.start),
                fmt(sh.end)
            ));
            let layer = match sh.layer.as_deref() {
                Some("override") => override_layer,
                other => other.unwrap_or(""),
            };
            s.push_str(&format!(
                "SUMMARY:{}: {} ({})\r\n",
                ical_text(on_call),
                ical_text(&person),
                ical_text(layer)
            ));
            s.push_str("END:VEVENT\r\n");
        }
        s.push_str("END:VCALENDAR\r\n");
        s
    }
}

/// Escapes iCalendar TEXT values.
fn ical_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
        .replace('\r', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SH: Tz = chrono_tz::Asia::Shanghai;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn layer(name: &str, members: &[&str], rotation: Rotation, restriction: Restriction) -> Layer {
        Layer {
            name: name.into(),
            members: members.iter().map(|m| (*m).to_string()).collect(),
            rotation,
            handoff: hm(9, 0),
            anchor: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(), // a Monday
            restriction,
        }
    }

    fn schedule(layers: Vec<Layer>) -> Schedule {
        Schedule {
            name: "trading-ops".into(),
            team: Some("ops".into()),
            tz: SH,
            layers,
            overrides: vec![],
        }
    }

    fn who(s: &Schedule, at: &str) -> Option<String> {
        s.on_call(t(at), &Calendars::builtin()).map(|o| o.person)
    }

    #[test]
    fn a_weekly_rotation_hands_off_at_the_local_handoff_time() {
        let s = schedule(vec![layer(
            "primary",
            &["ann", "bob", "cai"],
            Rotation::Weekly,
            Restriction::Always,
        )]);
        assert_eq!(who(&s, "2026-11-02T01:00:00Z").as_deref(), Some("ann")); // Mon 09:00 Shanghai
        assert_eq!(who(&s, "2026-11-09T00:59:00Z").as_deref(), Some("ann")); // Mon 08:59 next week
        assert_eq!(who(&s, "2026-11-09T01:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&s, "2026-11-23T01:00:00Z").as_deref(), Some("ann")); // wrapped around
        assert_eq!(who(&s, "2026-11-01T12:00:00Z").as_deref(), Some("cai")); // before the anchor: the turn before
    }

    #[test]
    fn an_override_wins_over_every_layer_only_while_it_lasts() {
        let mut s = schedule(vec![layer(
            "primary",
            &["ann", "bob"],
            Rotation::Daily,
            Restriction::Always,
        )]);
        // 21 days after the anchor: bob's day is Mon 2026-11-23 09:00 → Tue 09:00 local;
        // dan covers across the handoff.
        s.overrides.push(Override {
            person: "dan".into(),
            start: t("2026-11-23T22:00:00Z"),
            end: t("2026-11-24T03:00:00Z"),
        });
        assert_eq!(who(&s, "2026-11-23T21:59:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&s, "2026-11-24T01:30:00Z").as_deref(), Some("dan")); // past the 09:00 handoff, still dan
        assert_eq!(who(&s, "2026-11-24T03:00:00Z").as_deref(), Some("ann"));
    }

    #[test]
    fn a_session_layer_covers_trading_hours_and_the_base_layer_the_rest() {
        let s = schedule(vec![
            layer(
                "off-hours",
                &["night-owl"],
                Rotation::Weekly,
                Restriction::Always,
            ),
            layer(
                "trading",
                &["desk-ops"],
                Rotation::Weekly,
                Restriction::Sessions {
                    market: "SSE".into(),
                },
            ),
        ]);
        assert_eq!(who(&s, "2026-11-23T02:00:00Z").as_deref(), Some("desk-ops")); // Mon 10:00 Shanghai
        assert_eq!(
            who(&s, "2026-11-23T04:00:00Z").as_deref(),
            Some("night-owl")
        ); // lunch break 12:00
        assert_eq!(
            who(&s, "2026-11-21T02:00:00Z").as_deref(),
            Some("night-owl")
        ); // Saturday
    }

    #[test]
    fn a_daily_window_can_cross_midnight() {
        let s = schedule(vec![layer(
            "night",
            &["owl"],
            Rotation::Weekly,
            Restriction::Daily {
                from: hm(21, 0),
                to: hm(2, 30),
            },
        )]);
        assert_eq!(who(&s, "2026-11-23T14:00:00Z").as_deref(), Some("owl")); // 22:00
        assert_eq!(who(&s, "2026-11-23T18:00:00Z").as_deref(), Some("owl")); // 02:00 next day
        assert_eq!(who(&s, "2026-11-23T19:00:00Z"), None); // 03:00
    }

    #[test]
    fn shifts_merge_into_one_event_per_person_and_render_as_ical() {
        let mut s = schedule(vec![layer(
            "primary",
            &["ann", "bob"],
            Rotation::Daily,
            Restriction::Always,
        )]);
        s.overrides.push(Override {
            person: "dan".into(),
            start: t("2026-11-23T04:00:00Z"),
            end: t("2026-11-23T06:00:00Z"),
        });
        let cal = Calendars::builtin();
        let sh = s.shifts(t("2026-11-23T01:00:00Z"), t("2026-11-25T01:00:00Z"), &cal);
        let people: Vec<_> = sh.iter().map(|x| x.person.clone().unwrap()).collect();
        assert_eq!(people, vec!["bob", "dan", "bob", "ann"]);
        assert_eq!(sh[3].start, t("2026-11-24T01:00:00Z"));
        let ics = s.ical(
            t("2026-11-23T01:00:00Z"),
            t("2026-11-25T01:00:00Z"),
            &cal,
            "On call",
            "override",
        );
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 4);
        assert!(ics.contains("DTSTART:20261123T040000Z\r\nDTEND:20261123T060000Z\r\nSUMMARY:On call: dan (override)"), "{ics}");
        let zh = s.ical(
            t("2026-11-23T01:00:00Z"),
            t("2026-11-25T01:00:00Z"),
            &cal,
            "值班",
            "顶班",
        );
        assert!(
            zh.contains("SUMMARY:值班: dan (顶班)") && zh.contains("X-WR-CALNAME:值班: "),
            "{zh}"
        );
    }

    #[test]
    fn an_ical_event_keeps_its_uid_and_real_start_from_one_fetch_to_the_next() {
        let s = schedule(vec![layer(
            "primary",
            &["ann", "bob"],
            Rotation::Daily,
            Restriction::Always,
        )]);
        let cal = Calendars::builtin();
        let first_event = |at: &str| {
            let ics = s.ical(t(at), t(at) + Duration::days(2), &cal, "值班", "顶班");
            let start = ics.find("BEGIN:VEVENT").unwrap();
            let uid = ics[start..]
                .lines()
                .find(|l| l.starts_with("UID:"))
                .unwrap()
                .to_string();
            let dtstart = ics[start..]
                .lines()
                .find(|l| l.starts_with("DTSTART:"))
                .unwrap()
                .to_string();
            (uid, dtstart)
        };
        let a = first_event("2026-11-23T02:00:00Z");
        let b = first_event("2026-11-23T03:30:05Z");
        assert_eq!(a, b);
        assert_eq!(
            a.1, "DTSTART:20261123T010000Z",
            "the shift's real start, not the fetch time"
        );
    }

    #[test]
    fn a_one_person_rotation_is_one_event_from_its_first_turn_whenever_it_is_fetched() {
        // Anchored 2026-11-02 09:00 Shanghai; fetched 3 and 13 months later.
        let s = schedule(vec![layer(
            "dba",
            &["hu"],
            Rotation::Weekly,
            Restriction::Always,
        )]);
        let cal = Calendars::builtin();
        let event = |at: &str| {
            let ics = s.ical(
                t(at),
                t(at) + Duration::days(7),
                &cal,
                "On call",
                "override",
            );
            assert_eq!(ics.matches("BEGIN:VEVENT").count(), 1, "{ics}");
            ics.lines()
                .filter(|l| l.starts_with("UID:") || l.starts_with("DTSTART:"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let a = event("2027-02-10T02:00:00Z");
        assert_eq!(a, event("2027-02-11T05:00:00Z"));
        assert_eq!(a, event("2027-12-24T05:00:00Z"));
        assert_eq!(a[1], "DTSTART:20261102T010000Z");
    }

    #[test]
    fn custom_rotations_count_hours_from_the_anchor() {
        let s = schedule(vec![layer(
            "12h",
            &["a", "b"],
            Rotation::Hours(12),
            Restriction::Always,
        )]);
        assert_eq!(who(&s, "2026-11-02T01:00:00Z").as_deref(), Some("a"));
        assert_eq!(who(&s, "2026-11-02T13:00:00Z").as_deref(), Some("b"));
        assert_eq!(who(&s, "2026-11-03T01:00:00Z").as_deref(), Some("a"));
    }

    #[test]
    fn invalid_schedules_are_refused() {
        let cal = Calendars::builtin();
        assert!(matches!(
            schedule(vec![layer("x", &[], Rotation::Daily, Restriction::Always)]).validate(&cal),
            Err(ScheduleError::EmptyLayer(_))
        ));
        let bad_market = schedule(vec![layer(
            "x",
            &["a"],
            Rotation::Daily,
            Restriction::Sessions {
                market: "MOON".into(),
            },
        )]);
        assert!(matches!(
            bad_market.validate(&cal),
            Err(ScheduleError::UnknownMarket { .. })
        ));
    }
}
