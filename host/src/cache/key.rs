//! Cache keys: what is cached ([`Namespace`]) and which object ([`Key`]), with the text form
//! that travels in invalidation messages and through the database bus.

/// What is cached: one name per kind of object, used in keys and as the `cache` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// A project row, by id (`None` cached for "no such project").
    Project,
    /// Whether a user is a member of a project.
    Membership,
    /// A plugin's active version and manifest.
    Plugin,
    /// Whether a project enabled a plugin.
    PluginEnabled,
    /// A login session row, by id: read on every request made with an access token.
    Session,
    /// A user account, by id: the role and activity every authenticated request checks.
    User,
    /// An analytics report, by scope, section, range and bucket. Never invalidated: reports are
    /// aggregates over many tables, so they simply live for the cache's short time-to-live.
    Analytics,
}

impl Namespace {
    const ALL: [Namespace; 7] = [
        Namespace::Project,
        Namespace::Membership,
        Namespace::Plugin,
        Namespace::PluginEnabled,
        Namespace::Session,
        Namespace::User,
        Namespace::Analytics,
    ];

    /// The name in keys and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Project => "project",
            Namespace::Membership => "membership",
            Namespace::Plugin => "plugin",
            Namespace::PluginEnabled => "plugin_enabled",
            Namespace::Session => "session",
            Namespace::User => "user",
            Namespace::Analytics => "analytics",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

/// A cache key: a namespace and the object's id within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    ns: Namespace,
    id: String,
}

impl Key {
    /// A project.
    pub fn project(id: i64) -> Self {
        Self {
            ns: Namespace::Project,
            id: id.to_string(),
        }
    }

    /// A user's membership of a project.
    pub fn membership(project: i64, user: i64) -> Self {
        Self {
            ns: Namespace::Membership,
            id: format!("{project}:{user}"),
        }
    }

    /// A plugin's active version.
    pub fn plugin(id: &str) -> Self {
        Self {
            ns: Namespace::Plugin,
            id: id.to_owned(),
        }
    }

    /// A plugin's enablement in a project.
    pub fn plugin_enabled(project: i64, plugin: &str) -> Self {
        Self {
            ns: Namespace::PluginEnabled,
            id: format!("{project}:{plugin}"),
        }
    }

    /// A login session.
    pub fn session(id: i64) -> Self {
        Self {
            ns: Namespace::Session,
            id: id.to_string(),
        }
    }

    /// A user account.
    pub fn user(id: i64) -> Self {
        Self {
            ns: Namespace::User,
            id: id.to_string(),
        }
    }

    /// An analytics report; `id` names its scope, section, range and bucket (no newline).
    pub fn analytics(id: String) -> Self {
        Self {
            ns: Namespace::Analytics,
            id,
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> Namespace {
        self.ns
    }

    /// `namespace:id`. Ids are integers and plugin ids (`[a-z0-9-]`), so this never holds a
    /// newline, which separates keys in invalidation messages.
    pub(crate) fn render(&self) -> String {
        format!("{}:{}", self.ns.as_str(), self.id)
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        let (ns, id) = s.split_once(':')?;
        Some(Self {
            ns: Namespace::parse(ns)?,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_rendering() {
        for key in [
            Key::project(7),
            Key::membership(7, 9),
            Key::plugin("jira-cloud"),
            Key::plugin_enabled(7, "jira-cloud"),
            Key::session(11),
            Key::user(12),
            Key::analytics("p7:jobs:0:86400000:hour".into()),
        ] {
            assert_eq!(Key::parse(&key.render()), Some(key.clone()));
        }
        assert_eq!(Key::parse("nothing:1"), None);
    }
}
