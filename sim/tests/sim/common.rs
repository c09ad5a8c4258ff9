//! Helpers shared by the simulator tests.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not json ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

async fn done(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Resp {
        status,
        headers,
        text,
    }
}

pub async fn post_form(url: &str, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Resp {
    let mut req = http().post(url).form(form);
    if let Some((u, p)) = basic {
        req = req.header(
            "Authorization",
            format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))),
        );
    }
    done(req.send().await.unwrap()).await
}

pub async fn get(url: &str, bearer: Option<&str>, headers: &[(&str, &str)]) -> Resp {
    let mut req = http().get(url);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    done(req.send().await.unwrap()).await
}

pub async fn post_json(url: &str, body: Value) -> Resp {
    done(http().post(url).json(&body).send().await.unwrap()).await
}

/// Query parameters of a redirect `Location`.
pub fn location_params(r: &Resp) -> Vec<(String, String)> {
    let loc = r.header("location").expect("location header");
    let u = url::Url::parse(&loc).unwrap();
    u.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn param(params: &[(String, String)], k: &str) -> Option<String> {
    params.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone())
}

/// Claims of a JWT-shaped token.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("jwt payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn pkce_pair() -> (String, String) {
    use sha2::{Digest, Sha256};
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
