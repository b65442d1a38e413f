//! Where plugin calls run, and how many of them at once.
//!
//! Plugin code is untrusted: a guest may spin without calling the host for its whole deadline.
//! Two things keep that from touching anybody else:
//! - **Threads of their own.** Every call runs as a task on [`PluginThreads`], a tokio runtime
//!   apart from the one serving HTTP, leases and heartbeats. A spinning guest occupies a plugin
//!   thread, never an API thread; the operating system's scheduler shares the cores between the
//!   two pools, so an API request that wakes up runs at once. Within the plugin pool, guests
//!   yield at every epoch tick (see the runtime's epoch callback), so any number of them share
//!   its threads in turn and the wall-clock deadline is checked every tick.
//! - **Fair shares of instances.** [`Shares`] gives each call a permit of three nested
//!   semaphores before it instantiates: its connection's (the narrowest), its plugin's, and the
//!   host's (the pooling allocator's slots). A busy plugin or connection waits for its own share
//!   and never fills the pool, so it cannot make another plugin's calls wait for long or fail.
//!   Semaphores are FIFO, so waiting calls are served in order.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::PluginError;

/// How many plugin instances may exist at once: in all, per plugin, per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareLimits {
    /// Instances in all: the pooling allocator's slots.
    pub instances: u32,
    /// Instances one plugin may hold at once.
    pub per_plugin: u32,
    /// Instances one connection may hold at once.
    pub per_connection: u32,
}

impl Default for ShareLimits {
    fn default() -> Self {
        Self {
            instances: 64,
            per_plugin: 16,
            per_connection: 4,
        }
    }
}

/// The semaphores behind the shares.
#[derive(Debug)]
pub(crate) struct Shares {
    limits: ShareLimits,
    all: Arc<Semaphore>,
    plugins: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
    connections: Mutex<HashMap<i64, Arc<Semaphore>>>,
}

/// The right to hold one instance: released when dropped (with the instance's store).
#[derive(Debug)]
pub(crate) struct Share {
    _all: OwnedSemaphorePermit,
    _plugin: OwnedSemaphorePermit,
    _connection: Option<OwnedSemaphorePermit>,
}

impl Shares {
    pub(crate) fn new(limits: ShareLimits) -> Self {
        Self {
            limits,
            all: Arc::new(Semaphore::new(limits.instances as usize)),
            plugins: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for a share of `plugin` (and of `connection`, when the call is made for one):
    /// the connection's permit first, then the plugin's, then the host's, so a call queued
    /// behind its own connection or plugin holds nothing anybody else needs.
    pub(crate) async fn acquire(
        &self,
        plugin: &Arc<str>,
        connection: Option<i64>,
    ) -> Result<Share, PluginError> {
        let closed = |_| PluginError::Engine("the plugin engine is shutting down".into());
        let connection = match connection {
            Some(id) => {
                let semaphore = {
                    let mut map = lock(&self.connections);
                    // Connections come and go: forget the idle ones as new ones arrive.
                    if map.len() > 1024 {
                        map.retain(|_, s| Arc::strong_count(s) > 1);
                    }
                    map.entry(id)
                        .or_insert_with(|| {
                            Arc::new(Semaphore::new(self.limits.per_connection as usize))
                        })
                        .clone()
                };
                Some(semaphore.acquire_owned().await.map_err(closed)?)
            }
            None => None,
        };
        let semaphore = lock(&self.plugins)
            .entry(plugin.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limits.per_plugin as usize)))
            .clone();
        let plugin = semaphore.acquire_owned().await.map_err(closed)?;
        let all = self.all.clone().acquire_owned().await.map_err(closed)?;
        Ok(Share {
            _all: all,
            _plugin: plugin,
            _connection: connection,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the map's lock leaves the map itself sound.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The tokio runtime plugin calls run on (threads named `agentic-plugin`).
pub(crate) struct PluginThreads {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PluginThreads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginThreads")
    }
}

impl PluginThreads {
    /// Starts `threads` worker threads.
    pub(crate) fn start(threads: usize) -> Result<Self, PluginError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("agentic-plugin")
            .enable_all()
            .build()
            .map_err(|e| PluginError::Engine(format!("starting the plugin threads: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `task` on the plugin threads and waits for it. Dropping the returned future (a
    /// cancelled job, a client that went away) aborts the task at its next yield, which a
    /// guest reaches within one epoch tick.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T, PluginError>> + Send + 'static,
    ) -> Result<T, PluginError> {
        self.spawn(task).await
    }

    /// Starts `task` on the plugin threads now, before the returned future is first polled
    /// (a caller with other work to do first does not hold the call back); the future waits
    /// for it, and dropping it aborts the task as [`PluginThreads::run`] says.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T, PluginError>> + Send + 'static,
    ) -> impl Future<Output = Result<T, PluginError>> + Send + 'static {
        // The task carries the caller's span and subscriber: a plugin's log lines stay
        // attributed to the job or request that made the call.
        use tracing::instrument::{Instrument, WithSubscriber};
        let started = self.runtime.as_ref().map(|runtime| {
            AbortOnDrop(runtime.spawn(task.in_current_span().with_current_subscriber()))
        });
        async move {
            let Some(task) = started else {
                return Err(PluginError::Engine(
                    "the plugin threads have stopped".into(),
                ));
            };
            match task.await {
                Ok(result) => result,
                Err(e) => Err(PluginError::Trap(format!("plugin task ended: {e}"))),
            }
        }
    }
}

impl Drop for PluginThreads {
    fn drop(&mut self) {
        // The last handle may go inside an async context, where a blocking shutdown panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_busy_plugin_waits_for_its_own_share_and_leaves_the_rest() {
        let shares = Shares::new(ShareLimits {
            instances: 4,
            per_plugin: 2,
            per_connection: 1,
        });
        let (busy, other): (Arc<str>, Arc<str>) = ("busy".into(), "other".into());
        let held = [
            shares.acquire(&busy, None).await.expect("share"),
            shares.acquire(&busy, None).await.expect("share"),
        ];
        // A third call of the busy plugin waits ...
        let third = tokio::time::timeout(Duration::from_millis(50), shares.acquire(&busy, None));
        assert!(
            third.await.is_err(),
            "the busy plugin got more than its share"
        );
        // ... while another plugin still gets both of its shares at once.
        for _ in 0..2 {
            let got = tokio::time::timeout(Duration::from_millis(50), shares.acquire(&other, None));
            std::mem::forget(got.await.expect("other plugin waited").expect("share"));
        }
        drop(held);
        let again = tokio::time::timeout(Duration::from_millis(50), shares.acquire(&busy, None));
        again
            .await
            .expect("a freed share is given again")
            .expect("share");
    }

    #[tokio::test]
    async fn a_connection_waits_for_its_own_share() {
        let shares = Shares::new(ShareLimits {
            instances: 4,
            per_plugin: 4,
            per_connection: 1,
        });
        let plugin: Arc<str> = "p".into();
        let _one = shares.acquire(&plugin, Some(1)).await.expect("share");
        let second =
            tokio::time::timeout(Duration::from_millis(50), shares.acquire(&plugin, Some(1)));
        assert!(
            second.await.is_err(),
            "a connection got more than its share"
        );
        let other =
            tokio::time::timeout(Duration::from_millis(50), shares.acquire(&plugin, Some(2)));
        other
            .await
            .expect("another connection waited")
            .expect("share");
    }

    #[tokio::test]
    async fn dropping_the_wait_aborts_the_task() {
        let threads = PluginThreads::start(1).expect("threads");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = threads.run(async move {
            let _tx = tx; // dropped when the task is aborted
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), task)
            .await
            .is_err());
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("the task was not aborted")
            .expect_err("the task finished instead of being aborted");
    }
}
