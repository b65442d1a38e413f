//! Which backups to keep: a pure function of their times, so the policy is tested over years of
//! simulated backups in microseconds.
//!
//! The rules are those of restic's and borg's `--keep-*` options: a backup is kept when any rule
//! keeps it. `last` keeps the newest N. `daily` keeps, for each of the newest N days (UTC) that
//! have backups, the newest backup of that day; `weekly` the same per ISO week, `monthly` per
//! calendar month. Days without backups do not use up a slot, so a pause in backups does not
//! delete the history before it.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::clock::Millis;

/// The period a time falls in (year and day, week or month number).
type Bucket = fn(OffsetDateTime) -> (i32, u32);

/// How many backups to keep, per rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The newest N, whatever their times.
    pub last: usize,
    /// The newest of each of the newest N days with backups.
    pub daily: usize,
    /// The newest of each of the newest N ISO weeks with backups.
    pub weekly: usize,
    /// The newest of each of the newest N months with backups.
    pub monthly: usize,
}

impl Policy {
    /// Whether the policy keeps nothing at all (pruning with it would delete every backup).
    pub fn is_empty(&self) -> bool {
        self.last + self.daily + self.weekly + self.monthly == 0
    }

    /// The indices into `times` of the backups to keep; `times` in any order.
    pub fn keep(&self, times: &[Millis]) -> BTreeSet<usize> {
        let mut order: Vec<usize> = (0..times.len()).collect();
        // Newest first.
        order.sort_by_key(|&i| std::cmp::Reverse(times[i]));
        let mut keep: BTreeSet<usize> = order.iter().take(self.last).copied().collect();
        let bucketed: [(usize, Bucket); 3] = [
            (self.daily, |t| (t.year(), u32::from(t.ordinal()))),
            (self.weekly, |t| {
                let (y, w, _) = t.to_iso_week_date();
                (y, u32::from(w))
            }),
            (self.monthly, |t| (t.year(), u32::from(u8::from(t.month())))),
        ];
        for (count, bucket) in bucketed {
            let mut last_bucket = None;
            let mut taken = 0;
            for &i in &order {
                if taken == count {
                    break;
                }
                let b = bucket(times[i].to_datetime());
                if last_bucket != Some(b) {
                    // The first (newest) backup met in a bucket is the one kept for it.
                    keep.insert(i);
                    last_bucket = Some(b);
                    taken += 1;
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    fn at(y: i32, m: u8, d: u8, h: u8) -> Millis {
        let date = time::Date::from_calendar_date(y, time::Month::try_from(m).expect("month"), d)
            .expect("date");
        let t = date.with_hms(h, 0, 0).expect("time").assume_utc();
        Millis::from_datetime(t)
    }

    fn kept(policy: Policy, times: &[Millis]) -> Vec<Millis> {
        let mut out: Vec<Millis> = policy.keep(times).into_iter().map(|i| times[i]).collect();
        out.sort();
        out
    }

    #[test]
    fn a_year_of_daily_backups_keeps_exactly_what_the_policy_says() {
        // One backup a day at 02:00 UTC through 2025 (a Wednesday, 1 January, to 31 December).
        let first = at(2025, 1, 1, 2);
        let times: Vec<Millis> = (0..365u32).map(|d| first + d * DAY).collect();
        let policy = Policy {
            last: 3,
            daily: 7,
            weekly: 4,
            monthly: 12,
        };
        let got = kept(policy, &times);
        let mut want: BTreeSet<Millis> = BTreeSet::new();
        // Daily (covers the last 3 too): 25–31 December.
        want.extend((25..=31).map(|d| at(2025, 12, d, 2)));
        // Weekly: the newest of the 4 newest ISO weeks. 31 December is a Wednesday (week 1 of
        // 2026), then the Sundays closing weeks 52, 51 and 50 of 2025.
        want.extend([
            at(2025, 12, 28, 2),
            at(2025, 12, 21, 2),
            at(2025, 12, 14, 2),
        ]);
        // Monthly: the last day of each month.
        let last_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        for (m, d) in last_days.iter().enumerate() {
            want.insert(at(2025, u8::try_from(m + 1).expect("month"), *d, 2));
        }
        assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        // 7 days; weeks add 21 and 14 December; months add the 11 month-ends before December.
        assert_eq!(got.len(), 7 + 2 + 11);

        // Order does not matter, and pruning what is not kept then keeping again is stable.
        let mut shuffled = times.clone();
        shuffled.reverse();
        assert_eq!(kept(policy, &shuffled), got);
        assert_eq!(kept(policy, &got), got, "a second prune deletes nothing");
    }

    #[test]
    fn last_alone_keeps_the_newest_and_gaps_do_not_use_slots() {
        let times = [
            at(2025, 1, 1, 0),
            at(2025, 1, 1, 12),
            at(2025, 3, 1, 0),
            at(2025, 3, 1, 1),
        ];
        let last = Policy {
            last: 2,
            ..Policy::default()
        };
        assert_eq!(kept(last, &times), vec![times[2], times[3]]);
        // Two days with backups, two months apart: both are among the 2 newest days.
        let daily = Policy {
            daily: 2,
            ..Policy::default()
        };
        assert_eq!(kept(daily, &times), vec![times[1], times[3]]);
        assert!(Policy::default().is_empty());
        assert!(Policy::default().keep(&times).is_empty());
    }
}
