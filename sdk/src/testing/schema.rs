//! JSON Schema checks for tests, on the `jsonschema` crate.

use serde_json::Value;

/// Why `schema` is not a usable JSON Schema (unknown draft, not valid against its meta-schema,
/// or not compilable), or `None` when it is.
pub fn schema_problem(schema: &Value) -> Option<String> {
    match jsonschema::meta::try_validate(schema) {
        Err(e) => return Some(format!("unknown JSON Schema draft: {e}")),
        Ok(Err(e)) => return Some(format!("{e} at `{}`", e.instance_path)),
        Ok(Ok(())) => {}
    }
    jsonschema::validator_for(schema)
        .err()
        .map(|e| e.to_string())
}

/// Validates `instance` against `schema`; the error lists every violation with its location.
pub fn validate(schema: &Value, instance: &Value) -> Result<(), Vec<String>> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| vec![format!("invalid schema: {e}")])?;
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path.to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{e} at `{at}`")
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// An OpenAPI 3.0 schema (or a map of them, `components.schemas`) as a JSON Schema draft 4
/// one, for checking a fake's requests and answers against a service's published API
/// description: `nullable: true` becomes a `null` type (and a `null` in its `enum`), and the
/// keywords JSON Schema does not know (`nullable`, `discriminator`, `xml`, `example`,
/// `examples`) are dropped. `$ref`s are left as they are: resolve them against a root that
/// holds the converted `components.schemas`.
pub fn openapi_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(object) => {
            let mut out: serde_json::Map<String, Value> = object
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "nullable" | "discriminator" | "xml" | "example" | "examples"
                    )
                })
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        // Names of properties and schemas are not keywords: convert the values.
                        "properties" | "schemas" => Value::Object(
                            v.as_object()
                                .into_iter()
                                .flatten()
                                .map(|(name, s)| (name.clone(), openapi_schema(s)))
                                .collect(),
                        ),
                        "enum" | "required" | "default" => v.clone(),
                        _ => openapi_schema(v),
                    };
                    (k.clone(), v)
                })
                .collect();
            if object.get("nullable") == Some(&Value::Bool(true)) {
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    _ => {
                        return serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]})
                    }
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(openapi_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::*;
    use crate::types::RecordKind;
    use serde_json::json;

    #[test]
    fn broken_schemas_are_named() {
        assert_eq!(schema_problem(&json!({"type": "object"})), None);
        assert!(schema_problem(&json!({"type": "invalid_type"})).is_some());
        assert!(schema_problem(&json!({"minimum": "ten"})).is_some());
    }

    #[test]
    fn violations_are_listed_with_their_location() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        assert_eq!(validate(&schema, &json!({"n": 1})), Ok(()));
        let problems = validate(&schema, &json!({"n": "x"})).expect_err("n is a string");
        assert!(problems[0].contains("/n"), "{problems:?}");
    }

    #[test]
    fn every_kind_schema_is_valid_and_accepts_its_records() {
        let records: Vec<RecordData> = vec![
            Document {
                external_id: "d".into(),
                url: Some("u".into()),
                ..Default::default()
            }
            .into(),
            WorkItem {
                external_id: "w".into(),
                created_at: Some(1),
                ..Default::default()
            }
            .into(),
            Comment {
                external_id: "c".into(),
                parent_external_id: "w".into(),
                ..Default::default()
            }
            .into(),
            Requirement {
                external_id: "r".into(),
                status: Some("ok".into()),
                ..Default::default()
            }
            .into(),
            TraceLink {
                external_id: "l".into(),
                source: "r".into(),
                target: "w".into(),
                link_type: "verifies".into(),
            }
            .into(),
            Person {
                external_id: "p".into(),
                email: Some("e".into()),
                ..Default::default()
            }
            .into(),
            RawRecord {
                external_id: "x".into(),
                data: Attributes::new(),
            }
            .into(),
        ];
        for record in records {
            let schema = record.kind().schema();
            assert_eq!(schema_problem(&schema), None, "{:?}", record.kind());
            assert_eq!(validate(&schema, &record.to_json()), Ok(()), "{record:?}");
        }
        // And they are strict: an empty id, a stray field or a missing one is refused.
        let schema = RecordKind::Person.schema();
        let person = json!({"external_id": "p", "display_name": "", "email": null, "active": true});
        assert_eq!(validate(&schema, &person), Ok(()));
        let mut empty_id = person.clone();
        empty_id["external_id"] = json!("");
        assert!(validate(&schema, &empty_id).is_err());
        let mut stray = person.clone();
        stray["age"] = json!(3);
        assert!(validate(&schema, &stray).is_err());
        let mut missing = person;
        missing.as_object_mut().map(|o| o.remove("email"));
        assert!(validate(&schema, &missing).is_err());
    }
}
