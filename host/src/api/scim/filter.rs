//! SCIM filters (RFC 7644 §3.4.2.2): a small recursive-descent parser for the whole grammar,
//! and an evaluator over JSON for the value filters of PATCH paths (`members[value eq "…"]`,
//! `emails[type eq "work"]`). Written by hand: the grammar is a page long and no maintained
//! crate parses it; what the list endpoints can answer is decided afterwards
//! ([`Filter::conjunction`]), so an unsupported filter is a clean `invalidFilter`, never a guess.

use serde_json::Value;

/// Longest filter accepted, in bytes; deeper or longer filters are refused before parsing.
pub const MAX_FILTER_LEN: usize = 1024;
/// Deepest nesting of parentheses, `not` and value filters.
const MAX_DEPTH: usize = 16;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// less than
    Lt,
    /// greater or equal
    Ge,
    /// less or equal
    Le,
}

/// An attribute path: `name` or `name.sub`, with any schema URN prefix removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The attribute.
    pub name: String,
    /// Its sub-attribute.
    pub sub: Option<String>,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`
    Compare(AttrPath, Op, Value),
    /// `attr pr`
    Present(AttrPath),
    /// `a and b`
    And(Box<Filter>, Box<Filter>),
    /// `a or b`
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`
    Not(Box<Filter>),
    /// `attr[filter]`, and `attr[filter].sub op value` as `sub`
    Value(String, Box<Filter>),
}

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

fn err<T>(msg: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError(msg.into()))
}

/// Parses a whole filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return err(format!("a filter is at most {MAX_FILTER_LEN} bytes"));
    }
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let f = p.or()?;
    p.space();
    if p.pos < text.len() {
        return err(format!(
            "unexpected `{}` at position {}",
            p.rest().chars().take(20).collect::<String>(),
            p.pos
        ));
    }
    Ok(f)
}

/// Parses a PATCH path (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each possibly
/// after a schema URN): the attribute, its value filter and the sub-attribute.
pub fn parse_path(text: &str) -> Result<(AttrPath, Option<Filter>), FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return err(format!("a path is at most {MAX_FILTER_LEN} bytes"));
    }
    let mut p = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    p.space();
    let mut attr = p.attr_path()?;
    let mut filter = None;
    if p.eat("[") {
        if attr.sub.is_some() {
            return err("a value filter follows an attribute, not a sub-attribute");
        }
        p.depth += 1;
        filter = Some(p.or()?);
        p.space();
        if !p.eat("]") {
            return err("`]` expected");
        }
        if p.eat(".") {
            attr.sub = Some(p.name()?);
        }
    }
    p.space();
    if p.pos < text.len() {
        return err(format!("unexpected `{}` in the path", p.rest()));
    }
    Ok((attr, filter))
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn space(&mut self) {
        let trimmed = self.rest().trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// A keyword (`and`, `not`, an operator) followed by a non-name character.
    fn keyword(&mut self, word: &str) -> bool {
        self.space();
        let rest = self.rest();
        let matches = rest.len() >= word.len()
            && rest.is_char_boundary(word.len())
            && rest[..word.len()].eq_ignore_ascii_case(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if matches {
            self.pos += word.len();
        }
        matches
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!("a filter nests at most {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.deeper()?;
            if !self.eat("(") {
                return err("`(` expected after `not`");
            }
            let inner = self.or()?;
            if !self.eat(")") {
                return err("`)` expected");
            }
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat("(") {
            self.deeper()?;
            let inner = self.or()?;
            if !self.eat(")") {
                return err("`)` expected");
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.space();
        let attr = self.attr_path()?;
        if self.eat("[") {
            if attr.sub.is_some() {
                return err("a value filter follows an attribute, not a sub-attribute");
            }
            self.deeper()?;
            let inner = self.or()?;
            if !self.eat("]") {
                return err("`]` expected");
            }
            self.depth -= 1;
            // `emails[type eq "work"].value eq "x"` (not in the grammar, but sent by some
            // clients) is `emails[type eq "work" and value eq "x"]`.
            if self.eat(".") {
                let sub = self.name()?;
                let tail = self.comparison(AttrPath {
                    name: sub,
                    sub: None,
                })?;
                return Ok(Filter::Value(
                    attr.name,
                    Box::new(Filter::And(Box::new(inner), Box::new(tail))),
                ));
            }
            return Ok(Filter::Value(attr.name, Box::new(inner)));
        }
        self.comparison(attr)
    }

    fn comparison(&mut self, attr: AttrPath) -> Result<Filter, FilterError> {
        if self.keyword("pr") {
            return Ok(Filter::Present(attr));
        }
        let ops = [
            ("eq", Op::Eq),
            ("ne", Op::Ne),
            ("co", Op::Co),
            ("sw", Op::Sw),
            ("ew", Op::Ew),
            ("gt", Op::Gt),
            ("lt", Op::Lt),
            ("ge", Op::Ge),
            ("le", Op::Le),
        ];
        let Some(op) = ops
            .iter()
            .find(|(word, _)| self.keyword(word))
            .map(|(_, op)| *op)
        else {
            return err(format!(
                "an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr) expected after `{}`",
                attr.name
            ));
        };
        let value = self.value()?;
        Ok(Filter::Compare(attr, op, value))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        self.space();
        let rest = self.rest();
        if rest.starts_with('"') {
            // A JSON string: find its end, honouring escapes, and let serde_json decode it.
            let bytes = rest.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            if i >= bytes.len() {
                return err("unterminated string");
            }
            let literal = &rest[..=i];
            let value: String = serde_json::from_str(literal)
                .map_err(|e| FilterError(format!("bad string {literal}: {e}")))?;
            self.pos += i + 1;
            return Ok(Value::String(value));
        }
        for (word, v) in [
            ("true", Value::Bool(true)),
            ("false", Value::Bool(false)),
            ("null", Value::Null),
        ] {
            if self.keyword(word) {
                return Ok(v);
            }
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        if end > 0 {
            if let Ok(n) = serde_json::from_str::<serde_json::Number>(&rest[..end]) {
                self.pos += end;
                return Ok(Value::Number(n));
            }
        }
        err("a value (a quoted string, true, false, null or a number) expected")
    }

    fn name(&mut self) -> Result<String, FilterError> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$'))
            .unwrap_or(rest.len());
        if end == 0 || !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '$') {
            return err(format!(
                "an attribute name expected at `{}`",
                rest.chars().take(20).collect::<String>()
            ));
        }
        self.pos += end;
        Ok(rest[..end].to_owned())
    }

    /// `[urn:…:]name[.sub]`; the URN is kept as a name prefix `urn:…:` for the caller to check.
    fn attr_path(&mut self) -> Result<AttrPath, FilterError> {
        self.space();
        let rest = self.rest();
        if rest
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            // The URN runs to the last `:` before a space, `[`, `]` or the end.
            let end = rest.find([' ', '[', ']', '(', ')']).unwrap_or(rest.len());
            let urn_and_attr = &rest[..end];
            let Some(colon) = urn_and_attr.rfind(':') else {
                return err("bad schema URN");
            };
            let urn = &urn_and_attr[..colon];
            self.pos += colon + 1;
            let mut path = self.attr_path()?;
            path.name = format!("{urn}:{}", path.name);
            return Ok(path);
        }
        let name = self.name()?;
        let sub = if self.rest().starts_with('.') {
            self.pos += 1;
            Some(self.name()?)
        } else {
            None
        };
        Ok(AttrPath { name, sub })
    }
}

impl Filter {
    /// The filter as `attr eq value` conditions joined by `and`: the only form the list
    /// endpoints answer; `None` for anything else.
    pub fn conjunction(&self) -> Option<Vec<(String, Value)>> {
        match self {
            Filter::Compare(attr, Op::Eq, value) => {
                let name = match &attr.sub {
                    Some(sub) => format!("{}.{sub}", attr.name),
                    None => attr.name.clone(),
                };
                Some(vec![(name, value.clone())])
            }
            Filter::Value(name, inner) => match inner.as_ref() {
                Filter::Compare(attr, Op::Eq, value) if attr.sub.is_none() => {
                    Some(vec![(format!("{name}.{}", attr.name), value.clone())])
                }
                _ => None,
            },
            Filter::And(a, b) => {
                let mut out = a.conjunction()?;
                out.extend(b.conjunction()?);
                Some(out)
            }
            _ => None,
        }
    }

    /// Whether a JSON object (one value of a multi-valued attribute) matches. Attribute names
    /// are case-insensitive; strings compare case-insensitively (as `caseExact: false`).
    pub fn matches(&self, item: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(item) && b.matches(item),
            Filter::Or(a, b) => a.matches(item) || b.matches(item),
            Filter::Not(a) => !a.matches(item),
            Filter::Present(attr) => lookup(item, attr)
                .is_some_and(|v| !v.is_null() && v != &Value::String(String::new())),
            Filter::Compare(attr, op, want) => {
                lookup(item, attr).is_some_and(|have| compare(have, *op, want))
            }
            Filter::Value(name, inner) => match get_ci(item, name) {
                Some(Value::Array(items)) => items.iter().any(|i| inner.matches(i)),
                Some(v) => inner.matches(v),
                None => false,
            },
        }
    }
}

/// A member of a JSON object by case-insensitive name.
pub fn get_ci<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn lookup<'a>(item: &'a Value, attr: &AttrPath) -> Option<&'a Value> {
    let v = get_ci(item, &attr.name)?;
    match &attr.sub {
        Some(sub) => get_ci(v, sub),
        None => Some(v),
    }
}

fn compare(have: &Value, op: Op, want: &Value) -> bool {
    if let Value::Array(items) = have {
        return items.iter().any(|h| compare(h, op, want));
    }
    match (have, want) {
        (Value::String(h), Value::String(w)) => {
            let (h, w) = (h.to_lowercase(), w.to_lowercase());
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Co => h.contains(&w),
                Op::Sw => h.starts_with(&w),
                Op::Ew => h.ends_with(&w),
                Op::Gt => h > w,
                Op::Lt => h < w,
                Op::Ge => h >= w,
                Op::Le => h <= w,
            }
        }
        (Value::Bool(h), Value::Bool(w)) => match op {
            Op::Eq => h == w,
            Op::Ne => h != w,
            _ => false,
        },
        (Value::Number(h), Value::Number(w)) => {
            let (h, w) = (
                h.as_f64().unwrap_or(f64::NAN),
                w.as_f64().unwrap_or(f64::NAN),
            );
            match op {
                Op::Eq => h == w,
                Op::Ne => h != w,
                Op::Gt => h > w,
                Op::Lt => h < w,
                Op::Ge => h >= w,
                Op::Le => h <= w,
                _ => false,
            }
        }
        (_, Value::Null) => matches!(op, Op::Eq) && have.is_null(),
        _ => matches!(op, Op::Ne),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_filters_providers_send_parse_and_lists_take_eq_conjunctions() {
        let f = parse(r#"userName eq "Test_User_00aa@contoso.com""#).expect("parses");
        assert_eq!(
            f.conjunction(),
            Some(vec![(
                "userName".into(),
                json!("Test_User_00aa@contoso.com")
            )])
        );
        let f =
            parse(r#"displayName eq "Group \"A\"" and members[value eq "12"]"#).expect("parses");
        assert_eq!(
            f.conjunction(),
            Some(vec![
                ("displayName".into(), json!("Group \"A\"")),
                ("members.value".into(), json!("12")),
            ])
        );
        let f =
            parse(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName EQ "x""#).expect("parses");
        assert_eq!(
            f.conjunction(),
            Some(vec![(
                "urn:ietf:params:scim:schemas:core:2.0:User:userName".into(),
                json!("x")
            )])
        );
        assert_eq!(
            parse(r#"userName sw "a" or userName eq "b""#)
                .expect("parses")
                .conjunction(),
            None
        );
        assert_eq!(
            parse(r#"not (userName eq "a")"#)
                .expect("parses")
                .conjunction(),
            None
        );
        for bad in [
            "",
            "userName",
            "userName eq",
            r#"userName xx "a""#,
            r#"userName eq "a" and"#,
            r#"(userName eq "a""#,
            r#"userName eq "unterminated"#,
            r#"emails[type eq "work""#,
            "userName eq 'single'",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
        let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn value_filters_select_items_and_paths_split() {
        let (attr, filter) = parse_path(r#"emails[type eq "work"].value"#).expect("parses");
        assert_eq!(
            attr,
            AttrPath {
                name: "emails".into(),
                sub: Some("value".into())
            }
        );
        let filter = filter.expect("filter");
        assert!(filter.matches(&json!({"type": "Work", "value": "a@b"})));
        assert!(!filter.matches(&json!({"type": "home", "value": "a@b"})));
        let (attr, filter) = parse_path("name.givenName").expect("parses");
        assert_eq!(
            attr,
            AttrPath {
                name: "name".into(),
                sub: Some("givenName".into())
            }
        );
        assert!(filter.is_none());
        let (attr, _) =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .expect("parses");
        assert_eq!(
            attr.name,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
        );
        let f = parse(r#"value eq "7" or (display sw "ann" and not (type eq "Group"))"#)
            .expect("parses");
        assert!(f.matches(&json!({"value": "7"})));
        assert!(f.matches(&json!({"value": "8", "display": "Anna"})));
        assert!(!f.matches(&json!({"value": "8", "display": "Anna", "type": "group"})));
        assert!(parse_path("members[value eq \"1\"] junk").is_err());
        assert!(parse_path("").is_err());
    }
}
