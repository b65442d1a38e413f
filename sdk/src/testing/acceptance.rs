//! The acceptance suite: what the host relies on, checked natively for any connector.
//!
//! It checks, and names every failure:
//! 1. `spec()`: a valid id and semver version, a valid JSON Schema for the configuration and for
//!    each action's input and output, unique stream and action names; when the manifest is given,
//!    agreement with it (id, version, name, configuration schema, auth kinds, actions);
//! 2. the configuration schema accepts `config` and refuses `bad_config`;
//! 3. `check` succeeds with `config` and fails with a `config` error for `bad_config`;
//! 4. `discover` returns streams with valid schemas and unique names;
//! 5. every stream reads to its end; every record is of the stream's kind, has an external id,
//!    appears once, and its JSON projection ([`crate::RecordData::to_json`]) matches the stream
//!    schema; every deletion ([`crate::Page::deleted`]) names an external id;
//! 6. resuming from **every** intermediate state returns exactly the records after it — no
//!    record repeated, none missing (compared by external id); for incremental streams, reading
//!    again from the final state returns nothing already read;
//! 7. an unknown stream and an unknown action are `not-found`;
//! 8. each example invocation succeeds, with input and output matching the action's schemas;
//! 9. where [`Acceptance::expected`] names a stream, its full read returns exactly that many
//!    records, or exactly those external ids: the only check that sees a `read` jumping over a
//!    page (every other check holds for a connector that reads pages 1 and 3 and stops).
//!
//! Resumption reads the rest of the stream once per page, so keep test data to a few pages.
//!
//! This module checks what the connector declares (1–4, 7, 8); `reads` checks what reading its
//! streams returns (5, 6, 9).

mod reads;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::schema::{schema_problem, validate};
use super::{Credential, Harness};
use crate::connector::Connector;
use crate::error::Error;
use crate::manifest::{is_semver, is_valid_id, Manifest};
use crate::types::{ConnectorSpec, StreamSpec};

/// What the suite runs with.
#[derive(Debug, Clone, Default)]
pub struct Acceptance {
    /// The connection's base URL the calls are made with (usually a fake service's
    /// [`super::FakeServer::url`]), as [`Harness::with_base_url`] gives it; `None` for a
    /// connector that calls no service. [`run_acceptance`] uses its harness's base URL when it
    /// has one.
    pub base_url: Option<String>,
    /// A configuration that works.
    pub config: Value,
    /// A configuration the schema and `check` must both refuse (e.g. a required field missing).
    pub bad_config: Value,
    /// The `plugin.toml` text (`include_str!("../plugin.toml")`); when given, the spec must
    /// agree with it as the host requires at install.
    pub manifest: Option<&'static str>,
    /// Example invocations, `(action, input)`, that must succeed with schema-conformant output.
    pub invocations: Vec<(&'static str, Value)>,
    /// Most pages one read may take before the stream counts as endless
    /// ([`DEFAULT_MAX_PAGES`](super::DEFAULT_MAX_PAGES) when `None`).
    pub max_pages: Option<usize>,
    /// What the full read of a stream must return, by stream name, when the test knows what
    /// its fake serves. Streams not named here are not checked this way.
    pub expected: Vec<(&'static str, Expected)>,
    /// The connection's credential, put on every request as the host would
    /// ([`Harness::with_credential`]), so the fake can check the header it gets. [`run_acceptance`]
    /// uses its harness's credential when it has one.
    pub credential: Option<Credential>,
}

/// What one stream's full read must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// This many records.
    Count(usize),
    /// Exactly these external ids, in any order.
    Ids(Vec<String>),
}

/// What a passing run covered, for tests that want to assert the suite really read something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per discovered stream, in order.
    pub streams: Vec<StreamReport>,
}

/// What the suite read of one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// The stream's name.
    pub name: String,
    /// Pages of the full read.
    pub pages: usize,
    /// Records of the full read.
    pub records: usize,
    /// Intermediate states resumed from.
    pub resumptions: usize,
}

/// Runs the suite on `C::default()` and panics with the list of failures, if any.
pub fn acceptance<C: Connector>(acceptance: &Acceptance) -> Report {
    let mut harness = Harness::new(C::default());
    if let Some(url) = &acceptance.base_url {
        harness = harness.with_base_url(url.clone());
    }
    if let Some(credential) = &acceptance.credential {
        harness = harness.with_credential(credential.clone());
    }
    match run_acceptance(&harness, acceptance) {
        Ok(report) => report,
        Err(failures) => panic!(
            "acceptance suite failed ({} problem(s)):\n  - {}",
            failures.len(),
            failures.join("\n  - ")
        ),
    }
}

/// Runs the suite and returns what it covered, or every failure, each naming what failed.
pub fn run_acceptance<C: Connector>(
    harness: &Harness<C>,
    acceptance: &Acceptance,
) -> Result<Report, Vec<String>> {
    let mut suite = Suite {
        harness,
        acceptance,
        failures: Vec::new(),
    };
    // The harness's own base URL wins (its calls set it); else the acceptance's.
    let base_url = acceptance
        .base_url
        .as_deref()
        .filter(|_| harness.base_url().is_none());
    let credential = acceptance
        .credential
        .as_ref()
        .filter(|_| harness.credential().is_none())
        .map(Credential::headers);
    let report = crate::host::with_credential(credential, || match base_url {
        Some(url) => crate::host::with_base_url(Some(url), || suite.run()),
        None => suite.run(),
    });
    if suite.failures.is_empty() {
        Ok(report)
    } else {
        Err(suite.failures)
    }
}

/// A name no connector uses, for the not-found checks.
const UNKNOWN: &str = "acceptance-suite-no-such-name";

struct Suite<'a, C> {
    harness: &'a Harness<C>,
    acceptance: &'a Acceptance,
    failures: Vec<String>,
}

impl<C: Connector> Suite<'_, C> {
    fn fail(&mut self, failure: String) {
        self.failures.push(failure);
    }

    fn run(&mut self) -> Report {
        let mut report = Report {
            streams: Vec::new(),
        };
        let spec = match self.harness.spec() {
            Ok(spec) => spec,
            Err(e) => {
                self.fail(format!("spec() failed: {e}"));
                return report;
            }
        };
        self.check_spec(&spec);
        if let Some(manifest) = self.acceptance.manifest {
            self.check_manifest(&spec, manifest);
        }
        self.check_configs(&spec);
        let config = &self.acceptance.config;
        let streams = match self.harness.discover(config) {
            Ok(streams) => streams,
            Err(e) => {
                self.fail(format!("discover(config) failed: {e}"));
                return report;
            }
        };
        self.check_streams("discover(config)", &streams);
        for stream in &streams {
            if let Some(read) = self.check_reads(stream) {
                report.streams.push(read);
            }
        }
        self.check_not_found();
        self.check_invocations(&spec);
        report
    }

    fn check_spec(&mut self, spec: &ConnectorSpec) {
        if !is_valid_id(&spec.id) {
            self.fail(format!(
                "spec id {:?}: use 2 to 64 lower-case letters, digits and '-'",
                spec.id
            ));
        }
        if !is_semver(&spec.version) {
            self.fail(format!("spec version {:?} is not semver", spec.version));
        }
        if let Some(why) = schema_problem(&spec.config_schema) {
            self.fail(format!("config_schema is not a valid JSON Schema: {why}"));
        }
        self.check_streams("spec()", &spec.streams);
        let mut names = HashSet::new();
        for action in &spec.actions {
            if !names.insert(&action.name) {
                self.fail(format!("action `{}` is declared twice", action.name));
            }
            for (which, schema) in [
                ("input_schema", &action.input_schema),
                ("output_schema", &action.output_schema),
            ] {
                if let Some(why) = schema_problem(schema) {
                    self.fail(format!(
                        "action `{}`: {which} is not a valid JSON Schema: {why}",
                        action.name
                    ));
                }
            }
        }
    }

    fn check_manifest(&mut self, spec: &ConnectorSpec, text: &str) {
        let manifest = match Manifest::parse(text) {
            Ok(manifest) => manifest,
            Err(e) => return self.fail(format!("manifest: {e}")),
        };
        let differs = |field: &str, manifest: &dyn std::fmt::Debug, spec: &dyn std::fmt::Debug| {
            format!("spec {field} {spec:?} differs from plugin.toml's {manifest:?}")
        };
        if manifest.id != spec.id {
            self.fail(differs("id", &manifest.id, &spec.id));
        }
        if manifest.version != spec.version {
            self.fail(differs("version", &manifest.version, &spec.version));
        }
        if manifest.name != spec.name {
            self.fail(differs("name", &manifest.name, &spec.name));
        }
        if manifest.config_schema != spec.config_schema {
            self.fail("spec config_schema differs from plugin.toml's [config_schema]".into());
        }
        let kinds = |list: &[crate::AuthKind]| list.iter().copied().collect::<HashSet<_>>();
        if kinds(&manifest.auth_kinds) != kinds(&spec.auth_kinds) {
            self.fail(differs(
                "auth_kinds",
                &manifest.auth_kinds,
                &spec.auth_kinds,
            ));
        }
        let names = |actions: &[crate::ActionSpec]| {
            let mut names: Vec<String> = actions.iter().map(|a| a.name.clone()).collect();
            names.sort();
            names
        };
        if names(&manifest.actions) != names(&spec.actions) {
            self.fail(differs(
                "actions",
                &names(&manifest.actions),
                &names(&spec.actions),
            ));
        }
    }

    fn check_configs(&mut self, spec: &ConnectorSpec) {
        let (config, bad_config) = (&self.acceptance.config, &self.acceptance.bad_config);
        if schema_problem(&spec.config_schema).is_none() {
            if let Err(problems) = validate(&spec.config_schema, config) {
                self.fail(format!(
                    "config does not match config_schema: {}",
                    problems.join("; ")
                ));
            }
            if validate(&spec.config_schema, bad_config).is_ok() {
                self.fail(format!(
                    "bad_config {bad_config} matches config_schema; the schema must refuse it"
                ));
            }
        }
        if let Err(e) = self.harness.check(config) {
            self.fail(format!("check(config) failed: {e}"));
        }
        match self.harness.check(bad_config) {
            Err(Error::Config(_)) => {}
            Err(e) => self.fail(format!(
                "check(bad_config) failed with a {} error, expected config: {e}",
                e.kind()
            )),
            Ok(message) => self.fail(format!(
                "check(bad_config) succeeded ({message:?}); expected a config error"
            )),
        }
    }

    fn check_streams(&mut self, source: &str, streams: &[StreamSpec]) {
        let mut names = HashSet::new();
        for stream in streams {
            if !names.insert(&stream.name) {
                self.fail(format!(
                    "{source}: stream `{}` is listed twice",
                    stream.name
                ));
            }
            if let Some(why) = schema_problem(&stream.schema) {
                self.fail(format!(
                    "{source}: stream `{}` schema is not a valid JSON Schema: {why}",
                    stream.name
                ));
            }
        }
    }

    fn check_not_found(&mut self) {
        let config = &self.acceptance.config;
        match self.harness.read(config, UNKNOWN, None) {
            Err(Error::NotFound(_)) => {}
            other => self.fail(format!(
                "read of an unknown stream must be not-found, got {}",
                outcome(&other.map(|_| ()))
            )),
        }
        match self
            .harness
            .invoke(config, UNKNOWN, &Value::Object(Default::default()))
        {
            Err(Error::NotFound(_)) => {}
            other => self.fail(format!(
                "invoke of an unknown action must be not-found, got {}",
                outcome(&other.map(|_| ()))
            )),
        }
    }

    fn check_invocations(&mut self, spec: &ConnectorSpec) {
        let actions: HashMap<&str, _> = spec.actions.iter().map(|a| (a.name.as_str(), a)).collect();
        for (name, input) in &self.acceptance.invocations {
            let Some(action) = actions.get(name) else {
                self.fail(format!(
                    "invocation of `{name}`: the spec declares no such action"
                ));
                continue;
            };
            if let Err(problems) = validate(&action.input_schema, input) {
                self.fail(format!(
                    "invocation of `{name}`: the example input does not match input_schema: {}",
                    problems.join("; ")
                ));
            }
            match self.harness.invoke(&self.acceptance.config, name, input) {
                Ok(output) => {
                    if let Err(problems) = validate(&action.output_schema, &output) {
                        self.fail(format!(
                            "invocation of `{name}`: output does not match output_schema: {}",
                            problems.join("; ")
                        ));
                    }
                }
                Err(e) => self.fail(format!("invocation of `{name}` failed: {e}")),
            }
        }
    }
}

fn outcome(result: &Result<(), Error>) -> String {
    match result {
        Ok(()) => "success".into(),
        Err(e) => format!("a {} error ({e})", e.kind()),
    }
}
