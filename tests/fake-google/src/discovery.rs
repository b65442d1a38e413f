//! Google API discovery documents, as a request validator.
//!
//! A discovery document (`https://www.googleapis.com/discovery/v1/apis/drive/v3/rest`) lists
//! every method of an API: its HTTP method, its path template under `rootUrl` + `servicePath`,
//! and its parameters with their location, type, enum values, whether they repeat and whether
//! they are required; the document's own `parameters` (`fields`, `alt`, `prettyPrint`, …) apply
//! to every method. [`Discovery::resolve`] checks a request against that, generically — no route
//! is written by hand — and names the method (`drive.files.list`) for the fake to answer. It also
//! checks a `fields` selector against the response schema, as Google does ("Invalid field
//! selection").

use std::collections::BTreeMap;

use serde_json::Value;

/// One method of an API, as its discovery document describes it.
#[derive(Debug, Clone)]
struct Method {
    id: String,
    http_method: String,
    /// The path template's segments, from the origin on (`drive`, `v3`, `files`, `{fileId}`).
    segments: Vec<String>,
    /// Parameters: the method's and the document's common ones.
    parameters: BTreeMap<String, Value>,
    /// The response schema's name, if any.
    response: Option<String>,
    /// The request body's schema name, if the method takes one.
    request: Option<String>,
    /// The API the method belongs to (index into `Discovery::apis`).
    api: usize,
}

/// The loaded documents.
#[derive(Debug, Clone)]
pub struct Discovery {
    methods: Vec<Method>,
    /// Each API's `schemas`.
    apis: Vec<BTreeMap<String, Value>>,
}

/// A request that matched a method.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method's id, e.g. `drive.files.list`.
    pub id: String,
    /// Path parameters, decoded.
    pub path: BTreeMap<String, String>,
    /// Query parameters (the repeated ones joined by `,`).
    pub query: BTreeMap<String, String>,
}

/// Why a request does not fit the documents: the HTTP status Google would answer and the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// 404 for an unknown path, 405 for a path without that method, else 400.
    pub status: u16,
    /// What is wrong.
    pub message: String,
}

fn violation(status: u16, message: String) -> Violation {
    Violation { status, message }
}

impl Discovery {
    /// Loads the documents (their JSON text).
    pub fn new(documents: &[&str]) -> Self {
        let mut methods = Vec::new();
        let mut apis = Vec::new();
        for text in documents {
            let doc: Value = serde_json::from_str(text).expect("a discovery document");
            let api = apis.len();
            let root = doc["rootUrl"].as_str().unwrap_or_default();
            // The origin's path part (none for googleapis.com roots) + the service path.
            let root_path = root.splitn(4, '/').nth(3).unwrap_or_default();
            let prefix = format!("{root_path}{}", doc["servicePath"].as_str().unwrap_or(""));
            let common: BTreeMap<String, Value> = doc["parameters"]
                .as_object()
                .map(|o| o.clone().into_iter().collect())
                .unwrap_or_default();
            collect(&doc, &prefix, &common, api, &mut methods);
            apis.push(
                doc["schemas"]
                    .as_object()
                    .map(|o| o.clone().into_iter().collect())
                    .unwrap_or_default(),
            );
        }
        Self { methods, apis }
    }

    /// The documents this crate ships: Drive v3, Calendar v3, Sheets v4 and Docs v1 (their
    /// paths do not overlap, so one fake serves them all).
    pub fn google() -> Self {
        Self::new(&[
            include_str!("../discovery/drive.v3.json"),
            include_str!("../discovery/calendar.v3.json"),
            include_str!("../discovery/sheets.v4.json"),
            include_str!("../discovery/docs.v1.json"),
        ])
    }

    /// Matches `method path?query` against the documents and checks its parameters.
    pub fn resolve(
        &self,
        http_method: &str,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Call, Violation> {
        let actual: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // The best match: most literal segments first (`files/generateIds` before `files/{id}`).
        let mut candidates: Vec<(&Method, BTreeMap<String, String>)> = self
            .methods
            .iter()
            .filter_map(|m| match_path(&m.segments, &actual).map(|p| (m, p)))
            .collect();
        if candidates.is_empty() {
            return Err(violation(404, format!("no method has the path {path}")));
        }
        candidates.sort_by_key(|(m, _)| {
            std::cmp::Reverse(m.segments.iter().filter(|s| !s.contains('{')).count())
        });
        let Some((method, path_params)) = candidates
            .iter()
            .find(|(m, _)| m.http_method == http_method)
            .cloned()
        else {
            return Err(violation(
                405,
                format!("{path} has no {http_method} method"),
            ));
        };
        let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in query {
            values.entry(name.clone()).or_default().push(value.clone());
        }
        for (name, given) in &values {
            let Some(spec) = method.parameters.get(name) else {
                return Err(violation(
                    400,
                    format!("{}: parameter {name:?} is not declared", method.id),
                ));
            };
            if spec["location"] != "query" {
                return Err(violation(
                    400,
                    format!(
                        "{}: {name:?} is a {} parameter",
                        method.id, spec["location"]
                    ),
                ));
            }
            if given.len() > 1 && spec["repeated"] != true {
                return Err(violation(
                    400,
                    format!("{}: {name:?} given {} times", method.id, given.len()),
                ));
            }
            for value in given {
                check_value(&method.id, name, spec, value)?;
            }
        }
        for (name, spec) in &method.parameters {
            if spec["required"] == true && spec["location"] == "query" && !values.contains_key(name)
            {
                return Err(violation(
                    400,
                    format!("{}: required parameter {name:?} is missing", method.id),
                ));
            }
        }
        for (name, value) in &path_params {
            if let Some(spec) = method.parameters.get(name) {
                check_value(&method.id, name, spec, value)?;
            }
        }
        if let (Some(fields), Some(schema)) = (values.get("fields"), &method.response) {
            let selector = fields.join(",");
            self.check_fields(method.api, schema, &selector)
                .map_err(|e| {
                    violation(400, format!("{}: invalid field selection: {e}", method.id))
                })?;
        }
        Ok(Call {
            id: method.id.clone(),
            path: path_params,
            query: values.into_iter().map(|(k, v)| (k, v.join(","))).collect(),
        })
    }

    /// Checks a JSON request body against the method's request schema: every property it sets
    /// must be declared (nested objects and arrays too), with the declared JSON type.
    pub fn check_body(&self, method_id: &str, body: &Value) -> Result<(), Violation> {
        let Some(method) = self.methods.iter().find(|m| m.id == method_id) else {
            return Ok(());
        };
        let Some(schema) = &method.request else {
            return Ok(());
        };
        self.check_value_against(method.api, &Value::String(schema.clone()), body, "body")
            .map_err(|e| violation(400, format!("{method_id}: {e}")))
    }

    /// Checks an answer of `method_id` against its response schema, as [`Self::check_body`]
    /// checks a request: for tests that write Google's answers by hand (or the fake's own).
    pub fn check_response(&self, method_id: &str, body: &Value) -> Result<(), Violation> {
        let Some(method) = self.methods.iter().find(|m| m.id == method_id) else {
            return Err(violation(404, format!("no method {method_id}")));
        };
        let Some(schema) = &method.response else {
            return Err(violation(400, format!("{method_id} answers no JSON")));
        };
        self.check_value_against(method.api, &Value::String(schema.clone()), body, "answer")
            .map_err(|e| violation(400, format!("{method_id}: {e}")))
    }

    fn check_value_against(
        &self,
        api: usize,
        schema: &Value,
        value: &Value,
        at: &str,
    ) -> Result<(), String> {
        let schema = self.deref(api, schema);
        let declared = schema["type"].as_str().unwrap_or("any");
        let fits = match (declared, value) {
            ("object", Value::Object(_))
            | ("array", Value::Array(_))
            | ("string", Value::String(_)) => true,
            ("boolean", Value::Bool(_)) | ("any", _) | (_, Value::Null) => true,
            ("integer" | "number", Value::Number(_)) => true,
            // int64 values are strings in Google's JSON.
            ("string", Value::Number(_)) => {
                schema["format"].as_str().is_some_and(|f| f.contains("int"))
            }
            _ => false,
        };
        if !fits {
            return Err(format!("{at} is not a {declared}"));
        }
        match value {
            Value::Object(object) if declared == "object" => {
                for (name, v) in object {
                    let property = match (
                        schema["properties"].get(name),
                        schema.get("additionalProperties"),
                    ) {
                        (Some(p), _) => p.clone(),
                        (None, Some(extra)) => extra.clone(),
                        (None, None) => return Err(format!("{at}.{name} is not a field")),
                    };
                    self.check_value_against(api, &property, v, &format!("{at}.{name}"))?;
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.check_value_against(api, &schema["items"], item, &format!("{at}[{i}]"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks that every field a selector names is a property of `schema` (nested through
    /// `$ref`s and arrays).
    fn check_fields(&self, api: usize, schema: &str, selector: &str) -> Result<(), String> {
        let tree = crate::fields::parse(selector)?;
        self.check_tree(api, &Value::String(schema.into()), &tree)
    }

    fn check_tree(
        &self,
        api: usize,
        schema: &Value,
        tree: &crate::fields::Tree,
    ) -> Result<(), String> {
        let schema = self.deref(api, schema);
        let crate::fields::Tree(Some(tree)) = tree else {
            return Ok(());
        };
        for (name, sub) in tree {
            if name == "*" {
                continue;
            }
            let property = schema["properties"]
                .get(name)
                .ok_or_else(|| format!("{name:?} is not a field here"))?;
            let mut inner = self.deref(api, property);
            while inner["type"] == "array" {
                inner = self.deref(api, &inner["items"]);
            }
            if sub.0.is_some() {
                self.check_tree(api, &inner, sub)?;
            }
        }
        Ok(())
    }

    /// `schema` itself, or what its `$ref` (or a bare schema name) points to.
    fn deref(&self, api: usize, schema: &Value) -> Value {
        let name = match schema {
            Value::String(name) => Some(name.as_str()),
            other => other["$ref"].as_str(),
        };
        match name {
            Some(name) => self.apis[api].get(name).cloned().unwrap_or(Value::Null),
            None => schema.clone(),
        }
    }
}

/// Walks `resources` (nested) and collects every method.
fn collect(
    node: &Value,
    prefix: &str,
    common: &BTreeMap<String, Value>,
    api: usize,
    out: &mut Vec<Method>,
) {
    if let Some(methods) = node["methods"].as_object() {
        for method in methods.values() {
            let template = method["flatPath"]
                .as_str()
                .or_else(|| method["path"].as_str())
                .unwrap_or_default();
            let mut parameters = common.clone();
            if let Some(own) = method["parameters"].as_object() {
                parameters.extend(own.clone());
            }
            let described = Method {
                id: method["id"].as_str().unwrap_or_default().to_owned(),
                http_method: method["httpMethod"].as_str().unwrap_or("GET").to_owned(),
                segments: split(&format!("{prefix}{template}")),
                parameters,
                response: method["response"]["$ref"].as_str().map(str::to_owned),
                request: method["request"]["$ref"].as_str().map(str::to_owned),
                api,
            };
            // Media uploads have a path of their own (`/upload/drive/v3/files`), absolute.
            if let Some(upload) = method["mediaUpload"]["protocols"]["simple"]["path"].as_str() {
                out.push(Method {
                    segments: split(upload),
                    ..described.clone()
                });
            }
            out.push(described);
        }
    }
    if let Some(resources) = node["resources"].as_object() {
        for resource in resources.values() {
            collect(resource, prefix, common, api, out);
        }
    }
}

fn split(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// Matches path segments against a template's (`{name}`, with literal text around it as in
/// `{range}:append`, matches one non-empty segment); returns the decoded path parameters.
fn match_path(template: &[String], actual: &[&str]) -> Option<BTreeMap<String, String>> {
    if template.len() != actual.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (t, a) in template.iter().zip(actual) {
        match (t.find('{'), t.find('}')) {
            (Some(open), Some(close)) if open < close => {
                let (prefix, suffix) = (&t[..open], &t[close + 1..]);
                let name = t[open + 1..close].trim_start_matches('+');
                if a.len() <= prefix.len() + suffix.len()
                    || !a.starts_with(prefix)
                    || !a.ends_with(suffix)
                {
                    return None;
                }
                let value = &a[prefix.len()..a.len() - suffix.len()];
                params.insert(name.to_owned(), percent_decode(value));
            }
            _ if t == a => {}
            _ => return None,
        }
    }
    Some(params)
}

/// Checks one value against its parameter's type, enum and bounds.
fn check_value(method: &str, name: &str, spec: &Value, value: &str) -> Result<(), Violation> {
    let bad = |why: String| violation(400, format!("{method}: {name}={value:?}: {why}"));
    match spec["type"].as_str() {
        Some("integer") => {
            let n: i64 = value.parse().map_err(|_| bad("not an integer".into()))?;
            if let Some(min) = spec["minimum"].as_str().and_then(|m| m.parse::<i64>().ok()) {
                if n < min {
                    return Err(bad(format!("below the minimum {min}")));
                }
            }
        }
        Some("boolean") if value != "true" && value != "false" => {
            return Err(bad("not a boolean".into()));
        }
        _ => {}
    }
    if let Some(allowed) = spec["enum"].as_array() {
        if !allowed.iter().any(|a| a == value) {
            return Err(bad(format!("not one of {allowed:?}")));
        }
    }
    if let Some(pattern) = spec["pattern"].as_str() {
        // Google's patterns here are anchored character classes such as `^[^/]+$`.
        if pattern == "^[^/]+$" && value.contains('/') {
            return Err(bad(format!("does not match {pattern}")));
        }
    }
    Ok(())
}

/// Decodes `%XX` escapes (and leaves everything else as it is).
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.extend(u8::try_from(hi * 16 + lo));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn requests_resolve_to_methods_with_their_parameters() {
        let d = Discovery::google();
        let call = d
            .resolve(
                "GET",
                "/drive/v3/files/abc%20d/export",
                &q(&[("mimeType", "text/markdown")]),
            )
            .expect("export");
        assert_eq!(call.id, "drive.files.export");
        assert_eq!(call.path["fileId"], "abc d");
        let call = d
            .resolve("GET", "/drive/v3/files/generateIds", &[])
            .expect("literal segments win");
        assert_eq!(call.id, "drive.files.generateIds");
        let call = d
            .resolve(
                "GET",
                "/calendar/v3/calendars/primary/events",
                &q(&[("singleEvents", "true")]),
            )
            .expect("events");
        assert_eq!(call.id, "calendar.events.list");
    }

    #[test]
    fn what_the_documents_do_not_allow_is_a_violation() {
        let d = Discovery::google();
        let cases = [
            ("GET", "/drive/v3/nothing", q(&[]), 404, "no method"),
            ("PUT", "/drive/v3/files", q(&[]), 405, "no PUT"),
            (
                "GET",
                "/drive/v3/files",
                q(&[("pageSize", "ten")]),
                400,
                "not an integer",
            ),
            (
                "GET",
                "/drive/v3/files",
                q(&[("orderby", "name")]),
                400,
                "not declared",
            ),
            (
                "GET",
                "/drive/v3/files",
                q(&[("supportsAllDrives", "yes")]),
                400,
                "not a boolean",
            ),
            (
                "GET",
                "/drive/v3/files",
                q(&[("alt", "xml")]),
                400,
                "not one of",
            ),
            (
                "GET",
                "/drive/v3/files/x/export",
                q(&[]),
                400,
                "\"mimeType\" is missing",
            ),
            (
                "GET",
                "/drive/v3/files",
                q(&[("fields", "files(id,colour)")]),
                400,
                "\"colour\"",
            ),
            (
                "GET",
                "/drive/v3/files",
                q(&[("q", "a"), ("q", "b")]),
                400,
                "2 times",
            ),
        ];
        for (method, path, query, status, text) in cases {
            let v = d.resolve(method, path, &query).expect_err(path);
            assert_eq!(v.status, status, "{v:?}");
            assert!(v.message.contains(text), "{text} in {v:?}");
        }
        d.resolve(
            "GET",
            "/drive/v3/changes",
            &q(&[
                ("pageToken", "1"),
                (
                    "fields",
                    "nextPageToken,changes(fileId,removed,file(id,name,owners(emailAddress)))",
                ),
            ]),
        )
        .expect("nested selections through $ref and arrays");
        let upload = d
            .resolve(
                "POST",
                "/upload/drive/v3/files",
                &q(&[("uploadType", "multipart")]),
            )
            .expect("the media upload path");
        assert_eq!(upload.id, "drive.files.create");
        let event = serde_json::json!({"summary": "x", "start": {"dateTime": "2026-01-01T10:00:00Z"},
            "attendees": [{"email": "a@example.com"}]});
        d.check_body("calendar.events.insert", &event)
            .expect("a valid event");
        let bad = serde_json::json!({"summary": "x", "start": {"when": "now"}});
        let v = d
            .check_body("calendar.events.insert", &bad)
            .expect_err("undeclared field");
        assert!(v.message.contains("body.start.when"), "{v:?}");
        let bad = serde_json::json!({"attendees": {"email": "a"}});
        assert!(
            d.check_body("calendar.events.insert", &bad).is_err(),
            "an object for an array"
        );
    }
}
