//! The fake JIRA itself (`agentic_tests::jira`), checked against what Atlassian's document
//! allows before the JIRA stories trust it: requests outside the document, searches without
//! explicit fields or with the search Cloud removed are refused and recorded; a missing
//! credential is JIRA's 401.

use agentic_tests::jira::{basic, generate, Deployment, FakeJira, API_TOKEN, EMAIL};
use serde_json::{json, Value};

/// Sends one HTTP/1.1 request to the fake; returns the status and the body.
async fn raw_http(base: &str, request: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    let status = text[9..12].parse().expect("status line");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The fake itself: requests outside Atlassian's document, searches without explicit fields or
/// with the search Cloud removed are refused and recorded; a missing credential is JIRA's 401.
#[tokio::test]
async fn the_fake_jira_refuses_what_atlassians_document_does_not_allow() {
    let auth = basic(EMAIL, API_TOKEN);
    let fake = FakeJira::start(generate(Deployment::Cloud, 7, &auth)).await;
    let request = |method: &str, target: &str, auth: Option<&str>, body: Option<Value>| {
        let mut r = format!(
            "{method} {target} HTTP/1.1\r\nhost: jira\r\nconnection: close\r\naccept: application/json\r\n"
        );
        if let Some(a) = auth {
            r.push_str(&format!("authorization: {a}\r\n"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if !body.is_empty() {
            r.push_str("content-type: application/json\r\n");
        }
        r.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
        r
    };
    let jql = "updated >= \"2023-11-14 00:00\" ORDER BY updated ASC, key ASC";
    let search = "/rest/api/3/search/jql";
    let (status, page) = raw_http(
        &fake.url,
        &request(
            "POST",
            search,
            Some(&auth),
            Some(json!({"jql": jql, "maxResults": 5, "fields": ["summary", "updated"]})),
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["issues"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        page["issues"][0]["fields"].as_object().map(|f| f.len()),
        Some(2),
        "only the fields asked for"
    );
    assert_eq!(page["isLast"], false);
    let (status, page) = raw_http(
        &fake.url,
        &request(
            "POST",
            search,
            Some(&auth),
            Some(
                json!({"jql": jql, "fields": ["summary"], "nextPageToken": page["nextPageToken"]}),
            ),
        ),
    )
    .await;
    assert_eq!(
        (
            status,
            page["issues"].as_array().map(Vec::len),
            &page["isLast"]
        ),
        (200, Some(2), &json!(true))
    );
    assert_eq!(fake.violations(), Vec::<String>::new());
    let (status, _) = raw_http(&fake.url, &request("GET", "/rest/api/3/myself", None, None)).await;
    assert_eq!(status, 401);
    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "a wrong credential is JIRA's answer, not a violation"
    );

    let cases = [
        (
            request("GET", "/rest/api/3/myself?verbose=1", Some(&auth), None),
            400,
            "\"verbose\" is not declared",
        ),
        (
            request(
                "GET",
                "/rest/api/3/users/search?maxResults=many",
                Some(&auth),
                None,
            ),
            400,
            "maxResults",
        ),
        (
            request(
                "POST",
                search,
                Some(&auth),
                Some(json!({"jql": jql, "maxResults": 5})),
            ),
            400,
            "fields are not listed",
        ),
        (
            request(
                "POST",
                search,
                Some(&auth),
                Some(json!({"jql": jql, "fields": ["*all"]})),
            ),
            400,
            "fields are not listed",
        ),
        (
            request(
                "POST",
                search,
                Some(&auth),
                Some(json!({"jql": 7, "fields": ["summary"]})),
            ),
            400,
            "body",
        ),
        (
            request("POST", search, Some(&auth), None),
            400,
            "the body is required",
        ),
        (
            request(
                "GET",
                "/rest/api/3/search?jql=project%3DED&fields=summary",
                Some(&auth),
                None,
            ),
            410,
            "removed from Jira Cloud",
        ),
        (
            request("DELETE", "/rest/api/3/myself", Some(&auth), None),
            400,
            "has no DELETE",
        ),
        (
            request("GET", "/rest/api/2/myself", Some(&auth), None),
            404,
            "not under /rest/api/3/",
        ),
    ];
    for (i, (req, status, expected)) in cases.into_iter().enumerate() {
        let before = fake.violations().len();
        let (got, body) = raw_http(&fake.url, &req).await;
        assert_eq!(got, status, "case {i}: {body}");
        let violations = fake.violations();
        assert!(
            violations[before..].iter().any(|v| v.contains(expected)),
            "case {i}: expected a violation mentioning {expected:?}, got {:?}",
            &violations[before..]
        );
    }
    // JQL the connector would never send is JIRA's 400 and recorded, an unbounded Cloud
    // search too.
    for (jql, expected) in [
        ("ORDER BY updated ASC, key ASC", "Unbounded JQL"),
        (
            "assignee = x ORDER BY updated ASC, key ASC",
            "does not know",
        ),
        (
            "updated >= \"yesterday\" ORDER BY updated ASC, key ASC",
            "is invalid",
        ),
    ] {
        let before = fake.violations().len();
        let body = json!({"jql": jql, "fields": ["summary"]});
        let (status, body) =
            raw_http(&fake.url, &request("POST", search, Some(&auth), Some(body))).await;
        assert_eq!(status, 400, "{jql}: {body}");
        assert!(
            body["errorMessages"][0]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{jql}: {body}"
        );
        assert_eq!(fake.violations().len(), before + 1, "{jql}");
    }
}
