//! Accepted connections whose writes are gathered, so that one `write` carries the frames of
//! several responses.
//!
//! h2 copies a DATA frame into its own buffer only below 256 bytes. A larger one (a full
//! classification is ~8 KB) is written from the response's buffer, and h2 must flush it before
//! it can buffer the next frame: each such response costs one `writev` for its headers and data
//! and a second one for its trailers, and responses on other streams of the connection never
//! share a write. On loopback a write is also the receiver's TCP processing, so at 64 calls in
//! flight those writes were the largest single cost of a Classify.
//!
//! Here writes are copied into one buffer. A flush first waits for a turn of the scheduler
//! (the connection's task wakes itself and yields), so the trailers and whatever the other
//! streams' tasks answer in the meantime join the same write; it waits again as long as the
//! gathering grew during the last turn, is under [`GATHER_LIMIT`] and has waited fewer than
//! [`MAX_TURNS`] turns, then sends it all. A lone call waits one turn: its latency does not
//! change; a stream that keeps writing small messages waits a bounded few.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// Gathered bytes beyond which a write goes out before more are taken, and a flush no longer
/// waits: sixteen full classifications, well within a socket's send buffer. Also about what
/// a connection's buffer holds at most (it keeps its capacity between sends).
const GATHER_LIMIT: usize = 128 * 1024;

/// Turns of the scheduler a gathering may wait before it is sent, however it grows.
const MAX_TURNS: u8 = 8;

/// An accepted connection that gathers what is written to it until a flush sends it.
#[derive(Debug)]
pub struct GatheredWrites<T> {
    inner: T,
    gathered: Vec<u8>,
    /// How much of `gathered` the socket has taken.
    sent: usize,
    /// How much was gathered when the last flush yielded; `None` since the last send.
    yielded_at: Option<usize>,
    /// Flushes that yielded since the last send.
    turns: u8,
}

impl<T> GatheredWrites<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            gathered: Vec::new(),
            sent: 0,
            yielded_at: None,
            turns: 0,
        }
    }
}

impl<T: AsyncWrite + Unpin> GatheredWrites<T> {
    /// Writes out everything gathered; the next gathering starts waiting afresh.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.gathered.len() {
            let written =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.gathered[self.sent..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += written;
        }
        self.gathered.clear();
        self.sent = 0;
        self.yielded_at = None;
        self.turns = 0;
        Poll::Ready(Ok(()))
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.gathered.len() >= GATHER_LIMIT {
            ready!(self.poll_send(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GatheredWrites<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        let mut taken = 0;
        for buf in bufs {
            this.gathered.extend_from_slice(buf);
            taken += buf.len();
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gathered.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        let grew = this.yielded_at.is_none_or(|at| this.gathered.len() > at);
        if grew && this.gathered.len() < GATHER_LIMIT && this.turns < MAX_TURNS {
            this.yielded_at = Some(this.gathered.len());
            this.turns += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GatheredWrites<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Connected> Connected for GatheredWrites<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures::task::{waker, ArcWake};

    use super::*;

    /// A socket that records each write and takes at most `per_write` bytes of it.
    #[derive(Default)]
    struct RecordingSocket {
        writes: Vec<Vec<u8>>,
        per_write: Option<usize>,
        shut: bool,
    }

    impl AsyncWrite for RecordingSocket {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let taken = this.per_write.map_or(buf.len(), |most| most.min(buf.len()));
            this.writes.push(buf[..taken].to_vec());
            Poll::Ready(Ok(taken))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().shut = true;
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl ArcWake for Wakes {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Harness {
        conn: GatheredWrites<RecordingSocket>,
        wakes: Arc<Wakes>,
    }

    impl Harness {
        fn new(socket: RecordingSocket) -> Self {
            Self {
                conn: GatheredWrites::new(socket),
                wakes: Arc::default(),
            }
        }

        fn poll<T>(
            &mut self,
            op: impl FnOnce(Pin<&mut GatheredWrites<RecordingSocket>>, &mut Context<'_>) -> Poll<T>,
        ) -> Poll<T> {
            let waker = waker(self.wakes.clone());
            let mut cx = Context::from_waker(&waker);
            op(Pin::new(&mut self.conn), &mut cx)
        }

        fn write(&mut self, bytes: &[u8]) {
            let taken = self.poll(|conn, cx| conn.poll_write(cx, bytes));
            assert!(matches!(taken, Poll::Ready(Ok(n)) if n == bytes.len()));
        }

        fn flush(&mut self) -> Poll<io::Result<()>> {
            self.poll(|conn, cx| conn.poll_flush(cx))
        }

        fn writes(&self) -> &[Vec<u8>] {
            &self.conn.inner.writes
        }

        fn wakes(&self) -> usize {
            self.wakes.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn flushes_yield_while_frames_keep_arriving_then_send_them_in_one_write() {
        let mut h = Harness::new(RecordingSocket::default());
        h.write(b"headers+data ");
        assert!(h.flush().is_pending());
        assert_eq!(h.wakes(), 1, "the yielding flush must wake its task");
        assert!(h.writes().is_empty());

        // More arrived during the turn: wait another.
        h.write(b"trailers ");
        let vectored = [IoSlice::new(b"next "), IoSlice::new(b"response")];
        let taken = h.poll(|conn, cx| conn.poll_write_vectored(cx, &vectored));
        assert!(matches!(taken, Poll::Ready(Ok(13))));
        assert!(h.flush().is_pending());
        assert_eq!(h.wakes(), 2);
        assert!(h.writes().is_empty());

        // Nothing arrived during the turn: send.
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(
            h.writes(),
            [b"headers+data trailers next response".to_vec()]
        );

        // The next gathered bytes yield again before going out.
        h.write(b"more");
        assert!(h.flush().is_pending());
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(h.writes().len(), 2);
        assert_eq!(h.wakes(), 3);
    }

    #[test]
    fn a_gathering_that_keeps_growing_is_sent_after_a_bounded_wait() {
        let mut h = Harness::new(RecordingSocket::default());
        for turn in 0..MAX_TURNS {
            h.write(b"small message ");
            assert!(h.flush().is_pending(), "turn {turn} should still wait");
        }
        h.write(b"small message ");
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(h.writes().len(), 1);
        assert_eq!(h.wakes(), usize::from(MAX_TURNS));

        // The count starts again after a send.
        h.write(b"next");
        assert!(h.flush().is_pending());
    }

    #[test]
    fn a_flush_with_nothing_gathered_neither_yields_nor_writes() {
        let mut h = Harness::new(RecordingSocket::default());
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(h.wakes(), 0);
        assert!(h.writes().is_empty());
    }

    #[test]
    fn a_full_gathering_goes_out_without_yielding_and_before_more_is_taken() {
        let mut h = Harness::new(RecordingSocket::default());
        let frame = vec![7u8; GATHER_LIMIT];
        h.write(&frame);
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(h.wakes(), 0);
        assert_eq!(h.writes(), std::slice::from_ref(&frame));

        h.write(&frame);
        h.write(b"tail");
        assert_eq!(h.writes().len(), 2, "the full gathering went out first");
        assert_eq!(h.writes()[1], frame);
        assert_eq!(h.conn.gathered, b"tail");
    }

    #[test]
    fn partial_socket_writes_send_every_byte_in_order() {
        let mut h = Harness::new(RecordingSocket {
            per_write: Some(3),
            ..RecordingSocket::default()
        });
        h.write(b"abcdefgh");
        assert!(h.flush().is_pending());
        assert!(matches!(h.flush(), Poll::Ready(Ok(()))));
        assert_eq!(h.writes().concat(), b"abcdefgh");
        assert_eq!(h.writes().len(), 3);
    }

    #[test]
    fn shutdown_sends_what_is_gathered_first() {
        let mut h = Harness::new(RecordingSocket::default());
        h.write(b"goaway");
        let shut = h.poll(|conn, cx| conn.poll_shutdown(cx));
        assert!(matches!(shut, Poll::Ready(Ok(()))));
        assert_eq!(h.writes(), [b"goaway".to_vec()]);
        assert!(h.conn.inner.shut);
    }
}
