//! The `[backup]` section: where scheduled and API-started backups go, to whom they are
//! encrypted, when they run and how many are kept. `agentic backup create` takes the same
//! things as options and does not need the section.
//!
//! The destination is configuration, never an API input: an administrator of the platform
//! must not be able to make the host write files wherever it may on its own disk. Every host
//! of a cluster that runs jobs needs the same section (any of them may run the scheduled job).

use serde::{Deserialize, Serialize};

use super::bucket::S3Settings;
use super::target::Destination;
use super::{parse_recipients, Policy};

/// The `[backup]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go: a directory (another disk or volume than the data) or
    /// `s3://bucket/prefix` of an S3-compatible store.
    pub destination: Option<String>,
    /// How to reach the S3-compatible store of an `s3://` destination.
    pub s3: S3Settings,
    /// Public keys (`age1…`) backups are encrypted to; any one of their identities restores.
    pub recipients: Vec<String>,
    /// When scheduled backups run: a cron expression in UTC (`0 3 * * *`: daily at 03:00).
    /// `None`: no scheduled backups.
    pub schedule: Option<String>,
    /// Retention applied after each successful backup: keep the newest N.
    pub keep_last: usize,
    /// ... and the newest of each of the newest N days (UTC).
    pub keep_daily: usize,
    /// ... of each of the newest N ISO weeks.
    pub keep_weekly: usize,
    /// ... of each of the newest N months.
    pub keep_monthly: usize,
}

impl BackupConfig {
    /// The retention policy (empty: nothing is deleted).
    pub fn policy(&self) -> Policy {
        Policy {
            last: self.keep_last,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
        }
    }

    /// Whether this host can make a backup on its own (the API and the schedule need it).
    pub fn is_configured(&self) -> bool {
        self.destination.is_some() && !self.recipients.is_empty()
    }

    /// The configured destination, if there is one.
    pub fn open_destination(&self) -> super::Result<Option<Destination>> {
        self.destination
            .as_deref()
            .map(|spec| Destination::open(spec, &self.s3))
            .transpose()
    }

    /// Why the section cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.destination.is_none() && self.recipients.is_empty() && self.schedule.is_none() {
            return None;
        }
        if self.destination.is_none() {
            return Some(
                "backup.destination is required when backup.recipients or backup.schedule is set"
                    .into(),
            );
        }
        if let Err(e) = self.open_destination() {
            return Some(format!("backup.destination: {e}"));
        }
        if let Err(e) = parse_recipients(&self.recipients) {
            return Some(format!("backup.recipients: {e}"));
        }
        if let Some(expression) = &self.schedule {
            if let Err(e) = crate::jobs::schedule::parse(expression) {
                return Some(format!("backup.schedule: {e}"));
            }
        }
        None
    }
}
