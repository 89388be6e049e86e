//! A line diff (Myers' O(ND) algorithm) rendered as unified diff lines.
//!
//! Lines are compared exactly (`str::lines`, so `\n` and `\r\n` endings are the
//! same). The common prefix and suffix are trimmed first; when the remaining texts
//! need more than `max_edits` line edits the diff falls back to "replace the whole
//! middle", which is still correct, only not minimal, and keeps time and memory
//! bounded for unrelated 256 KiB files.

use std::collections::HashMap;

/// One step of an edit script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The line is in both texts.
    Equal,
    /// The line is only in the old text.
    Delete,
    /// The line is only in the new text.
    Insert,
}

/// Default bound on the number of line edits searched for.
pub const DEFAULT_MAX_EDITS: usize = 2000;

/// The edit script turning `a` into `b`: one [`Op`] per line of either.
pub fn line_ops<T: PartialEq>(a: &[T], b: &[T], max_edits: usize) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a2, b2) = (&a[prefix..], &b[prefix..]);
    let suffix = a2
        .iter()
        .rev()
        .zip(b2.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a2[..a2.len() - suffix], &b2[..b2.len() - suffix]);
    let mut ops = vec![Op::Equal; prefix];
    match myers(am, bm, max_edits) {
        Some(mid) => ops.extend(mid),
        None => {
            ops.extend(std::iter::repeat_n(Op::Delete, am.len()));
            ops.extend(std::iter::repeat_n(Op::Insert, bm.len()));
        }
    }
    ops.extend(std::iter::repeat_n(Op::Equal, suffix));
    ops
}

/// Myers' greedy forward search with a trace for backtracking; `None` when more
/// than `max_d` edits are needed. The trace holds about `d²` `i32`s (16 MiB at the
/// default bound of 2,000 edits).
fn myers<T: PartialEq>(a: &[T], b: &[T], max_d: usize) -> Option<Vec<Op>> {
    if a.len() + b.len() > (i32::MAX / 4) as usize {
        return None;
    }
    let (n, m) = (a.len() as i32, b.len() as i32);
    if n == 0 || m == 0 {
        let mut ops = vec![Op::Delete; a.len()];
        ops.extend(std::iter::repeat_n(Op::Insert, b.len()));
        return Some(ops);
    }
    let max = (n + m) as usize;
    let limit = max.min(max_d);
    let offset = max as i32 + 1;
    // v[k + offset] = furthest x on diagonal k.
    let mut v = vec![0i32; 2 * max + 3];
    // trace[d] = v[-(d+1) ..= d+1] before step d.
    let mut trace: Vec<Vec<i32>> = Vec::new();
    for d in 0..=limit as i32 {
        let lo = (offset - d - 1) as usize;
        let hi = (offset + d + 1) as usize;
        trace.push(v[lo..=hi].to_vec());
        let mut k = -d;
        while k <= d {
            let idx = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                return Some(backtrack(&trace, n, m));
            }
            k += 2;
        }
    }
    None
}

fn backtrack(trace: &[Vec<i32>], n: i32, m: i32) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, vd) in trace.iter().enumerate().rev() {
        let d = d as i32;
        // vd holds v[-(d+1) ..= d+1].
        let at = |k: i32| vd[(k + d + 1) as usize];
        if d == 0 {
            while x > 0 && y > 0 {
                ops.push(Op::Equal);
                x -= 1;
                y -= 1;
            }
            break;
        }
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            ops.push(Op::Equal);
            x -= 1;
            y -= 1;
        }
        if x == prev_x {
            ops.push(Op::Insert);
        } else {
            ops.push(Op::Delete);
        }
        x = prev_x;
        y = prev_y;
    }
    ops.reverse();
    ops
}

/// A unified diff of two texts: `@@ -l,s +l,s @@` hunk headers, then ` `, `-`, `+`
/// lines, with `context` lines around each change. Empty when the lines are equal.
/// At most `max_lines` lines are returned; the flag says whether more were cut.
pub fn unified(
    old: &str,
    new: &str,
    context: usize,
    max_lines: usize,
    max_edits: usize,
) -> (Vec<String>, bool) {
    // Intern lines so the diff compares integers.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let (a_lines, b_lines): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let a = intern(&a_lines, &mut ids);
    let b = intern(&b_lines, &mut ids);
    let ops = line_ops(&a, &b, max_edits);
    render(&ops, &a_lines, &b_lines, context, max_lines)
}

fn intern<'a>(lines: &[&'a str], ids: &mut HashMap<&'a str, u32>) -> Vec<u32> {
    lines
        .iter()
        .map(|line| {
            let next = ids.len() as u32;
            *ids.entry(line).or_insert(next)
        })
        .collect()
}

fn render(
    ops: &[Op],
    a: &[&str],
    b: &[&str],
    context: usize,
    max_lines: usize,
) -> (Vec<String>, bool) {
    // Positions (index into ops) of changes, grouped into hunks whose gaps of equal
    // lines are at most 2 * context.
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| **o != Op::Equal)
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::new();
    if changed.is_empty() {
        return (out, false);
    }
    // Old/new line numbers before each op.
    let mut pos = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0usize, 0usize);
    for op in ops {
        pos.push((i, j));
        match op {
            Op::Equal => {
                i += 1;
                j += 1;
            }
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    pos.push((i, j));
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for &c in &changed {
        match groups.last_mut() {
            Some((_, end)) if c <= *end + 2 * context + 1 => *end = c,
            _ => groups.push((c, c)),
        }
    }
    for (first, last) in groups {
        let start = first.saturating_sub(context);
        let end = (last + 1 + context).min(ops.len());
        let (a0, b0) = pos[start];
        let (a1, b1) = pos[end];
        let head = |s: usize, len: usize| {
            if len == 0 {
                format!("{s},0")
            } else if len == 1 {
                format!("{}", s + 1)
            } else {
                format!("{},{len}", s + 1)
            }
        };
        out.push(format!(
            "@@ -{} +{} @@",
            head(a0, a1 - a0),
            head(b0, b1 - b0)
        ));
        for (k, op) in ops.iter().enumerate().take(end).skip(start) {
            let (ia, ib) = pos[k];
            let line = match op {
                Op::Equal => format!(" {}", a.get(ia).copied().unwrap_or_default()),
                Op::Delete => format!("-{}", a.get(ia).copied().unwrap_or_default()),
                Op::Insert => format!("+{}", b.get(ib).copied().unwrap_or_default()),
            };
            out.push(line);
            if out.len() >= max_lines {
                return (out, true);
            }
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn apply(ops: &[Op], a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let (mut i, mut j) = (0, 0);
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for op in ops {
            match op {
                Op::Equal => {
                    assert_eq!(a[i], b[j]);
                    old.push(a[i]);
                    new.push(b[j]);
                    i += 1;
                    j += 1;
                }
                Op::Delete => {
                    old.push(a[i]);
                    i += 1;
                }
                Op::Insert => {
                    new.push(b[j]);
                    j += 1;
                }
            }
        }
        (old, new)
    }

    fn lcs(a: &[u8], b: &[u8]) -> usize {
        let mut t = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                t[i][j] = if a[i - 1] == b[j - 1] {
                    t[i - 1][j - 1] + 1
                } else {
                    t[i - 1][j].max(t[i][j - 1])
                };
            }
        }
        t[a.len()][b.len()]
    }

    proptest! {
        #[test]
        fn edit_scripts_are_valid_and_minimal(a in proptest::collection::vec(0u8..4, 0..30), b in proptest::collection::vec(0u8..4, 0..30)) {
            let ops = line_ops(&a, &b, DEFAULT_MAX_EDITS);
            let (old, new) = apply(&ops, &a, &b);
            prop_assert_eq!(&old, &a);
            prop_assert_eq!(&new, &b);
            let equal = ops.iter().filter(|o| **o == Op::Equal).count();
            prop_assert_eq!(equal, lcs(&a, &b));
            // The bounded fallback is still a valid script.
            let ops = line_ops(&a, &b, 1);
            let (old, new) = apply(&ops, &a, &b);
            prop_assert_eq!((old, new), (a, b));
        }
    }

    #[test]
    fn unified_hunks_have_context_and_headers() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n";
        let (lines, cut) = unified(old, new, 1, 100, DEFAULT_MAX_EDITS);
        assert!(!cut);
        assert_eq!(
            lines,
            [
                "@@ -3,3 +3,3 @@",
                " c",
                "-d",
                "+D",
                " e",
                "@@ -10 +10,2 @@",
                " j",
                "+k"
            ]
        );
        let (lines, _) = unified(old, new, 3, 100, DEFAULT_MAX_EDITS);
        assert_eq!(
            lines[0], "@@ -1,10 +1,11 @@",
            "hunks 5 lines apart merge with 3 lines of context"
        );
        assert_eq!(
            unified("x\n", "x\r\n", 3, 100, DEFAULT_MAX_EDITS).0,
            Vec::<String>::new()
        );
        assert_eq!(
            unified("", "a\n", 3, 100, DEFAULT_MAX_EDITS).0,
            ["@@ -0,0 +1 @@", "+a"]
        );
        let (lines, cut) = unified(old, "", 3, 4, DEFAULT_MAX_EDITS);
        assert!(cut);
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn unrelated_large_texts_fall_back_within_bounds() {
        let a: String = (0..5000).map(|i| format!("old line {i}\n")).collect();
        let b: String = (0..5000).map(|i| format!("new line {i}\n")).collect();
        let t0 = std::time::Instant::now();
        let (lines, cut) = unified(&a, &b, 3, 20_000, DEFAULT_MAX_EDITS);
        assert!(!cut);
        assert_eq!(
            lines.len(),
            10_001,
            "one hunk: every line out, every line in"
        );
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    }
}
