//! On-call: schedules (who is on call when) and escalation policies (who is paged
//! next when nobody acknowledges).

pub mod escalation;
pub mod lookup;
pub mod schedule;

pub use escalation::{Escalation, NextStep, Page, Policy, PolicyError, Step, Target, WaitClock};
pub use lookup::{entries, schedule_name, schedules_for, Lookup};
pub use schedule::{
    Layer, OnCall, Override, Restriction, Rotation, Schedule, ScheduleError, Shift,
};
