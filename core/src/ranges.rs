//! Byte ranges of a file: which parts of a segmented download are in its temporary
//! file. A list of half-open `(start, end)` ranges, sorted and disjoint (`normalize`),
//! stored as text (`a-b,c-d`). A file fetched by one stream from 0 has no list: its
//! done bytes are the prefix `[0, done_bytes)`.

/// Half-open byte ranges `[start, end)`, sorted, disjoint, none empty.
pub(crate) type Ranges = Vec<(u64, u64)>;

/// Sort, drop empty ranges and merge overlapping or touching ones.
pub(crate) fn normalize(mut v: Ranges) -> Ranges {
    v.retain(|(s, e)| s < e);
    v.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// How many bytes the ranges hold.
pub(crate) fn sum(v: &[(u64, u64)]) -> u64 {
    v.iter().map(|(s, e)| e - s).sum()
}

/// The parts of `[0, total)` the ranges lack, in order.
pub(crate) fn holes(v: &[(u64, u64)], total: u64) -> Ranges {
    let mut out = Vec::new();
    let mut at = 0;
    for &(s, e) in v {
        if s >= total {
            break;
        }
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
    }
    if at < total {
        out.push((at, total));
    }
    out
}

/// `None` when the ranges are a prefix `[0, n)` (or nothing): the store keeps no list
/// for a file fetched from its start.
pub(crate) fn as_list(v: Ranges) -> Option<Ranges> {
    match v.as_slice() {
        [] | [(0, _)] => None,
        _ => Some(v),
    }
}

/// `a-b,c-d`.
pub(crate) fn encode(v: &[(u64, u64)]) -> String {
    let parts: Vec<String> = v.iter().map(|(s, e)| format!("{s}-{e}")).collect();
    parts.join(",")
}

/// The ranges of [`encode`]'s text, checked: sorted, disjoint, not empty, within
/// `total` when it is known. `None` for anything else.
pub(crate) fn decode(text: &str, total: Option<u64>) -> Option<Ranges> {
    let mut out: Ranges = Vec::new();
    for part in text.split(',') {
        let (s, e) = part.split_once('-')?;
        let (s, e): (u64, u64) = (s.parse().ok()?, e.parse().ok()?);
        if s >= e || out.last().is_some_and(|l| s <= l.1) || total.is_some_and(|t| e > t) {
            return None;
        }
        out.push((s, e));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_merges_and_sorts() {
        assert_eq!(
            normalize(vec![(10, 20), (0, 5), (5, 8), (15, 30), (40, 40)]),
            vec![(0, 8), (10, 30)]
        );
        assert_eq!(normalize(vec![]), vec![]);
    }

    #[test]
    fn holes_of_a_file() {
        assert_eq!(holes(&[(0, 8), (10, 30)], 40), vec![(8, 10), (30, 40)]);
        assert_eq!(holes(&[], 5), vec![(0, 5)]);
        assert_eq!(holes(&[(0, 5)], 5), vec![]);
        assert_eq!(holes(&[(2, 5)], 5), vec![(0, 2)]);
    }

    #[test]
    fn text_round_trip_and_checks() {
        let v = vec![(0, 8), (10, 30)];
        assert_eq!(decode(&encode(&v), Some(30)), Some(v.clone()));
        assert_eq!(decode(&encode(&v), Some(29)), None);
        assert_eq!(decode("5-5", None), None);
        assert_eq!(decode("0-8,7-9", None), None);
        assert_eq!(decode("10-20,0-5", None), None);
        assert_eq!(decode("x", None), None);
        assert_eq!(decode("", None), None);
        assert_eq!(sum(&v), 28);
        assert_eq!(as_list(vec![(0, 9)]), None);
        assert_eq!(as_list(v.clone()), Some(v));
    }
}
