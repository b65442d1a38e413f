use serde_json::{json, Value};

use super::*;
use crate::http::Request;
use crate::testing::credential::Credential;

/// A service with a next-page link pointing at itself, that echoes the credential it got.
fn service() -> FakeServer {
    let own: Arc<Mutex<String>> = Arc::default();
    let server = {
        let own = own.clone();
        FakeServer::start(move |request| {
            let base = own.lock().unwrap_or_else(PoisonError::into_inner).clone();
            match (request.path.as_str(), request.query("page")) {
                ("/items", None) => FakeResponse::json(&json!({
                    "items": ["é", "二"],
                    "next": format!("{base}/items?page=2"),
                    "echo": request.header("authorization"),
                }))
                .with_header("Set-Cookie", "session=s3cr3t-cookie")
                .with_header("Link", &format!("<{base}/items?page=2>; rel=\"next\"")),
                ("/items", Some("2")) => FakeResponse::json(&json!({"items": ["𝄞"], "next": null})),
                ("/blob", _) => FakeResponse::status(200).with_body(vec![0xff, 0x00, 0xfe]),
                _ => FakeResponse::status(404),
            }
        })
    };
    *own.lock().unwrap_or_else(PoisonError::into_inner) = server.url();
    server
}

/// Follows `next` links from `/items` through `base`, as a connector would.
fn read_items(base: &str) -> Vec<Value> {
    let mut url = format!("{base}/items");
    let mut pages = Vec::new();
    loop {
        let page: Value = Request::get(&url)
            .send()
            .expect("sent")
            .json()
            .expect("json");
        let next = page["next"].as_str().map(str::to_owned);
        pages.push(page);
        match next {
            Some(next) => {
                assert!(
                    next.starts_with(base),
                    "links lead back through {base}: {next}"
                );
                url = next;
            }
            None => return pages,
        }
    }
}

#[test]
fn a_recorded_session_replays_offline_without_its_secrets() {
    let upstream = service();
    let recorder = Recorder::start(&upstream.url());
    let secret = "tok-0123456789";
    let recorded =
        crate::host::with_credential(Some(Credential::Bearer(secret.into()).headers()), || {
            read_items(&recorder.url())
        });
    // The service got the credential through the recorder; the connector read it redacted.
    assert_eq!(
        upstream.requests()[0].header("authorization"),
        Some("Bearer tok-0123456789")
    );
    assert_eq!(recorded[0]["echo"], "[REDACTED]");
    let dir = std::env::temp_dir().join(format!("agentic-cassette-{}", std::process::id()));
    let path = dir.join("items.json");
    let cassette = recorder.save(&path, &["0123456789"]).expect("saved");
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(
        !text.contains(secret) && !text.contains("0123456789"),
        "{text}"
    );
    assert!(
        !text.contains("s3cr3t-cookie"),
        "Set-Cookie is dropped: {text}"
    );
    assert!(
        !text.contains(&upstream.url()),
        "the address is a placeholder: {text}"
    );
    assert!(text.contains(BASE_URL_PLACEHOLDER), "{text}");
    assert_eq!(cassette.exchanges.len(), 2);
    assert!(cassette.exchanges[0]
        .request_headers
        .iter()
        .all(|(n, _)| n != "authorization"));
    drop(upstream);

    // Offline: the same reads get the same pages, links leading to the replayer.
    let replayer = Replayer::open(&path).expect("loaded");
    let replayed = read_items(&replayer.url());
    assert_eq!(replayed.len(), 2);
    assert_eq!(replayed[0]["items"], json!(["é", "二"]));
    assert_eq!(replayed[1]["items"], json!(["𝄞"]));
    // Read again, as resumption does: the spent exchanges answer again.
    assert_eq!(read_items(&replayer.url()).len(), 2);
    replayer.assert_all_matched();
    std::fs::remove_dir_all(&dir).expect("cleaned");
}

#[test]
fn binary_bodies_survive_and_unknown_requests_are_named() {
    let upstream = service();
    let recorder = Recorder::start(&upstream.url());
    let blob = Request::get(format!("{}/blob", recorder.url()))
        .send()
        .expect("sent");
    assert_eq!(blob.body, vec![0xff, 0x00, 0xfe]);
    let cassette = recorder.cassette(&[]);
    assert!(matches!(
        cassette.exchanges[0].response_body,
        Body::Base64(_)
    ));
    let replayer = Replayer::start(cassette);
    let again = Request::get(format!("{}/blob", replayer.url()))
        .send()
        .expect("sent");
    assert_eq!(again.body, vec![0xff, 0x00, 0xfe]);
    let missing = Request::get(format!("{}/blob?v=2", replayer.url()))
        .send()
        .expect("sent");
    assert_eq!(missing.status, 501);
    assert!(
        missing.text().contains("GET /blob?v=2"),
        "{}",
        missing.text()
    );
    assert_eq!(replayer.unmatched(), vec!["GET /blob?v=2".to_owned()]);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        replayer.assert_all_matched()
    }));
    assert!(caught.is_err(), "an unmatched request fails the test");
}

#[test]
fn https_without_the_feature_says_what_to_enable() {
    if cfg!(feature = "record-https") {
        return;
    }
    let recorder = Recorder::start("https://tracker.example.com");
    let answer = Request::get(format!("{}/x", recorder.url()))
        .send()
        .expect("sent");
    assert_eq!(answer.status, 502);
    assert!(answer.text().contains("record-https"), "{}", answer.text());
}

#[test]
fn a_cassette_of_another_format_is_refused() {
    let path =
        std::env::temp_dir().join(format!("agentic-cassette-v9-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"format": 9, "exchanges": []}"#).expect("written");
    let refused = Cassette::load(&path).expect_err("refused");
    assert!(refused.contains("format 9"), "{refused}");
    std::fs::remove_file(&path).expect("cleaned");
}
