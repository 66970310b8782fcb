//! # The oncelink gateway
//!
//! The whole system on one machine: the core's edge decision as a streaming HTTP reverse proxy,
//! the core's issue API, a web page, an embedded durable ledger and the objects as files in the
//! data dir (or any S3 origin). Every rule lives in the core (`oncelink`); this crate is I/O: sockets, files, the CLI.
//!
//! ```text
//! socket ─► server (accept, TLS, HTTP/1.1 | HTTP/2, time limits, graceful shutdown) ─► app (request id, routing, access line)
//!              ├─ /<key>?<link>     ─► proxy: request filter ─► decision ─► upstream (origin: files | S3) ─► settle ─► response filter
//!              ├─ /_oncelink/links  ─► api: bearer token or session cookie ─► body ─► core IssueService
//!              ├─ /_oncelink/log{in,out} ─► api: the web page's session cookie
//!              └─ /_oncelink/{,healthz,metrics}
//! ```
//!
//! ## Layout
//!
//! | module | one idea |
//! |---|---|
//! | [`cli`] | the `oncelink` command line: serve, issue, status, revoke, put, keys, demo |
//! | [`settings`] | `oncelink serve`'s configuration: flags > environment > file > defaults |
//! | [`wiring`] | builds a gateway from its settings: data dir, origin, credentials, ledger, key set, services |
//! | [`server`] | the accept loop: HTTP/1.1, or TLS with HTTP/2 or HTTP/1.1 by ALPN; graceful shutdown |
//! | [`tls`] | the certificate and key files, reloaded when they change |
//! | [`watchdog`] | time limits on connections that stop moving: idle, slow heads, stalled bodies |
//! | [`head_guard`] | what a request head's raw bytes say that hyper's types lose: a `#fragment`, the exact size |
//! | [`app`] | one request's context, routing, and its access line |
//! | [`proxy`] | a link request's life as named phases, with its explicit context |
//! | [`api`] | the issue API's HTTP side: bearer token or session, login and logout, body limits, the core's service |
//! | [`session`] | the web page's session cookie: its stateless value, its attributes, the own-origin rule |
//! | [`answer`] | building responses: generated JSON answers, the core's API answers |
//! | [`body`] | the body that counts bytes and transfers in flight |
//! | [`drain`] | reading the rest of a small refused upload before answering it |
//! | [`origin`] | the origin port and its two adapters: the data dir's files, S3 over HTTP |
//! | [`keys`] | the key file as a configuration source |
//! | [`file_ledger`] | the embedded ledger (records in memory, an append-only journal, group commit) |
//! | [`webhook`] | the deployment's webhook: events from the ledger's outbox, signed, delivered at least once |
//! | [`pg_ledger`] | the PostgreSQL ledger: several gateways on one database, one statement per decision |
//! | [`purger`] | the background purge of expired records, shared by the ledgers that keep their own |
//! | [`datadir`] | the data directory and its secrets |
//! | [`metrics`] | Prometheus text from the core's metric vocabulary |
//! | [`client`] | the CLI's HTTP client of the API |
//! | [`status`] | `oncelink status`: a link's state and trail as a summary and a table |
//! | [`healthcheck`] | `oncelink healthcheck`: the binary probes its own gateway (a scratch image has no curl) |
//!
//! ## Errors
//!
//! What a viewer or API caller is told is one of the core's refusals (or the proxy's own
//! [`origin::OriginError`]), written by the core's one body writer. `anyhow` is used only where the
//! process starts or the CLI talks to a person: a start-up error is one line and exit code 1.

pub mod answer;
pub mod api;
pub mod app;
pub mod body;
pub mod causes;
pub mod cli;
pub mod client;
pub mod datadir;
pub mod demo;
pub mod drain;
pub mod file_ledger;
pub mod head_guard;
pub mod healthcheck;
pub mod keys;
pub mod metrics;
pub mod origin;
pub mod pg_ledger;
pub mod proxy;
pub mod purger;
pub mod server;
pub mod session;
pub mod settings;
pub mod status;
pub mod tls;
pub mod watchdog;
pub mod webhook;
pub mod wiring;
