//! A body that counts its bytes into the metrics; a download also counts as a transfer in flight
//! until it is dropped (finished, or cut off), and then reports how far it got — that is how the
//! gateway knows a use's delivery to the byte.
//!
//! The report is written when the body is dropped, after hyper has taken its last byte: a
//! viewer killed with the gateway mid-way never finds its download marked complete. Until the
//! report lands the client is in flight in the ledger, so no recovery of the same download can
//! slip in between.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::Metrics;
use crate::origin::BoxError;

/// Records what a download delivered: `(bytes sent, complete)`.
pub type Record = Box<dyn FnOnce(u64, bool) + Send + Sync>;

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
}

impl<B> Tracked<B> {
    /// A response body on its way to a viewer; `report` learns how far it got.
    pub fn download(inner: B, metrics: Arc<Metrics>, report: Option<Report>) -> Self {
        metrics.transfers_in_flight.fetch_add(1, Ordering::Relaxed);
        Self { inner, metrics, download: true, bytes: 0, report }
    }

    /// An upload on its way to the origin.
    pub fn upload(inner: B, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics, download: false, bytes: 0, report: None }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if self.download {
            self.metrics.transfers_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(report) = self.report.take() {
            (report.record)(self.bytes, report.completes_at == Some(self.bytes));
        }
    }
}

impl<B: HttpBody<Data = Bytes, Error = BoxError> + Unpin> HttpBody for Tracked<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let counter = if self.download { &self.metrics.bytes_to_viewers } else { &self.metrics.bytes_from_viewers };
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            let sent = data.len() as u64;
            self.bytes += sent;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
