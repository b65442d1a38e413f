//! Google's partial-response `fields` selector (`nextPageToken,files(id,name,owners/emailAddress)`):
//! parsed into a tree, and applied to a response, as Google applies it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A selection: `None` keeps the whole value, `Some(children)` only those fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree(pub Option<BTreeMap<String, Tree>>);

/// Parses a selector.
pub fn parse(selector: &str) -> Result<Tree, String> {
    let chars: Vec<char> = selector.chars().filter(|c| !c.is_whitespace()).collect();
    let mut at = 0;
    let tree = list(&chars, &mut at)?;
    if at != chars.len() {
        return Err(format!("unexpected {:?} at {at}", chars[at]));
    }
    Ok(Tree(Some(tree)))
}

fn list(chars: &[char], at: &mut usize) -> Result<BTreeMap<String, Tree>, String> {
    let mut out: BTreeMap<String, Tree> = BTreeMap::new();
    loop {
        let mut path = vec![name(chars, at)?];
        while chars.get(*at) == Some(&'/') {
            *at += 1;
            path.push(name(chars, at)?);
        }
        let mut sub = Tree(None);
        if chars.get(*at) == Some(&'(') {
            *at += 1;
            sub = Tree(Some(list(chars, at)?));
            if chars.get(*at) != Some(&')') {
                return Err("unclosed (".into());
            }
            *at += 1;
        }
        // a/b/c(x) is a(b(c(x))).
        let mut node = sub;
        for segment in path[1..].iter().rev() {
            node = Tree(Some(BTreeMap::from([(segment.clone(), node)])));
        }
        merge(&mut out, path[0].clone(), node);
        match chars.get(*at) {
            Some(',') => *at += 1,
            _ => return Ok(out),
        }
    }
}

fn merge(into: &mut BTreeMap<String, Tree>, key: String, node: Tree) {
    match (into.get_mut(&key), node) {
        (Some(Tree(Some(existing))), Tree(Some(new))) => {
            for (k, v) in new {
                merge(existing, k, v);
            }
        }
        (Some(slot), Tree(None)) => *slot = Tree(None),
        (Some(Tree(None)), Tree(Some(_))) => {}
        (None, node) => {
            into.insert(key, node);
        }
    }
}

fn name(chars: &[char], at: &mut usize) -> Result<String, String> {
    let start = *at;
    while chars
        .get(*at)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '.' | '$'))
    {
        *at += 1;
    }
    if *at == start {
        return Err(format!("a field name expected at {start}"));
    }
    Ok(chars[start..*at].iter().collect())
}

/// `value` with only the selected fields (arrays are selected element by element).
pub fn project(value: &Value, tree: &Tree) -> Value {
    let Tree(Some(fields)) = tree else {
        return value.clone();
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| project(v, tree)).collect()),
        Value::Object(object) => {
            if fields.contains_key("*") {
                return value.clone();
            }
            let mut out = Map::new();
            for (name, sub) in fields {
                if let Some(v) = object.get(name) {
                    out.insert(name.clone(), project(v, sub));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_keep_only_what_they_name() {
        let v = json!({"nextPageToken": "t", "kind": "k", "files": [
            {"id": "1", "name": "a", "size": "3", "owners": [{"emailAddress": "e", "displayName": "d"}]}]});
        let tree = parse("nextPageToken, files(id,owners/emailAddress)").expect("parses");
        assert_eq!(
            project(&v, &tree),
            json!({"nextPageToken": "t", "files": [{"id": "1", "owners": [{"emailAddress": "e"}]}]})
        );
        assert_eq!(project(&v, &parse("*").expect("star")), v);
        assert!(parse("files(id").is_err());
        assert!(parse("files,,id").is_err());
    }
}
