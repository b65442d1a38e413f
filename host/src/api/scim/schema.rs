//! The resources this service provider keeps (RFC 7643): the core User with the enterprise
//! extension, and the core Group. One table of attributes per schema drives both the
//! validation of what a provider sends (unknown attributes refused, names matched
//! case-insensitively and stored in their canonical spelling, Entra ID's `"True"`/`"False"`
//! strings read as booleans) and the `/Schemas` documents, so the two cannot drift apart.

use serde_json::{json, Map, Value};

use super::ScimError;

/// The core User schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The core Group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Longest string value accepted, in characters.
const MAX_STRING: usize = 1024;
/// Most values of a multi-valued attribute of a User (e-mails, phone numbers, …).
const MAX_VALUES: usize = 100;
/// Most members of one group.
pub const MAX_MEMBERS: usize = 10_000;

/// What an attribute holds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// A complex value with these sub-attributes.
    Complex(&'static [Attr]),
}

/// One attribute of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    /// Canonical name.
    pub name: &'static str,
    /// What it holds.
    pub kind: Kind,
    /// Multi-valued (a JSON array).
    pub multi: bool,
    /// Must be present.
    pub required: bool,
    /// `readWrite`, `readOnly` (ignored when sent) or `writeOnly` (accepted, never kept).
    pub mutability: &'static str,
    /// What it means here.
    pub description: &'static str,
}

const fn attr(name: &'static str, kind: Kind, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        mutability: "readWrite",
        description,
    }
}

const fn multi(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    Attr {
        name,
        kind: Kind::Complex(sub),
        multi: true,
        required: false,
        mutability: "readWrite",
        description,
    }
}

const S: Kind = Kind::Str;
const B: Kind = Kind::Bool;

const NAME: &[Attr] = &[
    attr("formatted", S, "The full name."),
    attr("familyName", S, "Family name."),
    attr("givenName", S, "Given name."),
    attr("middleName", S, "Middle name."),
    attr("honorificPrefix", S, "Honorific prefix."),
    attr("honorificSuffix", S, "Honorific suffix."),
];

const VALUE: &[Attr] = &[
    attr("value", S, "The value."),
    attr("display", S, "A human-readable name."),
    attr("type", S, "A label, e.g. `work`."),
    attr("primary", B, "The preferred value."),
];

const ADDRESS: &[Attr] = &[
    attr("formatted", S, "The full address."),
    attr("streetAddress", S, "Street."),
    attr("locality", S, "City."),
    attr("region", S, "State or region."),
    attr("postalCode", S, "Postal code."),
    attr("country", S, "Country."),
    attr("type", S, "A label, e.g. `work`."),
    attr("primary", B, "The preferred address."),
];

const REFERENCE: &[Attr] = &[
    attr("value", S, "The id of the referenced resource."),
    attr("$ref", S, "Its URI."),
    attr("display", S, "Its name."),
    attr("type", S, "`User` or `Group`."),
];

/// The core User attributes (RFC 7643 §4.1).
pub const USER_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..attr(
            "userName",
            S,
            "Unique (case-insensitive) identifier; the login e-mail when no e-mail is given.",
        )
    },
    Attr {
        kind: Kind::Complex(NAME),
        ..attr("name", S, "The person's name.")
    },
    attr("displayName", S, "The name shown in the platform."),
    attr("nickName", S, "Kept as sent."),
    attr("profileUrl", S, "Kept as sent."),
    attr("title", S, "Kept as sent."),
    attr("userType", S, "Kept as sent."),
    attr("preferredLanguage", S, "Kept as sent."),
    attr("locale", S, "Kept as sent."),
    attr("timezone", S, "Kept as sent."),
    attr(
        "active",
        B,
        "`false` deactivates the account and ends its sessions at once.",
    ),
    Attr {
        mutability: "writeOnly",
        ..attr(
            "password",
            S,
            "Accepted and dropped: provisioned people sign in with single sign-on only.",
        )
    },
    multi(
        "emails",
        VALUE,
        "The primary (else the first) is the login e-mail.",
    ),
    multi("phoneNumbers", VALUE, "Kept as sent."),
    multi("ims", VALUE, "Kept as sent."),
    multi("photos", VALUE, "Kept as sent."),
    multi("addresses", ADDRESS, "Kept as sent."),
    Attr {
        mutability: "readOnly",
        ..multi("groups", REFERENCE, "Set through the Groups' members.")
    },
    multi("entitlements", VALUE, "Kept as sent; grants nothing."),
    multi(
        "roles",
        VALUE,
        "Kept as sent; the role comes from the groups.",
    ),
    multi("x509Certificates", VALUE, "Kept as sent."),
    attr("externalId", S, "The provider's id of the person."),
];

/// The enterprise extension (RFC 7643 §4.3), kept as sent.
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    attr("employeeNumber", S, "Kept as sent."),
    attr("costCenter", S, "Kept as sent."),
    attr("organization", S, "Kept as sent."),
    attr("division", S, "Kept as sent."),
    attr("department", S, "Kept as sent."),
    Attr {
        kind: Kind::Complex(&[
            attr("value", S, "The manager's id."),
            attr("$ref", S, "Its URI."),
            attr("displayName", S, "The manager's name."),
        ]),
        ..attr("manager", S, "Kept as sent.")
    },
];

/// The core Group attributes (RFC 7643 §4.2).
pub const GROUP_ATTRS: &[Attr] = &[
    Attr {
        required: true,
        ..attr(
            "displayName",
            S,
            "Unique (case-insensitive) name; the role rules match it.",
        )
    },
    multi(
        "members",
        REFERENCE,
        "Provisioned people (`value`: the User id); nested groups are not supported.",
    ),
    attr(
        "externalId",
        S,
        "The provider's id of the group; the role rules match it too.",
    ),
];

/// What every resource carries besides its attributes, which a request may repeat and the
/// server ignores, still of the right type: `id` a string, `meta` an object, and `schemas`
/// listing only URNs of `allowed`.
pub fn check_envelope(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ScimError> {
    let get = |name: &str| {
        body.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let id_ok = match get("id") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => !s.chars().any(char::is_control),
        Some(_) => false,
    };
    if !id_ok {
        return Err(invalid(
            "`id` must be a string without control characters".into(),
        ));
    }
    if !matches!(get("meta"), None | Some(Value::Null | Value::Object(_))) {
        return Err(invalid("`meta` must be an object".into()));
    }
    let Some(schemas) = get("schemas") else {
        return Ok(());
    };
    let known = |s: &Value| {
        s.as_str()
            .is_some_and(|s| allowed.iter().any(|a| a.eq_ignore_ascii_case(s)))
    };
    match schemas {
        Value::Null => Ok(()),
        Value::Array(items) if items.iter().all(known) => Ok(()),
        _ => Err(invalid(format!(
            "`schemas` may list only {}",
            allowed.join(", ")
        ))),
    }
}

fn invalid(detail: String) -> ScimError {
    ScimError::bad("invalidValue", detail)
}

/// Finds an attribute by case-insensitive name.
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Checks and normalizes a resource's attributes (`id`, `meta` and `schemas` already removed):
/// canonical names, nulls dropped, read-only and write-only attributes dropped, booleans from
/// strings, strings bounded and free of control characters. `extension` is the schema URN and
/// attributes of an extension allowed at the top level.
pub fn normalize(
    input: &Map<String, Value>,
    attrs: &[Attr],
    extension: Option<(&str, &[Attr])>,
) -> Result<Map<String, Value>, ScimError> {
    let mut out = Map::new();
    for (key, value) in input {
        if let Some((urn, ext_attrs)) = extension {
            if key.eq_ignore_ascii_case(urn) {
                let Value::Object(inner) = value else {
                    if value.is_null() {
                        continue;
                    }
                    return Err(invalid(format!("`{urn}` must be an object")));
                };
                let inner = normalize(inner, ext_attrs, None)?;
                if !inner.is_empty() {
                    out.insert(urn.to_owned(), Value::Object(inner));
                }
                continue;
            }
        }
        let Some(a) = find(attrs, key) else {
            return Err(invalid(format!("unknown attribute `{key}`")));
        };
        if value.is_null() || a.mutability != "readWrite" {
            continue;
        }
        let value = check(a, value, a.name)?;
        let empty = matches!(&value, Value::Array(v) if v.is_empty())
            || matches!(&value, Value::Object(m) if m.is_empty());
        if !empty {
            out.insert(a.name.to_owned(), value);
        }
    }
    for a in attrs.iter().filter(|a| a.required) {
        if !out.contains_key(a.name) {
            return Err(invalid(format!("`{}` is required", a.name)));
        }
    }
    Ok(out)
}

/// One attribute's value, checked against its definition.
fn check(a: &Attr, value: &Value, at: &str) -> Result<Value, ScimError> {
    if a.multi {
        let Value::Array(items) = value else {
            return Err(invalid(format!("`{at}` must be an array")));
        };
        let max = if a.name == "members" {
            MAX_MEMBERS
        } else {
            MAX_VALUES
        };
        if items.len() > max {
            return Err(invalid(format!("`{at}` holds at most {max} values")));
        }
        let single = Attr { multi: false, ..*a };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.is_null() {
                return Err(invalid(format!("`{at}[{i}]` is null")));
            }
            let v = check(&single, item, &format!("{at}[{i}]"))?;
            if !out.contains(&v) {
                out.push(v);
            }
        }
        return Ok(Value::Array(out));
    }
    match (a.kind, value) {
        (Kind::Str, Value::String(s)) => {
            if s.chars().count() > MAX_STRING {
                return Err(invalid(format!(
                    "`{at}` is longer than {MAX_STRING} characters"
                )));
            }
            if s.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
            {
                return Err(invalid(format!("`{at}` holds a control character")));
            }
            Ok(value.clone())
        }
        (Kind::Bool, Value::Bool(_)) => Ok(value.clone()),
        // Entra ID sends booleans as the strings "True" and "False".
        (Kind::Bool, Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        (Kind::Bool, Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        (Kind::Complex(sub), Value::Object(m)) => Ok(Value::Object(normalize(m, sub, None)?)),
        // Entra ID sends the enterprise `manager` as the manager's id alone.
        (Kind::Complex(sub), Value::String(_)) if find(sub, "value").is_some() => {
            let mut m = Map::new();
            m.insert("value".into(), value.clone());
            Ok(Value::Object(normalize(&m, sub, None)?))
        }
        (Kind::Str, _) => Err(invalid(format!("`{at}` must be a string"))),
        (Kind::Bool, _) => Err(invalid(format!("`{at}` must be a boolean"))),
        (Kind::Complex(_), _) => Err(invalid(format!("`{at}` must be an object"))),
    }
}

fn describe(a: &Attr) -> Value {
    let (kind, sub) = match a.kind {
        Kind::Str => ("string", None),
        Kind::Bool => ("boolean", None),
        Kind::Complex(sub) => ("complex", Some(sub)),
    };
    let unique = matches!(a.name, "userName" | "displayName") && a.required;
    let mut v = json!({
        "name": a.name,
        "type": kind,
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "caseExact": a.name == "externalId",
        "mutability": a.mutability,
        "returned": if a.mutability == "writeOnly" { "never" } else { "default" },
        "uniqueness": if unique { "server" } else { "none" },
    });
    if let Some(sub) = sub {
        v["subAttributes"] = Value::Array(sub.iter().map(describe).collect());
    }
    v
}

/// The `/Schemas` documents, each with its `meta.location` under `base`.
pub fn schemas(base: &str) -> Vec<Value> {
    [
        (USER, "User", "User Account", USER_ATTRS),
        (
            ENTERPRISE,
            "EnterpriseUser",
            "Enterprise User",
            ENTERPRISE_ATTRS,
        ),
        (GROUP, "Group", "Group", GROUP_ATTRS),
    ]
    .into_iter()
    .map(|(id, name, description, attrs)| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": id,
            "name": name,
            "description": description,
            "attributes": attrs.iter().map(describe).collect::<Vec<_>>(),
            "meta": { "resourceType": "Schema", "location": format!("{base}/Schemas/{id}") },
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical_booleans_read_from_strings_and_unknowns_refused() {
        let input = json!({
            "USERNAME": "Ann@Example.com",
            "active": "False",
            "emails": [{"Value": "ann@example.com", "type": "work", "primary": "True"}],
            "password": "never-kept",
            "groups": [{"value": "1"}],
            "name": {"givenName": "Ann", "middleName": null},
            ENTERPRISE: {"department": "R&D", "manager": "m-1"},
        });
        let out = normalize(
            input.as_object().expect("object"),
            USER_ATTRS,
            Some((ENTERPRISE, ENTERPRISE_ATTRS)),
        )
        .expect("valid");
        assert_eq!(
            Value::Object(out),
            json!({
                "userName": "Ann@Example.com",
                "active": false,
                "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
                "name": {"givenName": "Ann"},
                ENTERPRISE: {"department": "R&D", "manager": {"value": "m-1"}},
            })
        );
        for bad in [
            json!({"userName": "a", "shoeSize": 42}),
            json!({"userName": "a", "active": "maybe"}),
            json!({"userName": 7}),
            json!({"userName": "a\u{0}b"}),
            json!({"displayName": "no userName"}),
        ] {
            let e =
                normalize(bad.as_object().expect("object"), USER_ATTRS, None).expect_err("refused");
            assert_eq!(e.scim_type, Some("invalidValue"), "{bad}");
        }
    }
}
