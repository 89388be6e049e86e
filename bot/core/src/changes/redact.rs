//! Masking secrets in command lines before a snapshot stores them.
//!
//! [`redact`] replaces secret values with `***` and keeps everything else, so a
//! redacted command line still tells what runs and stays stable across restarts (a
//! masked value never shows up as a diff). It errs towards masking: `-pthread`
//! becomes `-p***`, a price paid for never storing a MySQL `-pSECRET`.

/// What replaces a secret.
pub const MASK: &str = "***";

/// Key names (lower case, leading dashes removed) whose values are secret: the key
/// contains one of these words …
const SECRET_WORDS: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "passphrase",
];
/// … or is exactly one of these …
const SECRET_KEYS: [&str; 3] = ["pwd", "pass", "auth"];
/// … or ends with `key` (`key`, `api_key`, `access-key`, `AWS_SECRET_ACCESS_KEY`).
const KEY_SUFFIX: &str = "key";

/// Characters that end a value inside a token (`a=1&b=2`, `k=v;x=y`, quotes).
fn ends_value(c: char) -> bool {
    matches!(c, '&' | ';' | ',' | '"' | '\'' | ' ' | '\t')
}

/// Characters that start a key inside a token (after them a new `key=` may begin).
fn starts_key(c: char) -> bool {
    matches!(c, '&' | ';' | ',' | '?' | '"' | '\'' | ' ' | '\t')
}

fn secret_key(key: &str) -> bool {
    let k = key.trim_start_matches('-').to_lowercase();
    if k.is_empty() {
        return false;
    }
    SECRET_WORDS.iter().any(|w| k.contains(w))
        || SECRET_KEYS.contains(&k.as_str())
        || k.ends_with(KEY_SUFFIX)
}

/// A flag whose *next* argument is secret: `--password hunter2`, `--token abc`.
fn secret_flag(token: &str) -> bool {
    token.starts_with("--") && !token.contains('=') && secret_key(token)
}

/// Masks secret values in a command line (case-insensitive key matching):
/// - `key=value` anywhere in an argument, when the key contains `password`, `passwd`,
///   `secret`, `token`, `credential` or `passphrase`, is `pwd`, `pass` or `auth`, or
///   ends with `key`: `--password=x`, `PASSWORD=x`, `token=x`, `api_key=x`,
///   `?user=a&password=x` (the value ends at `&`, `;`, `,` or a quote);
/// - the argument after such a flag: `--password x`, `--client-secret x`;
/// - `-pVALUE` (MySQL style; `-p` alone and `-P 3306` are kept);
/// - the password in a URL: `scheme://user:x@host` → `scheme://user:***@host`;
/// - the argument after `Bearer` or `Basic` (any case), and `Bearer:x` forms.
///
/// Whitespace between arguments is kept as it is.
pub fn redact(cmdline: &str) -> String {
    let mut out = String::with_capacity(cmdline.len());
    let mut mask_next = false;
    let mut rest = cmdline;
    while !rest.is_empty() {
        let ws_len = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..ws_len]);
        rest = &rest[ws_len..];
        if rest.is_empty() {
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let token = &rest[..end];
        rest = &rest[end..];
        if mask_next {
            out.push_str(MASK);
            mask_next = false;
            continue;
        }
        let lower = token.to_lowercase();
        if lower == "bearer" || lower == "basic" || lower == "authorization:bearer" {
            out.push_str(token);
            mask_next = true;
            continue;
        }
        if secret_flag(token) {
            out.push_str(token);
            mask_next = true;
            continue;
        }
        out.push_str(&redact_token(token));
    }
    out
}

fn redact_token(token: &str) -> String {
    // -pSECRET (but not --p..., and not -p alone).
    if let Some(v) = token.strip_prefix("-p") {
        if !v.is_empty() && !token.starts_with("--") && v != MASK {
            return format!("-p{MASK}");
        }
    }
    let t = redact_url_password(token);
    let t = redact_bearer_inline(&t);
    redact_pairs(&t)
}

/// `scheme://user:pass@host` → `scheme://user:***@host`, for every URL in the token.
fn redact_url_password(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut rest = token;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(MASK);
                        out.push_str(&authority[at..]);
                    }
                    None => out.push_str(authority),
                }
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// `Bearer:abc` / `bearer=abc` inside one argument.
fn redact_bearer_inline(token: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so `i` indexes `token` too.
    let lower = token.to_ascii_lowercase();
    for word in ["bearer:", "bearer="] {
        if let Some(i) = lower.find(word) {
            let cut = i + word.len();
            if cut < token.len() {
                return format!("{}{MASK}", &token[..cut]);
            }
        }
    }
    token.to_string()
}

/// Masks `key=value` pairs with a secret key anywhere in the token.
fn redact_pairs(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut key_start = 0;
    let mut i = 0;
    while i < token.len() {
        let Some(c) = token[i..].chars().next() else {
            break;
        };
        if c == '=' {
            let key = &token[key_start..i];
            if secret_key(key) {
                out.push_str(&token[key_start..=i]);
                // The value runs to a terminator.
                let vstart = i + 1;
                let vend = token[vstart..]
                    .find(ends_value)
                    .map_or(token.len(), |j| vstart + j);
                if vend > vstart {
                    out.push_str(MASK);
                }
                i = vend;
                key_start = vend;
                continue;
            }
            // Not secret: a later `=` in this value may still start a key only after a
            // separator, so copy through to there.
            out.push_str(&token[key_start..=i]);
            i += 1;
            key_start = i;
            continue;
        }
        if starts_key(c) {
            out.push_str(&token[key_start..i + c.len_utf8()]);
            i += c.len_utf8();
            key_start = i;
            continue;
        }
        i += c.len_utf8();
    }
    out.push_str(&token[key_start.min(token.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn never_panics_and_is_idempotent(s in "\\PC{0,60}", t in "[-a-zA-Z=:/@&? ]{0,40}") {
            for input in [s.clone(), t.clone(), format!("{t}{s}")] {
                let once = redact(&input);
                prop_assert_eq!(redact(&once), once.clone());
            }
        }
    }

    #[test]
    fn masks_flags_env_pairs_urls_and_bearer_tokens() {
        let cases = [
            (
                "mysqld --password=hunter2 --port=3306",
                "mysqld --password=*** --port=3306",
            ),
            (
                "mysql -uroot -phunter2 -P 3306 -p",
                "mysql -uroot -p*** -P 3306 -p",
            ),
            (
                "env PASSWORD=x DB_PASSWD=y PWD=z USER=u",
                "env PASSWORD=*** DB_PASSWD=*** PWD=*** USER=u",
            ),
            ("app --Token=abc token=def", "app --Token=*** token=***"),
            (
                "app --client-secret s3 --secret=t --name secret",
                "app --client-secret *** --secret=*** --name secret",
            ),
            (
                "aws AWS_SECRET_ACCESS_KEY=AKIA api_key=1 key=2 --keyfile=/k",
                "aws AWS_SECRET_ACCESS_KEY=*** api_key=*** key=*** --keyfile=/k",
            ),
            (
                "psql postgres://bob:pw@db:5432/x",
                "psql postgres://bob:***@db:5432/x",
            ),
            (
                "curl https://a:b@h/p?user=u&password=p&x=1",
                "curl https://a:***@h/p?user=u&password=***&x=1",
            ),
            (
                "curl -H Authorization: Bearer eyJhbGci.x.y",
                "curl -H Authorization: Bearer ***",
            ),
            (
                "curl -H Authorization:bearer:abc",
                "curl -H Authorization:bearer:***",
            ),
            (
                "java -Dspring.datasource.password=pw -jar a.jar",
                "java -Dspring.datasource.password=*** -jar a.jar",
            ),
            ("nginx: worker process", "nginx: worker process"),
            ("redis-server *:6379", "redis-server *:6379"),
            ("x --password", "x --password"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input: {input}");
        }
    }

    #[test]
    fn is_idempotent_and_keeps_whitespace_and_unicode() {
        let s = "svc  --password=密码\tmode=快速 url=http://u:p@h";
        let once = redact(s);
        assert_eq!(once, "svc  --password=***\tmode=快速 url=http://u:***@h");
        assert_eq!(redact(&once), once);
    }
}
