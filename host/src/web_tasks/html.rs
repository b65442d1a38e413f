//! Reading fetched pages with `scraper`. Everything here is synchronous: a parsed document is
//! not `Send`, so it never lives across an `await` of the run.

use std::collections::BTreeMap;

use scraper::{ElementRef, Html, Selector};

use super::MAX_VALUE_CHARS;

/// The text (whitespace collapsed) or `attribute` of at most `limit` elements matching
/// `selector`, in document order.
pub fn extract(
    page: &str,
    selector: &str,
    attribute: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, String> {
    let selector = Selector::parse(selector).map_err(|e| format!("bad selector: {e}"))?;
    let document = Html::parse_document(page);
    Ok(document
        .select(&selector)
        .filter_map(|element| match attribute {
            Some(name) => element.value().attr(name).map(str::to_owned),
            None => Some(text(&element)),
        })
        .take(limit)
        .map(|v| v.chars().take(MAX_VALUE_CHARS).collect())
        .collect())
}

fn text(element: &ElementRef<'_>) -> String {
    element
        .text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A filled form, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormSubmission {
    /// `GET` or `POST`.
    pub method: reqwest::Method,
    /// The form's action resolved against the page (for GET, with the fields as its query).
    pub url: url::Url,
    /// The URL-encoded fields (POST only).
    pub body: Option<String>,
}

/// Fills the first `<form>` matching `selector` on `page` (fetched from `page_url`): its own
/// successful controls as a browser would send them (hidden fields such as CSRF tokens
/// included), then `fields` replacing or adding values by name.
pub fn fill_form(
    page: &str,
    page_url: &url::Url,
    selector: &str,
    fields: &BTreeMap<String, String>,
) -> Result<FormSubmission, String> {
    let selector = Selector::parse(selector).map_err(|e| format!("bad selector: {e}"))?;
    let document = Html::parse_document(page);
    let form = document
        .select(&selector)
        .next()
        .ok_or("no element on the page matches the selector")?;
    if form.value().name() != "form" {
        return Err(format!(
            "the selector matches a <{}>, not a <form>",
            form.value().name()
        ));
    }
    let enctype = form.value().attr("enctype").unwrap_or_default();
    if enctype.eq_ignore_ascii_case("multipart/form-data") {
        return Err("multipart forms are not supported".into());
    }
    let action = form.value().attr("action").unwrap_or_default().trim();
    let mut url = if action.is_empty() {
        page_url.clone()
    } else {
        page_url
            .join(action)
            .map_err(|e| format!("the form's action is not a URL: {e}"))?
    };
    url.set_fragment(None);
    let method = match form.value().attr("method") {
        Some(m) if m.trim().eq_ignore_ascii_case("post") => reqwest::Method::POST,
        _ => reqwest::Method::GET,
    };
    let mut values = controls(&form);
    for (name, value) in fields {
        values.retain(|(n, _)| n != name);
        values.push((name.clone(), value.clone()));
    }
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(values.iter())
        .finish();
    Ok(if method == reqwest::Method::POST {
        FormSubmission {
            method,
            url,
            body: Some(encoded),
        }
    } else {
        url.set_query(Some(&encoded));
        FormSubmission {
            method,
            url,
            body: None,
        }
    })
}

/// The name/value pairs a browser would submit for the form's controls (no submit buttons).
fn controls(form: &ElementRef<'_>) -> Vec<(String, String)> {
    let Ok(all) = Selector::parse("input, textarea, select") else {
        return Vec::new();
    };
    let Ok(options) = Selector::parse("option") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for control in form.select(&all) {
        let el = control.value();
        let Some(name) = el.attr("name").filter(|n| !n.is_empty()) else {
            continue;
        };
        if el.attr("disabled").is_some() {
            continue;
        }
        let value = match el.name() {
            "textarea" => control.text().collect::<String>(),
            "select" => {
                let mut chosen = control
                    .select(&options)
                    .find(|o| o.value().attr("selected").is_some());
                if chosen.is_none() {
                    chosen = control.select(&options).next();
                }
                match chosen {
                    Some(o) => o
                        .value()
                        .attr("value")
                        .map_or_else(|| text(&o), str::to_owned),
                    None => continue,
                }
            }
            _ => {
                let kind = el.attr("type").unwrap_or("text").to_ascii_lowercase();
                match kind.as_str() {
                    "submit" | "button" | "image" | "reset" | "file" => continue,
                    "checkbox" | "radio" => {
                        if el.attr("checked").is_none() {
                            continue;
                        }
                        el.attr("value").unwrap_or("on").to_owned()
                    }
                    _ => el.attr("value").unwrap_or_default().to_owned(),
                }
            }
        };
        out.push((name.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><body>
        <ul><li class="p"> Alpha
            one </li><li class="p">Beta</li><li class="p"><a href="/x">Gamma</a></li></ul>
        <div id="d"></div>
        <form id="f" method="POST" action="/login?next=1">
          <input type="hidden" name="csrf" value="tok">
          <input name="user" value="default">
          <input type="checkbox" name="remember" checked>
          <input type="checkbox" name="spam">
          <select name="lang"><option value="en">English</option><option value="de" selected>Deutsch</option></select>
          <textarea name="note">hi</textarea>
          <input type="submit" name="go" value="Go">
        </form>
        <form id="g" action="search"><input name="q"></form>
    </body></html>"#;

    #[test]
    fn extracts_text_and_attributes() {
        assert_eq!(
            extract(PAGE, "li.p", None, 10).expect("ok"),
            ["Alpha one", "Beta", "Gamma"]
        );
        assert_eq!(extract(PAGE, "li.p", None, 2).expect("ok").len(), 2);
        assert_eq!(extract(PAGE, "a", Some("href"), 10).expect("ok"), ["/x"]);
        assert!(extract(PAGE, "table", None, 10).expect("ok").is_empty());
    }

    #[test]
    fn fills_forms_like_a_browser() {
        let base = url::Url::parse("http://site.test/account/").expect("url");
        let mut fields = BTreeMap::new();
        fields.insert("user".to_owned(), "alice & bob".to_owned());
        let post = fill_form(PAGE, &base, "#f", &fields).expect("form");
        assert_eq!(post.method, reqwest::Method::POST);
        assert_eq!(post.url.as_str(), "http://site.test/login?next=1");
        assert_eq!(
            post.body.as_deref(),
            Some("csrf=tok&remember=on&lang=de&note=hi&user=alice+%26+bob")
        );
        let mut q = BTreeMap::new();
        q.insert("q".to_owned(), "rust".to_owned());
        let get = fill_form(PAGE, &base, "form#g", &q).expect("form");
        assert_eq!(get.url.as_str(), "http://site.test/account/search?q=rust");
        assert_eq!(get.body, None);
        assert!(fill_form(PAGE, &base, "#d", &q)
            .expect_err("not a form")
            .contains("<div>"));
        assert!(fill_form(PAGE, &base, "#none", &q).is_err());
    }
}
