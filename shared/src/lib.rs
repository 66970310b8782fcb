//! # oncelink core
//!
//! One-time (and later N-time) links to S3 objects, enforced at the edge. This crate is the
//! whole logic; the Lambda functions and the gateway are thin shells around it.
//!
//! * Issuing: [`issue`] validates a link request and [`presign`]s it for the S3 origin, then
//!   swaps the host for the CDN's.
//! * Deciding: [`decision`] is the edge's verdict as named phases (method → shape → window →
//!   ledger); everything but the ledger call is pure.
//! * Ports and adapters: the [`ledger::Ledger`] port (DynamoDB, in-memory) and the
//!   [`config::ConfigSource`] port (SSM) with a per-process [`config::ConfigCache`].
//! * The CloudFront event contract in [`cloudfront`], and [`edge::EdgeService`], which runs one
//!   event through it all.

pub mod cloudfront;
pub mod config;
pub mod decision;
pub mod edge;
pub mod encoding;
pub mod http_head;
pub mod issue;
pub mod ledger;
pub mod metrics;
pub mod metrics_emf;
pub mod presign;
pub mod presigned;
pub mod query;
pub mod request;
pub mod response;
pub mod sealed;
pub mod telemetry;
pub mod time;

pub use decision::{Decision, EdgePolicy, Precheck, decide, precheck, settle};
pub use request::ViewerRequest;
pub use response::DenyReason;
