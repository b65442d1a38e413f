//! The Redis tier and the invalidation bus (see the module above for why both versioned keys and
//! pub/sub).
//!
//! Every call to Redis goes through [`RedisTier::run`]: the circuit breaker first (while it is
//! open nothing is sent), then one multiplexed connection, all under `cache.redis_timeout_ms`.
//! A failure or timeout opens the breaker and drops the connection, so the next probe connects
//! afresh instead of queueing behind a connection that may be black-holed.
//!
//! Names, under the configured prefix and a format version (`c1:`):
//! - `v:<key>`: the key's version counter, incremented by each write (expires long after any
//!   value could);
//! - `d:<key>:<version>`: the value stored for that version;
//! - `inv`: the channel every host listens on; a message is `<host> <seq>` and one key per line;
//! - `ack:<host>`: where the hosts acknowledge a message of `<host>` with its `<seq>`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};
use std::time::Duration;

use ::redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use ::redis::{AsyncConnectionConfig, Client, RedisResult, Script};
use bytes::Bytes;
use futures_util::StreamExt;
use rand::RngCore;
use tokio::sync::Notify;

use super::breaker::Breaker;
use super::{CacheError, Inner, Key, Lookup, Tier};

/// Reads a key's version and the value stored under it, in one round trip.
static GET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local v = redis.call('GET', KEYS[1]) or '0' \
         return {v, redis.call('GET', KEYS[2] .. v)}",
    )
});

/// Bumps the versions of the keys and publishes them; returns how many listeners received it.
static INVALIDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "for i = 1, #KEYS do \
           redis.call('INCR', KEYS[i]) \
           redis.call('PEXPIRE', KEYS[i], ARGV[1]) \
         end \
         return redis.call('PUBLISH', ARGV[2], ARGV[3])",
    )
});

/// How often the subscription is checked with a PING.
const HEARTBEAT: Duration = Duration::from_millis(500);

/// Version counters outlive every value by this much, so a counter never restarts from 0 while
/// a value stored under an old 0 could still exist.
const VERSION_MARGIN: Duration = Duration::from_secs(3600);

/// Redis as a cache tier, and this host's end of the invalidation bus.
pub(super) struct RedisTier {
    client: Client,
    /// `<configured prefix>c1:`.
    prefix: String,
    /// This process on the bus (random).
    host: String,
    ttl: Duration,
    timeout: Duration,
    retry: Duration,
    conn: RwLock<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    breaker: Breaker,
    /// The subscription is up and answers heartbeats.
    listening: AtomicBool,
    seq: AtomicU64,
    /// Acknowledgements counted per message this host published.
    acks: Mutex<HashMap<u64, Waiter>>,
    /// Keys this host could not publish (Redis unreachable); published when it is back.
    pending: Mutex<HashSet<Key>>,
}

struct Waiter {
    received: usize,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .field("host", &self.host)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RedisTier {
    pub(super) fn new(
        url: &str,
        prefix: &str,
        ttl: Duration,
        timeout: Duration,
        retry: Duration,
    ) -> Result<Self, CacheError> {
        let client = Client::open(url)
            .map_err(|e| CacheError::Url(format!("{e} (redis://HOST:PORT/DB)")))?;
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        Ok(Self {
            client,
            prefix: format!("{prefix}c1:"),
            host: id.iter().map(|b| format!("{b:02x}")).collect(),
            ttl,
            timeout,
            retry,
            conn: RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            breaker: Breaker::new(retry),
            listening: AtomicBool::new(false),
            seq: AtomicU64::new(1),
            acks: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashSet::new()),
        })
    }

    fn version_key(&self, key: &Key) -> String {
        format!("{}v:{}", self.prefix, key.render())
    }

    fn data_prefix(&self, key: &Key) -> String {
        format!("{}d:{}:", self.prefix, key.render())
    }

    fn channel(&self) -> String {
        format!("{}inv", self.prefix)
    }

    fn ack_channel(&self, host: &str) -> String {
        format!("{}ack:{host}", self.prefix)
    }

    /// How long a writer waits for the other hosts to drop its keys.
    fn ack_wait(&self) -> Duration {
        (self.timeout * 4).max(Duration::from_millis(100))
    }

    /// Whether this host hears every invalidation right now, so that its in-process tier may
    /// answer: subscribed, answering heartbeats, and Redis answering calls.
    pub(super) fn in_sync(&self) -> bool {
        self.listening.load(Ordering::Acquire) && self.breaker.is_closed()
    }

    /// Whether the subscription is up.
    pub(super) fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    fn set_listening(&self, up: bool) {
        self.listening.store(up, Ordering::Release);
        self.report();
    }

    fn report(&self) {
        metrics::gauge!("cache_redis_up").set(if self.in_sync() { 1.0 } else { 0.0 });
    }

    /// The data connection, opened on first use and after every failure.
    async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        let current = || {
            self.conn
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        if let Some(conn) = current() {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = current() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self
            .conn
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one Redis call through the breaker, within the timeout.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, CacheError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return Err(CacheError::Unavailable);
        }
        self.attempt(call).await
    }

    /// Runs one Redis call within the timeout even while the breaker is open (its outcome still
    /// moves the breaker). For invalidations: writes are rare, and telling the other hosts at
    /// once is worth a timeout.
    async fn attempt<T, F, Fut>(&self, call: F) -> Result<T, CacheError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            call(conn).await
        };
        let outcome = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(CacheError::Redis(e)),
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        };
        match &outcome {
            Ok(_) => {
                if self.breaker.success() {
                    tracing::info!("Redis answers again; the cache uses it");
                    self.report();
                }
            }
            Err(e) => {
                *self
                    .conn
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                if self.breaker.failure() {
                    tracing::warn!(error = %e, retry_in = ?self.retry,
                        "Redis unreachable; lookups go to the database");
                    self.report();
                }
            }
        }
        outcome
    }

    /// Whether Redis answers a PING now (at once `false` while the breaker is open).
    pub(super) async fn ping(&self) -> bool {
        self.run(|mut c| async move { ::redis::cmd("PING").query_async::<()>(&mut c).await })
            .await
            .is_ok()
    }

    /// Publishes `keys`: bumps their versions and tells every host, then waits (at most
    /// [`Self::ack_wait`]) until every host that received the message has dropped them.
    async fn publish(&self, keys: &[Key]) -> Result<(), CacheError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        // Registered before publishing: an acknowledgement may arrive before PUBLISH returns.
        let notify = Arc::new(Notify::new());
        let wait = self.listening();
        if wait {
            lock(&self.acks).insert(
                seq,
                Waiter {
                    received: 0,
                    notify: notify.clone(),
                },
            );
        }
        let mut message = format!("{} {seq}", self.host);
        for key in keys {
            message.push('\n');
            message.push_str(&key.render());
        }
        let versions: Vec<String> = keys.iter().map(|k| self.version_key(k)).collect();
        let keep = u64::try_from((self.ttl + VERSION_MARGIN).as_millis()).unwrap_or(u64::MAX);
        let channel = self.channel();
        let published = self
            .attempt(|mut c| async move {
                INVALIDATE
                    .key(versions)
                    .arg(keep)
                    .arg(channel)
                    .arg(message)
                    .invoke_async::<usize>(&mut c)
                    .await
            })
            .await;
        let receivers = match published {
            Ok(n) => n,
            Err(e) => {
                lock(&self.acks).remove(&seq);
                lock(&self.pending).extend(keys.iter().cloned());
                return Err(e);
            }
        };
        if wait {
            let deadline = tokio::time::Instant::now() + self.ack_wait();
            loop {
                let received = lock(&self.acks).get(&seq).map_or(0, |w| w.received);
                if received >= receivers {
                    break;
                }
                if tokio::time::timeout_at(deadline, notify.notified())
                    .await
                    .is_err()
                {
                    metrics::counter!("cache_invalidation_unacknowledged_total").increment(1);
                    tracing::warn!(
                        receivers,
                        received,
                        "not every host acknowledged an invalidation in time"
                    );
                    break;
                }
            }
            lock(&self.acks).remove(&seq);
        }
        Ok(())
    }

    /// One acknowledgement of this host's message `seq`.
    fn acknowledged(&self, seq: u64) {
        if let Some(waiter) = lock(&self.acks).get_mut(&seq) {
            waiter.received += 1;
            waiter.notify.notify_one();
        }
    }

    /// Publishes the keys that could not be published while Redis was unreachable.
    async fn flush_pending(&self) {
        let keys: Vec<Key> = lock(&self.pending).drain().collect();
        if !keys.is_empty() {
            match self.publish(&keys).await {
                Ok(()) => tracing::info!(
                    keys = keys.len(),
                    "published invalidations held while Redis was unreachable"
                ),
                Err(e) => tracing::debug!(error = %e, "pending invalidations still held"),
            }
        }
    }

    /// Opens the subscription: the invalidation channel and this host's acknowledgements.
    async fn subscribe(&self) -> Result<(PubSubSink, PubSubStream), CacheError> {
        let attempt = async {
            let (mut sink, stream) = self.client.get_async_pubsub().await?.split();
            sink.subscribe(&[self.channel(), self.ack_channel(&self.host)])
                .await?;
            Ok::<_, ::redis::RedisError>((sink, stream))
        };
        match tokio::time::timeout(self.timeout * 4, attempt).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CacheError::Timeout(self.timeout * 4)),
        }
    }
}

impl Tier for RedisTier {
    async fn get(&self, key: &Key) -> Result<Lookup, CacheError> {
        let (version, data) = (self.version_key(key), self.data_prefix(key));
        let (version, value): (String, Option<Bytes>) = self
            .run(|mut c| async move { GET.key(version).key(data).invoke_async(&mut c).await })
            .await?;
        let version = version.parse().unwrap_or(0);
        Ok(match value {
            // A key this host changed but could not yet publish still has its old value here.
            Some(_) if lock(&self.pending).contains(key) => Lookup::Miss(version),
            Some(bytes) => Lookup::Hit(bytes),
            None => Lookup::Miss(version),
        })
    }

    async fn set(&self, key: &Key, stamp: u64, value: Bytes) -> Result<(), CacheError> {
        let data = format!("{}{stamp}", self.data_prefix(key));
        let ttl = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        self.run(|mut c| async move {
            ::redis::cmd("SET")
                .arg(data)
                .arg(value.as_ref())
                .arg("PX")
                .arg(ttl)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn delete(&self, keys: &[Key]) -> Result<(), CacheError> {
        self.publish(keys).await
    }
}

/// Handles one message on the subscription.
fn on_message(inner: &Arc<Inner>, redis: &RedisTier, channel: &str, payload: &[u8]) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    if channel == redis.ack_channel(&redis.host) {
        if let Ok(seq) = text.trim().parse() {
            redis.acknowledged(seq);
        }
        return;
    }
    let mut lines = text.lines();
    let Some((from, seq)) = lines.next().and_then(|l| l.split_once(' ')) else {
        return;
    };
    let keys: Vec<Key> = lines.filter_map(Key::parse).collect();
    if from != redis.host {
        inner.forget_from(&keys, "remote");
    }
    let Ok(seq) = seq.parse::<u64>() else {
        return;
    };
    if from == redis.host {
        redis.acknowledged(seq);
        return;
    }
    // Acknowledge off the subscription's task, which must keep reading.
    let (inner, channel, from) = (inner.clone(), redis.ack_channel(from), from.to_owned());
    tokio::spawn(async move {
        if let Some(redis) = &inner.redis {
            let sent = redis
                .run(|mut c| async move {
                    ::redis::cmd("PUBLISH")
                        .arg(channel)
                        .arg(seq)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await;
            if let Err(e) = sent {
                tracing::debug!(host = %from, error = %e, "could not acknowledge an invalidation");
            }
        }
    });
}

/// The subscription's task: listens for invalidations for as long as the cache exists,
/// reconnecting after failures. The in-process tier is emptied whenever the subscription comes
/// up or goes down, since messages may have been missed in between.
pub(super) async fn listen(cache: Weak<Inner>) {
    let mut was_up = true;
    loop {
        let Some(inner) = cache.upgrade() else {
            return;
        };
        let Some(redis) = &inner.redis else {
            return;
        };
        let retry = redis.retry;
        match redis.subscribe().await {
            Err(e) => {
                if was_up {
                    tracing::warn!(error = %e, "cannot subscribe to cache invalidations; the in-process cache is off until then");
                    was_up = false;
                }
            }
            Ok((sink, stream)) => {
                inner.forget_all();
                redis.set_listening(true);
                if !was_up {
                    tracing::info!("subscribed to cache invalidations again");
                }
                let flusher = inner.clone();
                tokio::spawn(async move {
                    if let Some(redis) = &flusher.redis {
                        redis.flush_pending().await;
                    }
                });
                drop(inner);
                let why = watch(&cache, sink, stream).await;
                let Some(inner) = cache.upgrade() else {
                    return;
                };
                if let Some(redis) = &inner.redis {
                    redis.set_listening(false);
                }
                inner.forget_all();
                tracing::warn!(reason = why, "cache invalidation subscription lost; the in-process cache is off until it is back");
                was_up = false;
                continue;
            }
        }
        drop(inner);
        tokio::time::sleep(retry).await;
    }
}

/// Reads the subscription until it fails; returns why. Holds the cache only while handling a
/// message, so a dropped cache ends the task at the next heartbeat.
async fn watch(
    cache: &Weak<Inner>,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) -> &'static str {
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return "connection closed";
                };
                let Some(inner) = cache.upgrade() else {
                    return "shutdown";
                };
                if let Some(redis) = &inner.redis {
                    on_message(&inner, redis, message.get_channel_name(), message.get_payload_bytes());
                }
            }
            _ = beat.tick() => {
                let Some(inner) = cache.upgrade() else {
                    return "shutdown";
                };
                let Some(redis) = &inner.redis else {
                    return "shutdown";
                };
                let wait = redis.timeout * 4;
                let pending = !lock(&redis.pending).is_empty();
                drop(inner);
                match tokio::time::timeout(wait, sink.ping::<::redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    _ => return "heartbeat unanswered",
                }
                if pending {
                    if let Some(inner) = cache.upgrade() {
                        tokio::spawn(async move {
                            if let Some(redis) = &inner.redis {
                                redis.flush_pending().await;
                            }
                        });
                    }
                }
            }
        }
    }
}
