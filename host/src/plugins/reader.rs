//! Reading a stream's pages: [`Runtime::read`] for one page, a [`Reader`] for consecutive pages
//! through one instance.

use std::future::Future;
use std::time::Instant;

use wasmtime::component::Instance;
use wasmtime::Store;

use super::bindings::types::Error as ConnectorError;
use super::error::PluginError;
use super::isolation::Share;
use super::lift::{Lifted, Page, RecordDataView, RecordView};
use super::runtime::{Plugin, Runtime, WitVersion};
use super::sandbox::{Call, GuestState};

impl Runtime {
    /// `read(config, stream, state)`: one page in an instance of its own (see [`Reader`] to
    /// read several pages of a stream).
    pub async fn read(
        &self,
        plugin: &Plugin,
        call: &Call,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> Result<Page, PluginError> {
        self.reader(plugin, call).read(config, stream, state).await
    }

    /// A [`Reader`] of `plugin`'s pages under `call`.
    pub fn reader<'r>(&'r self, plugin: &'r Plugin, call: &'r Call) -> Reader<'r> {
        Reader {
            runtime: self,
            plugin,
            call,
            live: None,
        }
    }
}

/// The `read` export as called: config, stream, state in; a page lifted into rows out, in the
/// shape of the component's contract version (0.3.0's `record-data` has `deleted`).
type ReadParams<'a> = (&'a str, &'a str, Option<&'a str>);
type ReadResults = (Result<Lifted<RecordDataView>, ConnectorError>,);
type OldReadResults = (Result<Lifted<RecordView>, ConnectorError>,);

/// Reads consecutive pages of one stream of one connection through one instance.
///
/// Why not a fresh instance per page, as every other call gets: a page is the unit a sync
/// loops over, and a fresh instance costs its instantiation and, more, the page faults of
/// touching fresh linear memory again for every page (docs/PERFORMANCE.md). Reusing it across
/// the pages of one stream shares guest state only between calls that carry the same
/// configuration and credential. Each call still has its own deadline, request budget and log
/// budget; an instance that failed in any way but a typed connector error (trap, timeout,
/// memory cap, refused output, a call dropped half-way) is discarded, and the next page gets a
/// fresh one.
pub struct Reader<'r> {
    runtime: &'r Runtime,
    plugin: &'r Plugin,
    call: &'r Call,
    live: Option<Live>,
}

/// An instance kept between the pages of a stream, with the share it holds.
struct Live {
    store: Store<GuestState>,
    instance: Instance,
    share: Share,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("plugin", &self.plugin.name)
            .field("instance", &self.live.is_some())
            .finish()
    }
}

impl<'r> Reader<'r> {
    /// `read(config, stream, state)`: one page, lifted straight into the records the host
    /// stores ([`super::lift`]).
    ///
    /// With an instance kept from the previous page, the call is on the plugin threads when
    /// this returns, before the future is first polled: a sync starts reading ahead the moment
    /// its page's lease is held, not whenever its task next gets round to the read (on
    /// PostgreSQL it first built and sent the page's statement, 1.7 ms: docs/PERFORMANCE.md).
    pub fn read<'a>(
        &'a mut self,
        config: &'a str,
        stream: &'a str,
        state: Option<&'a str>,
    ) -> impl Future<Output = Result<Page, PluginError>> + Send + use<'a, 'r> {
        let started = self.live.take().map(|mut live| {
            self.runtime.sandbox.arm(&mut live.store);
            self.start(Ok(live), config, stream, state)
        });
        async move {
            let call = match started {
                Some(call) => call,
                None => {
                    let share = (self.runtime.shares)
                        .acquire(&self.plugin.name, self.call.connection)
                        .await?;
                    self.start(Err(share), config, stream, state)
                }
            };
            // Dropped with the call if it fails or is dropped half-way.
            let (live, result) = call.await?;
            self.live = live;
            let page = result?;
            self.runtime.sandbox.cap(page.text_bytes)?;
            Ok(page)
        }
    }

    /// Starts the call on the plugin threads, in the instance `live` kept (or a fresh one
    /// under the share): the instance to keep, if it stays sound, and the page.
    fn start(
        &self,
        live: Result<Live, Share>,
        config: &str,
        stream: &str,
        state: Option<&str>,
    ) -> impl Future<Output = Result<(Option<Live>, Result<Page, PluginError>), PluginError>>
           + Send
           + 'static {
        let (sandbox, plugin, call) = (
            self.runtime.sandbox.clone(),
            self.plugin.clone(),
            self.call.clone(),
        );
        let (config, stream, state) = (
            config.to_owned(),
            stream.to_owned(),
            state.map(str::to_owned),
        );
        self.runtime.threads.spawn(async move {
            let started = Instant::now();
            let (mut store, instance, share) = match live {
                Ok(live) => (live.store, Some(live.instance), live.share),
                Err(share) => (sandbox.store(&plugin, &call), None, share),
            };
            let outcome = sandbox
                .bounded(async {
                    let instance = match instance {
                        Some(instance) => instance,
                        None => {
                            plugin
                                .pre
                                .instance_pre()
                                .instantiate_async(&mut store)
                                .await?
                        }
                    };
                    // Looked up each call: a typed lookup is cheap next to a page.
                    let params = (config.as_str(), stream.as_str(), state.as_deref());
                    let result = if plugin.wit_version() == WitVersion::V0_3 {
                        let read = instance.get_typed_func::<ReadParams<'_>, ReadResults>(
                            &mut store,
                            &plugin.read,
                        )?;
                        read.call_async(&mut store, params).await?.0.map(|l| l.0)
                    } else {
                        let read = instance.get_typed_func::<ReadParams<'_>, OldReadResults>(
                            &mut store,
                            &plugin.read,
                        )?;
                        read.call_async(&mut store, params).await?.0.map(|l| l.0)
                    };
                    wasmtime::Result::Ok((instance, result))
                })
                .await;
            sandbox.finished(&store, &plugin, "read", started);
            Ok(match outcome {
                // A typed connector error leaves the instance as sound as a page does.
                Ok((instance, result)) => {
                    let refusal = store.data().refusal();
                    let result = result.map_err(|e| sandbox.connector_error(e, refusal));
                    (
                        Some(Live {
                            store,
                            instance,
                            share,
                        }),
                        result,
                    )
                }
                Err(e) => (None, Err(sandbox.classify(&store, e))),
            })
        })
    }
}
