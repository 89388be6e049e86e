//! Graph algorithms over task positions, all iterative so a plan of any size
//! (a 100,000-task chain) cannot overflow the stack.
//!
//! Edges point from a dependency to its dependent ("precedes"): `deps[i]` are
//! the positions task `i` waits for; `succ[j]` the positions waiting for `j`.

use std::collections::{HashMap, HashSet, VecDeque};

/// The reverse of `deps`: for each position, who waits for it.
pub(crate) fn successors(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut succ = vec![Vec::new(); deps.len()];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            if let Some(s) = succ.get_mut(d) {
                s.push(i);
            }
        }
    }
    succ
}

/// Strongly connected components (Tarjan), each a list of positions.
pub(crate) fn sccs(succ: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = succ.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    // (node, how many of its edges were followed)
    let mut calls: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(&(v, followed)) = calls.last() {
            match succ[v].get(followed) {
                Some(&w) if w < n => {
                    if let Some(top) = calls.last_mut() {
                        top.1 += 1;
                    }
                    if index[w] == UNSEEN {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                }
                Some(_) => {
                    // Out-of-range edge: cannot come from `successors`; skip it.
                    if let Some(top) = calls.last_mut() {
                        top.1 += 1;
                    }
                }
                None => {
                    calls.pop();
                    if let Some(&(u, _)) = calls.last() {
                        low[u] = low[u].min(low[v]);
                    }
                    if low[v] == index[v] {
                        let mut comp = Vec::new();
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            comp.push(w);
                            if w == v {
                                break;
                            }
                        }
                        out.push(comp);
                    }
                }
            }
        }
    }
    out
}

/// The shortest cycle through `start` that stays inside `members`, in edge
/// order starting at `start`; `None` if there is none.
pub(crate) fn cycle_through(
    start: usize,
    members: &[usize],
    succ: &[Vec<usize>],
) -> Option<Vec<usize>> {
    let members: HashSet<usize> = members.iter().copied().collect();
    let inside = |v: usize| members.contains(&v);
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in succ.get(v)? {
            if w == start {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = *parent.get(&at)?;
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if inside(w) && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

/// Positions in an order where every dependency comes before its dependents
/// (Kahn). Tasks in a cycle, or waiting on one, are left out.
pub(crate) fn topo_order(deps: &[Vec<usize>], succ: &[Vec<usize>]) -> Vec<usize> {
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: VecDeque<usize> = (0..deps.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(v) = ready.pop_front() {
        order.push(v);
        for &w in succ.get(v).map(Vec::as_slice).unwrap_or_default() {
            if let Some(c) = waiting.get_mut(w) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    ready.push_back(w);
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cycle_and_orders_the_rest() {
        // 0 → 1 → 2 → 0, and 3 waits on 2.
        let deps = vec![vec![2], vec![0], vec![1], vec![2]];
        let succ = successors(&deps);
        let comps: Vec<Vec<usize>> = sccs(&succ).into_iter().filter(|c| c.len() > 1).collect();
        assert_eq!(comps.len(), 1);
        assert_eq!(cycle_through(0, &comps[0], &succ), Some(vec![0, 1, 2]));
        assert!(topo_order(&deps, &succ).is_empty());
        let dag = vec![vec![], vec![0], vec![0, 1]];
        assert_eq!(topo_order(&dag, &successors(&dag)), vec![0, 1, 2]);
    }
}
