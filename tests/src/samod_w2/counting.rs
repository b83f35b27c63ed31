//! The device's TCP connection to the samod relay, wrapped so that every byte read and written
//! lands in the [`WireLog`].

use super::wire::{Direction, WireLog, lock};
use futures::future::BoxFuture;
use samod::{DialError, Dialer, Transport};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The device's TCP stream, logging every byte read and written.
struct CountingStream {
    inner: TcpStream,
    log: Arc<Mutex<WireLog>>,
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                lock(&self.log).record(Direction::Down, read);
            }
        }
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            lock(&self.log).record(Direction::Up, &buf[..written]);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// samod's TCP dialer, with the stream wrapped in a [`CountingStream`].
pub(super) struct CountingDialer {
    pub(super) addr: SocketAddr,
    pub(super) url: samod::Url,
    pub(super) log: Arc<Mutex<WireLog>>,
}

impl Dialer for CountingDialer {
    type Error = Infallible;

    fn url(&self) -> samod::Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Infallible>>> {
        let addr = self.addr;
        let log = self.log.clone();
        Box::pin(async move {
            let inner = TcpStream::connect(addr)
                .await
                .map_err(DialError::transient)?;
            inner.set_nodelay(true).map_err(DialError::transient)?;
            lock(&log).connections += 1;
            Ok(Transport::from_tokio_io(CountingStream { inner, log }))
        })
    }
}
