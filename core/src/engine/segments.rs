//! The segment board of one file fetched over several connections (BITS Job5
//! HIGH_PERFORMANCE, aria2's `-s`/`-x`): which parts of `[0, total)` are done, which
//! connection owns which segment, and the split of the largest remaining segment when
//! a connection is free, so that every connection stays busy to the end.
//!
//! A segment is `[start, end)` with `pos` bytes written from `start`; its owner may be
//! writing `[pos, reserved)` right now (a split never cuts below `reserved`). The
//! board is shared by the job's connection threads; everything here is pure
//! bookkeeping under one mutex (no I/O), unit-tested below.

use crate::ranges::{self, Ranges};
use std::sync::{Condvar, Mutex, MutexGuard};

/// A segment is split only when both halves get at least this many bytes.
pub(crate) const MIN_SEGMENT: u64 = 1 << 20;

/// Split points are rounded down to this (page-aligned writes).
const ALIGN: u64 = 64 << 10;

/// Broken segment requests (resets, timeouts) one file may have in a run before the
/// run fails with the last error (the job's retry policy takes over).
pub(crate) const MAX_SEGMENT_FAILURES: u32 = 4;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Seg {
    pub start: u64,
    pub pos: u64,
    pub end: u64,
    /// Bytes `[pos, reserved)` are being written by the owner.
    reserved: u64,
    pub owned: bool,
    /// The owner's request has no end (`bytes=a-` or the whole file): it can take the
    /// next segment back when that one is given up.
    open_ended: bool,
}

impl Seg {
    fn left(&self) -> u64 {
        self.end - self.pos.max(self.reserved)
    }
}

/// Why a board stopped: the connections return.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Closed {
    Open,
    /// Every byte is in.
    Done,
    /// The run stops (an error, a restart, the job stopped).
    Aborted,
}

#[derive(Debug)]
struct State {
    total: u64,
    /// Done before this run (outside any segment).
    base: Ranges,
    segs: Vec<Seg>,
    /// Connections the file may use now.
    max: usize,
    /// Connections working on it.
    active: usize,
    failures: u32,
    /// The server answered a segment request without a usable range: no more splits,
    /// one connection from now on.
    single: bool,
    closed: Closed,
    /// Someone already claimed the file's end (its hash check and done mark).
    finisher: bool,
}

/// One file's segments (see the module's text).
#[derive(Debug)]
pub(crate) struct Board {
    st: Mutex<State>,
    /// Rung when work appears (a split is possible, a segment was given up) or the
    /// board closes.
    pub changed: Condvar,
}

/// What a connection got from [`Board::take`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Slot {
    /// The segment's key (its `start`) for `reserve`, `advance` and `release`.
    pub key: u64,
    /// Where the request starts (the segment's `pos`).
    pub from: u64,
    /// Where the segment ends now (the request asks up to here).
    pub end: u64,
}

/// What [`Board::release`] tells the connection that gives a segment up.
#[derive(Debug, PartialEq)]
pub(crate) enum Released {
    /// Others are still at work (or work is left).
    Others,
    /// This connection was the last one and every byte is in: it ends the file.
    Finish,
    /// A refused segment no open-ended request could take back: the board is closed,
    /// and the file goes on over one stream from its first hole.
    OneStream,
}

impl Board {
    /// A board for a file of `total` bytes with `done` already in the temporary file;
    /// the first connection owns the segment from `first` (its request is open-ended)
    /// when `first` is given.
    pub fn new(total: u64, done: Ranges, first: Option<u64>, max: usize) -> Board {
        let done = ranges::normalize(done);
        let mut segs: Vec<Seg> = ranges::holes(&done, total)
            .into_iter()
            .map(|(s, e)| Seg {
                start: s,
                pos: s,
                end: e,
                reserved: s,
                owned: false,
                open_ended: false,
            })
            .collect();
        let mut active = 0;
        if let Some(at) = first
            && let Some(s) = segs.iter_mut().find(|s| s.start == at)
        {
            s.owned = true;
            s.open_ended = true;
            active = 1;
        }
        let closed = if segs.is_empty() {
            Closed::Done
        } else {
            Closed::Open
        };
        Board {
            st: Mutex::new(State {
                total,
                base: done,
                segs,
                max: max.max(1),
                active,
                failures: 0,
                single: false,
                closed,
                finisher: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Work for a free connection: a segment nobody owns, else the second half of the
    /// largest remaining one (when the file may use one more connection). `None`:
    /// nothing to do here now.
    pub fn take(&self) -> Option<Slot> {
        let mut st = self.lock();
        if st.closed != Closed::Open {
            return None;
        }
        let limit = if st.single { 1 } else { st.max };
        if st.active >= limit {
            return None;
        }
        if let Some(idx) = st.segs.iter().position(|s| !s.owned && s.pos < s.end) {
            let s = &mut st.segs[idx];
            s.owned = true;
            s.open_ended = false;
            s.reserved = s.pos;
            let slot = Slot {
                key: s.start,
                from: s.pos,
                end: s.end,
            };
            st.active += 1;
            return Some(slot);
        }
        if st.single {
            return None;
        }
        let (idx, left) = st
            .segs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.owned)
            .map(|(i, s)| (i, s.left()))
            .max_by_key(|&(i, l)| (l, std::cmp::Reverse(i)))?;
        if left < 2 * MIN_SEGMENT {
            return None;
        }
        let s = &st.segs[idx];
        let from = s.pos.max(s.reserved);
        let mid = ((from + left / 2) / ALIGN * ALIGN).max(from + MIN_SEGMENT);
        let end = s.end;
        st.segs[idx].end = mid;
        let new = Seg {
            start: mid,
            pos: mid,
            end,
            reserved: mid,
            owned: true,
            open_ended: false,
        };
        st.segs.insert(idx + 1, new);
        st.active += 1;
        Some(Slot {
            key: mid,
            from: mid,
            end,
        })
    }

    /// Find the segment a connection owns (indexes move when segments are split).
    fn find(st: &State, key: u64) -> Option<usize> {
        st.segs.iter().position(|s| s.start == key)
    }

    /// Before writing `n` more bytes after those already reserved (from the segment's
    /// `pos`): how many of them belong to it (its end may have moved down since the
    /// request). 0: the segment is complete, or the board closed.
    pub fn reserve(&self, start: u64, n: u64) -> u64 {
        let mut st = self.lock();
        if st.closed != Closed::Open {
            return 0;
        }
        let Some(i) = Self::find(&st, start) else {
            return 0;
        };
        let s = &mut st.segs[i];
        let from = s.pos.max(s.reserved);
        let k = n.min(s.end.saturating_sub(from));
        s.reserved = from + k;
        if k < n {
            // The connection drops the rest of this read: its stream cannot go on
            // past the end, so no refused segment may be handed back to it.
            s.open_ended = false;
        }
        k
    }

    /// What segment `start` has left that its owner has not reserved yet (0: it is
    /// complete, or the board closed). Reserves nothing.
    pub fn unclaimed(&self, start: u64) -> u64 {
        let st = self.lock();
        if st.closed != Closed::Open {
            return 0;
        }
        Self::find(&st, start).map_or(0, |i| st.segs[i].left())
    }

    /// After `n` reserved bytes (the first ones) are written: they count. Returns the
    /// segment's new `pos` and whether it is complete.
    pub fn advance(&self, start: u64, n: u64) -> (u64, bool) {
        let mut st = self.lock();
        let Some(i) = Self::find(&st, start) else {
            return (start, true);
        };
        let s = &mut st.segs[i];
        s.pos = (s.pos + n).min(s.end);
        s.reserved = s.reserved.max(s.pos);
        (s.pos, s.pos >= s.end)
    }

    /// The connection gives segment `start` up (complete, broken or refused).
    /// `failed` counts a broken request; `refused` (a range answered without a usable
    /// range) turns the file to one stream: the previous segment's open-ended request
    /// takes the rest back when it can.
    pub fn release(&self, start: u64, failed: bool, refused: bool) -> Released {
        let mut st = self.lock();
        st.active = st.active.saturating_sub(1);
        if failed {
            st.failures += 1;
        }
        if refused {
            st.single = true;
        }
        let mut stranded = false;
        if let Some(i) = Self::find(&st, start) {
            st.segs[i].owned = false;
            st.segs[i].open_ended = false;
            st.segs[i].reserved = st.segs[i].pos;
            if refused {
                if i > 0
                    && st.segs[i - 1].owned
                    && st.segs[i - 1].open_ended
                    && st.segs[i - 1].end == st.segs[i].pos
                {
                    let end = st.segs[i].end;
                    st.segs[i - 1].end = end;
                    st.segs[i].end = st.segs[i].pos;
                } else {
                    stranded = st.segs[i].pos < st.segs[i].end;
                }
            }
        }
        if stranded && st.closed == Closed::Open {
            st.closed = Closed::Aborted;
            drop(st);
            self.changed.notify_all();
            return Released::OneStream;
        }
        let complete = st.segs.iter().all(|s| s.pos >= s.end);
        let out = if complete && st.active == 0 && !st.finisher && st.closed == Closed::Open {
            st.finisher = true;
            st.closed = Closed::Done;
            Released::Finish
        } else {
            Released::Others
        };
        drop(st);
        self.changed.notify_all();
        out
    }

    /// Stop every connection (they see it at their next write). `true` for the call
    /// that closed the board (the one that acts on the reason).
    pub fn abort(&self) -> bool {
        let mut st = self.lock();
        let first = st.closed == Closed::Open;
        if first {
            st.closed = Closed::Aborted;
        }
        drop(st);
        self.changed.notify_all();
        first
    }

    pub fn closed(&self) -> Closed {
        self.lock().closed
    }

    /// Broken segment requests so far in this run.
    pub fn failures(&self) -> u32 {
        self.lock().failures
    }

    /// Whether a free connection could get work here now or later (the board is open
    /// and some segment is unowned, or large enough to split).
    pub fn has_work(&self) -> bool {
        let st = self.lock();
        let limit = if st.single { 1 } else { st.max };
        st.closed == Closed::Open
            && st.active < limit
            && st.segs.iter().any(|s| {
                !s.owned && s.pos < s.end || !st.single && s.owned && s.left() >= 2 * MIN_SEGMENT
            })
    }

    /// The bytes in the temporary file: the ranges done before the run and every
    /// segment's written part, and their sum.
    pub fn done(&self) -> (Ranges, u64) {
        let st = self.lock();
        let mut v = st.base.clone();
        v.extend(st.segs.iter().map(|s| (s.start, s.pos)));
        let v = ranges::normalize(v);
        let n = ranges::sum(&v);
        (v, n)
    }

    pub fn total(&self) -> u64 {
        self.lock().total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = MIN_SEGMENT;

    #[test]
    fn splits_the_largest_remaining_segment_until_the_limit() {
        let b = Board::new(64 * M, vec![], Some(0), 4);
        let s1 = b.take().unwrap();
        assert_eq!((s1.from, s1.end), (32 * M, 64 * M));
        let s2 = b.take().unwrap();
        // The first segment [0, 32M) and the second [32M, 64M) are equal: the first
        // largest one is split.
        assert_eq!((s2.from, s2.end), (16 * M, 32 * M));
        let s3 = b.take().unwrap();
        assert_eq!((s3.from, s3.end), (48 * M, 64 * M));
        assert_eq!(b.take(), None, "four connections at most");
    }

    #[test]
    fn bytes_gathered_before_a_write_stay_reserved_and_count_as_they_are_written() {
        let b = Board::new(8 * M, vec![], Some(0), 2);
        // Two reads gathered (reserved), not written yet.
        assert_eq!(b.reserve(0, M), M);
        assert_eq!(b.reserve(0, M), M);
        assert_eq!(b.done().1, 0, "nothing counts before it is written");
        // A split never gives away what is gathered.
        let s = b.take().unwrap();
        assert!(s.from >= 2 * M + MIN_SEGMENT, "{s:?}");
        // Written in two parts: each counts once written.
        assert_eq!(b.advance(0, M + M / 2), (M + M / 2, false));
        assert_eq!(b.done().1, M + M / 2);
        assert_eq!(b.advance(0, M / 2), (2 * M, false));
        // The rest of the segment is what is left up to the split point.
        assert_eq!(b.reserve(0, 64 * M), s.from - 2 * M);
        assert_eq!(b.reserve(0, 1), 0, "complete once everything is reserved");
        assert_eq!(b.advance(0, s.from - 2 * M), (s.from, true));
    }

    #[test]
    fn asking_what_is_left_between_two_requests_reserves_nothing() {
        let b = Board::new(8 * M, vec![], Some(0), 1);
        // One request's piece: read, written.
        assert_eq!(b.reserve(0, 3 * M), 3 * M);
        assert_eq!(b.advance(0, 3 * M), (3 * M, false));
        // At its end the connection asks whether the segment goes on, any number of
        // times: the next piece still starts where the bytes end.
        assert_eq!(b.unclaimed(0), 5 * M);
        assert_eq!(b.unclaimed(0), 5 * M);
        assert_eq!(b.reserve(0, 5 * M), 5 * M, "all the rest, none lost");
        assert_eq!(b.advance(0, 5 * M), (8 * M, true));
        assert_eq!(b.unclaimed(0), 0);
        assert_eq!(b.done().1, 8 * M);
    }

    #[test]
    fn writes_stop_at_a_moved_end_and_the_last_one_finishes() {
        let b = Board::new(4 * M, vec![], Some(0), 2);
        assert_eq!(b.reserve(0, M / 2), M / 2);
        let s = b.take().unwrap();
        assert!(s.from >= M / 2 + M && s.from.is_multiple_of(ALIGN), "{s:?}");
        b.advance(0, M / 2);
        // The first connection's bytes beyond the split point are not its own.
        let left = s.from - M / 2;
        assert_eq!(b.reserve(0, 8 * M), left);
        assert_eq!(b.advance(0, left), (s.from, true));
        assert_eq!(b.release(0, false, false), Released::Others);
        let k = b.reserve(s.key, 8 * M);
        assert_eq!(k, 4 * M - s.from);
        b.advance(s.key, k);
        assert_eq!(b.done(), (vec![(0, 4 * M)], 4 * M));
        assert_eq!(b.release(s.key, false, false), Released::Finish);
        assert_eq!(b.closed(), Closed::Done);
        assert_eq!(b.take(), None);
    }

    #[test]
    fn resumes_from_done_ranges_and_hands_out_the_holes() {
        let b = Board::new(10 * M, vec![(0, 2 * M), (5 * M, 6 * M)], None, 8);
        let a = b.take().unwrap();
        let c = b.take().unwrap();
        assert_eq!(
            (a.from, a.end, c.from, c.end),
            (2 * M, 5 * M, 6 * M, 10 * M)
        );
        assert_eq!(b.done().1, 3 * M);
    }

    #[test]
    fn a_refused_range_goes_back_to_the_open_ended_request_and_to_one_stream() {
        let b = Board::new(8 * M, vec![], Some(0), 8);
        let s = b.take().unwrap();
        assert_eq!(b.release(s.key, false, true), Released::Others);
        // The first request covers the whole file again; nothing else is handed out.
        assert_eq!(b.reserve(0, 16 * M), 8 * M);
        assert_eq!(b.take(), None);
        assert!(!b.has_work());
        b.advance(0, 8 * M);
        assert_eq!(b.release(0, false, false), Released::Finish);
    }

    #[test]
    fn a_refused_range_nobody_can_take_back_closes_the_board() {
        let b = Board::new(10 * M, vec![(0, 2 * M)], None, 8);
        let s = b.take().unwrap();
        assert_eq!(b.release(s.key, false, true), Released::OneStream);
        assert_eq!(b.closed(), Closed::Aborted);
        assert_eq!(b.take(), None);
    }

    #[test]
    fn a_trimmed_read_ends_the_open_ended_request() {
        let b = Board::new(8 * M, vec![], Some(0), 8);
        let s = b.take().unwrap();
        // The first connection read past the split point: it stops there, and a
        // refusal of the second half cannot hand bytes back to it any more.
        assert!(b.reserve(0, 8 * M) < 8 * M);
        assert_eq!(b.release(s.key, false, true), Released::OneStream);
    }

    #[test]
    fn no_work_while_the_file_has_all_its_connections() {
        let b = Board::new(64 * M, vec![], Some(0), 2);
        assert!(b.has_work());
        b.take().unwrap();
        assert!(!b.has_work(), "two connections already");
    }

    #[test]
    fn a_broken_segment_is_handed_out_again() {
        let b = Board::new(8 * M, vec![], Some(0), 2);
        let s = b.take().unwrap();
        b.reserve(s.key, M);
        b.advance(s.key, M);
        assert_eq!(b.release(s.key, true, false), Released::Others);
        assert_eq!(b.failures(), 1);
        let again = b.take().unwrap();
        assert_eq!(
            (again.key, again.from, again.end),
            (s.key, s.from + M, 8 * M)
        );
        assert_eq!(b.done().1, M);
        b.abort();
        assert_eq!(b.reserve(0, 10), 0);
        assert_eq!(b.take(), None);
    }
}
