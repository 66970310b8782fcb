//! An object's bytes, streamed from its file: large reads on the blocking pool, one read ahead.
//!
//! Each chunk is one positioned read (`pread`) of up to [`CHUNK`] bytes straight into the
//! buffer that goes to the socket (no second copy), done on the blocking pool: a slow disk
//! never stalls the connections sharing a runtime thread. While the viewer takes one chunk, the
//! next is already being read. Nothing is read that the viewer does not pull: a slow client
//! holds a file handle, not a thread.

use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::task::JoinHandle;

use crate::origin::BoxError;

/// Bytes per read.
pub const CHUNK: usize = 1024 * 1024;

pub struct FileBody {
    file: Arc<std::fs::File>,
    /// The next byte to ask for, and how many are still to be asked for.
    offset: u64,
    unrequested: u64,
    /// Bytes asked for but not yet handed on (for the size hint).
    in_read: u64,
    pending: Option<JoinHandle<io::Result<Bytes>>>,
}

impl FileBody {
    /// `len` bytes of `file` from `offset`.
    pub fn new(file: std::fs::File, offset: u64, len: u64) -> Self {
        Self { file: Arc::new(file), offset, unrequested: len, in_read: 0, pending: None }
    }

    /// Starts the next read, if anything is left.
    fn read_next(&mut self) {
        if self.unrequested == 0 {
            return;
        }
        let len = self.unrequested.min(CHUNK as u64);
        let (file, offset) = (self.file.clone(), self.offset);
        self.offset += len;
        self.unrequested -= len;
        self.in_read = len;
        self.pending = Some(tokio::task::spawn_blocking(move || {
            // A file that shrank under us fails the read: the download is cut, not padded.
            let mut buffer = vec![0u8; len as usize];
            file.read_exact_at(&mut buffer, offset)?;
            Ok(Bytes::from(buffer))
        }));
    }
}

impl HttpBody for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.pending.is_none() {
            self.read_next();
        }
        let Some(pending) = self.pending.as_mut() else { return Poll::Ready(None) };
        let read = ready!(Pin::new(pending).poll(cx));
        self.pending = None;
        self.in_read = 0;
        match read {
            Ok(Ok(chunk)) => {
                self.read_next();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Ok(Err(error)) => {
                self.unrequested = 0;
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Err(join) => {
                self.unrequested = 0;
                Poll::Ready(Some(Err(Box::new(join))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.unrequested == 0 && self.pending.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.unrequested + self.in_read)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn streams_exactly_the_asked_bytes_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..(2 * CHUNK + 123)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let body = FileBody::new(std::fs::File::open(&path).unwrap(), 7, (2 * CHUNK + 100) as u64);
        assert_eq!(body.size_hint().exact(), Some((2 * CHUNK + 100) as u64));
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], &content[7..7 + 2 * CHUNK + 100]);
        let empty = FileBody::new(std::fs::File::open(&path).unwrap(), 0, 0);
        assert!(empty.is_end_stream());
        assert!(empty.collect().await.unwrap().to_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_file_that_shrinks_cuts_the_body_instead_of_padding_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 3 * CHUNK]).unwrap();
        let mut body = FileBody::new(std::fs::File::open(&path).unwrap(), 0, (3 * CHUNK) as u64);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), CHUNK);
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(CHUNK as u64).unwrap();
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "a short read must be an error");
    }
}
