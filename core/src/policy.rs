//! What happens after a transfer run ends: done, stopped, or failed, and for a
//! transient failure when it is retried (backoff, `Retry-After`, the no-progress
//! timeout). The time arithmetic is pure functions over milliseconds; every sum and
//! product saturates, so no input (a hostile `Retry-After`, a corrupt stored time, a
//! far clock) can overflow, panic or schedule a retry in the past.

use crate::error::codes;
use crate::record::{ErrorRec, JobRec};
use crate::types::{ErrorContext, JobState};

/// A retry is never sooner than this after the failure that caused it.
pub(crate) const MIN_RETRY_MS: i64 = 1000;

/// The backoff doubles up to this before the job's minimum retry delay caps it.
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// The longest `Retry-After` honoured (one day); a server asking for more is retried
/// after a day (or ends at the no-progress timeout, whichever comes first).
pub(crate) const MAX_RETRY_AFTER_S: u64 = 86_400;

/// What a transient failure leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Queue again at `at_ms`; the backoff is now `backoff_ms`.
    At { at_ms: i64, backoff_ms: i64 },
    /// The no-progress timeout has passed: the job goes to ERROR (NO_PROGRESS).
    GiveUp,
}

/// The inputs of one retry decision.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryInput {
    /// When the failure happened.
    pub now_ms: i64,
    /// The backoff before this failure (0 after progress).
    pub backoff_ms: i64,
    /// The job's minimum retry delay (s): the cap of the backoff.
    pub min_retry_delay_s: u32,
    /// The server's `Retry-After`, in seconds from now.
    pub retry_after_s: Option<u64>,
    /// Start of the current stretch without progress.
    pub no_progress_since_ms: i64,
    /// The job's no-progress timeout (s), not 0 (0 makes every error fatal before
    /// this is asked).
    pub no_progress_timeout_s: u32,
}

/// When to retry after a transient failure: the backoff starts at 1 s and doubles,
/// capped by the minimum retry delay; a `Retry-After` (at most a day) lengthens it;
/// never past the no-progress deadline, never sooner than 1 s.
pub(crate) fn next_retry(i: RetryInput) -> Retry {
    let timeout_ms = i64::from(i.no_progress_timeout_s).saturating_mul(1000);
    let deadline = i.no_progress_since_ms.saturating_add(timeout_ms);
    if i.now_ms >= deadline {
        return Retry::GiveUp;
    }
    let backoff_ms = i
        .backoff_ms
        .saturating_mul(2)
        .clamp(MIN_RETRY_MS, MAX_BACKOFF_MS);
    let cap = i64::from(i.min_retry_delay_s)
        .saturating_mul(1000)
        .max(MIN_RETRY_MS);
    let mut delay = backoff_ms.min(cap);
    if let Some(ra) = i.retry_after_s {
        let ra_ms = ra.min(MAX_RETRY_AFTER_S) as i64 * 1000;
        delay = delay.max(ra_ms);
    }
    let at_ms = i
        .now_ms
        .saturating_add(delay)
        .min(deadline)
        .max(i.now_ms.saturating_add(MIN_RETRY_MS));
    Retry::At { at_ms, backoff_ms }
}

/// A `Retry-After` header value in seconds from `now_ms`: delta-seconds (a number too
/// large to represent counts as the largest) or an HTTP-date (a date in the past is 0).
/// `None` when it is neither.
pub(crate) fn parse_retry_after(value: &str, now_ms: i64) -> Option<u64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(v.parse::<u64>().unwrap_or(u64::MAX));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = crate::types::to_ms(at);
    let ms = at_ms.saturating_sub(now_ms).max(0) as u64;
    Some(ms.div_ceil(1000))
}

/// How a job's run ended.
pub(crate) enum Outcome {
    /// Every file is transferred.
    Done,
    /// Stopped from outside (suspend, pre-emption, close, cancel, complete).
    Stopped,
    /// An error; `transient` ones are retried.
    Failed(Failure),
}

/// A transfer error with its retry policy.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: ErrorRec,
    pub transient: bool,
    /// Seconds from a Retry-After header.
    pub retry_after: Option<u64>,
}

impl Failure {
    /// The job store could not record something the transfer needs: TRANSIENT_ERROR
    /// with the store's code (DISK_FULL, IO_ERROR, …), retried like a network error.
    pub fn store(e: &crate::Error) -> Failure {
        Failure {
            error: ErrorRec::general(
                ErrorContext::GeneralQueueManager,
                e.code(),
                format!(
                    "the job store could not record the transfer: {}",
                    e.message()
                ),
            ),
            transient: true,
            retry_after: None,
        }
    }

    /// A panic inside the engine (fatal, E_UNEXPECTED).
    pub fn panic() -> Failure {
        Failure {
            error: ErrorRec::general(
                ErrorContext::Unknown,
                codes::E_UNEXPECTED,
                "internal error in the transfer engine (a panic)",
            ),
            transient: false,
            retry_after: None,
        }
    }
}

/// Record how a job's run ended.
pub(crate) fn apply_outcome(job: &mut JobRec, outcome: Outcome, now: i64) {
    match outcome {
        Outcome::Done => {
            job.made_progress();
            job.set_state(JobState::Transferred, now);
        }
        Outcome::Stopped => {
            if job.state.is_active() {
                job.set_state(JobState::Queued, now);
            }
        }
        Outcome::Failed(f) => {
            job.error_count = job.error_count.saturating_add(1);
            if f.transient && job.no_progress_timeout != 0 {
                let since = *job.no_progress_since_ms.get_or_insert(now);
                let retry = next_retry(RetryInput {
                    now_ms: now,
                    backoff_ms: job.backoff_ms,
                    min_retry_delay_s: job.min_retry_delay,
                    retry_after_s: f.retry_after,
                    no_progress_since_ms: since,
                    no_progress_timeout_s: job.no_progress_timeout,
                });
                match retry {
                    Retry::GiveUp => fail_no_progress(job, f.error, now),
                    Retry::At { at_ms, backoff_ms } => {
                        job.backoff_ms = backoff_ms;
                        job.retry_at_ms = Some(at_ms);
                        job.error = Some(f.error);
                        job.set_state(JobState::TransientError, now);
                    }
                }
            } else {
                job.error = Some(f.error);
                job.retry_at_ms = None;
                job.set_state(JobState::Error, now);
            }
        }
    }
}

/// ERROR with NO_PROGRESS, keeping the last error's description.
pub(crate) fn fail_no_progress(job: &mut JobRec, last: ErrorRec, now: i64) {
    job.error = Some(ErrorRec {
        code: codes::NO_PROGRESS,
        description: format!(
            "no progress for {} s; last error: {}",
            job.no_progress_timeout, last.description
        ),
        ..last
    });
    job.retry_at_ms = None;
    job.set_state(JobState::Error, now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(now: i64) -> RetryInput {
        RetryInput {
            now_ms: now,
            backoff_ms: 0,
            min_retry_delay_s: 600,
            retry_after_s: None,
            no_progress_since_ms: now,
            no_progress_timeout_s: 1_209_600,
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_retry_after("120", now), Some(120));
        assert_eq!(parse_retry_after(" 0 ", now), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999999", now),
            Some(u64::MAX)
        );
        // 2023-11-14T22:13:20Z is `now`; a date 90 s later.
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:14:50 GMT", now),
            Some(90)
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn a_huge_retry_after_is_clamped_to_a_day() {
        let now = 1_700_000_000_000;
        let mut i = input(now);
        i.retry_after_s = Some(9_223_372_036_854_775);
        assert_eq!(
            next_retry(i),
            Retry::At {
                at_ms: now + 86_400_000,
                backoff_ms: 1000
            }
        );
    }

    /// Edge values and pseudo-random values of every time input: no arithmetic
    /// panics (debug builds trap overflow), and a retry is at least 1 s away and at
    /// most a day (or the no-progress deadline) away.
    #[test]
    fn property_no_overflow_and_never_sooner_than_a_second() {
        let i64s = [
            i64::MIN,
            i64::MIN + 1,
            -86_400_000,
            -1,
            0,
            1,
            999,
            1000,
            1_700_000_000_000,
            i64::MAX / 2,
            i64::MAX - 1000,
            i64::MAX - 1,
            i64::MAX,
        ];
        let u32s = [0, 1, 2, 599, 600, 86_400, 1_209_600, u32::MAX - 1, u32::MAX];
        let u64s = [
            None,
            Some(0),
            Some(1),
            Some(86_400),
            Some(86_401),
            Some(9_223_372_036_854_775),
            Some(u64::MAX / 1000),
            Some(u64::MAX - 1),
            Some(u64::MAX),
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut cases = Vec::new();
        for &now in &i64s {
            for &since in &i64s {
                for &t in &u32s {
                    for &ra in &u64s {
                        cases.push((now, since, t, ra, 0_i64, 600_u32));
                    }
                }
            }
        }
        for &backoff in &i64s {
            for &delay in &u32s {
                cases.push((
                    1_700_000_000_000,
                    1_700_000_000_000,
                    600,
                    None,
                    backoff,
                    delay,
                ));
            }
        }
        for _ in 0..200_000 {
            let ra = if rnd() % 4 == 0 {
                None
            } else {
                Some(rnd() >> (rnd() % 64))
            };
            cases.push((
                rnd() as i64,
                rnd() as i64,
                rnd() as u32,
                ra,
                rnd() as i64,
                rnd() as u32,
            ));
        }
        for (now, since, timeout, ra, backoff, delay) in cases {
            let i = RetryInput {
                now_ms: now,
                backoff_ms: backoff,
                min_retry_delay_s: delay,
                retry_after_s: ra,
                no_progress_since_ms: since,
                no_progress_timeout_s: timeout.max(1),
            };
            if let Retry::At { at_ms, backoff_ms } = next_retry(i) {
                let floor = now.saturating_add(MIN_RETRY_MS);
                assert!(at_ms >= floor, "{i:?}: retry at {at_ms}, sooner than 1 s");
                let ceiling = now.saturating_add(MAX_RETRY_AFTER_S as i64 * 1000);
                assert!(at_ms <= ceiling.max(floor), "{i:?}: retry at {at_ms}");
                assert!((MIN_RETRY_MS..=MAX_BACKOFF_MS).contains(&backoff_ms));
            }
        }
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;
    use crate::types::{ErrorContext, JobType};
    use uuid::Uuid;

    fn job(min_retry_delay: u32, no_progress_timeout: u32) -> JobRec {
        let mut j = JobRec::new(Uuid::new_v4(), 1, JobType::Download, String::new(), 0);
        j.min_retry_delay = min_retry_delay;
        j.no_progress_timeout = no_progress_timeout;
        j.state = JobState::Transferring;
        j
    }

    fn transient(code: u32, retry_after: Option<u64>) -> Outcome {
        Outcome::Failed(Failure {
            error: ErrorRec {
                context: ErrorContext::RemoteFile,
                code,
                description: codes::symbol(code),
                file: Some(0),
                protocol: Some("http".into()),
            },
            transient: true,
            retry_after,
        })
    }

    /// The delay of the retry scheduled by a transient error at `now`.
    fn fail_at(j: &mut JobRec, now: i64, retry_after: Option<u64>) -> i64 {
        j.state = JobState::Transferring;
        apply_outcome(j, transient(codes::http(503), retry_after), now);
        assert_eq!(j.state, JobState::TransientError);
        j.retry_at_ms.unwrap() - now
    }

    #[test]
    fn backoff_starts_at_one_second_doubles_and_caps_at_the_retry_delay() {
        let mut j = job(10, 1_000_000);
        let delays: Vec<i64> = (0..6).map(|i| fail_at(&mut j, i * 100_000, None)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(j.error_count, 6);
        // Progress resets the backoff (the engine clears it when bytes move).
        j.made_progress();
        assert_eq!(fail_at(&mut j, 700_000, None), 1000);
    }

    #[test]
    fn retry_after_lengthens_the_delay() {
        let mut j = job(600, 1_000_000);
        assert_eq!(fail_at(&mut j, 0, Some(30)), 30_000);
        assert_eq!(fail_at(&mut j, 100_000, Some(0)), 2000);
    }

    #[test]
    fn a_zero_retry_delay_still_waits_a_second() {
        let mut j = job(0, 1_000_000);
        assert_eq!(fail_at(&mut j, 0, None), 1000);
        assert_eq!(fail_at(&mut j, 10_000, None), 1000);
    }

    #[test]
    fn no_progress_timeout_ends_in_error() {
        let mut j = job(600, 5);
        // The retry is never scheduled past the no-progress deadline.
        assert_eq!(fail_at(&mut j, 0, Some(60)), 5000);
        j.state = JobState::Transferring;
        apply_outcome(&mut j, transient(codes::http(503), None), 5000);
        assert_eq!(j.state, JobState::Error);
        let e = j.error.as_ref().unwrap();
        assert_eq!(e.code, codes::NO_PROGRESS);
        assert!(e.description.contains("HTTP_503"), "{}", e.description);
    }

    #[test]
    fn zero_no_progress_timeout_makes_the_first_error_fatal_with_its_code() {
        let mut j = job(600, 0);
        apply_outcome(&mut j, transient(codes::TIMEOUT, None), 0);
        assert_eq!(j.state, JobState::Error);
        assert_eq!(j.error.as_ref().unwrap().code, codes::TIMEOUT);
        assert_eq!(j.error_count, 1);
    }
}
