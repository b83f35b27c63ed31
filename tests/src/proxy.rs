//! A fault-injecting TCP proxy on loopback: forwards bytes between phones and the relay (TLS
//! passes through untouched) and cuts connections after a set number of bytes in either
//! direction, the way a car's mobile link drops every few minutes — with an orderly end of
//! stream (FIN) or a reset (RST, `SO_LINGER` 0) — and holds bytes back for a while (a slow
//! link). Counts what the client sent and received, so benchmarks can divide by the file size.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does and has seen.
#[derive(Debug, Default)]
pub struct ProxyState {
    /// Cut a connection once this many client→relay bytes passed since the last cut (0: never).
    pub cut_up_every: AtomicU64,
    /// Cut a connection once this many relay→client bytes passed since the last cut (0: never).
    pub cut_down_every: AtomicU64,
    /// Stop cutting after this many cuts.
    pub max_cuts: AtomicU64,
    /// Cuts made.
    pub cuts: AtomicU64,
    /// Bytes read from clients.
    pub up_bytes: AtomicU64,
    /// Bytes read from the relay.
    pub down_bytes: AtomicU64,
    /// The next cut resets both connections (RST) instead of ending the streams (FIN).
    pub cut_with_reset: AtomicBool,
    /// Cuts made as resets (also counted in `cuts`).
    pub resets: AtomicU64,
    /// Hold each of the next `delay_chunks` client→relay reads this long before forwarding.
    pub delay_up_ms: AtomicU64,
    /// Hold each of the next `delay_chunks` relay→client reads this long before forwarding.
    pub delay_down_ms: AtomicU64,
    /// Reads still to delay (in the directions with a delay set).
    pub delay_chunks: AtomicU64,
    /// Delays armed with [`ProxyState::arm_delay`] that held back at least one read.
    pub delays: AtomicU64,
    delay_fresh: AtomicBool,
    since_up: AtomicU64,
    since_down: AtomicU64,
}

impl ProxyState {
    /// Zeroes the byte and cut counters.
    pub fn reset(&self) {
        for c in [
            &self.cuts,
            &self.up_bytes,
            &self.down_bytes,
            &self.since_up,
            &self.since_down,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }

    /// Arms one cut (a reset when `reset`) once `after` more bytes have passed in one
    /// direction (client→relay when `up`), keeping the cumulative counters.
    pub fn arm_cut(&self, up: bool, after: u64, reset: bool) {
        self.since_up.store(0, Ordering::SeqCst);
        self.since_down.store(0, Ordering::SeqCst);
        self.cut_with_reset.store(reset, Ordering::SeqCst);
        let (on, off) = if up {
            (&self.cut_up_every, &self.cut_down_every)
        } else {
            (&self.cut_down_every, &self.cut_up_every)
        };
        off.store(0, Ordering::SeqCst);
        on.store(after.max(1), Ordering::SeqCst);
        self.max_cuts
            .store(self.cuts.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
    }

    /// Holds the next `chunks` reads in one direction (client→relay when `up`) `ms` each.
    pub fn arm_delay(&self, up: bool, ms: u64, chunks: u64) {
        let (on, off) = if up {
            (&self.delay_up_ms, &self.delay_down_ms)
        } else {
            (&self.delay_down_ms, &self.delay_up_ms)
        };
        off.store(0, Ordering::SeqCst);
        on.store(ms, Ordering::SeqCst);
        self.delay_fresh.store(true, Ordering::SeqCst);
        self.delay_chunks.store(chunks, Ordering::SeqCst);
    }

    /// No more cuts, resets or delays (counters kept).
    pub fn disarm(&self) {
        self.cut_up_every.store(0, Ordering::SeqCst);
        self.cut_down_every.store(0, Ordering::SeqCst);
        self.delay_chunks.store(0, Ordering::SeqCst);
        self.delay_up_ms.store(0, Ordering::SeqCst);
        self.delay_down_ms.store(0, Ordering::SeqCst);
    }

    /// How long to hold the read just made in this direction, if a delay is armed.
    fn delay(&self, up: bool) -> Option<Duration> {
        let ms = if up {
            self.delay_up_ms.load(Ordering::SeqCst)
        } else {
            self.delay_down_ms.load(Ordering::SeqCst)
        };
        if ms == 0 {
            return None;
        }
        self.delay_chunks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
            .ok()?;
        if self.delay_fresh.swap(false, Ordering::SeqCst) {
            self.delays.fetch_add(1, Ordering::SeqCst);
        }
        Some(Duration::from_millis(ms))
    }

    /// How many bytes may pass before the next cut in this direction (`u64::MAX`: no cut).
    fn budget(&self, up: bool) -> u64 {
        let every = if up {
            self.cut_up_every.load(Ordering::SeqCst)
        } else {
            self.cut_down_every.load(Ordering::SeqCst)
        };
        if every == 0 || self.cuts.load(Ordering::SeqCst) >= self.max_cuts.load(Ordering::SeqCst) {
            return u64::MAX;
        }
        let since = if up { &self.since_up } else { &self.since_down };
        every.saturating_sub(since.load(Ordering::SeqCst))
    }
}

/// A running proxy; stops when dropped.
pub struct CutProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Settings and counters.
    pub state: Arc<ProxyState>,
    _rt: tokio::runtime::Runtime,
}

impl CutProxy {
    /// Starts a proxy to `target`.
    pub fn start(target: SocketAddr) -> Result<CutProxy, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let state = Arc::new(ProxyState {
            max_cuts: AtomicU64::new(u64::MAX),
            ..ProxyState::default()
        });
        let st = state.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let st = st.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        pipe(client, server, st).await;
                    }
                });
            }
        });
        Ok(CutProxy {
            addr,
            state,
            _rt: rt,
        })
    }

    /// The URL a phone uses to reach the relay through the proxy.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }
}

/// How one direction of a connection ended.
enum End {
    Closed,
    Cut,
    Reset,
}

/// Copies `from` to `to` within the cut budget of its direction.
async fn copy(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    st: &ProxyState,
    up: bool,
) -> End {
    let (total, since) = if up {
        (&st.up_bytes, &st.since_up)
    } else {
        (&st.down_bytes, &st.since_down)
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let budget = st.budget(up);
        let want = usize::try_from(budget.min(buf.len() as u64)).unwrap_or(buf.len());
        if want == 0 {
            st.cuts.fetch_add(1, Ordering::SeqCst);
            st.since_up.store(0, Ordering::SeqCst);
            st.since_down.store(0, Ordering::SeqCst);
            if st.cut_with_reset.load(Ordering::SeqCst) {
                st.resets.fetch_add(1, Ordering::SeqCst);
                return End::Reset;
            }
            return End::Cut;
        }
        let n = match from.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return End::Closed,
            Ok(n) => n,
        };
        if let Some(hold) = st.delay(up) {
            tokio::time::sleep(hold).await;
        }
        total.fetch_add(n as u64, Ordering::SeqCst);
        since.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).await.is_err() {
            return End::Closed;
        }
    }
}

/// Reads and discards until the peer closes (at most a few seconds), so closing our end
/// sends FIN rather than RST and the peer keeps every byte it was already sent.
async fn drain(from: &mut tokio::net::tcp::OwnedReadHalf) {
    let mut buf = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Forwards both ways until either side closes or a cut is due. A cut is a link that stops:
/// the side that was receiving gets every byte already forwarded, then the end of the stream;
/// the sender's connection is dropped. A reset closes both connections at once with RST
/// (`SO_LINGER` 0): unread bytes are discarded and both peers see "connection reset".
async fn pipe(client: TcpStream, server: TcpStream, st: Arc<ProxyState>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let ended_up = {
        let up = copy(&mut cr, &mut sw, &st, true);
        let down = copy(&mut sr, &mut cw, &st, false);
        tokio::select! {
            e = up => Some(e),
            e = down => match e {
                End::Cut => None,
                other => Some(other),
            },
        }
    };
    if let Some(End::Reset) = ended_up {
        // Whole sockets again, so closing them sends RST without a FIN first.
        for (r, w) in [(cr, cw), (sr, sw)] {
            if let Ok(s) = r.reunite(w) {
                let _ = s.set_zero_linger();
                drop(s);
            }
        }
        return;
    }
    match ended_up {
        // The upload link stopped: the relay receives what was forwarded, then end of stream.
        Some(End::Cut) => {
            drop(cr);
            drop(cw);
            let _ = sw.shutdown().await;
            drain(&mut sr).await;
        }
        // The download link stopped: the phone receives what was forwarded, then end of
        // stream.
        None => {
            drop(sr);
            drop(sw);
            let _ = cw.shutdown().await;
            drain(&mut cr).await;
        }
        Some(End::Closed | End::Reset) => {}
    }
}
