//! A webhook receiver on 127.0.0.1:0 for tests: records every request and answers what the
//! test's script says (200 by default).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tokio::sync::{mpsc, watch};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Headers as `http` 1.x types, ready for `standardwebhooks::Webhook::verify`.
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
    pub fn id(&self) -> &str {
        self.header("webhook-id")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    /// Verifies the request with the independent Standard Webhooks implementation.
    pub fn verify(&self, secret: &str) -> Result<(), standardwebhooks::WebhookError> {
        standardwebhooks::Webhook::new(secret)
            .expect("secret decodes")
            .verify(&self.body, &self.headers)
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Wait this long before answering (e.g. to hold an attempt in flight).
    pub delay: Option<Duration>,
    /// Answer only once this gate is open (`true`): holds an attempt in flight until the
    /// test lets it go.
    pub hold: Option<watch::Receiver<bool>>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: None,
            hold: None,
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
    pub fn delay(mut self, d: Duration) -> Self {
        self.delay = Some(d);
        self
    }
    pub fn hold(mut self, gate: watch::Receiver<bool>) -> Self {
        self.hold = Some(gate);
        self
    }
}

/// Decides the answer from the request and how many times this `webhook-id` arrived at
/// this path before (0 on the first attempt).
pub type Script = dyn Fn(&Received, usize) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    seen: Mutex<HashMap<(String, String), usize>>,
    /// Requests being answered per (path, `data.calendar_id` of the body), and the most
    /// seen at once.
    running: Mutex<HashMap<(String, String), usize>>,
    most_at_once: Mutex<HashMap<(String, String), usize>>,
    tx: mpsc::UnboundedSender<Received>,
}

pub struct Receiver {
    pub base: String,
    rx: mpsc::UnboundedReceiver<Received>,
    shared: web::Data<Shared>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Receiver {
        Self::scripted(|_, _| Reply::status(200)).await
    }

    pub async fn scripted(
        script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = web::Data::new(Shared {
            script: Box::new(script),
            seen: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            most_at_once: Mutex::new(HashMap::new()),
            tx,
        });
        let kept = shared.clone();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        // Runs until the test's runtime ends.
        tokio::spawn(server);
        Receiver {
            base,
            rx,
            shared: kept,
        }
    }

    /// The most requests answered at once for one (path, `data.calendar_id`) pair, over
    /// the receiver's life (requests without a `calendar_id` are not counted).
    pub fn most_at_once_per_key(&self) -> usize {
        let most = self.shared.most_at_once.lock().unwrap();
        most.values().copied().max().unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The next request, waiting up to `within` (a generous bound, not a sleep).
    pub async fn next_within(&mut self, within: Duration) -> Received {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .expect("no webhook arrived in time")
            .expect("receiver closed")
    }

    /// Every request already received (after `deliver_due` returned, that is all of them:
    /// each is recorded before it is answered).
    pub fn drain(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            out.push(r);
        }
        out
    }
}

async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let mut headers = http::HeaderMap::new();
    for (name, value) in req.headers() {
        headers.append(
            http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    let received = Received {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers,
        body: body.to_vec(),
    };
    let count = {
        let mut seen = shared.seen.lock().unwrap();
        let n = seen
            .entry((received.path.clone(), received.id().to_string()))
            .or_insert(0);
        *n += 1;
        *n - 1
    };
    let group = serde_json::from_slice::<serde_json::Value>(&received.body)
        .ok()
        .and_then(|b| b["data"]["calendar_id"].as_str().map(str::to_string))
        .map(|key| (received.path.clone(), key));
    if let Some(g) = &group {
        let mut running = shared.running.lock().unwrap();
        let n = running.entry(g.clone()).or_insert(0);
        *n += 1;
        let mut most = shared.most_at_once.lock().unwrap();
        let m = most.entry(g.clone()).or_insert(0);
        *m = (*m).max(*n);
    }
    let reply = (shared.script)(&received, count);
    let _ = shared.tx.send(received);
    if let Some(d) = reply.delay {
        tokio::time::sleep(d).await;
    }
    if let Some(mut gate) = reply.hold.clone() {
        let _ = gate.wait_for(|open| *open).await;
    }
    if let Some(g) = &group {
        *shared.running.lock().unwrap().get_mut(g).expect("counted") -= 1;
    }
    let mut res = HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in &reply.headers {
        res.insert_header((k.as_str(), v.as_str()));
    }
    res.body(reply.body)
}
