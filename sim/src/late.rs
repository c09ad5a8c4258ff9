//! Faults that strike after the provider did its work: the answer is lost, the connection
//! breaks mid-body, the body is unreadable, or the answer is held until the test lets it go.
//! These are what make a client that blindly re-sends a refresh lose the rotated token.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{self, BodySize, MessageBody};
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use tokio::sync::Notify;

use crate::model::Fault;
use crate::server::{lock, Data};

/// Where held answers wait: `arrived` is signalled once per held request, `release` lets
/// one held request go (a release before the arrival is remembered).
#[derive(Default)]
pub(crate) struct Gate {
    pub arrived: Notify,
    pub release: Notify,
}

/// Signals the arrival and waits for the test's release.
pub(crate) async fn hold(data: &Data) {
    let gate = lock(data).gate.clone();
    gate.arrived.notify_one();
    gate.release.notified().await;
}

/// Applies an after-handling fault to the answer the provider computed.
pub(crate) async fn finish(data: &Data, fault: Option<Fault>, resp: HttpResponse) -> HttpResponse {
    match fault {
        Some(Fault::HoldAnswer) => {
            hold(data).await;
            resp
        }
        Some(Fault::AnswerLost) => lost(),
        Some(Fault::ResetMidBody) => {
            let (status, bytes) = parts(resp).await;
            broken(status, bytes)
        }
        Some(Fault::UnreadableOk) => {
            let (_, bytes) = parts(resp).await;
            cut(&bytes)
        }
        _ => resp,
    }
}

async fn parts(resp: HttpResponse) -> (actix_web::http::StatusCode, Bytes) {
    let status = resp.status();
    let bytes = body::to_bytes(resp.into_body())
        .await
        .unwrap_or_else(|_| Bytes::new());
    (status, bytes)
}

/// `200` with the first half of `bytes` (or of a generic JSON body when empty).
pub(crate) fn cut(bytes: &[u8]) -> HttpResponse {
    let half = if bytes.is_empty() {
        Bytes::from_static(b"{\"access_token\": \"")
    } else {
        Bytes::copy_from_slice(&bytes[..bytes.len() / 2])
    };
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(half)
}

/// No answer at all: the body fails before the head is flushed, so actix drops the
/// connection without writing a byte.
pub(crate) fn lost() -> HttpResponse {
    HttpResponse::Ok().body(Broken {
        first: None,
        declared: 64,
        pause: None,
    })
}

/// The status line, headers and half the body go out; then the connection breaks.
pub(crate) fn broken(status: actix_web::http::StatusCode, bytes: Bytes) -> HttpResponse {
    let bytes = if bytes.is_empty() {
        Bytes::from_static(b"{\"access_token\": \"half an answer\"}")
    } else {
        bytes
    };
    let declared = bytes.len() as u64;
    let first = bytes.slice(..bytes.len() / 2);
    let mut resp = HttpResponse::build(status).body(Broken {
        first: Some(first),
        declared,
        // Pending once, so the dispatcher flushes what was written before the failure.
        pause: Some(Box::pin(tokio::time::sleep(
            std::time::Duration::from_millis(20),
        ))),
    });
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// A body that yields `first` (if any), waits for `pause` (if any), then fails.
struct Broken {
    first: Option<Bytes>,
    declared: u64,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl MessageBody for Broken {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.declared)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if let Some(pause) = this.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "convene-sim: connection broken on purpose",
        ))))
    }
}
