//! Row ids as types of their own, where a function takes several and could be called with them
//! in the wrong order.
//!
//! `get_web_task_run(project_id, task_id, id)` with three `i64`s compiles whichever way round
//! they are passed, and a swap reads another project's row or none (every store query names the
//! project, so it fails closed, but it fails). With [`ProjectId`], [`WebTaskId`] and
//! [`WebTaskRunId`] a swap does not compile. There is deliberately no `From<i64>`: an id is
//! named where it enters (a path parameter, a row), so `.into()` cannot hide a swap either.
//!
//! The store takes these in its signatures and binds [`ProjectId::get`] (one query text for both
//! databases, as ever); rows and API views keep plain `i64` fields for now.

/// Declares an id type: a `Copy` wrapper of the row's `i64` primary key, serialized as the
/// bare number.
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The row's primary key, as stored and bound.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

id_type! {
    /// A project (`projects.id`).
    ProjectId;
    /// A user account, person or service (`users.id`).
    UserId;
    /// A service account's API key (`api_keys.id`).
    ApiKeyId;
    /// A document (`documents.id`).
    DocumentId;
    /// An agent (`agents.id`).
    AgentId;
    /// A job of the queue (`jobs.id`).
    JobId;
    /// A web-automation task (`web_tasks.id`).
    WebTaskId;
    /// A run of a web-automation task (`web_task_runs.id`).
    WebTaskRunId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_number_on_the_wire_and_in_text() {
        let id = WebTaskRunId(42);
        assert_eq!(id.get(), 42);
        assert_eq!(id.to_string(), "42");
        assert_eq!(
            serde_json::to_value(id).expect("json"),
            serde_json::json!(42)
        );
        assert_eq!(
            serde_json::from_str::<WebTaskRunId>("42").expect("parse"),
            id
        );
    }
}
