//! Closed sets of names: the states and outcomes the store keeps as text and the API serves as
//! JSON strings (a job's `state`, an attempt's `outcome`, an agent's `health`, …).
//!
//! [`named_enum!`] declares one as a Rust enum with the one table of its names, and from that
//! table alone: `as_str` (what is stored and served), `parse`, [`std::str::FromStr`] and
//! `TryFrom<&str>` failing with [`UnknownName`] (which says what was expected), `Display`, serde
//! (the same names) and a utoipa schema whose `enum` is exactly that set. Query texts stay the
//! same for SQLite and PostgreSQL: the store binds `as_str()` and decodes a column with
//! [`crate::store::decode_name`] at its edge, so a stored name this host does not know (written by
//! a newer host, or by hand) is a decode error naming the column's set, never a silent default.

/// A name that is not one of its set's: the text, what it was meant to name, and what it may be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of: {})", expected.join(", "))]
pub struct UnknownName {
    /// What the name was meant to name (`job state`).
    pub what: &'static str,
    /// The text that was given (at most 64 characters of it).
    pub value: String,
    /// Every name of the set.
    pub expected: &'static [&'static str],
}

impl UnknownName {
    /// An unknown `value` for a `what` whose names are `expected`.
    pub fn new(what: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        Self {
            what,
            value: value.chars().take(64).collect(),
            expected,
        }
    }

    /// "must be one of a, b, c": the message of a query or body field holding such a name.
    pub fn must_be_one_of(&self) -> String {
        format!("must be one of {}", self.expected.join(", "))
    }
}

/// Declares a closed set of names as an enum (see the [module docs](self)).
///
/// ```ignore
/// named_enum! {
///     /// Where a job is.
///     pub enum JobState as "job state" {
///         /// Waiting.
///         Queued = "queued",
///         /// Running.
///         Running = "running",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// Every name, in the order of [`Self::ALL`].
            pub const NAMES: &[&str] = &[$($text),+];

            /// The stored and served name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses [`Self::as_str`]; `None` for any other text.
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::names::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::parse(name)
                    .ok_or_else(|| $crate::names::UnknownName::new($what, name, Self::NAMES))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::names::UnknownName;

            fn try_from(name: &str) -> Result<Self, Self::Error> {
                name.parse()
            }
        }
    };
}

pub(crate) use named_enum;

#[cfg(test)]
mod tests {
    named_enum! {
        /// A set for the test.
        enum Light as "light" {
            /// Stop.
            Red = "red",
            /// Go.
            Green = "green",
        }
    }

    #[test]
    fn names_round_trip_through_text_serde_and_from_str() {
        for light in Light::ALL {
            assert_eq!(light.as_str().parse::<Light>(), Ok(*light));
            assert_eq!(Light::try_from(light.as_str()), Ok(*light));
            let json = serde_json::to_value(light).expect("serialize");
            assert_eq!(json, serde_json::json!(light.as_str()));
            assert_eq!(
                serde_json::from_value::<Light>(json).expect("deserialize"),
                *light
            );
            assert_eq!(light.to_string(), light.as_str());
        }
        assert_eq!(Light::NAMES, ["red", "green"]);
    }

    #[test]
    fn an_unknown_name_says_what_was_expected() {
        let e = "amber".parse::<Light>().expect_err("unknown");
        assert_eq!(
            e.to_string(),
            r#"unknown light "amber" (expected one of: red, green)"#
        );
        assert_eq!(e.must_be_one_of(), "must be one of red, green");
        assert!("Red".parse::<Light>().is_err(), "names are case-sensitive");
        assert!(serde_json::from_str::<Light>(r#""amber""#).is_err());
        let long = "x".repeat(1000);
        assert_eq!(
            Light::try_from(long.as_str())
                .expect_err("unknown")
                .value
                .len(),
            64
        );
    }

    /// Every set the host declares: names round-trip through text and serde, and the OpenAPI
    /// schema's `enum` is exactly the names (a derive that dropped the renames would serve the
    /// Rust variant names there while the JSON carries the stored names).
    #[test]
    fn every_declared_set_round_trips_and_documents_its_names() {
        use crate::store::agents::{AgentState, Health};
        use crate::store::backup_runs::{BackupState, StartedBy};
        use crate::store::job_attempts::AttemptOutcome;
        use crate::store::jobs::JobState;
        use crate::store::web_tasks::RunState;
        use crate::web_tasks::runner::StepStatus;

        fn check<T>(all: &[T], names: &[&str])
        where
            T: Copy
                + PartialEq
                + std::fmt::Debug
                + std::fmt::Display
                + std::str::FromStr<Err = super::UnknownName>
                + serde::Serialize
                + serde::de::DeserializeOwned
                + utoipa::PartialSchema,
        {
            assert_eq!(all.len(), names.len());
            for (value, name) in all.iter().zip(names) {
                assert_eq!(value.to_string(), *name);
                assert_eq!(name.parse::<T>().ok(), Some(*value));
                let json = serde_json::to_value(value).expect("serialize");
                assert_eq!(json, serde_json::json!(name));
                assert_eq!(serde_json::from_value::<T>(json).ok(), Some(*value));
            }
            let unknown = "no-such-name".parse::<T>().expect_err("unknown");
            assert_eq!(unknown.expected, names);
            let schema = serde_json::to_value(T::schema()).expect("schema");
            assert_eq!(schema["enum"], serde_json::json!(names), "{schema}");
        }
        check(JobState::ALL, JobState::NAMES);
        check(AgentState::ALL, AgentState::NAMES);
        check(Health::ALL, Health::NAMES);
        check(RunState::ALL, RunState::NAMES);
        check(BackupState::ALL, BackupState::NAMES);
        check(StartedBy::ALL, StartedBy::NAMES);
        check(AttemptOutcome::ALL, AttemptOutcome::NAMES);
        check(StepStatus::ALL, StepStatus::NAMES);
        // The names the API has always served.
        assert_eq!(
            JobState::NAMES,
            ["queued", "running", "succeeded", "dead", "cancelled"]
        );
        assert_eq!(
            AgentState::NAMES,
            [
                "draft",
                "deploying",
                "running",
                "stopping",
                "stopped",
                "failed"
            ]
        );
        assert_eq!(
            RunState::NAMES,
            ["queued", "running", "succeeded", "failed", "cancelled"]
        );
    }

    #[test]
    fn the_schema_is_exactly_the_set() {
        use utoipa::PartialSchema;
        let schema = serde_json::to_value(Light::schema()).expect("schema");
        assert_eq!(
            schema["enum"],
            serde_json::json!(["red", "green"]),
            "{schema}"
        );
    }
}
