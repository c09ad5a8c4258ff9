//! The OpenAPI 3.1 document of the whole public API (`GET /api/schema/`).
//!
//! Hand-kept beside the handlers, and kept honest two ways: `tests/api/schema.rs` checks
//! that every path made with `api::resource` is documented with exactly the methods it
//! answers (and nothing else is), and CI runs a property-based fuzzer (schemathesis) from
//! this document against a running server, failing on any 5xx or any response that does not
//! conform to it (status code, content type, body schema).

mod components;
mod operations;

use serde_json::{json, Map, Value};

use components::components;
use operations::operations;

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Key,
    CalendarToken,
    None,
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

fn page_of(item: &str) -> Value {
    object(
        &["next", "previous", "results"],
        json!({
            "next": nullable("string"),
            "previous": nullable("string"),
            "results": { "type": "array", "items": reference(item) },
        }),
    )
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema } },
    })
}

fn error(description: &str) -> Value {
    json_response(description, reference("Error"))
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema,
            "description": description })
}

fn path_param(name: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema })
}

fn paging() -> Vec<Value> {
    vec![
        query(
            "cursor",
            string(),
            "Opaque cursor from a `next`/`previous` link.",
        ),
        query(
            "page_size",
            json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
            "Rows per page (default 100).",
        ),
    ]
}

fn zoom_list_params() -> Vec<Value> {
    let mut p = paging();
    p.push(query("created_at_after", time(), "Created at or after."));
    p.push(query("created_at_before", time(), "Created at or before."));
    p.push(query(
        "ordering",
        json!({ "type": "string", "enum": ["created_at", "-created_at"] }),
        "Default `-created_at` (newest first).",
    ));
    p
}

/// One operation. `ok` is (status, response); the error answers follow from the rest.
struct Op {
    summary: &'static str,
    tag: &'static str,
    auth: Auth,
    params: Vec<Value>,
    body: Option<Value>,
    ok: Vec<(u16, Value)>,
    extra: Vec<(u16, Value)>,
    extension: bool,
}

impl Op {
    fn new(tag: &'static str, summary: &'static str, auth: Auth) -> Self {
        Op {
            summary,
            tag,
            auth,
            params: Vec::new(),
            body: None,
            ok: Vec::new(),
            extra: Vec::new(),
            extension: false,
        }
    }
    fn params(mut self, p: Vec<Value>) -> Self {
        self.params.extend(p);
        self
    }
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }
    fn ok(mut self, status: u16, schema: Value) -> Self {
        self.ok.push((status, json_response("Success", schema)));
        self
    }
    fn no_content(mut self) -> Self {
        self.ok
            .push((204, json!({ "description": "Done; no body." })));
        self
    }
    fn also(mut self, status: u16, response: Value) -> Self {
        self.extra.push((status, response));
        self
    }
    fn extension(mut self) -> Self {
        self.extension = true;
        self
    }

    fn build(self, path: &str) -> Value {
        let mut params = self.params;
        let path_params: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for name in &path_params {
            let schema = if *name == "meeting_id" {
                json!({ "type": "integer", "minimum": 1 })
            } else {
                uuid()
            };
            params.insert(0, path_param(name, schema));
        }
        let mut responses = Map::new();
        for (status, r) in self.ok.into_iter().chain(self.extra) {
            responses.insert(status.to_string(), r);
        }
        let mut add = |status: u16, text: &str| {
            responses
                .entry(status.to_string())
                .or_insert_with(|| error(text));
        };
        if self.body.is_some() {
            add(400, "Invalid body (field errors or `detail`).");
            add(413, "Body too large.");
            add(415, "Not `application/json`.");
        }
        if params.iter().any(|p| p["in"] == "query") {
            add(400, "A bad value of a known query parameter.");
        }
        match self.auth {
            Auth::Key => add(401, "Missing or invalid API key."),
            Auth::CalendarToken => add(401, "Missing, forged or expired calendar auth token."),
            Auth::None => {}
        }
        if !path_params.is_empty() {
            add(404, "No such resource.");
        }
        let mut op = json!({
            "summary": self.summary,
            "tags": [self.tag],
            "parameters": params,
            "responses": responses,
        });
        op["security"] = match self.auth {
            Auth::Key => json!([{ "ApiKey": [] }]),
            Auth::CalendarToken => json!([{ "CalendarAuthToken": [] }]),
            Auth::None => json!([]),
        };
        if let Some(schema) = self.body {
            op["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema } },
            });
        }
        if self.extension {
            op["x-convene-extension"] = json!(true);
            op["description"] = json!("Convene extension: not part of the hosted API.");
        }
        op
    }
}

fn unavailable() -> Value {
    json!({
        "description": "The provider could not be asked right now; retry later.",
        "headers": { "Retry-After": { "schema": { "type": "string" } } },
        "content": { "application/json": { "schema": reference("Error") } },
    })
}

fn text_plain(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/plain": { "schema": { "type": "string" } } },
    })
}

fn html(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/html": { "schema": { "type": "string" } } },
    })
}

/// The whole document; `server` is the public base URL.
pub fn document(server: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (path, method, op) in operations() {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op.build(path);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Convene API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Calendars (V1 hosted OAuth, V2), webhooks, managed bot scheduling \
                            and Zoom OAuth, wire-compatible with the hosted meeting-bot API. \
                            Operations marked `x-convene-extension` are Convene's own.",
        },
        "servers": [{ "url": server }],
        "paths": paths,
        "components": components(),
    })
}

/// `(path, METHOD)` of every documented operation.
pub fn documented_operations() -> Vec<(String, String)> {
    operations()
        .into_iter()
        .map(|(p, m, _)| (p.to_string(), m.to_uppercase()))
        .collect()
}
