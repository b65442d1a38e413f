//! The component's exports: the generated `Guest` trait implemented for any [`Connector`], and
//! the conversions between the SDK's types and the generated ones. Only in `wasm32` builds.

use std::marker::PhantomData;

use crate::connector::{dispatch, Connector};
use crate::error::Error;
use crate::records::{Attributes, RecordData};
use crate::types::{ActionSpec, AuthKind, ConnectorSpec, Page, RecordKind, StreamSpec};
use crate::wit::agentic::connector::types as wit;

/// The type [`register_connector!`](crate::register_connector) exports: it forwards every
/// export of the contract to `C` through the shared `dispatch` glue.
#[derive(Debug)]
pub struct Export<C>(PhantomData<C>);

impl<C: Connector> crate::wit::Guest for Export<C> {
    fn spec() -> wit::ConnectorSpec {
        match dispatch::spec(&C::default()) {
            Ok(spec) => spec.into(),
            // `spec` cannot fail in the contract: a connector that cannot describe itself is
            // broken, and the trap makes the host refuse it with this message.
            Err(e) => panic!("the connector's spec is invalid: {e}"),
        }
    }

    fn check(config: String) -> Result<String, wit::Error> {
        dispatch::check(&C::default(), &config).map_err(Into::into)
    }

    fn discover(config: String) -> Result<Vec<wit::StreamSpec>, wit::Error> {
        dispatch::discover(&C::default(), &config)
            .map(|streams| streams.into_iter().map(Into::into).collect())
            .map_err(Into::into)
    }

    fn read(
        config: String,
        stream: String,
        state: Option<String>,
    ) -> Result<wit::Page, wit::Error> {
        dispatch::read(&C::default(), &config, &stream, state.as_deref())
            .map(Into::into)
            .map_err(Into::into)
    }

    fn invoke(config: String, action: String, input: String) -> Result<String, wit::Error> {
        dispatch::invoke(&C::default(), &config, &action, &input).map_err(Into::into)
    }
}

fn object(attributes: Attributes) -> String {
    // Most records have no attributes: skip the serializer and its 128-byte buffer.
    if attributes.is_empty() {
        return "{}".to_owned();
    }
    serde_json::Value::Object(attributes).to_string()
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Config(m) => wit::Error::Config(m),
            Error::Auth(m) => wit::Error::Auth(m),
            Error::RateLimited {
                retry_after_secs,
                message,
            } => wit::Error::RateLimited(wit::RateLimit {
                retry_after_secs,
                message,
            }),
            Error::Transient(m) => wit::Error::Transient(m),
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::InvalidInput(m) => wit::Error::InvalidInput(m),
            Error::Internal(m) => wit::Error::Internal(m),
        }
    }
}

impl From<ConnectorSpec> for wit::ConnectorSpec {
    fn from(s: ConnectorSpec) -> Self {
        Self {
            id: s.id,
            name: s.name,
            version: s.version,
            description: s.description,
            config_schema: s.config_schema.to_string(),
            auth_kinds: s.auth_kinds.into_iter().map(Into::into).collect(),
            streams: s.streams.into_iter().map(Into::into).collect(),
            actions: s.actions.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<StreamSpec> for wit::StreamSpec {
    fn from(s: StreamSpec) -> Self {
        Self {
            name: s.name,
            description: s.description,
            kind: s.kind.into(),
            incremental: s.incremental,
            schema: s.schema.to_string(),
        }
    }
}

impl From<ActionSpec> for wit::ActionSpec {
    fn from(a: ActionSpec) -> Self {
        Self {
            name: a.name,
            description: a.description,
            input_schema: a.input_schema.to_string(),
            output_schema: a.output_schema.to_string(),
        }
    }
}

impl From<AuthKind> for wit::AuthKind {
    fn from(k: AuthKind) -> Self {
        match k {
            AuthKind::Anonymous => wit::AuthKind::Anonymous,
            AuthKind::ApiToken => wit::AuthKind::ApiToken,
            AuthKind::Basic => wit::AuthKind::Basic,
            AuthKind::Bearer => wit::AuthKind::Bearer,
            AuthKind::OAuth2AuthorizationCode => wit::AuthKind::Oauth2AuthorizationCode,
            AuthKind::OAuth2ClientCredentials => wit::AuthKind::Oauth2ClientCredentials,
            AuthKind::GoogleServiceAccount => wit::AuthKind::GoogleServiceAccount,
            AuthKind::FormLogin => wit::AuthKind::FormLogin,
        }
    }
}

impl From<RecordKind> for wit::RecordKind {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Document => wit::RecordKind::Document,
            RecordKind::WorkItem => wit::RecordKind::WorkItem,
            RecordKind::Comment => wit::RecordKind::Comment,
            RecordKind::Requirement => wit::RecordKind::Requirement,
            RecordKind::TraceLink => wit::RecordKind::TraceLink,
            RecordKind::Person => wit::RecordKind::Person,
            RecordKind::Raw => wit::RecordKind::Raw,
        }
    }
}

impl From<Page> for wit::Page {
    fn from(p: Page) -> Self {
        Self {
            // Deletions after the records: later entries win, so a record both updated and
            // deleted in one page ends deleted.
            records: p
                .records
                .into_iter()
                .map(Into::into)
                .chain(p.deleted.into_iter().map(|d| {
                    wit::RecordData::Deleted(wit::DeletedRecord {
                        external_id: d.external_id,
                        kind: d.kind.into(),
                    })
                }))
                .collect(),
            state: p.state,
            has_more: p.has_more,
        }
    }
}

impl From<RecordData> for wit::RecordData {
    fn from(r: RecordData) -> Self {
        match r {
            RecordData::Document(d) => wit::RecordData::Document(wit::Document {
                external_id: d.external_id,
                title: d.title,
                content_type: d.content_type,
                body: d.body,
                url: d.url,
                author: d.author,
                created_at: d.created_at,
                updated_at: d.updated_at,
                tags: d.tags,
                attributes: object(d.attributes),
            }),
            RecordData::WorkItem(w) => wit::RecordData::WorkItem(wit::WorkItem {
                external_id: w.external_id,
                key: w.key,
                title: w.title,
                description: w.description,
                status: w.status,
                item_type: w.item_type,
                priority: w.priority,
                assignee: w.assignee,
                reporter: w.reporter,
                labels: w.labels,
                parent: w.parent,
                url: w.url,
                created_at: w.created_at,
                updated_at: w.updated_at,
                attributes: object(w.attributes),
            }),
            RecordData::Comment(c) => wit::RecordData::Comment(wit::Comment {
                external_id: c.external_id,
                parent_external_id: c.parent_external_id,
                author: c.author,
                body: c.body,
                created_at: c.created_at,
                updated_at: c.updated_at,
            }),
            RecordData::Requirement(r) => wit::RecordData::Requirement(wit::Requirement {
                external_id: r.external_id,
                identifier: r.identifier,
                title: r.title,
                text: r.text,
                module: r.module,
                parent: r.parent,
                status: r.status,
                created_at: r.created_at,
                updated_at: r.updated_at,
                attributes: object(r.attributes),
            }),
            RecordData::TraceLink(l) => wit::RecordData::TraceLink(wit::TraceLink {
                external_id: l.external_id,
                source: l.source,
                target: l.target,
                link_type: l.link_type,
            }),
            RecordData::Person(p) => wit::RecordData::Person(wit::Person {
                external_id: p.external_id,
                display_name: p.display_name,
                email: p.email,
                active: p.active,
            }),
            RecordData::Raw(r) => wit::RecordData::Raw(wit::RawRecord {
                external_id: r.external_id,
                data: object(r.data),
            }),
        }
    }
}
