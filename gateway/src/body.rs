//! A body that counts its bytes into the metrics; a download also counts as a transfer in flight
//! until it is dropped (finished, or cut off), and then tells how many bytes it sent — that is how
//! the gateway knows a use's delivery to the byte.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

use crate::metrics::Metrics;
use crate::origin::BoxError;

/// Called once, when the body is dropped, with the bytes it sent.
pub type Sent = Box<dyn FnOnce(u64) + Send + Sync>;

pub struct Tracked<B> {
    inner: B,
    metrics: Arc<Metrics>,
    download: bool,
    bytes: u64,
    sent: Option<Sent>,
}

impl<B> Tracked<B> {
    /// A response body on its way to a viewer; `sent` learns how far it got.
    pub fn download(inner: B, metrics: Arc<Metrics>, sent: Option<Sent>) -> Self {
        metrics.transfers_in_flight.fetch_add(1, Ordering::Relaxed);
        Self { inner, metrics, download: true, bytes: 0, sent }
    }

    /// An upload on its way to the origin.
    pub fn upload(inner: B, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics, download: false, bytes: 0, sent: None }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if self.download {
            self.metrics.transfers_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(sent) = self.sent.take() {
            sent(self.bytes);
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
