//! What is known about the request being served, readable from anywhere while serving it:
//! its id (for log lines), its route template and the authenticated user (for the access
//! log and metrics).
//!
//! The context lives in a task-local around the handler's future; work sent to the blocking
//! pool takes it along with [`carry`], so log lines written there carry the id too.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use actix_web::dev::Extensions;
use actix_web::http::header::{HeaderMap, HeaderName};

/// The header a request's id arrives in and is returned in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id taken from a client; longer ones are replaced by a generated id.
const MAX_ID_LEN: usize = 128;

/// One request's context.
#[derive(Debug)]
pub struct RequestContext {
    pub id: String,
    route: Mutex<Option<&'static str>>,
    user: Mutex<Option<String>>,
    /// The client's address, as the trusted proxies say (set by the access log's middleware).
    client: Mutex<Option<std::net::IpAddr>>,
}

impl RequestContext {
    /// A context with the client's `X-Request-Id` when it is usable, a new id otherwise.
    pub fn from_headers(headers: &HeaderMap) -> Arc<Self> {
        Self::make(headers)
    }

    /// The context the `Expect: 100-continue` gate already made for this request, or a new
    /// one from its headers.
    pub fn of_request(extensions: &Extensions, headers: &HeaderMap) -> Arc<Self> {
        extensions
            .get::<Arc<RequestContext>>()
            .cloned()
            .unwrap_or_else(|| Self::make(headers))
    }

    fn make(headers: &HeaderMap) -> Arc<Self> {
        let id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| usable_id(v))
            .map(str::to_owned)
            .unwrap_or_else(generate_id);
        Arc::new(RequestContext {
            id,
            route: Mutex::new(None),
            user: Mutex::new(None),
            client: Mutex::new(None),
        })
    }

    /// The route template a handler declared, if any.
    pub fn route(&self) -> Option<&'static str> {
        self.route.lock().ok().and_then(|r| *r)
    }

    /// The name of the user the request authenticated as.
    pub fn user(&self) -> Option<String> {
        self.user.lock().ok().and_then(|u| u.clone())
    }

    /// The client's address (the peer, or what a trusted proxy says).
    pub fn client(&self) -> Option<std::net::IpAddr> {
        self.client.lock().ok().and_then(|c| *c)
    }

    /// Records the client's address.
    pub fn set_client(&self, client: Option<std::net::IpAddr>) {
        if let Ok(mut c) = self.client.lock() {
            *c = client;
        }
    }
}

/// Printable ASCII without spaces or quotes, so an id can neither break a log line nor
/// inject into one.
fn usable_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_ID_LEN
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// 128 bits in hex, unpredictable enough to tell requests apart and unique within the
/// process. Drawn from a per-thread generator seeded once: a `getrandom` call per request
/// was one system call in three on the small-download path.
fn generate_id() -> String {
    thread_local! {
        static NEXT: std::cell::Cell<(u64, u64, u64)> = std::cell::Cell::new(seed());
    }
    let (hi, lo, n) = NEXT.with(|cell| {
        let (hi, lo, n) = cell.get();
        cell.set((hi, lo, n.wrapping_add(1)));
        (hi, lo, n)
    });
    // Both halves are bijections of the counter, so no id repeats on a thread; threads
    // differ by their random seeds.
    let id = (u128::from(mix(hi ^ n)) << 64) | u128::from(mix(lo.wrapping_add(n)));
    // Hex by hand: the formatting machinery was a visible share of a small download.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..32)
        .rev()
        .map(|i| char::from(HEX[((id >> (4 * i)) & 0xf) as usize]))
        .collect()
}

/// A thread's generator state: two random words and a counter.
fn seed() -> (u64, u64, u64) {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness, a process-wide counter still keeps threads apart.
        static THREADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let t = THREADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&t.to_be_bytes());
    }
    let (a, b) = bytes.split_at(8);
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
    (word(a), word(b), 0)
}

/// SplitMix64's finaliser: a bijection on 64-bit words that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

tokio::task_local! {
    static CURRENT: Arc<RequestContext>;
}

thread_local! {
    static ON_THIS_THREAD: RefCell<Option<Arc<RequestContext>>> = const { RefCell::new(None) };
}

/// Runs `fut` with `ctx` as the current request.
pub async fn scope<F: std::future::Future>(ctx: Arc<RequestContext>, fut: F) -> F::Output {
    CURRENT.scope(ctx, fut).await
}

/// The current request, on an async worker or on a blocking thread serving it.
pub fn current() -> Option<Arc<RequestContext>> {
    CURRENT
        .try_with(Arc::clone)
        .ok()
        .or_else(|| ON_THIS_THREAD.with(|c| c.borrow().clone()))
}

/// The current request's id, for log lines.
pub fn current_id() -> Option<String> {
    current().map(|c| c.id.clone())
}

/// Records the route template (`/api/packages/{owner}/generic/…`) of a request that a
/// dispatcher routed itself; metrics and the access log group by it.
pub fn set_route(template: &'static str) {
    if let Some(ctx) = current() {
        if let Ok(mut route) = ctx.route.lock() {
            *route = Some(template);
        }
    }
}

/// Records who the request authenticated as.
pub fn set_user(name: &str) {
    if let Some(ctx) = current() {
        if let Ok(mut user) = ctx.user.lock() {
            *user = Some(name.to_owned());
        }
    }
}

/// Wraps `f` so that, run on another thread, it sees the current request as its own.
pub fn carry<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let ctx = current();
    move || {
        // The use cases (the login limits) see the client's address too.
        let client = ctx.as_ref().and_then(|c| c.client());
        let previous = ON_THIS_THREAD.with(|c| c.replace(ctx));
        let result = packages_service::client_addr::with_client(client, f);
        ON_THIS_THREAD.with(|c| *c.borrow_mut() = previous);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn with_id(v: &str) -> String {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-request-id"),
            HeaderValue::from_str(v).unwrap(),
        );
        RequestContext::from_headers(&h).id.clone()
    }

    #[test]
    fn ids_are_taken_when_safe_and_generated_otherwise() {
        assert_eq!(with_id("abc-123"), "abc-123");
        for bad in ["", "a b", "x\"y", &"a".repeat(200)] {
            let id = with_id(bad);
            assert_eq!(id.len(), 32, "{bad:?} gave {id}");
        }
        assert_ne!(with_id(""), with_id(""));
    }

    #[test]
    fn generated_ids_do_not_repeat_within_or_across_threads() {
        let draw = || (0..20_000).map(|_| generate_id()).collect::<Vec<_>>();
        let here = draw();
        let there = std::thread::spawn(draw).join().unwrap();
        let mut all = std::collections::HashSet::new();
        for id in here.iter().chain(&there) {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert!(all.insert(id.clone()), "{id} repeated");
        }
        // Consecutive ids share no obvious pattern (not a bare counter).
        assert_ne!(here[0][..16], here[1][..16]);
    }

    #[tokio::test]
    async fn blocking_work_sees_the_request() {
        let ctx = RequestContext::from_headers(&HeaderMap::new());
        let id = ctx.id.clone();
        let seen = scope(ctx.clone(), async {
            set_user("alice");
            let f = carry(|| {
                set_route("/r");
                current_id()
            });
            std::thread::spawn(f).join().unwrap()
        })
        .await;
        assert_eq!(seen, Some(id));
        assert_eq!(ctx.user().as_deref(), Some("alice"));
        assert_eq!(ctx.route(), Some("/r"));
        assert!(current().is_none());
    }
}
