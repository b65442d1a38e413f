//! A fake of the tracker service the example reads in HTTP mode.

use agentic_sdk::serde_json::json;
use agentic_sdk::testing::{FakeResponse, FakeServer};

/// Serves `items` work items: `GET /status` → `{"items": N}`, `GET /items?after=A&limit=L` →
/// the items numbered after `A` (empty: from the start), at most `L`, and whether more follow.
pub fn tracker(items: u64) -> FakeServer {
    FakeServer::start(move |request| match request.path.as_str() {
        "/status" => FakeResponse::json(&json!({ "items": items })),
        "/items" => {
            let after = match request.query("after") {
                None | Some("") => 0,
                Some(a) => match a.parse::<u64>() {
                    Ok(a) => a,
                    Err(_) => return FakeResponse::status(400),
                },
            };
            let limit: u64 = request
                .query("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(10);
            let end = (after + limit).min(items);
            let page: Vec<_> = (after + 1..=end)
                .map(|n| {
                    json!({
                        "id": n,
                        "title": format!("Remote {n}"),
                        "status": if n % 2 == 0 { "done" } else { "open" },
                        "updated": 1_700_000_000_000_u64 + n,
                    })
                })
                .collect();
            FakeResponse::json(&json!({ "items": page, "has_more": end < items }))
        }
        _ => FakeResponse::status(404),
    })
}
