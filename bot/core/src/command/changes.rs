//! `/changes`, `/change approve|reject|override` and `/diff`.

use serde::{Deserialize, Serialize};

use super::{clip, Command, ParseError, Problem, Syntax};
use crate::catalog::Direction;
use crate::changes::approval::ApprovalAction;

/// How far back `/changes` looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "n", rename_all = "snake_case")]
pub enum Lookback {
    /// The last N trading days of the configured market (today so far included).
    TradingDays(u32),
    /// The last N hours.
    Hours(u32),
}

impl Lookback {
    /// Where the look-back starts at `now`; trading days count on `calendar`.
    /// `None` when the calendar is unknown or does not cover the range.
    pub fn since(
        self,
        now: chrono::DateTime<chrono::Utc>,
        calendar: Option<&crate::calendar::Calendar>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        match self {
            Self::Hours(h) => Some(now - chrono::Duration::hours(i64::from(h))),
            Self::TradingDays(n) => calendar?.trading_days_back(now, n).ok().map(|t| t.min(now)),
        }
    }
}

impl Default for Lookback {
    fn default() -> Self {
        Self::TradingDays(3)
    }
}

/// What `/changes` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesArgs {
    /// The service; every service when absent.
    pub service: Option<String>,
    /// Time range; the last 3 trading days when absent.
    pub lookback: Option<Lookback>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this operator.
    pub operator: Option<String>,
    /// Dependency hops to include (default 1).
    pub hops: Option<u32>,
    /// Which neighbours (default both).
    pub include: Option<Direction>,
}

fn num_prefix(s: &str) -> Option<(u32, &str)> {
    let end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    let n: u32 = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// Reads a look-back phrase at the start of `words`: `last 3 trading days`,
/// `3 trading days`, `3td`, `24h`, `2d`, `最近3个交易日`, `3个交易日`, `最近24小时`,
/// `2天`. Returns it and how many words it took.
pub fn parse_lookback(words: &[String]) -> Option<(Lookback, usize)> {
    let lower: Vec<String> = words.iter().take(4).map(|w| w.to_lowercase()).collect();
    let mut i = 0;
    if lower
        .first()
        .is_some_and(|w| w == "last" || w == "past" || w == "最近" || w == "过去")
    {
        i = 1;
    }
    let first = lower.get(i)?;
    let first = first
        .strip_prefix("最近")
        .or_else(|| first.strip_prefix("过去"))
        .unwrap_or(first);
    let (n, unit) = num_prefix(first)?;
    if n == 0 || n > 10_000 {
        return None;
    }
    let days = |n: u32| Lookback::Hours(n.saturating_mul(24));
    match unit {
        "td" | "个交易日" | "交易日" => Some((Lookback::TradingDays(n), i + 1)),
        "h" | "hour" | "hours" | "小时" | "个小时" => Some((Lookback::Hours(n), i + 1)),
        "d" | "day" | "days" | "天" => Some((days(n), i + 1)),
        "" => match (lower.get(i + 1).map(String::as_str), lower.get(i + 2)) {
            (Some("trading"), Some(d)) if d == "days" || d == "day" => {
                Some((Lookback::TradingDays(n), i + 3))
            }
            (Some("hours" | "hour" | "h"), _) => Some((Lookback::Hours(n), i + 2)),
            (Some("days" | "day" | "d"), _) => Some((days(n), i + 2)),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn parse_changes(rest: &[String]) -> Result<Command, ParseError> {
    let fail = |problem| ParseError {
        syntax: Syntax::Changes,
        problem,
    };
    let mut args = ChangesArgs::default();
    let mut i = 0;
    while i < rest.len() {
        if let Some((lb, used)) = parse_lookback(&rest[i..]) {
            if args.lookback.replace(lb).is_some() {
                return Err(fail(Problem::Unexpected(clip(&rest[i]))));
            }
            i += used;
            continue;
        }
        let w = &rest[i];
        let lw = w.to_lowercase();
        if let Some((k, _)) = lw.split_once('=') {
            let v = w[k.len() + 1..].trim().to_string();
            if v.is_empty() {
                return Err(fail(Problem::Missing(k.to_string())));
            }
            match k {
                "env" | "environment" | "环境" => args.environment = Some(v),
                "operator" | "by" | "op" | "操作人" => {
                    args.operator = Some(v.trim_start_matches('@').to_string())
                }
                "hops" | "跳数" => {
                    args.hops = Some(
                        v.parse()
                            .ok()
                            .filter(|h| *h <= 10)
                            .ok_or_else(|| fail(Problem::Unexpected(clip(w))))?,
                    )
                }
                _ => return Err(fail(Problem::Unexpected(clip(w)))),
            }
        } else {
            match lw.as_str() {
                "up" | "upstream" | "上游" => args.include = Some(Direction::Upstream),
                "down" | "downstream" | "下游" => args.include = Some(Direction::Downstream),
                "both" | "上下游" => args.include = Some(Direction::Both),
                "only" | "仅" => args.hops = Some(0),
                _ if args.service.is_none() => args.service = Some(w.clone()),
                _ => return Err(fail(Problem::Unexpected(clip(w)))),
            }
        }
        i += 1;
    }
    Ok(Command::Changes { args })
}

pub(super) fn parse_change(rest: &[String]) -> Result<Command, ParseError> {
    let fail = |problem| ParseError {
        syntax: Syntax::Change,
        problem,
    };
    let Some((sub, rest)) = rest.split_first() else {
        return Err(fail(Problem::Missing("approve|reject|override".into())));
    };
    let action = match sub.to_lowercase().as_str() {
        "approve" | "批准" => ApprovalAction::Approve,
        "reject" | "deny" | "驳回" => ApprovalAction::Reject,
        "override" | "强制放行" => ApprovalAction::Override,
        _ => return Err(fail(Problem::UnknownSubcommand(clip(sub)))),
    };
    let Some((change, note)) = rest.split_first() else {
        return Err(fail(Problem::Missing("change-id".into())));
    };
    let note = note.join(" ").trim().to_string();
    if action == ApprovalAction::Override && note.is_empty() {
        return Err(fail(Problem::Missing("reason".into())));
    }
    Ok(Command::ChangeDecision {
        change: change.clone(),
        action,
        note: (!note.is_empty()).then_some(note),
    })
}

pub(super) fn parse_diff(rest: &[String]) -> Result<Command, ParseError> {
    match rest {
        [] => Err(ParseError {
            syntax: Syntax::Diff,
            problem: Problem::Missing("change-id|host".into()),
        }),
        [target] => Ok(Command::Diff {
            target: target.clone(),
        }),
        [_, extra, ..] => Err(ParseError {
            syntax: Syntax::Diff,
            problem: Problem::Unexpected(clip(extra)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{parse, Parsed};

    fn changes(text: &str) -> ChangesArgs {
        match parse(text) {
            Parsed::Command(Command::Changes { args }) => args,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn changes_reads_a_service_and_a_trading_day_lookback_in_either_language() {
        let a = changes("/changes payments last 3 trading days");
        assert_eq!(a.service.as_deref(), Some("payments"));
        assert_eq!(a.lookback, Some(Lookback::TradingDays(3)));
        let a = changes("/changes 支付系统 最近3个交易日");
        assert_eq!(a.service.as_deref(), Some("支付系统"));
        assert_eq!(a.lookback, Some(Lookback::TradingDays(3)));
        assert_eq!(changes("/changes 24h").lookback, Some(Lookback::Hours(24)));
        assert_eq!(
            changes("/changes db 2d").lookback,
            Some(Lookback::Hours(48))
        );
        let a = changes("/changes order-router 5 hours env=prod by=@alice hops=2 down");
        assert_eq!(a.lookback, Some(Lookback::Hours(5)));
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.operator.as_deref(), Some("alice"));
        assert_eq!((a.hops, a.include), (Some(2), Some(Direction::Downstream)));
    }

    #[test]
    fn changes_refuses_two_services_and_unknown_keys_with_usage() {
        for bad in [
            "/changes a b",
            "/changes a colour=red",
            "/changes a hops=x",
            "/changes a 24h 3td",
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Parsed::Invalid(ParseError {
                        syntax: Syntax::Changes,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_override_needs_a_reason_and_an_approval_does_not() {
        assert!(matches!(
            parse("/change override CHG-7"),
            Parsed::Invalid(ParseError {
                syntax: Syntax::Change,
                problem: Problem::Missing(_)
            })
        ));
        assert_eq!(
            parse("/change override CHG-7 market halted, hotfix"),
            Parsed::Command(Command::ChangeDecision {
                change: "CHG-7".into(),
                action: ApprovalAction::Override,
                note: Some("market halted, hotfix".into()),
            })
        );
        assert_eq!(
            parse("/change approve CHG-7"),
            Parsed::Command(Command::ChangeDecision {
                change: "CHG-7".into(),
                action: ApprovalAction::Approve,
                note: None,
            })
        );
        assert!(matches!(parse("/diff"), Parsed::Invalid(_)));
        assert_eq!(
            parse("/diff CHG-7"),
            Parsed::Command(Command::Diff {
                target: "CHG-7".into()
            })
        );
    }
}
