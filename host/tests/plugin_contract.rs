//! The host serves every contract version it lists: a component built against the frozen
//! `agentic:connector@0.1.0` (`plugins/contract-0-1`, wit-bindgen without the SDK) still
//! installs, checks, reads and invokes, and the reason the host refused one of its requests
//! still reaches the error (0.1.0 cannot ask for it: the host adds it); one built against the
//! frozen 0.2.0 (`plugins/contract-0-2`), whose `record-data` has no `deleted` case, is read in
//! its own page shape. A manifest naming another version than the component's imports is
//! refused at install.

use crate::support::{load, wasm};

use std::sync::{Arc, Mutex};

use agentic_host::clock::SystemClock;
use agentic_host::plugins::package::{Package, SigningKey};
use agentic_host::plugins::registry::{Actor, Registry, RegistryError};
use agentic_host::plugins::{
    Call, ConnectorError, EgressPolicy, Limits, PluginError, Progress, Runtime, WitVersion,
};
use agentic_host::store::Store;

const MANIFEST: &str = include_str!("../../plugins/contract-0-1/plugin.toml");

/// A service on 127.0.0.1 answering 204 to everything; returns its base URL.
async fn service() -> String {
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn connection(base: &str) -> Call {
    let policy = EgressPolicy::new(&["*".into()], base)
        .expect("policy")
        .allow_private(true);
    Call {
        egress: Some(Arc::new(policy)),
        ..Call::default()
    }
}

#[tokio::test]
async fn components_are_run_with_the_contract_version_they_import() {
    let rt = Runtime::new(Limits::default()).expect("engine");
    let old = load(&rt, "contract_0_1");
    assert_eq!(old.contract(), Some(WitVersion::V0_1));
    assert_eq!(old.wit_version(), WitVersion::V0_1);
    let frozen = load(&rt, "contract_0_2");
    assert_eq!(frozen.contract(), Some(WitVersion::V0_2));
    assert_eq!(frozen.wit_version(), WitVersion::V0_2);
    let sdk = load(&rt, "example");
    assert_eq!(sdk.contract(), Some(WitVersion::V0_3));
    assert_eq!(sdk.wit_version(), WitVersion::V0_3);
}

#[tokio::test]
async fn a_0_2_0_component_checks_reads_and_invokes_on_this_host() {
    let rt = Runtime::new(Limits::default()).expect("engine");
    let plugin = load(&rt, "contract_0_2");
    let base = service().await;
    let call = connection(&base);

    // `host.base-url@0.2.0` answers the connection's.
    let said = rt.check(&plugin, &call, "{}").await.expect("check");
    assert_eq!(said, format!("GET {base}/: 204"));
    let streams = rt.discover(&plugin, &call, "{}").await.expect("discover");
    assert_eq!(streams[0].name, "items");
    assert!(streams[0].incremental);

    // Its pages are lifted in 0.2.0's shape: records, no deletions.
    let mut reader = rt.reader(&plugin, &call);
    let first = reader.read("{}", "items", None).await.expect("page 1");
    let ids: Vec<&str> = first.records.iter().map(|r| r.external_id()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(first.records[0].kind, "work_item");
    assert!(first.deletions.is_empty());
    assert_eq!((first.state.as_str(), first.has_more), ("1", true));
    let second = reader.read("{}", "items", Some("1")).await.expect("page 2");
    assert_eq!(second.records.len(), 1);
    assert!(!second.has_more);

    let echoed = rt
        .invoke(&plugin, &call, "{}", "echo", r#"{"y":2}"#)
        .await
        .expect("invoke");
    assert_eq!(echoed, r#"{"y":2}"#);
}

#[tokio::test]
async fn a_0_1_0_component_checks_reads_and_invokes_on_this_host() {
    let rt = Runtime::new(Limits::default()).expect("engine");
    let plugin = load(&rt, "contract_0_1");
    let base = service().await;
    let call = connection(&base);

    let config = serde_json::json!({ "url": format!("{base}/status") }).to_string();
    let said = rt.check(&plugin, &call, &config).await.expect("check");
    assert_eq!(said, format!("GET {base}/status: 204"));

    let reports: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = reports.clone();
    let with_progress = Call {
        progress: Some(Arc::new(move |p| sink.lock().expect("lock").push(p))),
        ..call.clone()
    };
    let page = rt
        .read(&plugin, &with_progress, "{}", "items", None)
        .await
        .expect("read");
    let ids: Vec<&str> = page.records.iter().map(|r| r.external_id()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!((page.state.as_str(), page.has_more), ("done", false));
    let reports = reports.lock().expect("lock").clone();
    assert_eq!(
        reports
            .iter()
            .map(|p| (p.done, p.total))
            .collect::<Vec<_>>(),
        [(2, Some(2))],
        "its host.progress@0.1.0 reaches the call's sink"
    );

    let echoed = rt
        .invoke(&plugin, &call, "{}", "echo", r#"{"x":1}"#)
        .await
        .expect("invoke");
    assert_eq!(echoed, r#"{"x":1}"#);
}

#[tokio::test]
async fn the_host_names_the_refusal_in_a_0_1_0_connectors_error() {
    let rt = Runtime::new(Limits::default()).expect("engine");
    let plugin = load(&rt, "contract_0_1");
    let base = service().await;
    let config = serde_json::json!({"url": "http://10.0.0.1/status"}).to_string();
    let error = rt
        .check(&plugin, &connection(&base), &config)
        .await
        .expect_err("refused");
    let why = format!("http://10.0.0.1 is outside the connection's base URL {base}/");
    match error {
        PluginError::Connector(ConnectorError::Config(m)) => assert_eq!(
            m,
            format!(
                "GET http://10.0.0.1/status: ErrorCode::HttpRequestDenied (the host refused the \
                 request: {why})"
            )
        ),
        other => panic!("{other:?}"),
    }
    // A try-out call has no network, and says so.
    let error = rt
        .check(&plugin, &Call::default(), &config)
        .await
        .expect_err("refused");
    assert!(
        error
            .to_string()
            .contains("this call has no connection, so no network"),
        "{error}"
    );
}

async fn registry() -> (Registry, SigningKey, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let store = Store::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    let registry = Registry::new(store, Arc::new(SystemClock), Limits::default(), None);
    let key = SigningKey::generate().expect("key").0;
    registry
        .trust(&Actor::default(), "acme", &key.public_key().to_string())
        .await
        .expect("trust");
    (registry, key, dir)
}

#[tokio::test]
async fn a_0_1_0_package_installs_and_runs_and_a_wrong_wit_field_is_refused() {
    let (registry, key, _dir) = registry().await;
    let component = wasm("contract_0_1");

    // Claiming the newer contract than the component imports is refused, naming both.
    let claimed = MANIFEST.replace("wit = \"0.1.0\"", "wit = \"0.2.0\"");
    let package = Package::build(&key, &claimed, &component).expect("package");
    match registry.install(&Actor::default(), &package).await {
        Err(RegistryError::Mismatch(m)) => assert!(
            m.contains("the manifest says \"0.2.0\"")
                && m.contains("built against agentic:connector@0.1.0"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }

    let package = Package::build(&key, MANIFEST, &component).expect("package");
    let installed = registry
        .install(&Actor::default(), &package)
        .await
        .expect("installs");
    assert_eq!(installed.id, "contract-0-1");
    let (manifest, plugin) = registry.active("contract-0-1").await.expect("active");
    assert_eq!(manifest.wit, "0.1.0");
    assert_eq!(plugin.wit_version(), WitVersion::V0_1);
    let runtime = registry.runtime().await.expect("runtime");
    let page = runtime
        .read(&plugin, &Call::default(), "{}", "items", None)
        .await
        .expect("read");
    assert_eq!(page.records.len(), 2);

    // A 0.2.0 package installs too, and one claiming 0.3.0 for it is refused.
    const MANIFEST_0_2: &str = include_str!("../../plugins/contract-0-2/plugin.toml");
    let component = wasm("contract_0_2");
    let claimed = MANIFEST_0_2.replace("wit = \"0.2.0\"", "wit = \"0.3.0\"");
    let package = Package::build(&key, &claimed, &component).expect("package");
    match registry.install(&Actor::default(), &package).await {
        Err(RegistryError::Mismatch(m)) => assert!(
            m.contains("the manifest says \"0.3.0\"")
                && m.contains("built against agentic:connector@0.2.0"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    let package = Package::build(&key, MANIFEST_0_2, &component).expect("package");
    registry
        .install(&Actor::default(), &package)
        .await
        .expect("a 0.2.0 package installs");
    let (manifest, plugin) = registry.active("contract-0-2").await.expect("active");
    assert_eq!(manifest.wit, "0.2.0");
    assert_eq!(plugin.wit_version(), WitVersion::V0_2);
}
