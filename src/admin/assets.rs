//! Static assets (`static/`), embedded in the binary and served under `/static/...`.
//!
//! Pages link them as `/static/<file>?v=<content hash>`: a request naming the current hash
//! may be cached for a year (a new build changes the URL); any other request is answered
//! with an ETag and `no-cache`, so browsers revalidate with a cheap 304.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "static/"]
struct Assets;

/// Short content hash of an embedded file, used as its version.
fn version(path: &str) -> Option<String> {
    Assets::get(path).map(|f| crate::crypto::hex(&f.metadata.sha256_hash()[..8]))
}

/// The versioned URL of a file in `static/` (templates use this for every asset).
pub fn asset_url(path: &str) -> String {
    match version(path) {
        Some(v) => format!("/static/{path}?v={v}"),
        None => format!("/static/{path}"),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/static/{path:.*}")
            .route(web::get().to(serve))
            .route(web::head().to(serve))
            .default_service(web::to(crate::api::method_not_allowed)),
    );
}

#[derive(serde::Deserialize)]
struct VersionQuery {
    v: Option<String>,
}

async fn serve(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<VersionQuery>,
) -> HttpResponse {
    // The trailing-slash normaliser turned `/static/a.css` into `/static/a.css/`.
    let path = path.into_inner();
    let path = path.trim_end_matches('/');
    let Some(file) = Assets::get(path) else {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("not found");
    };
    let hash = crate::crypto::hex(&file.metadata.sha256_hash());
    let etag = format!("\"{}\"", &hash[..32]);
    let immutable = query.v.as_deref() == Some(&hash[..16]);
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, cache))
            .finish();
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let content_type = if mime.type_() == "text" || mime.subtype() == "javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(file.data.into_owned())
}
