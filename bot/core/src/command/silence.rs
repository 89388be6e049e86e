//! `/silence <matcher…> for <2h> [comment…]`, `/silence list`, `/silence expire <id>`,
//! and `/alerts [matcher…]` (what is firing, and what is silenced).

use super::{clip, Command, ParseError, Problem, Syntax};

fn is_matcher(w: &str) -> bool {
    w.contains('=') || w.contains("!~")
}

pub(super) fn parse_silence(rest: &[String]) -> Result<Command, ParseError> {
    let fail = |problem| ParseError {
        syntax: Syntax::Silence,
        problem,
    };
    match rest {
        [] => Err(fail(Problem::Missing("matcher".into()))),
        [sub] if sub.eq_ignore_ascii_case("list") || sub == "列表" => Ok(Command::SilenceList),
        [sub, id] if sub.eq_ignore_ascii_case("expire") || sub == "解除" => {
            Ok(Command::SilenceExpire { id: id.clone() })
        }
        [sub, ..] if sub.eq_ignore_ascii_case("expire") || sub.eq_ignore_ascii_case("list") => {
            Err(fail(Problem::Unexpected(clip(
                rest.last().map_or("", String::as_str),
            ))))
        }
        _ => {
            let n = rest.iter().take_while(|w| is_matcher(w)).count();
            if n == 0 {
                let for_kw = rest[0].eq_ignore_ascii_case("for") || rest[0] == "持续";
                return Err(fail(if for_kw {
                    Problem::Missing("matcher".into())
                } else {
                    Problem::Unexpected(clip(&rest[0]))
                }));
            }
            let tail = &rest[n..];
            let Some((kw, tail)) = tail.split_first() else {
                return Err(fail(Problem::Missing("for <duration>".into())));
            };
            if !(kw.eq_ignore_ascii_case("for") || kw == "持续") {
                return Err(fail(Problem::Unexpected(clip(kw))));
            }
            let Some((span, mut comment)) = tail.split_first() else {
                return Err(fail(Problem::Missing("duration".into())));
            };
            // `for 2 小时`, `for 2 hours`: the unit as a word of its own.
            let mut span = span.clone();
            if let Some((unit, more)) = comment.split_first() {
                let joined = format!("{span}{unit}");
                if span.chars().all(|c| c.is_ascii_digit())
                    && crate::time::parse_span(&joined).is_some()
                {
                    span = joined;
                    comment = more;
                }
            }
            let comment = comment
                .join(" ")
                .trim()
                .trim_start_matches("--")
                .trim()
                .to_string();
            Ok(Command::Silence {
                matchers: rest[..n].to_vec(),
                span,
                comment: (!comment.is_empty()).then_some(comment),
            })
        }
    }
}

pub(super) fn parse_alerts(rest: &[String]) -> Result<Command, ParseError> {
    if let Some(w) = rest
        .iter()
        .find(|w| crate::alerts::Matcher::parse(w).is_err())
    {
        return Err(ParseError {
            syntax: Syntax::Alerts,
            problem: Problem::Unexpected(clip(w)),
        });
    }
    Ok(Command::AlertList {
        matchers: rest.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use crate::command::{parse, Command, Parsed};

    #[test]
    fn a_silence_takes_matchers_a_span_and_a_comment() {
        assert_eq!(
            parse("/silence service=\"trading-db\" alertname=~\"Disk.*\" for 2h -- backup window"),
            Parsed::Command(Command::Silence {
                matchers: vec!["service=trading-db".into(), "alertname=~Disk.*".into()],
                span: "2h".into(),
                comment: Some("backup window".into()),
            })
        );
        assert_eq!(
            parse("/silence list"),
            Parsed::Command(Command::SilenceList)
        );
        assert!(matches!(parse("/silence for 2h"), Parsed::Invalid(_)));
        for typed in [
            "/silence service=db for 2 小时 备份",
            "/silence service=db for 2 hours 备份",
        ] {
            let Parsed::Command(Command::Silence { span, comment, .. }) = parse(typed) else {
                panic!("{typed}");
            };
            let span = crate::alerts::Dur::parse(&span).unwrap();
            assert_eq!(
                (span, comment.as_deref()),
                (crate::alerts::Dur::hours(2), Some("备份")),
                "{typed}"
            );
        }
        assert_eq!(
            parse("/alerts service=\"trading-db\" severity=~\"crit.*\""),
            Parsed::Command(Command::AlertList {
                matchers: vec!["service=trading-db".into(), "severity=~crit.*".into()],
            })
        );
        assert_eq!(
            parse("/告警"),
            Parsed::Command(Command::AlertList { matchers: vec![] })
        );
        assert!(matches!(parse("/alerts now"), Parsed::Invalid(_)));
        assert!(matches!(parse("/silence service=db"), Parsed::Invalid(_)));
        assert!(matches!(
            parse("/silence service=db 2h"),
            Parsed::Invalid(_)
        ));
    }
}
