//! The body-progress timeout: a request body that delivers nothing for
//! `[limits] body_idle_secs` fails with [`BodyIdleTimeout`], whose text the API layer maps
//! to 400 RequestTimeout as Amazon S3 answers; the engine then removes the upload's
//! temporary file at once. The clock runs only while the server waits for the client, not
//! while it writes what it already received.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The body stalled. Its text carries `RequestTimeout`, which `crate::convert`
/// recognises through any wrapping error (s3s's aws-chunked decoder, for one).
#[derive(Debug)]
pub struct BodyIdleTimeout(Duration);

impl std::fmt::Display for BodyIdleTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RequestTimeout: no body bytes for {} s", self.0.as_secs())
    }
}

impl std::error::Error for BodyIdleTimeout {}

/// Set once a body timed out, for the edge to answer RequestTimeout whoever read the body.
#[derive(Clone, Default)]
pub struct TimedOut(Arc<AtomicBool>);

impl TimedOut {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

pub struct IdleTimeoutBody<B> {
    inner: B,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    /// Whether `sleep` counts down the current wait (it is re-armed at each wait's start).
    armed: bool,
    timed_out: TimedOut,
}

impl<B> IdleTimeoutBody<B> {
    pub fn new(inner: B, idle: Duration) -> (Self, TimedOut) {
        let timed_out = TimedOut::default();
        let body =
            Self { inner, idle, sleep: Box::pin(tokio::time::sleep(idle)), armed: false, timed_out: timed_out.clone() };
        (body, timed_out)
    }
}

impl<B> Body for IdleTimeoutBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.timed_out.get() {
            return Poll::Ready(Some(Err(Box::new(BodyIdleTimeout(self.idle)))));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                self.armed = false;
                Poll::Ready(r.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                if !self.armed {
                    let deadline = Instant::now() + self.idle;
                    self.sleep.as_mut().reset(deadline);
                    self.armed = true;
                }
                if self.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.timed_out.0.store(true, Ordering::Release);
                Poll::Ready(Some(Err(Box::new(BodyIdleTimeout(self.idle)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_stalled_body_fails_after_the_idle_time_and_a_flowing_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::convert::Infallible>>(1);
        let stream = http_body_util::StreamBody::new(tokio_stream_from(rx));
        let (mut body, flag) = IdleTimeoutBody::new(stream, Duration::from_millis(300));
        let feeder = tokio::spawn(async move {
            // Five frames 200 ms apart: never 300 ms without a byte.
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"x")))).await.unwrap();
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        for _ in 0..5 {
            let f = body.frame().await.unwrap().unwrap();
            assert_eq!(f.into_data().unwrap(), "x");
        }
        assert!(!flag.get());
        let started = Instant::now();
        let e = body.frame().await.unwrap().unwrap_err();
        assert!(e.to_string().contains("RequestTimeout"), "{e}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(flag.get());
        feeder.abort();
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> + Unpin {
        Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
