//! A TCP proxy between a host and a real server (Redis), to fail the network mid-test without
//! stopping the server other tests share.
//!
//! [`Mode::BlackHole`] is a partition: connections stay open and new ones are accepted, but no
//! byte goes through, so the client sees nothing but silence (its timeouts must save it); when
//! the mode returns to [`Mode::Pass`] what was held back is delivered, as TCP would after a
//! partition heals. [`Mode::Cut`] is a crash: every connection is closed and new ones are closed
//! at once.
//!
//! [`Mode::BlackHole`]: crate::proxy::Mode::BlackHole
//! [`Mode::Pass`]: crate::proxy::Mode::Pass
//! [`Mode::Cut`]: crate::proxy::Mode::Cut

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Forward nothing, close nothing.
    BlackHole,
    /// Close every connection, refuse new ones.
    Cut,
}

/// A running proxy; stops with the test's runtime.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    path: String,
    mode: watch::Sender<Mode>,
}

impl Proxy {
    /// A proxy to the server of `url` (`redis://HOST:PORT/DB`), passing traffic.
    pub async fn start(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, String::new()),
        };
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let upstream = if authority.contains(':') {
            authority.to_owned()
        } else {
            format!("{authority}:6379")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, watching) = watch::channel(Mode::Pass);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Mode::Cut {
                    drop(client);
                    continue;
                }
                let (upstream, watching) = (upstream.clone(), watching.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, watching.clone()),
                        pump(server_read, client_write, watching),
                    );
                });
            }
        });
        Self { addr, path, mode }
    }

    /// The URL to give the host instead of the server's.
    pub fn url(&self) -> String {
        format!("redis://{}{}", self.addr, self.path)
    }

    /// Changes what happens to traffic from now on.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Copies one direction until either side closes or the proxy cuts.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Cut {
                    return;
                }
                continue;
            }
        };
        // Hold the bytes while black-holed.
        loop {
            let now = *mode.borrow_and_update();
            match now {
                Mode::Pass => break,
                Mode::Cut => return,
                Mode::BlackHole => {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
