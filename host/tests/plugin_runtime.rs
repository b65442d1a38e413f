//! The plugin runtime against real components built from `plugins/` for `wasm32-wasip2`
//! (`cargo xtask test` builds them first and says where, in `AGENTIC_PLUGIN_DIR`).
//!
//! The example connector pages deterministically; the hostile one spins, hoards memory, panics
//! and floods — each attack must end as a clean error while the runtime keeps serving.

use crate::support;

use std::time::{Duration, Instant};

use agentic_host::clock::Millis;
use agentic_host::plugins::{Call, ConnectorError, Limits, PluginError, Runtime};
use support::{load, wasm};

fn runtime(timeout: Duration) -> Runtime {
    Runtime::new(Limits {
        call_timeout: timeout,
        ..Limits::default()
    })
    .expect("engine")
}

#[tokio::test]
async fn the_example_connector_describes_itself_and_pages_deterministically() {
    let rt = runtime(Duration::from_secs(10));
    let example = load(&rt, "example");
    let spec = rt.spec(&example).await.expect("spec");
    assert_eq!(spec.id, "example");
    assert_eq!(spec.streams.len(), 1);
    serde_json::from_str::<serde_json::Value>(&spec.config_schema).expect("config schema is JSON");

    let config = r#"{"items": 250, "page_size": 100}"#;
    assert_eq!(
        rt.check(&example, &Call::default(), config)
            .await
            .expect("check"),
        "250 items available"
    );
    match rt.check(&example, &Call::default(), "{}").await {
        Err(PluginError::Connector(ConnectorError::Config(msg))) => assert!(msg.contains("items")),
        other => panic!("expected a typed config error, got {other:?}"),
    }
    assert_eq!(
        rt.discover(&example, &Call::default(), config)
            .await
            .expect("discover")[0]
            .name,
        "items"
    );

    // Full read, page by page, then resumption from every intermediate state.
    let mut state: Option<String> = None;
    let mut states = Vec::new();
    let mut ids = Vec::new();
    loop {
        let page = rt
            .read(
                &example,
                &Call::default(),
                config,
                "items",
                state.as_deref(),
            )
            .await
            .expect("read");
        ids.extend(page.records.iter().map(|r| {
            assert_eq!(r.kind, "work_item", "{r:?}");
            r.external_id().to_owned()
        }));
        states.push(page.state.clone());
        if !page.has_more {
            break;
        }
        state = Some(page.state);
    }
    assert_eq!(states, ["100", "200", "250"]);
    assert_eq!(ids, (1..=250).map(|n| n.to_string()).collect::<Vec<_>>());
    let resumed = rt
        .read(&example, &Call::default(), config, "items", Some("200"))
        .await
        .expect("resume");
    assert_eq!(resumed.records.len(), 50);
    assert!(!resumed.has_more);
    assert!(matches!(
        rt.read(&example, &Call::default(), config, "nope", None)
            .await,
        Err(PluginError::Connector(ConnectorError::NotFound(_)))
    ));
    assert_eq!(
        rt.invoke(&example, &Call::default(), config, "echo", "{\"a\":1}")
            .await
            .expect("echo"),
        "{\"a\":1}"
    );
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let rt = runtime(Duration::from_millis(300));
    let hostile = load(&rt, "hostile");
    let start = Instant::now();
    let result = rt
        .invoke(&hostile, &Call::default(), "{}", "spin", "")
        .await;
    assert!(matches!(result, Err(PluginError::Timeout(_))), "{result:?}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "stopped promptly: {:?}",
        start.elapsed()
    );
    // The runtime keeps working.
    assert_eq!(
        rt.invoke(&hostile, &Call::default(), "{}", "ok", "still here")
            .await
            .expect("ok"),
        "still here"
    );
}

#[tokio::test]
async fn memory_growth_past_the_cap_is_a_clean_error() {
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let result = rt
        .invoke(&hostile, &Call::default(), "{}", "grow", "")
        .await;
    assert!(
        matches!(result, Err(PluginError::MemoryLimit(_))),
        "{result:?}"
    );
    assert_eq!(
        rt.invoke(&hostile, &Call::default(), "{}", "ok", "x")
            .await
            .expect("ok"),
        "x"
    );
}

#[tokio::test]
async fn a_panic_is_a_clean_error() {
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let result = rt
        .invoke(&hostile, &Call::default(), "{}", "panic", "")
        .await;
    assert!(matches!(result, Err(PluginError::Trap(_))), "{result:?}");
}

#[tokio::test]
async fn output_past_the_cap_is_refused() {
    let rt = Runtime::new(Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    })
    .expect("engine");
    let hostile = load(&rt, "hostile");
    let result = rt
        .invoke(&hostile, &Call::default(), "{}", "flood", "2")
        .await;
    assert!(
        matches!(result, Err(PluginError::OutputTooLarge { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn concurrent_attacks_do_not_stop_other_calls() {
    let rt = std::sync::Arc::new(runtime(Duration::from_millis(500)));
    let hostile = load(&rt, "hostile");
    let example = load(&rt, "example");
    let mut spinners = Vec::new();
    for _ in 0..4 {
        let (rt, hostile) = (rt.clone(), hostile.clone());
        spinners.push(tokio::spawn(async move {
            rt.invoke(&hostile, &Call::default(), "{}", "spin", "")
                .await
        }));
    }
    // Meanwhile a well-behaved call completes.
    let spec = rt.spec(&example).await.expect("spec while others spin");
    assert_eq!(spec.id, "example");
    for s in spinners {
        assert!(matches!(
            s.await.expect("join"),
            Err(PluginError::Timeout(_))
        ));
    }
}

#[tokio::test]
async fn bytes_that_are_not_a_connector_component_are_refused() {
    let rt = runtime(Duration::from_secs(1));
    for junk in [&b"not wasm"[..], &[0, b'a', b's', b'm', 1, 0, 0, 0][..]] {
        assert!(matches!(
            rt.load("junk", junk),
            Err(PluginError::Invalid(_))
        ));
    }
}

#[tokio::test]
async fn a_component_of_another_world_is_refused() {
    let rt = runtime(Duration::from_secs(1));
    let bytes = wasm("not_a_connector");
    match rt.load("not-a-connector", &bytes) {
        Err(PluginError::Invalid(why)) => {
            assert!(
                why.contains("agentic:connector") && why.contains("no export"),
                "{why}"
            )
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_log_flood_is_cut_to_the_per_call_budget() {
    use std::sync::{Arc, Mutex};
    // Count the plugin's log events reaching the subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("lock")
                .push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    assert_eq!(
        rt.invoke(&hostile, &Call::default(), "{}", "shout", "")
            .await
            .expect("shout"),
        "shouted"
    );
    let logged = lines.0.lock().expect("lock").clone();
    let from_plugin = logged.iter().filter(|l| l.contains(" line ")).count();
    assert_eq!(
        from_plugin,
        agentic_host::plugins::runtime::LOG_LINES_PER_CALL as usize
    );
    assert!(
        logged.iter().any(|l| l.contains("dropped=99900")),
        "one summary of the dropped lines"
    );
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk_by_content_and_engine() {
    let rt = runtime(Duration::from_secs(10));
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("plugin-cache");
    let bytes = wasm("example");
    let hash = agentic_host::plugins::package::component_hash(&bytes);
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };

    let first = rt
        .load_cached("example", &bytes, Some(&cache))
        .expect("compile");
    let files = entries();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0]
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name")
        .to_owned();
    assert!(
        name.starts_with(&hash) && name.ends_with(".cwasm"),
        "{name}"
    );
    let written = std::fs::metadata(&files[0])
        .expect("meta")
        .modified()
        .expect("mtime");

    let second = rt
        .load_cached("example", &bytes, Some(&cache))
        .expect("from cache");
    assert_eq!(
        std::fs::metadata(&files[0])
            .expect("meta")
            .modified()
            .expect("mtime"),
        written
    );
    assert_eq!(rt.spec(&first).await.expect("spec").id, "example");
    assert_eq!(rt.spec(&second).await.expect("spec").id, "example");

    // A damaged entry is discarded and rebuilt, never run.
    std::fs::write(&files[0], b"garbage").expect("corrupt");
    let third = rt
        .load_cached("example", &bytes, Some(&cache))
        .expect("recompiled");
    assert!(std::fs::metadata(&files[0]).expect("meta").len() > 1000);
    assert_eq!(rt.spec(&third).await.expect("spec").id, "example");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache).expect("dir").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "only the host may write compiled code");
    }
}

/// What the host reads from a component is what the same connector produces natively: the
/// stored JSON of every record is the SDK's projection (`RecordData::to_json`), which stream
/// schemas describe.
#[tokio::test]
async fn records_are_stored_as_the_sdks_json_projection() {
    let rt = runtime(Duration::from_secs(10));
    let example = load(&rt, "example");
    let config = serde_json::json!({"items": 30, "page_size": 30});
    let page = rt
        .read(
            &example,
            &Call::default(),
            &config.to_string(),
            "items",
            None,
        )
        .await
        .expect("read");
    let native = agentic_sdk::testing::Harness::new(example::Example)
        .read(&config, "items", None)
        .expect("native read");
    assert_eq!(page.records.len(), 30);
    assert_eq!(page.records.len(), native.records.len());
    for (lifted, native) in page.records.iter().zip(&native.records) {
        let data: serde_json::Value = serde_json::from_str(lifted.data()).expect("data is JSON");
        assert_eq!(data, native.to_json(), "{}", lifted.data());
        let agentic_sdk::RecordData::WorkItem(w) = native else {
            panic!("work items")
        };
        assert_eq!(lifted.kind, "work_item");
        assert_eq!(lifted.external_id(), w.external_id);
        assert_eq!(lifted.title(), w.title);
        assert_eq!(lifted.status(), Some(w.status.as_str()));
        assert_eq!(lifted.updated_at.map(Millis::as_ms), w.updated_at);
    }
    assert_eq!((page.state.as_str(), page.has_more), ("30", false));
}

/// Text that needs escaping, every option absent and present, lists, extreme times, embedded
/// JSON and text that only looks like it: every model comes out as its JSON projection.
#[tokio::test]
async fn every_model_is_lifted_into_its_json_projection() {
    use serde_json::json;
    let tricky = "say \"hi\"\\n\ttab\u{1}\u{1f} é 日本 🦀 </script>";
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let page = rt
        .read(&hostile, &Call::default(), "{}", "kinds", None)
        .await
        .expect("read");
    let rows: Vec<_> = page
        .records
        .iter()
        .map(|r| {
            let data: serde_json::Value = serde_json::from_str(r.data()).expect("data is JSON");
            (
                r.kind,
                r.external_id(),
                r.title(),
                r.status(),
                r.updated_at.map(Millis::as_ms),
                data,
            )
        })
        .collect();
    let comment_body = "é".repeat(300);
    let expected = [
        (
            "document",
            "doc-1",
            tricky,
            None,
            Some(i64::MAX),
            json!({"external_id": "doc-1", "title": tricky, "content_type": "text/markdown",
                "body": "# Title\n\nBody", "url": "https://example.com/d/1", "author": null,
                "created_at": -1, "updated_at": i64::MAX, "tags": ["a", tricky],
                "attributes": {"nested": {"list": [1, 2.5, null, "x"]}, "flag": true}}),
        ),
        (
            "work_item",
            "wi-1",
            "Fix it",
            Some("In Progress"),
            Some(1_700_000_000_000),
            json!({"external_id": "wi-1", "key": "PROJ-1", "title": "Fix it",
                "description": tricky, "status": "In Progress", "item_type": "Bug",
                "priority": "High", "assignee": "u-1", "reporter": null, "labels": [],
                "parent": null, "url": null, "created_at": null,
                "updated_at": 1_700_000_000_000i64, "attributes": "not json {"}),
        ),
        (
            "comment",
            "c-1",
            &comment_body[..400],
            None,
            None,
            json!({"external_id": "c-1", "parent_external_id": "wi-1", "author": "u-2",
                "body": comment_body, "created_at": 5, "updated_at": null}),
        ),
        (
            "requirement",
            "r-1",
            "Shall",
            Some("Approved"),
            None,
            json!({"external_id": "r-1", "identifier": "SRS-1", "title": "Shall",
                "text": "The system shall.", "module": "SRS", "parent": null,
                "status": "Approved", "created_at": null, "updated_at": null, "attributes": []}),
        ),
        (
            "trace_link",
            "l-1",
            "satisfies",
            None,
            None,
            json!({"external_id": "l-1", "source": "r-1", "target": "wi-1",
                "link_type": "satisfies"}),
        ),
        (
            "person",
            "u-1",
            "Ada",
            None,
            None,
            json!({"external_id": "u-1", "display_name": "Ada", "email": null, "active": false}),
        ),
        (
            "raw",
            "x-1",
            "",
            None,
            None,
            json!({"external_id": "x-1", "data": {"k": "v"}}),
        ),
    ];
    assert_eq!(rows.len(), expected.len());
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(*row, want);
    }
}

/// A page whose strings all point at the same 8 MiB (640 GiB if each were copied) is refused
/// before anything is copied, and the runtime goes on serving.
#[tokio::test]
async fn a_page_pointing_at_the_same_bytes_over_and_over_is_refused() {
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let result = rt
        .read(&hostile, &Call::default(), "{}", "amplify", None)
        .await;
    match result {
        Err(PluginError::OutputTooLarge { size, .. }) => assert!(size > 600 << 30, "{size}"),
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    let ok = rt
        .invoke(&hostile, &Call::default(), "{}", "ok", "still here")
        .await;
    assert_eq!(ok.expect("ok after the refusal"), "still here");
}

#[tokio::test]
async fn text_that_is_not_utf8_is_refused() {
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let result = rt
        .read(&hostile, &Call::default(), "{}", "not-utf8", None)
        .await;
    match result {
        Err(PluginError::InvalidOutput(message)) => {
            assert_eq!(message, "plugin returned a string that is not UTF-8")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A reader serves a stream's pages from one instance, and replaces an instance that failed;
/// a plain `read` always gets a fresh one.
#[tokio::test]
async fn a_reader_reuses_its_instance_until_it_fails() {
    let rt = runtime(Duration::from_secs(10));
    let hostile = load(&rt, "hostile");
    let call = Call::default();
    let served = |page: agentic_host::plugins::Page| page.records[0].external_id().to_owned();

    let mut reader = rt.reader(&hostile, &call);
    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(served(
            reader.read("{}", "calls", None).await.expect("read"),
        ));
    }
    assert_eq!(counts, ["1", "2", "3"]);
    // A typed connector error leaves the instance as it was.
    let missing = reader.read("{}", "no-such-stream", None).await;
    assert!(
        matches!(
            missing,
            Err(PluginError::Connector(ConnectorError::NotFound(_)))
        ),
        "{missing:?}"
    );
    assert_eq!(
        served(reader.read("{}", "calls", None).await.expect("read")),
        "4"
    );
    // A crash discards it: the next page starts over in a fresh instance.
    let crashed = reader.read("{}", "crash", None).await;
    assert!(matches!(crashed, Err(PluginError::Trap(_))), "{crashed:?}");
    assert_eq!(
        served(reader.read("{}", "calls", None).await.expect("read")),
        "1"
    );

    for _ in 0..2 {
        let page = rt.read(&hostile, &call, "{}", "calls", None).await;
        assert_eq!(served(page.expect("read")), "1");
    }
}

/// Every page of a reader gets the whole deadline, not what the previous pages left of it.
#[tokio::test]
async fn each_page_of_a_reader_has_its_own_deadline() {
    let rt = runtime(Duration::from_millis(400));
    let example = load(&rt, "example");
    let call = Call::default();
    let mut reader = rt.reader(&example, &call);
    for _ in 0..4 {
        reader
            .read(r#"{"items": 10, "page_size": 1}"#, "items", None)
            .await
            .expect("read");
        // Together well past one call's deadline: the epoch advances between pages too.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}
