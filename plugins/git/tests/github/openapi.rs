//! GitHub's published OpenAPI description (`@octokit/openapi`, pinned in
//! `tests/peers/github-openapi/package.json`, installed by `.ci/run` with `npm ci`), and the
//! check every request to the fake GitHub passes: its path fits a path template of the
//! description (path parameters of the declared type), the template has the method, and every
//! query parameter is one the operation declares, with a value of its type and enum. The fake's
//! own answers are checked against the operation's response schema ([`Description::check_response`]),
//! so its objects are shaped as GitHub's.
//!
//! The description is 13 MB of JSON outside the repository; when it is missing the GitHub tests
//! fail under `CI=true` and are skipped (with a message) elsewhere.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde_json::{json, Value};

/// Where `npm ci` puts the description: under the Git connector's tests, seen from the
/// connector's crate or from the host's stories (`tests/`), which include this file by path.
fn path() -> PathBuf {
    const DESCRIPTION: &str =
        "tests/peers/github-openapi/node_modules/@octokit/openapi/generated/api.github.com.json";
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let from_plugin = crate_dir.join(DESCRIPTION);
    if crate_dir.join("plugin.toml").exists() {
        from_plugin
    } else {
        crate_dir.join("../plugins/git").join(DESCRIPTION)
    }
}

/// The description, loaded once; `None` (after saying why) when it is not installed outside CI.
///
/// # Panics
///
/// Under `CI=true` when it is missing: CI installs it, so its absence is a broken setup.
pub fn description() -> Option<Arc<Description>> {
    static LOADED: OnceLock<Option<Arc<Description>>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let path = path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let doc: Value = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
                Some(Arc::new(Description {
                    doc,
                    validators: Mutex::default(),
                    schemas: OnceLock::new(),
                }))
            }
            Err(e) => {
                let why = format!(
                    "GitHub's OpenAPI description is not installed ({}: {e}); run `npm ci` in \
                     plugins/git/tests/peers/github-openapi",
                    path.display()
                );
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
                eprintln!("skipping the GitHub tests: {why}");
                None
            }
        }
    });
    loaded.clone()
}

/// The parsed description.
pub struct Description {
    doc: Value,
    /// Response validators by `METHOD template status`, compiled on first use.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
    /// `components.schemas` as JSON Schema (OpenAPI 3.0's `nullable` as a `null` type).
    schemas: OnceLock<Value>,
}

impl Description {
    /// A `$ref` into the document resolved (anything else as it is).
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or(&Value::Null),
            None => value,
        }
    }

    /// The declared parameters of `method` on the path item `item` (operation's and path's).
    fn parameters<'a>(&'a self, item: &'a Value, method: &str) -> Vec<&'a Value> {
        let op = &item[method];
        item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(op["parameters"].as_array().into_iter().flatten())
            .map(|p| self.resolve(p))
            .collect()
    }

    /// `Ok(template)` when the request fits an operation of the description, else every way it
    /// does not.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<String, Vec<String>> {
        let method = method.to_ascii_lowercase();
        let Some(paths) = self.doc["paths"].as_object() else {
            return Err(vec!["the description has no paths".into()]);
        };
        // The templates the path fits, the most literal first (`…/issues/comments` before
        // `…/issues/{issue_number}`, which an integer parameter would refuse anyway).
        let mut fits: Vec<(&String, &Value, usize)> = paths
            .iter()
            .filter_map(|(template, item)| {
                self.fits(template, item, path)
                    .map(|literal| (template, item, literal))
            })
            .collect();
        fits.sort_by_key(|(_, _, literal)| std::cmp::Reverse(*literal));
        let Some((template, item, _)) = fits.first() else {
            return Err(vec![format!(
                "{} {path}: no path template of GitHub's description fits",
                method.to_uppercase()
            )]);
        };
        if item.get(&method).is_none() {
            return Err(vec![format!(
                "{} {path}: {template} has no {} operation",
                method.to_uppercase(),
                method.to_uppercase()
            )]);
        }
        let declared = self.parameters(item, &method);
        let mut problems = Vec::new();
        for (name, value) in query {
            let Some(param) = declared
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name.as_str())
            else {
                problems.push(format!(
                    "{} {template}: query parameter {name:?} is not declared",
                    method.to_uppercase()
                ));
                continue;
            };
            if let Some(why) = wrong_value(&param["schema"], value) {
                problems.push(format!(
                    "{} {template}: {name}={value:?}: {why}",
                    method.to_uppercase()
                ));
            }
        }
        if problems.is_empty() {
            Ok((*template).clone())
        } else {
            Err(problems)
        }
    }

    /// Literal segments in common when `path` fits `template` (path parameters of their type).
    fn fits(&self, template: &str, item: &Value, path: &str) -> Option<usize> {
        let t: Vec<&str> = template.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        if t.len() != p.len() {
            return None;
        }
        let mut literal = 0;
        for (t, p) in t.iter().zip(&p) {
            if let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                if p.is_empty() {
                    return None;
                }
                // The parameter's type, from the first operation that declares it.
                let schema = ["get", "post", "patch", "put", "delete"]
                    .iter()
                    .flat_map(|m| self.parameters(item, m))
                    .find(|prm| prm["in"] == "path" && prm["name"] == name)
                    .map(|prm| &prm["schema"]);
                if schema.is_some_and(|s| wrong_value(s, p).is_some()) {
                    return None;
                }
            } else if t != p {
                return None;
            } else {
                literal += 1;
            }
        }
        Some(literal)
    }

    /// Problems of the JSON `body` answered with `status` to `method` on `template`, against
    /// the description's schema for it (none when it documents no JSON body for the status).
    pub fn check_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let method = method.to_ascii_lowercase();
        let name = format!("{method} {template} {status}");
        let schema = self.doc["paths"][template][&method]["responses"][status.to_string()]
            .pointer("/content/application~1json/schema");
        let Some(validator) = self.validator(&name, schema) else {
            return Vec::new();
        };
        validator
            .iter_errors(body)
            .take(5)
            .map(|e| format!("{name}: answer: {e} at {}", e.instance_path))
            .collect()
    }

    /// Problems of the JSON request `body` sent with `method` to `template`, against the
    /// operation's request body schema; and, stricter than the schema (which leaves
    /// `additionalProperties` open), every top-level field must be one it declares.
    pub fn check_request(&self, method: &str, template: &str, body: &[u8]) -> Vec<String> {
        let method = method.to_ascii_lowercase();
        let name = format!("{method} {template} request");
        let Some(schema) = self.doc["paths"][template][&method]
            .pointer("/requestBody/content/application~1json/schema")
        else {
            return vec![format!("{name}: the operation takes no JSON body")];
        };
        let body: Value = match serde_json::from_slice(body) {
            Ok(body) => body,
            Err(e) => return vec![format!("{name}: not JSON: {e}")],
        };
        let mut problems: Vec<String> = body
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(field, _)| schema["properties"].get(field.as_str()).is_none())
            .map(|(field, _)| format!("{name}: field {field:?} is not declared"))
            .collect();
        if let Some(validator) = self.validator(&name, Some(schema)) {
            problems.extend(
                validator
                    .iter_errors(&body)
                    .take(5)
                    .map(|e| format!("{name}: {e} at {}", e.instance_path)),
            );
        }
        problems
    }

    /// The compiled validator of `schema`, cached as `name`.
    fn validator(&self, name: &str, schema: Option<&Value>) -> Option<Arc<jsonschema::Validator>> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache.get(name) {
            return Some(v.clone());
        }
        let schema = schema?;
        let schemas = self.schemas.get_or_init(|| {
            agentic_sdk::testing::openapi_schema(&self.doc["components"]["schemas"])
        });
        let root = json!({"components": {"schemas": schemas}, "allOf": [agentic_sdk::testing::openapi_schema(schema)]});
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(false)
            .build(&root)
            .unwrap_or_else(|e| panic!("{name}: the schema does not compile: {e}"));
        let validator = Arc::new(validator);
        cache.insert(name.to_owned(), validator.clone());
        Some(validator)
    }

    /// `components.examples[name].value`: GitHub's own example answers, templates of the
    /// fake's objects.
    pub fn example(&self, name: &str) -> Value {
        self.doc["components"]["examples"][name]["value"].clone()
    }
}

/// Why `text` is not a value of `schema` (type and enum), or `None`.
fn wrong_value(schema: &Value, text: &str) -> Option<String> {
    match schema["type"].as_str() {
        Some("integer") if text.parse::<i64>().is_err() => {
            return Some("not an integer".into());
        }
        Some("boolean") if !matches!(text, "true" | "false") => {
            return Some("not a boolean".into());
        }
        _ => {}
    }
    let allowed = schema["enum"].as_array()?;
    (!allowed.iter().any(|v| v == text)).then(|| format!("not one of {allowed:?}"))
}
