//! CSV import of catalog services: the one place that knows the column layout.
//!
//! ```text
//! name,owner,tier,depends_on,hosts,namespaces,schedule,escalation_policy
//! trading-db,dba,1,,db-01;db-02,,dba,database
//! ```
//! Lists are separated by `;`. Only `name` is required; columns may come in any order;
//! unknown columns are refused. Quoted fields (`"a,b"`) are supported.

use warroom_core::catalog::Service;

const COLUMNS: [&str; 8] = [
    "name",
    "owner",
    "tier",
    "depends_on",
    "hosts",
    "namespaces",
    "schedule",
    "escalation_policy",
];

/// Splits one CSV line into fields (RFC 4180 quotes, no embedded newlines).
pub(crate) fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    out.push(cur);
    Ok(out.into_iter().map(|f| f.trim().to_string()).collect())
}

fn list(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// Parses a CSV document into services.
///
/// # Errors
/// `line N: …` for the first problem.
pub fn parse(text: &str) -> Result<Vec<Service>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header =
        fields(header.trim_start_matches('\u{feff}')).map_err(|e| format!("line 1: {e}"))?;
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(format!(
                "line 1: unknown column `{h}` (known: {})",
                COLUMNS.join(", ")
            ));
        }
    }
    if !header.iter().any(|h| h == "name") {
        return Err("line 1: the `name` column is required".into());
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let n = i + 1;
        let f = fields(line).map_err(|e| format!("line {n}: {e}"))?;
        if f.len() != header.len() {
            return Err(format!(
                "line {n}: {} fields, the header has {}",
                f.len(),
                header.len()
            ));
        }
        let get = |col: &str| {
            header
                .iter()
                .position(|h| h == col)
                .map(|i| f[i].clone())
                .unwrap_or_default()
        };
        let name = get("name");
        if name.is_empty() {
            return Err(format!("line {n}: `name` is empty"));
        }
        let tier = match get("tier").as_str() {
            "" => None,
            t => Some(
                t.parse::<u8>()
                    .map_err(|_| format!("line {n}: tier `{t}` is not a number"))?,
            ),
        };
        let opt = |v: String| (!v.is_empty()).then_some(v);
        out.push(Service {
            owner: opt(get("owner")),
            tier,
            depends_on: list(&get("depends_on")),
            hosts: list(&get("hosts")),
            namespaces: list(&get("namespaces")),
            schedule: opt(get("schedule")),
            escalation_policy: opt(get("escalation_policy")),
            ..Service::named(&name)
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_quotes_and_any_column_order() {
        let s =
            parse("tier,name,hosts,owner\n1,trading-db,db-01;db-02,\"dba, shanghai\"\n,cache,,\n")
                .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].hosts, vec!["db-01", "db-02"]);
        assert_eq!(s[0].owner.as_deref(), Some("dba, shanghai"));
        assert_eq!((s[1].tier, s[1].owner.clone()), (None, None));
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(parse("name,colour\nx,red\n").unwrap_err(), "line 1: unknown column `colour` (known: name, owner, tier, depends_on, hosts, namespaces, schedule, escalation_policy)");
        assert_eq!(
            parse("name,tier\nx,1\ny,high\n").unwrap_err(),
            "line 3: tier `high` is not a number"
        );
        assert_eq!(
            parse("name,tier\nx\n").unwrap_err(),
            "line 2: 1 fields, the header has 2"
        );
    }
}
