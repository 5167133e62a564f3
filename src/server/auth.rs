//! Authentication and per-key rate limits as a tower layer: `authorization: Bearer <key>` is
//! checked against the key table, the key's scopes against the RPC, and the key's rate.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tonic::codegen::http;
use tonic::Status;
use tower::{Layer, Service};

use super::layers::take_ready;
use crate::auth::{key_digest, required_scope, AuthError, KeyCache};

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// A token bucket per key: `rate` calls per second, bursts up to `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `false` when its bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true; // a poisoned lock must not stop traffic
        };
        let now = Instant::now();
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Clone)]
pub struct AuthLayer {
    keys: Arc<KeyCache>,
    limiter: Option<Arc<RateLimiter>>,
}

impl AuthLayer {
    pub fn new(keys: Arc<KeyCache>, limiter: Option<RateLimiter>) -> Self {
        Self {
            keys,
            limiter: limiter.map(Arc::new),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            keys: self.keys.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    keys: Arc<KeyCache>,
    limiter: Option<Arc<RateLimiter>>,
}

fn bearer<B>(request: &http::Request<B>) -> Option<&str> {
    let value = request.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl<S, B, R> Service<http::Request<B>> for Authenticate<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut inner = take_ready(&mut self.inner);
        let Some(needed) = required_scope(request.uri().path()) else {
            return Box::pin(inner.call(request));
        };
        let keys = self.keys.clone();
        let limiter = self.limiter.clone();
        // Hashed here, so the call carries 32 bytes, not a copy of the key.
        let digest = bearer(&request).map(key_digest);
        Box::pin(async move {
            let refuse = |status: Status| Ok(status.into_http());
            let Some(digest) = digest else {
                return refuse(Status::unauthenticated(
                    "missing API key: send metadata `authorization: Bearer <key>`",
                ));
            };
            let key = match keys.authenticate(&digest).await {
                Ok(key) => key,
                Err(error @ (AuthError::Unknown | AuthError::Revoked(_))) => {
                    return refuse(Status::unauthenticated(error.to_string()))
                }
                Err(error @ AuthError::Unavailable(_)) => {
                    tracing::warn!(%error, "API keys cannot be checked");
                    return refuse(Status::unavailable(
                        "API keys cannot be checked right now; retry",
                    ));
                }
            };
            tracing::Span::current().record("caller", key.name.as_str());
            if !key.allows(needed) {
                return refuse(Status::permission_denied(format!(
                    "key {:?} lacks scope {} needed by {}",
                    key.name,
                    needed.code(),
                    request.uri().path()
                )));
            }
            if let Some(limiter) = &limiter {
                if !limiter.allow(&key.id) {
                    return refuse(Status::resource_exhausted(format!(
                        "rate limit of key {:?} reached; retry with backoff",
                        key.name
                    )));
                }
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_bursts_then_the_rate() {
        let limiter = RateLimiter::new(1, 3);
        assert!(limiter.allow("a"));
        assert!(limiter.allow("a"));
        assert!(limiter.allow("a"));
        assert!(!limiter.allow("a"));
        // Another key has its own bucket.
        assert!(limiter.allow("b"));
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let request = |value: &str| {
            http::Request::builder()
                .header("authorization", value)
                .body(())
                .unwrap()
        };
        assert_eq!(bearer(&request("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&request("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&request("Basic abc")), None);
        assert_eq!(bearer(&request("Bearer ")), None);
    }

    #[test]
    fn the_predictive_model_is_read_with_the_classify_scope() {
        // Registered by the SegmentationService rule of `required_scope`: a read, like
        // GetSegmentStats; RefreshSnapshot alone needs admin.
        assert_eq!(
            required_scope("/segmenter.v1.SegmentationService/GetPredictiveModel"),
            Some(crate::auth::Scope::Classify)
        );
    }
}
