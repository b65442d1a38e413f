//! Validates requests against Atlassian's Jira Cloud platform REST v3 OpenAPI document (the
//! operations the connector uses, extracted by `plugins/jira/tests/fixtures/extract_openapi.py`),
//! and Cloud rich text against the ADF schema.
//!
//! A request must name a path and method of the document; its path parameters, query
//! parameters (no undeclared ones, the required ones present, values of the declared types) and
//! JSON body (present when required, absent when the operation takes none, valid against the
//! operation's schema with its `$ref`s into `#/components/schemas`) must all fit. OpenAPI 3.0
//! schemas are JSON Schema draft 4 plus `nullable`, which becomes a `null` type here; `format`s
//! are not checked (Atlassian's own examples write `+0000` offsets that RFC 3339 refuses).
//!
//! Data Center's REST v2 is not in this document. Its requests are checked against the v3
//! operation of the same path (`/rest/api/2/x` as `/rest/api/3/x`), whose parameters and body
//! shapes v2 shares, with the parameters Data Center adds listed in [`DATA_CENTER_EXTRAS`].

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{json, Value};

const DOCUMENT: &str =
    include_str!("../../../plugins/jira/tests/fixtures/jira-openapi-extract.json");
const ADF_SCHEMA: &str =
    include_str!("../../../plugins/jira/tests/fixtures/adf-schema-v1-full.json");

/// The document, loaded once.
pub fn openapi() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(OpenApi::load)
}

/// Why `doc` (rich text a request carries) is not ADF.
pub fn adf_problems(doc: &Value) -> Vec<String> {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let schema: Value = serde_json::from_str(ADF_SCHEMA).expect("the ADF schema is JSON");
        jsonschema::validator_for(&schema).expect("the ADF schema compiles")
    });
    schema
        .iter_errors(doc)
        .take(3)
        .map(|e| e.to_string())
        .collect()
}

/// Query parameters Data Center's REST v2 takes that the Cloud document does not declare.
pub const DATA_CENTER_EXTRAS: &[(&str, &str)] = &[("/rest/api/3/user/search", "includeInactive")];

/// An operation of the document.
#[derive(Debug)]
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path template, e.g. `/rest/api/3/issue/{issueIdOrKey}`.
    pub path: String,
    /// Whether the document marks it deprecated (removed from Jira Cloud).
    pub deprecated: bool,
    params: Vec<Param>,
    body: Option<(bool, jsonschema::Validator)>,
    responses: HashMap<String, Value>,
}

#[derive(Debug)]
struct Param {
    name: String,
    location: String,
    required: bool,
    schema: Value,
    validator: jsonschema::Validator,
}

/// The document, ready to validate requests.
#[derive(Debug)]
pub struct OpenApi {
    operations: Vec<Operation>,
    schemas: Value,
    /// The document itself, for its examples.
    doc: Value,
}

impl OpenApi {
    /// Loads the extract.
    pub fn load() -> Self {
        let doc: Value = serde_json::from_str(DOCUMENT).expect("the OpenAPI extract is JSON");
        let schemas = agentic_sdk::testing::openapi_schema(&doc["components"]["schemas"]);
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    continue;
                }
                let params = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let schema = agentic_sdk::testing::openapi_schema(&p["schema"]);
                        Param {
                            name: p["name"].as_str().unwrap_or_default().to_owned(),
                            location: p["in"].as_str().unwrap_or_default().to_owned(),
                            required: p["required"].as_bool().unwrap_or(false),
                            validator: compile(&schema, &schemas),
                            schema,
                        }
                    })
                    .collect();
                let body = op.get("requestBody").and_then(|rb| {
                    let schema = rb.pointer("/content/application~1json/schema")?;
                    let required = rb["required"].as_bool().unwrap_or(false);
                    Some((
                        required,
                        compile(&agentic_sdk::testing::openapi_schema(schema), &schemas),
                    ))
                });
                let responses = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(status, r)| {
                        let schema = r.pointer("/content/application~1json/schema")?;
                        Some((status.clone(), agentic_sdk::testing::openapi_schema(schema)))
                    })
                    .collect();
                operations.push(Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    deprecated: op["deprecated"].as_bool().unwrap_or(false),
                    params,
                    body,
                    responses,
                });
            }
        }
        Self {
            operations,
            schemas,
            doc,
        }
    }

    /// The operation a request is for, or why it is not one of the document's.
    pub fn validate(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        content_type: Option<&str>,
        body: &[u8],
        data_center: bool,
    ) -> Result<&Operation, Vec<String>> {
        let lookup = if data_center {
            path.replacen("/rest/api/2/", "/rest/api/3/", 1)
        } else {
            path.to_owned()
        };
        let candidates: Vec<(&Operation, HashMap<String, String>)> = self
            .operations
            .iter()
            .filter_map(|op| matches_template(&op.path, &lookup).map(|p| (op, p)))
            .collect();
        if candidates.is_empty() {
            return Err(vec![format!(
                "{method} {path}: no such path in the document"
            )]);
        }
        let Some((op, path_params)) = candidates.into_iter().find(|(op, _)| op.method == method)
        else {
            return Err(vec![format!(
                "{method} {path}: the path has no {method} operation"
            )]);
        };
        let mut problems = Vec::new();
        let context = format!("{method} {}", op.path);
        // Path parameters.
        for param in op.params.iter().filter(|p| p.location == "path") {
            match path_params.get(&param.name) {
                Some(value) => check_value(param, value, &context, &mut problems),
                None => problems.push(format!("{context}: path parameter {} missing", param.name)),
            }
        }
        // Query parameters.
        for (name, value) in query {
            let declared = op
                .params
                .iter()
                .find(|p| p.location == "query" && p.name == *name);
            match declared {
                Some(param) => check_value(param, value, &context, &mut problems),
                None if data_center
                    && DATA_CENTER_EXTRAS.contains(&(op.path.as_str(), name.as_str())) => {}
                None => problems.push(format!(
                    "{context}: query parameter {name:?} is not declared"
                )),
            }
        }
        for param in op
            .params
            .iter()
            .filter(|p| p.location == "query" && p.required)
        {
            if !query.iter().any(|(n, _)| *n == param.name) {
                problems.push(format!(
                    "{context}: required query parameter {} missing",
                    param.name
                ));
            }
        }
        // Body.
        match (&op.body, body.is_empty()) {
            (None, false) => problems.push(format!("{context}: takes no body")),
            (Some((true, _)), true) => problems.push(format!("{context}: the body is required")),
            (Some((_, validator)), false) => {
                if !content_type.is_some_and(|c| c.starts_with("application/json")) {
                    problems.push(format!(
                        "{context}: body without content-type application/json"
                    ));
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(json) => problems.extend(
                        validator
                            .iter_errors(&json)
                            .take(5)
                            .map(|e| format!("{context}: body: {e} at {}", e.instance_path)),
                    ),
                    Err(e) => problems.push(format!("{context}: body is not JSON: {e}")),
                }
            }
            _ => {}
        }
        if problems.is_empty() {
            Ok(op)
        } else {
            Err(problems)
        }
    }

    /// Problems of `response` against the document's schema for `status` of `op`.
    pub fn check_response(&self, op: &Operation, status: u16, response: &Value) -> Vec<String> {
        let Some(schema) = op.responses.get(&status.to_string()) else {
            return vec![format!(
                "{} {}: no {status} response documented",
                op.method, op.path
            )];
        };
        let validator = compile(schema, &self.schemas);
        validator
            .iter_errors(response)
            .take(5)
            .map(|e| {
                format!(
                    "{} {} {status}: {e} at {}",
                    op.method, op.path, e.instance_path
                )
            })
            .collect()
    }

    /// The documented example of a response, parsed (Atlassian writes them as JSON text).
    pub fn example(&self, method: &str, path: &str, status: &str) -> Value {
        let example = self.doc["paths"][path][method.to_ascii_lowercase()]["responses"][status]
            .pointer("/content/application~1json/example")
            .cloned()
            .unwrap_or_else(|| panic!("no example for {method} {path} {status}"));
        match example {
            Value::String(text) => serde_json::from_str(&text).expect("the example is JSON"),
            other => other,
        }
    }
}

/// The parameters of `path` when it fits `template`.
fn matches_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (t, p) in t.iter().zip(&p) {
        if let Some(name) = t.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            if p.is_empty() {
                return None;
            }
            params.insert(name.to_owned(), (*p).to_owned());
        } else if t != p {
            return None;
        }
    }
    Some(params)
}

/// Checks a parameter's text value against its schema (arrays: comma-separated items).
fn check_value(param: &Param, text: &str, context: &str, problems: &mut Vec<String>) {
    let typed = |schema: &Value, text: &str| -> Result<Value, String> {
        match schema["type"].as_str() {
            Some("integer") => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|e| e.to_string()),
            Some("number") => text
                .parse::<f64>()
                .map(Value::from)
                .map_err(|e| e.to_string()),
            Some("boolean") => match text {
                "true" => Ok(json!(true)),
                "false" => Ok(json!(false)),
                _ => Err("not true or false".into()),
            },
            _ => Ok(Value::String(text.to_owned())),
        }
    };
    let value = if param.schema["type"] == "array" {
        let items = &param.schema["items"];
        text.split(',')
            .map(|item| typed(items, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array)
    } else {
        typed(&param.schema, text)
    };
    match value {
        Ok(value) => problems.extend(param.validator.iter_errors(&value).map(|e| {
            format!(
                "{context}: {} {} = {text:?}: {e}",
                param.location, param.name
            )
        })),
        Err(why) => problems.push(format!(
            "{context}: {} {} = {text:?}: {why}",
            param.location, param.name
        )),
    }
}

/// A draft 4 validator for `schema`, with the document's components to resolve `$ref`s.
fn compile(schema: &Value, schemas: &Value) -> jsonschema::Validator {
    let root = json!({
        "components": {"schemas": schemas},
        "allOf": [schema],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}"))
}
