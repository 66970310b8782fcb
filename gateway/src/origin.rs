//! The origin: the embedded S3-compatible server (s3s + s3s-fs, objects in the data dir) or any
//! S3 endpoint, reached over real, signed S3 requests (the credentials that sign them are the
//! core's credentials port); and the HTTP client that streams to and from it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// A client for the origin (http and https) that streams bodies both ways.
pub fn http_client() -> anyhow::Result<HttpClient> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.set_nodelay(true);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .context("no TLS root certificates")?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https))
}

/// Starts the embedded S3 server on a random loopback port; returns its endpoint URL.
pub async fn start_embedded(objects_dir: &std::path::Path, bucket: &str, access_key: &str, secret_key: &str) -> anyhow::Result<String> {
    let bucket_dir = objects_dir.join(bucket);
    std::fs::create_dir_all(&bucket_dir).with_context(|| format!("cannot create {}", bucket_dir.display()))?;
    let fs = s3s_fs::FileSystem::new(objects_dir).map_err(|e| anyhow::anyhow!("embedded origin: {e:?}"))?;
    let mut builder = s3s::service::S3ServiceBuilder::new(fs);
    builder.set_auth(s3s::auth::SimpleAuth::from_single(access_key, secret_key));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            // Without TCP_NODELAY, a response written as head then body waits for the gateway's
            // delayed ACK (~40 ms on Linux) whenever the body is small: every first use paid it.
            let _ = socket.set_nodelay(true);
            let service = service.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}
