//! A body that counts its bytes into the metrics; a download also counts as a transfer in flight
//! until it is dropped (finished, or cut off), and reports how far it got — that is how the
//! gateway knows a use's delivery to the byte.
//!
//! The report of a *complete* download is written before its last bytes are handed on: a viewer
//! who has the whole object can never find its resume still open. A download cut off before
//! then is reported when the body is dropped (the viewer is gone; nothing waits).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::Metrics;
use crate::origin::BoxError;

/// Records what a download delivered: `(bytes sent, complete)`.
pub type Record = Box<dyn FnOnce(u64, bool) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A report being written, and the last frame it holds back until it is (in a mutex only so
/// that the body is `Sync`; it is polled through `&mut`).
type Finishing = (std::sync::Mutex<Pin<Box<dyn Future<Output = ()> + Send>>>, Frame<Bytes>);

/// How a download reports its delivery.
pub struct Report {
    /// The byte count at which the object is delivered through its last byte (`None`: never).
    pub completes_at: Option<u64>,
    pub record: Record,
}

pub struct Tracked<B> {
    inner: B,
    metrics: Arc<Metrics>,
    download: bool,
    bytes: u64,
    report: Option<Report>,
    /// The report of a complete delivery being written.
    finishing: Option<Finishing>,
}

impl<B> Tracked<B> {
    /// A response body on its way to a viewer; `report` learns how far it got.
    pub fn download(inner: B, metrics: Arc<Metrics>, report: Option<Report>) -> Self {
        metrics.transfers_in_flight.fetch_add(1, Ordering::Relaxed);
        Self { inner, metrics, download: true, bytes: 0, report, finishing: None }
    }

    /// An upload on its way to the origin.
    pub fn upload(inner: B, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics, download: false, bytes: 0, report: None, finishing: None }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if self.download {
            self.metrics.transfers_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(report) = self.report.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn((report.record)(self.bytes, false));
        }
    }
}

impl<B: HttpBody<Data = Bytes, Error = BoxError> + Unpin> HttpBody for Tracked<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some((recording, _)) = &mut self.finishing {
            let recording = recording.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
            ready!(recording.as_mut().poll(cx));
            let (_, frame) = self.finishing.take().expect("finishing");
            return Poll::Ready(Some(Ok(frame)));
        }
        let polled = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        let Some(Ok(frame)) = polled else { return Poll::Ready(polled) };
        if let Some(data) = frame.data_ref() {
            let counter = if self.download { &self.metrics.bytes_to_viewers } else { &self.metrics.bytes_from_viewers };
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            self.bytes += data.len() as u64;
            if self.report.as_ref().is_some_and(|r| r.completes_at == Some(self.bytes)) {
                let report = self.report.take().expect("checked");
                self.finishing = Some((std::sync::Mutex::new((report.record)(self.bytes, true)), frame));
                return self.poll_frame(cx);
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.finishing.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
