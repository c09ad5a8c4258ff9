//! `GET /api/schema/` (the OpenAPI 3.1 document, `api/schema/`) and `GET /api/docs/` (a
//! browsable page of it: one self-contained HTML file with its script inline, no CDN).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

const DOCS_PAGE: &str = include_str!("docs.html");

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Not `api::resource`: these describe the API rather than belong to it.
    cfg.service(
        web::resource("/api/schema/")
            .route(web::get().to(schema))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/api/docs/")
            .route(web::get().to(docs))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn schema(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(super::schema::document(&state.settings.public_base()))
}

async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(DOCS_PAGE)
}
