//! Label matchers as in Alertmanager: `name="value"`, `name!="value"`,
//! `name=~"regex"`, `name!~"regex"`. Regexes are anchored at both ends; a missing
//! label matches as the empty string.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::Labels;

/// The comparison of a matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

impl MatchOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Re => "=~",
            Self::NotRe => "!~",
        }
    }
}

/// Why a matcher was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Not of the form `name op value`.
    #[error("`{0}` is not a matcher (use name=\"value\", name!=\"value\", name=~\"re\" or name!~\"re\")")]
    Syntax(String),
    /// The label name is empty or has characters Prometheus does not allow.
    #[error("`{0}` is not a label name")]
    BadName(String),
    /// The regular expression does not compile.
    #[error("bad regex in `{matcher}`: {reason}")]
    BadRegex {
        /// The matcher text.
        matcher: String,
        /// What the regex engine said.
        reason: String,
    },
}

/// One label matcher. Serialized as its text form (`service=~"db|cache"`).
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && n.len() <= 128
}

impl Matcher {
    /// A matcher; regexes are compiled (anchored) here.
    ///
    /// # Errors
    /// [`MatcherError`] for a bad name or regex.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self, MatcherError> {
        if !valid_label_name(name) {
            return Err(MatcherError::BadName(name.chars().take(64).collect()));
        }
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                regex::RegexBuilder::new(&format!("^(?:{value})$"))
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| MatcherError::BadRegex {
                        matcher: format!("{name}{}\"{value}\"", op.symbol()),
                        reason: e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .to_string(),
                    })?,
            ),
            _ => None,
        };
        Ok(Self {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// `name = value` (shorthand for tests and defaults).
    ///
    /// # Errors
    /// [`MatcherError::BadName`].
    pub fn eq(name: &str, value: &str) -> Result<Self, MatcherError> {
        Self::new(name, MatchOp::Eq, value)
    }

    /// Reads `name="value"` and the other three forms; the value may be unquoted.
    ///
    /// # Errors
    /// [`MatcherError`] when the text is not a matcher.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        let t = text.trim();
        let syntax = || MatcherError::Syntax(t.chars().take(128).collect());
        let pos = t.find(['=', '!']).ok_or_else(syntax)?;
        let name = t[..pos].trim();
        let rest = &t[pos..];
        let (op, value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Re, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRe, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::Ne, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Eq, v)
        } else {
            return Err(syntax());
        };
        let value = unquote(value.trim()).ok_or_else(syntax)?;
        Self::new(name, op, &value)
    }

    /// The label name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// The value or regex source.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether `labels` satisfy this matcher (a missing label is the empty string).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).map_or("", String::as_str))
    }

    /// Whether a label value satisfies this matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            // Regex operators always carry their compiled regex (see `new`).
            (MatchOp::Re | MatchOp::NotRe, None) => false,
        }
    }
}

/// Whether every matcher in `ms` matches (true for none).
pub fn matches_all(ms: &[Matcher], labels: &Labels) -> bool {
    ms.iter().all(|m| m.matches(labels))
}

fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            }
        } else if c == '"' {
            return None;
        } else {
            out.push(c);
        }
    }
    Some(out)
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = self
            .value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        write!(f, "{}{}\"{}\"", self.name, self.op.symbol(), escaped)
    }
}

impl TryFrom<String> for Matcher {
    type Error = MatcherError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Matcher> for String {
    fn from(m: Matcher) -> String {
        m.to_string()
    }
}

impl Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn the_four_operators_match_like_alertmanager() {
        let l = labels(&[("service", "db"), ("severity", "critical")]);
        assert!(Matcher::parse("service=\"db\"").unwrap().matches(&l));
        assert!(Matcher::parse("service!=db").unwrap().matches(&l) == false);
        assert!(Matcher::parse("service=~\"db|cache\"").unwrap().matches(&l));
        assert!(
            !Matcher::parse("service=~\"d\"").unwrap().matches(&l),
            "regexes are anchored"
        );
        assert!(Matcher::parse("severity!~\"info|warning\"")
            .unwrap()
            .matches(&l));
        assert!(
            Matcher::parse("team=\"\"").unwrap().matches(&l),
            "a missing label is empty"
        );
    }

    #[test]
    fn matchers_print_back_to_the_text_they_were_read_from() {
        for t in ["a=\"b\"", "a!=\"b c\"", "a=~\"x.*\"", "a!~\"\\\"q\\\"\""] {
            assert_eq!(Matcher::parse(t).unwrap().to_string(), t);
        }
    }

    #[test]
    fn malformed_matchers_are_refused_with_a_reason() {
        assert!(matches!(
            Matcher::parse("no operator"),
            Err(MatcherError::Syntax(_))
        ));
        assert!(matches!(
            Matcher::parse("9a=b"),
            Err(MatcherError::BadName(_))
        ));
        assert!(matches!(
            Matcher::parse("a=~\"(\""),
            Err(MatcherError::BadRegex { .. })
        ));
        assert!(matches!(
            Matcher::parse("a=\"open"),
            Err(MatcherError::Syntax(_))
        ));
    }
}
