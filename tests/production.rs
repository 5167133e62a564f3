//! Production behaviour of the server, end to end over real gRPC: API keys and scopes, TLS and
//! mTLS, deadlines, load shedding, graceful shutdown, database-aware health, request ids and
//! metrics. Each test starts its own server on port 0 over a fresh SQLite file, mostly behind
//! a store double that can be made slow or unreachable while the server runs.

#[path = "production/support.rs"]
mod support;

#[path = "production/auth.rs"]
mod auth;
#[path = "production/lifecycle.rs"]
mod lifecycle;
#[path = "production/limits.rs"]
mod limits;
#[path = "production/observe.rs"]
mod observe;
#[path = "production/privacy.rs"]
mod privacy;
#[path = "production/tls.rs"]
mod tls;
