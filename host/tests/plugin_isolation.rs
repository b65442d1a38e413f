//! Plugin calls never stall the host: guests run on threads of their own with wall-clock
//! deadlines, and each plugin waits for its own share of instances (the hostile component, a
//! real one built from `plugins/`).

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentic_host::plugins::{Call, ConnectorError, Limits, PluginError, Runtime, ShareLimits};
use support::load;

/// Spinning guests run apart from the caller's threads: the test's runtime has one thread, so
/// a guest spinning on it would hold every other task (this timer, the API) until its deadline.
/// With eight guests sharing one plugin thread, each still ends at its own wall-clock deadline,
/// not after the others' turns.
#[tokio::test]
async fn spinning_guests_hold_no_caller_thread_and_end_on_the_clock() {
    let timeout = Duration::from_secs(2);
    let rt = Arc::new(
        Runtime::new(Limits {
            call_timeout: timeout,
            threads: 1,
            ..Limits::default()
        })
        .expect("engine"),
    );
    let hostile = load(&rt, "hostile");
    let started = Instant::now();
    let spinners: Vec<_> = (0..8)
        .map(|_| {
            let (rt, hostile) = (rt.clone(), hostile.clone());
            tokio::spawn(async move {
                rt.invoke(&hostile, &Call::default(), "{}", "spin", "")
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        spinners.iter().all(|s| !s.is_finished()),
        "the caller's thread was held until the spinning calls ended"
    );
    for s in spinners {
        let result = s.await.expect("join");
        assert!(matches!(result, Err(PluginError::Timeout(_))), "{result:?}");
    }
    let took = started.elapsed();
    assert!(
        took < timeout * 3,
        "8 guests sharing one thread took {took:?}: the deadline counts their turns, not the clock"
    );
}

/// One plugin's many slow calls wait for its own share; another plugin's calls neither wait
/// behind them nor fail, and no call fails because the pool is full.
#[tokio::test]
async fn a_busy_plugin_waits_for_its_share_and_never_fails_another() {
    let rt = Arc::new(
        Runtime::new(Limits {
            call_timeout: Duration::from_millis(600),
            shares: ShareLimits {
                instances: 4,
                per_plugin: 2,
                per_connection: 2,
            },
            ..Limits::default()
        })
        .expect("engine"),
    );
    let hostile = load(&rt, "hostile");
    let example = load(&rt, "example");
    let spinners: Vec<_> = (0..6)
        .map(|_| {
            let (rt, hostile) = (rt.clone(), hostile.clone());
            tokio::spawn(async move {
                rt.invoke(&hostile, &Call::default(), "{}", "spin", "")
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..2 {
        let spec = rt.spec(&example).await.expect("the other plugin's call");
        assert_eq!(spec.id, "example");
    }
    assert!(
        spinners.iter().any(|s| !s.is_finished()),
        "the other plugin's calls waited for the busy one's"
    );
    // Six calls with two instances at a time: three rounds, each its own deadline, none
    // refused for a full pool.
    for s in spinners {
        let result = s.await.expect("join");
        assert!(matches!(result, Err(PluginError::Timeout(_))), "{result:?}");
    }
}

/// A connector's error text is cut to the message cap, however long the guest made it.
#[tokio::test]
async fn an_error_of_any_size_comes_back_cut() {
    let rt = Runtime::new(Limits::default()).expect("engine");
    let hostile = load(&rt, "hostile");
    let result = rt
        .invoke(&hostile, &Call::default(), "{}", "loud-error", "20")
        .await;
    let Err(PluginError::Connector(ConnectorError::Internal(message))) = result else {
        panic!("expected a typed error, got {result:?}");
    };
    let cap = Limits::default().max_message_bytes;
    assert!(
        message.len() < cap + 64,
        "{} bytes came back",
        message.len()
    );
    assert!(
        message.ends_with(&format!("[cut: {} bytes in all]", 20 << 20)),
        "{}",
        &message[cap - 10..]
    );
}
