//! Entra ID's "groups overage": a person in more than 200 groups gets an ID token without the
//! `groups` claim and with `_claim_names.groups` (and `_claim_sources`) instead. Microsoft's
//! guidance is to read the groups from Microsoft Graph with the access token of the same sign-in;
//! this module does that with `POST {graph_url}/me/getMemberObjects`
//! (`{"securityEnabledOnly": false}`: every group, as the `groups` claim would list them), which
//! the delegated permission `User.Read` allows, and answers the groups' object ids.
//!
//! The endpoint in the token's `_claim_sources` is not used: it names Azure AD Graph
//! (`graph.windows.net`), which Microsoft retired, and a URL taken from a token should not decide
//! where the host sends an access token. The configured `graph_url` is the only place the token
//! goes, `@odata.nextLink` pages included (a next page on another origin is refused).
//!
//! Bounded: [`DEADLINE`] for the whole read, [`MAX_PAGE_BYTES`] per answer, [`MAX_PAGES`] pages,
//! [`MAX_GROUPS`] ids (Graph itself stops at 11,000). Every failure is an error with a detail
//! fit for the person signing in; none carries the access token, and no role is given without
//! the groups.

use std::time::Duration;

use serde::Deserialize;

/// Longest time the whole read of the groups may take.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Largest answer read from Graph (11,000 object ids are about 430 KiB).
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;
/// Most `@odata.nextLink` pages followed.
pub const MAX_PAGES: usize = 20;
/// Most group ids accepted.
pub const MAX_GROUPS: usize = 20_000;
/// Longest object id accepted (Entra ID's are 36-character GUIDs).
const MAX_ID_LEN: usize = 256;

/// One page of a Graph collection of strings.
#[derive(Deserialize)]
struct Page {
    value: Vec<String>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// The object ids of the groups (and directory roles, administrative units) the signed-in person
/// is a member of, transitively, or why they could not be read (a sentence without secrets).
pub async fn member_objects(
    http: &reqwest::Client,
    graph_url: &str,
    access_token: &str,
) -> Result<Vec<String>, String> {
    tokio::time::timeout(DEADLINE, read_all(http, graph_url, access_token))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "Microsoft Graph did not answer within {} s",
                DEADLINE.as_secs()
            ))
        })
}

async fn read_all(
    http: &reqwest::Client,
    graph_url: &str,
    access_token: &str,
) -> Result<Vec<String>, String> {
    let base = url::Url::parse(graph_url)
        .map_err(|_| "graph_url is not a URL (configuration)".to_owned())?;
    let first = format!("{}/me/getMemberObjects", graph_url.trim_end_matches('/'));
    let mut request = http
        .post(first)
        .bearer_auth(access_token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(r#"{"securityEnabledOnly":false}"#);
    let mut groups: Vec<String> = Vec::new();
    for _ in 0..MAX_PAGES {
        let response = request
            .send()
            .await
            .map_err(|e| format!("Microsoft Graph could not be reached ({})", e.without_url()))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(format!(
                "Microsoft Graph refused the sign-in's access token ({status}); the app \
                 registration needs the delegated permission User.Read and the provider's \
                 scopes must ask for it"
            ));
        }
        if !status.is_success() {
            return Err(format!("Microsoft Graph answered {status}"));
        }
        let body = read_bounded(response).await?;
        let page: Page = serde_json::from_slice(&body).map_err(|_| {
            "Microsoft Graph's answer is not a list of object ids (malformed)".to_owned()
        })?;
        if page
            .value
            .iter()
            .any(|id| id.is_empty() || id.len() > MAX_ID_LEN)
        {
            return Err("Microsoft Graph's answer holds an invalid object id".into());
        }
        groups.extend(page.value);
        if groups.len() > MAX_GROUPS {
            return Err(format!(
                "Microsoft Graph lists more than {MAX_GROUPS} groups for this account"
            ));
        }
        let Some(link) = page.next_link else {
            return Ok(groups);
        };
        let next = url::Url::parse(&link)
            .map_err(|_| "Microsoft Graph's next page link is not a URL".to_owned())?;
        if next.origin() != base.origin() {
            return Err(
                "Microsoft Graph's next page is on another host; the access token is not sent \
                 there"
                    .into(),
            );
        }
        request = http.get(next).bearer_auth(access_token);
    }
    Err(format!(
        "Microsoft Graph's answer has more than {MAX_PAGES} pages"
    ))
}

/// The body, or an error once it passes [`MAX_PAGE_BYTES`] (read no further).
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("Microsoft Graph's answer is larger than {MAX_PAGE_BYTES} bytes");
    if response
        .content_length()
        .is_some_and(|n| n > MAX_PAGE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("Microsoft Graph's answer broke off ({})", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_PAGE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
