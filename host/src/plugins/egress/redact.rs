//! Keeps an injected secret out of what the guest reads back.
//!
//! A service that echoes requests (a debugging endpoint, an error page quoting the request, a
//! `TRACE`-like handler) would hand the credential the host added straight back to the plugin.
//! So every response to a request that carried a credential passes through a [`Redactor`]
//! built from exactly the headers the host added: each **form** of each secret in them is
//! replaced by [`REDACTED`] in every response header value and in the body, which is scanned as
//! it streams (a tail as long as the longest form minus one byte is held back between chunks,
//! so a secret split across chunks is still found).
//!
//! The secrets of a header: its whole value; for `Authorization`, the credentials after the
//! scheme (the token of `Bearer`), and for `Basic` also the decoded `user:password` pair and the
//! password alone; for `Cookie`, each cookie's value. The forms of each secret: raw; Base64
//! (standard and URL-safe, padded or not, and the part of it that stays the same wherever the
//! secret sits inside a longer Base64 text); percent-encoded the ways common encoders do it
//! (everything but letters and digits, RFC 3986 unreserved kept, `encodeURIComponent`, form
//! encoding), with upper- or lower-case hex; and JSON-string-escaped (plain, with `\/`, with
//! `<>&` as `\u003c`-style escapes in either case, and both). Secrets shorter than
//! [`MIN_SECRET_LEN`] bytes are not scanned for: they would match ordinary text, and a secret
//! that short is no protection anyway.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE};
use http_body::{Body, Frame};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use zeroize::Zeroizing;

/// What each form of a secret is replaced by.
pub const REDACTED: &[u8] = b"[REDACTED]";

/// Secrets shorter than this (in bytes) are not redacted.
pub const MIN_SECRET_LEN: usize = 4;

/// RFC 3986 §2.3: unreserved characters stay, everything else is encoded (PHP
/// `rawurlencode`, Python `quote(safe="")`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// JavaScript's `encodeURIComponent`, which also keeps `!'()*`.
const URI_COMPONENT: &AsciiSet = &RFC3986
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*');

/// The secrets of the headers a request carried, collected before the response is redacted.
#[derive(Default, Clone)]
pub struct Secrets(Vec<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// Adds the secrets of injected headers.
    pub fn add_headers<'a>(
        &mut self,
        headers: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    ) {
        for (name, value) in headers {
            self.add_header(name, value.as_bytes());
        }
    }

    fn add_header(&mut self, name: &HeaderName, value: &[u8]) {
        self.add(value);
        if name == AUTHORIZATION {
            let Some(space) = value.iter().position(|b| *b == b' ') else {
                return;
            };
            let (scheme, rest) = (&value[..space], value[space..].trim_ascii());
            self.add(rest);
            if scheme.eq_ignore_ascii_case(b"basic") {
                if let Ok(pair) = base64::engine::general_purpose::STANDARD.decode(rest) {
                    let pair = Zeroizing::new(pair);
                    self.add(&pair);
                    if let Some(colon) = pair.iter().position(|b| *b == b':') {
                        self.add(&pair[colon + 1..]);
                    }
                }
            }
        } else if name == COOKIE {
            for cookie in value.split(|b| *b == b';') {
                if let Some(eq) = cookie.iter().position(|b| *b == b'=') {
                    self.add(cookie[eq + 1..].trim_ascii());
                }
            }
        }
    }

    fn add(&mut self, secret: &[u8]) {
        if secret.len() >= MIN_SECRET_LEN && !self.0.iter().any(|s| s.as_slice() == secret) {
            self.0.push(Zeroizing::new(secret.to_vec()));
        }
    }

    /// The redactor for every form of the collected secrets (`None`: nothing to redact).
    pub fn redactor(&self) -> Option<Redactor> {
        let mut forms: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for secret in &self.0 {
            for form in forms_of(secret) {
                if form.len() >= MIN_SECRET_LEN && !forms.iter().any(|f| **f == *form) {
                    forms.push(form);
                }
            }
        }
        let longest = forms.iter().map(|f| f.len()).max()?;
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(forms.iter().map(|f| f.as_slice()))
            .ok()?;
        Some(Redactor { matcher, longest })
    }
}

/// The redactor last built for a call, with the secrets it was built for.
///
/// Why: every request of a call (all the pages of a sync) carries the same credential, and
/// building the matcher of every form of it — an Aho-Corasick automaton of some forty
/// patterns — is most of what redaction costs: rebuilt per request it was 5 % of a JIRA sync's
/// CPU time in a profile (docs/PERFORMANCE.md). One slot, shared by the clones of a call's
/// policy: a renewed credential (other secrets) builds a new redactor and replaces it. The
/// secrets it holds are zeroed when the policy goes, as a request's own are.
#[derive(Default)]
pub struct RedactorCache {
    slot: Mutex<Option<(Secrets, Redactor)>>,
    /// Redactors built so far (what the cache saves is the rest).
    built: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for RedactorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedactorCache(<secrets>)")
    }
}

impl RedactorCache {
    /// A shared, empty cache.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The redactor for `secrets` (`None`: nothing to redact), built only when the cached one
    /// was built for other secrets.
    pub fn redactor(&self, secrets: &Secrets) -> Option<Redactor> {
        if secrets.0.is_empty() {
            return None;
        }
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, redactor)) = slot.as_ref() {
            let same = cached.0.len() == secrets.0.len()
                && cached.0.iter().zip(&secrets.0).all(|(a, b)| a[..] == b[..]);
            if same {
                return Some(redactor.clone());
            }
        }
        let redactor = secrets.redactor()?;
        self.built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *slot = Some((secrets.clone(), redactor.clone()));
        Some(redactor)
    }
}

/// Every form of `secret` the module documentation lists.
fn forms_of(secret: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut forms = vec![Zeroizing::new(secret.to_vec())];
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
    ] {
        forms.push(Zeroizing::new(engine.encode(secret).into_bytes()));
        forms.extend(base64_cores(engine, secret));
    }
    let percent = [
        percent_encoding::percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        percent_encoding::percent_encode(secret, RFC3986).to_string(),
        percent_encoding::percent_encode(secret, URI_COMPONENT).to_string(),
        url::form_urlencoded::byte_serialize(secret).collect::<String>(),
    ];
    for encoded in percent {
        let lower = lower_hex(&encoded);
        forms.push(Zeroizing::new(encoded.into_bytes()));
        forms.push(Zeroizing::new(lower.into_bytes()));
    }
    if let Ok(text) = std::str::from_utf8(secret) {
        if let Ok(quoted) = serde_json::to_string(text) {
            let escaped = &quoted[1..quoted.len() - 1];
            // Go escapes `<>&` as `\u003c`…, PHP as `\u003C`… and `/` as `\/`.
            for (lt, gt, amp) in [
                ("<", ">", "&"),
                ("\\u003c", "\\u003e", "\\u0026"),
                ("\\u003C", "\\u003E", "\\u0026"),
            ] {
                let html = escaped.replace('<', lt).replace('>', gt).replace('&', amp);
                forms.push(Zeroizing::new(html.replace('/', "\\/").into_bytes()));
                forms.push(Zeroizing::new(html.into_bytes()));
            }
        }
    }
    forms
}

/// The Base64 characters that encode `secret` and nothing else, for each of the three offsets
/// (modulo 3) it can have inside a longer encoded text: found whatever surrounds it.
fn base64_cores(engine: &base64::engine::GeneralPurpose, secret: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    (0..3usize)
        .map(|offset| {
            let mut shifted = Zeroizing::new(vec![0u8; offset]);
            shifted.extend_from_slice(secret);
            let encoded = Zeroizing::new(engine.encode(shifted.as_slice()).into_bytes());
            let unpadded = encoded.iter().take_while(|b| **b != b'=').count();
            // Leading characters that carry bits of the bytes before the secret, and a trailing
            // one that carries bits of the bytes after it.
            let skip = [0, 2, 3][offset];
            let end = if shifted.len() % 3 == 0 {
                unpadded
            } else {
                unpadded - 1
            };
            Zeroizing::new(encoded[skip.min(end)..end].to_vec())
        })
        .collect()
}

/// `%2F` → `%2f` in every escape of `encoded`.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut after_percent = 0;
    for c in encoded.chars() {
        if after_percent > 0 {
            out.push(c.to_ascii_lowercase());
            after_percent -= 1;
        } else {
            if c == '%' {
                after_percent = 2;
            }
            out.push(c);
        }
    }
    out
}

/// Finds and replaces every form of a set of secrets.
#[derive(Clone)]
pub struct Redactor {
    matcher: AhoCorasick,
    /// The longest form's length: a chunk's last `longest - 1` bytes may begin one.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(<secrets>)")
    }
}

impl Redactor {
    /// `input` with every form replaced, or `None` if it holds none.
    pub fn redact(&self, input: &[u8]) -> Option<Vec<u8>> {
        self.matcher.find(input)?;
        let mut pending = input.to_vec();
        Some(self.flush(&mut pending, true))
    }

    /// Replaces every form in the response's header values.
    pub fn headers(&self, headers: &mut http::HeaderMap) {
        for (_, value) in headers.iter_mut() {
            if let Some(clean) = self.redact(value.as_bytes()) {
                // The replacement is visible ASCII, so the value stays valid.
                if let Ok(clean) = HeaderValue::from_bytes(&clean) {
                    *value = clean;
                }
            }
        }
    }

    /// Takes what of `pending` can be decided now, with every form in it replaced; keeps the
    /// tail that could still be the start of a form, unless the stream has `ended`.
    fn flush(&self, pending: &mut Vec<u8>, ended: bool) -> Vec<u8> {
        let keep = if ended { 0 } else { self.longest - 1 };
        // A form starting before `cut` lies wholly inside `pending`: the match there is final.
        let cut = pending.len().saturating_sub(keep);
        let mut out = Vec::with_capacity(cut);
        let mut last = 0;
        for found in self.matcher.find_iter(pending.as_slice()) {
            if found.start() >= cut {
                break;
            }
            out.extend_from_slice(&pending[last..found.start()]);
            out.extend_from_slice(REDACTED);
            last = found.end();
        }
        let taken = cut.max(last);
        out.extend_from_slice(&pending[last..taken]);
        pending.drain(..taken);
        out
    }
}

/// A response body with every form of the request's secrets replaced, as it streams.
#[derive(Debug)]
pub struct RedactedBody<B> {
    inner: B,
    redactor: Redactor,
    pending: Vec<u8>,
    /// Trailers that arrived while data was still held back: sent after it.
    trailers: Option<http::HeaderMap>,
    done: bool,
}

impl<B> RedactedBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, redactor: Redactor) -> Self {
        Self {
            inner,
            redactor,
            pending: Vec::new(),
            trailers: None,
            done: false,
        }
    }
}

impl<B> Body for RedactedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                if let Some(trailers) = this.trailers.take() {
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.pending.extend_from_slice(&data);
                        let out = this.redactor.flush(&mut this.pending, false);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out.into()))));
                        }
                    }
                    Err(frame) => {
                        if let Ok(mut trailers) = frame.into_trailers() {
                            this.redactor.headers(&mut trailers);
                            this.trailers = Some(trailers);
                        }
                        this.done = true;
                        let out = this.redactor.flush(&mut this.pending, true);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(out.into()))));
                        }
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.redactor.flush(&mut this.pending, true);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out.into()))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn redactor(headers: &[(HeaderName, &str)]) -> Redactor {
        let mut secrets = Secrets::default();
        let headers: Vec<(HeaderName, HeaderValue)> = headers
            .iter()
            .map(|(n, v)| (n.clone(), HeaderValue::from_str(v).expect("value")))
            .collect();
        secrets.add_headers(headers.iter().map(|(n, v)| (n, v)));
        secrets.redactor().expect("something to redact")
    }

    fn clean(r: &Redactor, text: &str) -> String {
        String::from_utf8(r.redact(text.as_bytes()).unwrap_or_else(|| text.into())).expect("utf8")
    }

    #[test]
    fn a_call_builds_the_redactor_once_per_credential() {
        let secrets = |token: &str| {
            let mut s = Secrets::default();
            let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("value");
            s.add_headers([(&AUTHORIZATION, &value)]);
            s
        };
        let cache = RedactorCache::default();
        let built = || cache.built.load(std::sync::atomic::Ordering::Relaxed);
        let first = cache.redactor(&secrets("tok-first-123")).expect("redactor");
        let again = cache.redactor(&secrets("tok-first-123")).expect("redactor");
        assert_eq!(
            built(),
            1,
            "the second request reuses the first one's redactor"
        );
        assert_eq!(
            clean(&again, "a tok-first-123 b"),
            clean(&first, "a tok-first-123 b")
        );
        let renewed = cache
            .redactor(&secrets("tok-renewed-456"))
            .expect("redactor");
        assert_eq!(clean(&renewed, "x tok-renewed-456 y"), "x [REDACTED] y");
        assert_eq!(clean(&renewed, "tok-first-123"), "tok-first-123");
        assert_eq!(built(), 2, "a renewed credential gets its own");
        assert!(cache.redactor(&Secrets::default()).is_none());
    }

    #[test]
    fn every_form_of_a_basic_pair_is_replaced() {
        let pair = "alice:pa ss/w+rd&<x>";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
        let r = redactor(&[(AUTHORIZATION, &format!("Basic {b64}"))]);
        let password = "pa ss/w+rd&<x>";
        let echoed = [
            format!("Basic {b64}"),
            pair.to_owned(),
            password.to_owned(),
            base64::engine::general_purpose::STANDARD.encode(password),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(password),
            percent_encoding::percent_encode(password.as_bytes(), NON_ALPHANUMERIC).to_string(),
            lower_hex(&percent_encoding::percent_encode(password.as_bytes(), RFC3986).to_string()),
            url::form_urlencoded::byte_serialize(password.as_bytes()).collect(),
            serde_json::to_string(password).expect("json"),
            r#"pa ss\/w+rd\u0026\u003cx\u003e"#.to_owned(),
            // Inside a longer Base64 text, at each offset.
            base64::engine::general_purpose::STANDARD.encode(format!("{{\"auth\":\"{pair}\"}}")),
            base64::engine::general_purpose::STANDARD.encode(format!("x{pair}yz")),
            base64::engine::general_purpose::STANDARD.encode(format!("xy{pair}z")),
        ];
        for text in echoed {
            let out = clean(&r, &format!("before {text} after"));
            assert!(
                out.contains(std::str::from_utf8(REDACTED).expect("ascii")),
                "{text}: {out}"
            );
            for leak in [password, pair, &b64] {
                assert!(!out.contains(leak), "{text}: {out}");
            }
        }
        assert_eq!(
            clean(&r, "alice is fine"),
            "alice is fine",
            "the user name is not secret"
        );
    }

    #[test]
    fn short_secrets_and_unrelated_text_are_left_alone() {
        let r = redactor(&[(AUTHORIZATION, "Bearer tok-123456")]);
        assert_eq!(r.redact(b"nothing here"), None);
        let mut secrets = Secrets::default();
        let value = HeaderValue::from_static("abc");
        secrets.add_headers([(&http::header::COOKIE, &value)]);
        assert!(
            secrets.redactor().is_none(),
            "a 3-byte secret is not scanned for"
        );
    }

    #[test]
    fn cookies_are_redacted_value_by_value() {
        let r = redactor(&[(COOKIE, "JSESSIONID=abc123def; LtpaToken2=zzz999yyy")]);
        assert_eq!(clean(&r, "JSESSIONID=abc123def"), "JSESSIONID=[REDACTED]");
        assert_eq!(clean(&r, "t=zzz999yyy"), "t=[REDACTED]");
    }

    #[tokio::test]
    async fn a_secret_split_across_chunks_is_found() {
        let secret = "split-secret-0123456789";
        let r = redactor(&[(AUTHORIZATION, &format!("Bearer {secret}"))]);
        let text = format!("{{\"echo\": \"Bearer {secret}\", \"again\": \"{secret}\"}}");
        for size in 1..text.len() {
            let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = text
                .as_bytes()
                .chunks(size)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            let inner = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
            let body = RedactedBody::new(inner, r.clone());
            let out = body.collect().await.expect("body").to_bytes();
            let out = String::from_utf8_lossy(&out);
            assert_eq!(
                out, "{\"echo\": \"[REDACTED]\", \"again\": \"[REDACTED]\"}",
                "chunks of {size}"
            );
        }
    }
}
