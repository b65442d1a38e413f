//! PATCH (RFC 7644 §3.5.2) applied to a resource held as JSON: `add`, `replace` and `remove`,
//! with a path (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, URN-qualified) or
//! without (a value object whose keys are paths). The result is checked again against the
//! schema by the caller ([`super::schema::normalize`]), so a PATCH can never store what a PUT
//! could not.
//!
//! The dialects of the two providers that matter are read as they are sent: Entra ID's
//! capitalised ops (`Replace`), its booleans as strings, its dotted keys in path-less values
//! (`{"name.givenName": …}`) and its `emails[type eq "work"].value` on a person without such
//! an e-mail (the value is created, as Entra ID expects); Okta's path-less `replace` with
//! `{"active": false}` and its group renames that repeat the `id`.

use serde_json::{Map, Value};

use super::filter::{self, Filter};
use super::schema::{find, Attr, Kind, ENTERPRISE};
use super::ScimError;

/// The PATCH request schema.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Most operations in one PATCH.
pub const MAX_OPERATIONS: usize = 1000;

/// The operation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Add,
    Replace,
    Remove,
}

/// Where an operation points.
struct Target {
    /// Inside the enterprise extension object.
    extension: bool,
    attr: &'static Attr,
    filter: Option<Filter>,
    sub: Option<&'static str>,
}

fn invalid_path(detail: impl Into<String>) -> ScimError {
    ScimError::bad("invalidPath", detail.into())
}

/// The schema a resource's PATCH works against.
pub struct Schema {
    /// Core attributes.
    pub attrs: &'static [Attr],
    /// The extension's attributes, for Users.
    pub extension: Option<&'static [Attr]>,
    /// The core schema URN (`…:User`, `…:Group`), accepted as a path prefix.
    pub urn: &'static str,
}

/// Applies a PatchOp body to `resource`.
pub fn apply(
    resource: &mut Map<String, Value>,
    body: &Map<String, Value>,
    schema: &Schema,
) -> Result<(), ScimError> {
    super::schema::check_envelope(body, &[PATCH_OP])?;
    let Some(Value::Array(ops)) =
        filter::get_ci(&Value::Object(body.clone()), "Operations").cloned()
    else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "a PATCH body needs `Operations`, an array of operations".into(),
        ));
    };
    if ops.is_empty() || ops.len() > MAX_OPERATIONS {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("`Operations` holds 1 to {MAX_OPERATIONS} operations"),
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        let name = filter::get_ci(op, "op")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = match name.to_ascii_lowercase().as_str() {
            "add" => OpKind::Add,
            "replace" => OpKind::Replace,
            "remove" => OpKind::Remove,
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("Operations[{i}].op must be add, replace or remove"),
                ))
            }
        };
        let value = filter::get_ci(op, "value").cloned();
        match filter::get_ci(op, "path") {
            None | Some(Value::Null) => {
                if kind == OpKind::Remove {
                    return Err(ScimError::bad(
                        "noTarget",
                        format!("Operations[{i}]: remove needs a path"),
                    ));
                }
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        format!("Operations[{i}]: without a path the value must be an object"),
                    ));
                };
                for (key, v) in values {
                    if ["schemas", "id", "meta"]
                        .iter()
                        .any(|k| key.eq_ignore_ascii_case(k))
                    {
                        continue;
                    }
                    if key.eq_ignore_ascii_case(ENTERPRISE) && schema.extension.is_some() {
                        let Value::Object(inner) = v else {
                            return Err(ScimError::bad(
                                "invalidValue",
                                format!("`{ENTERPRISE}` must be an object"),
                            ));
                        };
                        for (k, v) in inner {
                            let target = resolve(&format!("{ENTERPRISE}:{k}"), schema)?;
                            apply_one(resource, kind, &target, Some(v))?;
                        }
                        continue;
                    }
                    let target = resolve(&key, schema)?;
                    apply_one(resource, kind, &target, Some(v))?;
                }
            }
            Some(Value::String(path)) => {
                if path.eq_ignore_ascii_case(ENTERPRISE) && schema.extension.is_some() {
                    // The whole extension object.
                    match (kind, value) {
                        (OpKind::Remove, _) => {
                            resource.remove(ENTERPRISE);
                        }
                        (_, Some(Value::Object(inner))) => {
                            for (k, v) in inner {
                                let target = resolve(&format!("{ENTERPRISE}:{k}"), schema)?;
                                apply_one(resource, kind, &target, Some(v))?;
                            }
                        }
                        _ => {
                            return Err(ScimError::bad(
                                "invalidValue",
                                format!("`{ENTERPRISE}` must be an object"),
                            ))
                        }
                    }
                    continue;
                }
                let target = resolve(path, schema)?;
                if kind != OpKind::Remove && value.is_none() {
                    return Err(ScimError::bad(
                        "invalidValue",
                        format!("Operations[{i}]: {name} needs a value"),
                    ));
                }
                apply_one(resource, kind, &target, value)?;
            }
            Some(_) => {
                return Err(invalid_path(format!(
                    "Operations[{i}].path must be a string"
                )))
            }
        }
    }
    Ok(())
}

/// A path to its attribute definitions.
fn resolve(path: &str, schema: &Schema) -> Result<Target, ScimError> {
    let (attr_path, filter) =
        filter::parse_path(path).map_err(|e| invalid_path(format!("path `{path}`: {}", e.0)))?;
    let mut name = attr_path.name.as_str();
    let mut attrs = schema.attrs;
    let mut extension = false;
    let has_prefix = |name: &str, prefix: &str| {
        name.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if has_prefix(name, "urn:") {
        let core = format!("{}:", schema.urn);
        let ext = format!("{ENTERPRISE}:");
        if has_prefix(name, &core) {
            name = &name[core.len()..];
        } else if let (Some(ext_attrs), true) = (schema.extension, has_prefix(name, &ext)) {
            name = &name[ext.len()..];
            attrs = ext_attrs;
            extension = true;
        } else {
            return Err(invalid_path(format!("path `{path}`: unknown schema")));
        }
    }
    let Some(attr) = find(attrs, name) else {
        return Err(invalid_path(format!(
            "path `{path}`: no attribute `{name}`"
        )));
    };
    if attr.mutability == "readOnly" {
        return Err(ScimError::bad(
            "mutability",
            format!("`{}` is read-only", attr.name),
        ));
    }
    let sub = match (&attr_path.sub, attr.kind) {
        (None, _) => None,
        (Some(sub), Kind::Complex(subs)) => match find(subs, sub) {
            Some(s) => Some(s.name),
            None => {
                return Err(invalid_path(format!(
                    "path `{path}`: `{}` has no sub-attribute `{sub}`",
                    attr.name
                )))
            }
        },
        (Some(_), _) => {
            return Err(invalid_path(format!(
                "path `{path}`: `{}` has no sub-attributes",
                attr.name
            )))
        }
    };
    if filter.is_some() && !attr.multi {
        return Err(invalid_path(format!(
            "path `{path}`: `{}` is not multi-valued, so it takes no filter",
            attr.name
        )));
    }
    Ok(Target {
        extension,
        attr,
        filter,
        sub,
    })
}

/// The object an operation works in: the resource, or its extension object.
fn container<'a>(resource: &'a mut Map<String, Value>, t: &Target) -> &'a mut Map<String, Value> {
    if !t.extension {
        return resource;
    }
    let slot = resource
        .entry(ENTERPRISE)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Merges `value` into `slot` when both are objects; otherwise replaces it.
fn merge(slot: &mut Value, value: Value) {
    match (slot, value) {
        (Value::Object(have), Value::Object(new)) => {
            for (k, v) in new {
                have.insert(k, v);
            }
        }
        (slot, value) => *slot = value,
    }
}

/// An item built from a filter of `sub eq "value"` conditions (the value Entra ID patches
/// into `emails[type eq "work"].value` when the person has no work e-mail yet).
fn item_from(filter: &Filter) -> Option<Map<String, Value>> {
    let mut item = Map::new();
    for (name, v) in filter.conjunction()? {
        if name.contains('.') {
            return None;
        }
        item.insert(name, v);
    }
    Some(item)
}

fn apply_one(
    resource: &mut Map<String, Value>,
    kind: OpKind,
    t: &Target,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let name = t.attr.name;
    let obj = container(resource, t);
    if kind == OpKind::Remove {
        remove(obj, t, value);
        return Ok(());
    }
    let value = value.unwrap_or(Value::Null);
    if let Some(filter) = &t.filter {
        let items = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
        if !items.is_array() {
            *items = Value::Array(Vec::new());
        }
        let Value::Array(items) = items else {
            unreachable!("just made an array")
        };
        let mut hit = false;
        for item in items.iter_mut().filter(|i| filter.matches(i)) {
            hit = true;
            match t.sub {
                Some(sub) => {
                    if let Value::Object(m) = item {
                        m.insert(sub.to_owned(), value.clone());
                    }
                }
                None if kind == OpKind::Replace => *item = value.clone(),
                None => merge(item, value.clone()),
            }
        }
        if !hit {
            let Some(mut item) = item_from(filter) else {
                return Err(ScimError::bad(
                    "noTarget",
                    format!("no value of `{name}` matches the filter"),
                ));
            };
            match (t.sub, value) {
                (Some(sub), v) => {
                    item.insert(sub.to_owned(), v);
                }
                (None, Value::Object(m)) => item.extend(m),
                (None, _) => {
                    return Err(ScimError::bad(
                        "invalidValue",
                        format!("a value of `{name}` must be an object"),
                    ))
                }
            }
            items.push(Value::Object(item));
        }
        return Ok(());
    }
    match (t.sub, t.attr.multi) {
        (None, true) => {
            let new: Vec<Value> = match value {
                Value::Array(v) => v,
                Value::Null => Vec::new(),
                one => vec![one],
            };
            if kind == OpKind::Replace {
                obj.insert(name.to_owned(), Value::Array(new));
            } else {
                let slot = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(have) = slot {
                    for v in new {
                        let same_value = |h: &Value| {
                            h == &v
                                || (h.get("value").is_some() && h.get("value") == v.get("value"))
                        };
                        if let Some(existing) = have.iter_mut().find(|h| same_value(h)) {
                            merge(existing, v);
                        } else {
                            have.push(v);
                        }
                    }
                }
            }
        }
        (None, false) => match obj.get_mut(name) {
            Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
            _ => {
                obj.insert(name.to_owned(), value);
            }
        },
        (Some(sub), true) => {
            let slot = obj.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            match slot {
                Value::Array(items) if !items.is_empty() => {
                    for item in items.iter_mut() {
                        if let Value::Object(m) = item {
                            m.insert(sub.to_owned(), value.clone());
                        }
                    }
                }
                _ => {
                    let mut item = Map::new();
                    item.insert(sub.to_owned(), value);
                    *slot = Value::Array(vec![Value::Object(item)]);
                }
            }
        }
        (Some(sub), false) => {
            let slot = obj.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(m) = slot {
                m.insert(sub.to_owned(), value);
            }
        }
    }
    Ok(())
}

fn remove(obj: &mut Map<String, Value>, t: &Target, value: Option<Value>) {
    let name = t.attr.name;
    let Some(slot) = obj.get_mut(name) else {
        return;
    };
    match (&t.filter, t.sub, slot) {
        (Some(filter), sub, Value::Array(items)) => match sub {
            None => items.retain(|i| !filter.matches(i)),
            Some(sub) => {
                for item in items.iter_mut().filter(|i| filter.matches(i)) {
                    if let Value::Object(m) = item {
                        m.remove(sub);
                    }
                }
            }
        },
        // Entra ID removes members by value: `{"op":"Remove","path":"members","value":[{"value":"7"}]}`.
        (None, None, Value::Array(items)) if value.is_some() => {
            let gone: Vec<Value> = match value {
                Some(Value::Array(v)) => v,
                Some(one) => vec![one],
                None => Vec::new(),
            };
            items.retain(|i| {
                !gone.iter().any(|g| {
                    g == i || (g.get("value").is_some() && g.get("value") == i.get("value"))
                })
            });
        }
        (None, None, _) => {
            obj.remove(name);
        }
        (None, Some(sub), Value::Array(items)) => {
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    m.remove(sub);
                }
            }
        }
        (None, Some(sub), Value::Object(m)) => {
            m.remove(sub);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::schema::{ENTERPRISE_ATTRS, GROUP, GROUP_ATTRS, USER, USER_ATTRS};
    use super::*;

    fn user_schema() -> Schema {
        Schema {
            attrs: USER_ATTRS,
            extension: Some(ENTERPRISE_ATTRS),
            urn: USER,
        }
    }

    fn run(resource: Value, ops: Value, schema: &Schema) -> Result<Value, ScimError> {
        let mut r = resource.as_object().expect("object").clone();
        let body = json!({ "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops });
        apply(&mut r, body.as_object().expect("object"), schema)?;
        Ok(Value::Object(r))
    }

    #[test]
    fn entra_and_okta_dialects() {
        let ann = json!({"userName": "ann", "emails": [{"value": "a@x", "type": "work", "primary": true}]});
        let out = run(ann.clone(), json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ann@x"},
            {"op": "Replace", "path": "name.familyName", "value": "Smith"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "m-1"},
            {"op": "Add", "value": {"name.givenName": "Ann", "displayName": "Ann Smith"}},
            {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555"},
            {"op": "Replace", "path": "active", "value": "False"},
        ]), &user_schema()).expect("applies");
        assert_eq!(
            out,
            json!({
                "userName": "ann",
                "emails": [{"value": "ann@x", "type": "work", "primary": true}],
                "name": {"familyName": "Smith", "givenName": "Ann"},
                ENTERPRISE: {"manager": "m-1"},
                "displayName": "Ann Smith",
                "phoneNumbers": [{"type": "mobile", "value": "+1 555"}],
                "active": "False",
            })
        );
        let okta = run(
            ann,
            json!([{"op": "replace", "value": {"id": "7", "active": false}}]),
            &user_schema(),
        )
        .expect("applies");
        assert_eq!(okta["active"], json!(false));
    }

    #[test]
    fn members_added_and_removed_by_value_and_by_filter() {
        let schema = Schema {
            attrs: GROUP_ATTRS,
            extension: None,
            urn: GROUP,
        };
        let g = json!({"displayName": "G", "members": [{"value": "1"}, {"value": "2"}]});
        let out = run(g, json!([
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "3"}, {"value": "1"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "2"}]},
            {"op": "remove", "path": "members[value eq \"3\"]"},
            {"op": "replace", "value": {"id": "9", "displayName": "G2"}},
        ]), &schema).expect("applies");
        assert_eq!(
            out,
            json!({"displayName": "G2", "members": [{"value": "1"}]})
        );
        for (ops, scim_type) in [
            (json!([{"op": "remove", "path": "nope"}]), "invalidPath"),
            (
                json!([{"op": "remove", "path": "members[value eq"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "remove", "path": "displayName[value eq \"1\"]"}]),
                "invalidPath",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "move", "path": "displayName"}]),
                "invalidSyntax",
            ),
            (json!([]), "invalidSyntax"),
        ] {
            let g = json!({"displayName": "G"});
            let e = run(g, ops.clone(), &schema).expect_err("refused");
            assert_eq!(e.scim_type, Some(scim_type), "{ops}");
        }
    }
}
