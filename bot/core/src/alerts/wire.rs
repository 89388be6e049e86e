//! Webhook bodies and Prometheus pushes read straight into typed fields: the common
//! case of [`super::normalize`], without building a JSON tree first.
//!
//! This path only ever answers "these alerts" or "not mine": anything it does not
//! read exactly as the tree-based parser would (a number as a label value, an escaped
//! `startsAt`, a duplicate field, any error) sends the body to that parser, which
//! accepts it or names the field that is wrong. So both paths accept the same bodies
//! and give the same alerts; the tests and the fuzz targets compare them.

use std::borrow::Cow;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use chrono::{DateTime, Utc};

use super::model::{Alert, AlertSource, Labels};
use super::normalize::{assemble, cut, prometheus_alert, Raw, MAX_PAIRS, MAX_VALUE};

/// The parts of a body this path reads. Bodies and alerts are read as JSON objects
/// only (serde's derive would also take a list in field order, which the tree parser
/// refuses), unknown fields are skipped, and a repeated field is "not mine".
#[derive(Default)]
struct Body<'a> {
    version: Option<&'a str>,
    alerts: Option<Vec<Obj<WireAlert<'a>>>>,
}

#[derive(Default)]
struct WireAlert<'a> {
    status: Option<&'a str>,
    labels: Option<Labels>,
    annotations: Option<Labels>,
    starts_at: Option<&'a str>,
    ends_at: Option<&'a str>,
    fingerprint: Option<&'a str>,
}

/// A JSON object read field by field into `T`.
trait Fields<'de>: Default {
    /// Reads the value of `key` (which was not seen before in this object).
    fn field<A: MapAccess<'de>>(&mut self, key: &str, m: &mut A) -> Result<(), A::Error>;
}

/// `T` read from a JSON object only; a field given twice (even as `null`) is an error.
struct Obj<T>(T);

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Obj<T>, A::Error> {
                let mut t = T::default();
                let mut seen: Vec<Cow<'de, str>> = Vec::new();
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if seen.contains(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate field {k}")));
                    }
                    t.field(&k, &mut m)?;
                    seen.push(k);
                }
                Ok(Obj(t))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Fields<'de> for Body<'a> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, m: &mut A) -> Result<(), A::Error> {
        match key {
            // Present means a string (a `null` version is an error there).
            "version" => self.version = Some(m.next_value::<&str>()?),
            "alerts" => self.alerts = Some(m.next_value()?),
            _ => {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de: 'a, 'a> Fields<'de> for WireAlert<'a> {
    /// `null` reads as absent, as in the tree parser.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, m: &mut A) -> Result<(), A::Error> {
        let slot = match key {
            "status" => &mut self.status,
            "startsAt" => &mut self.starts_at,
            "endsAt" => &mut self.ends_at,
            "fingerprint" => &mut self.fingerprint,
            "labels" => {
                self.labels = m.next_value::<Option<Pairs>>()?.map(|p| p.0);
                return Ok(());
            }
            "annotations" => {
                self.annotations = m.next_value::<Option<Pairs>>()?.map(|p| p.0);
                return Ok(());
            }
            _ => {
                m.next_value::<IgnoredAny>()?;
                return Ok(());
            }
        };
        *slot = m.next_value::<Option<&'de str>>()?;
        Ok(())
    }
}

/// A label or annotation map with string (or `null`) values, as the tree parser's
/// `string_map` reads it; anything else is "not mine".
struct Pairs(Labels);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PairsVisitor)
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = Pairs;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
        use serde::de::Error;
        let mut out = Labels::new();
        let mut n = 0usize;
        while let Some(k) = m.next_key::<Cow<'de, str>>()? {
            n += 1;
            if n > MAX_PAIRS {
                return Err(A::Error::custom("too many entries"));
            }
            // As in a JSON object: a repeated key keeps its last value.
            match m.next_value::<Option<Cow<'de, str>>>()? {
                None => {
                    out.remove(k.as_ref());
                }
                Some(_) if k.is_empty() => return Err(A::Error::custom("empty label name")),
                Some(v) => {
                    let v = v.into_owned();
                    let v = if v.len() > MAX_VALUE { cut(&v) } else { v };
                    out.insert(k.into_owned(), v);
                }
            }
        }
        Ok(Pairs(out))
    }
}

/// The alerts of an Alertmanager (`version` checked) or Grafana webhook body, or
/// `None` when the tree parser must decide.
pub(super) fn webhook(body: &[u8], source: AlertSource, versioned: bool) -> Option<Vec<Alert>> {
    let Obj(b) = serde_json::from_slice::<Obj<Body>>(body).ok()?;
    if versioned && b.version.is_some_and(|v| v != "4") {
        return None;
    }
    let alerts = b.alerts?;
    let mut out = Vec::with_capacity(alerts.len());
    for (i, Obj(a)) in alerts.into_iter().enumerate() {
        let labels = a.labels?;
        if labels.is_empty() {
            return None;
        }
        let raw = Raw {
            status: a.status,
            starts_at: a.starts_at,
            ends_at: a.ends_at,
            fingerprint: a.fingerprint,
        };
        let annotations = a.annotations.unwrap_or_default();
        out.push(assemble(i, labels, annotations, raw, source).ok()?);
    }
    Some(out)
}

/// The alerts of a Prometheus push (a list of alerts), or `None` when the tree parser
/// must decide.
pub(super) fn prometheus(body: &[u8], now: DateTime<Utc>) -> Option<Vec<Alert>> {
    let alerts = serde_json::from_slice::<Vec<Obj<WireAlert>>>(body).ok()?;
    let mut out = Vec::with_capacity(alerts.len());
    for (i, Obj(a)) in alerts.into_iter().enumerate() {
        let labels = a.labels.filter(|l| !l.is_empty())?;
        let annotations = a.annotations.unwrap_or_default();
        out.push(prometheus_alert(i, labels, annotations, a.starts_at, a.ends_at, now).ok()?);
    }
    Some(out)
}
