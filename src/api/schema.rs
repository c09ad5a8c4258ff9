//! The OpenAPI 3.1 document of the whole public API (`GET /api/schema/`).
//!
//! Hand-kept beside the handlers, and kept honest two ways: `tests/api/schema.rs` checks
//! that every path made with `api::resource` is documented with exactly the methods it
//! answers (and nothing else is), and CI runs a property-based fuzzer (schemathesis) from
//! this document against a running server, failing on any 5xx or any response that does not
//! conform to it (status code, content type, body schema).

use serde_json::{json, Map, Value};

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

fn html(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "text/html": { "schema": { "type": "string" } } },
    })
}

/// Every operation, by path and method.
fn operations() -> Vec<(&'static str, &'static str, Op)> {
    use Auth::{CalendarToken as Tok, Key, None as Open};
    let cal_filters = vec![
        query("start_time_after", time(), "Meetings starting at or after."),
        query(
            "start_time_before",
            time(),
            "Meetings starting at or before.",
        ),
        query(
            "ical_uid",
            string(),
            "Case-sensitive prefix of the iCalendar UID.",
        ),
    ];
    let callback_params = vec![
        query("code", string(), "The provider's authorization code."),
        query("state", string(), "The JSON state of the authorize URL."),
        query("error", string(), "The provider's error."),
        query("error_description", string(), "The provider's error text."),
    ];
    let callback = |summary| {
        Op::new("Calendar V1", summary, Open)
            .params(callback_params.clone())
            .also(
                302,
                json!({
                    "description": "To `success_url` or `error_url` (with `error`, `error_description`).",
                    "headers": { "Location": { "schema": { "type": "string" } } },
                }),
            )
            .also(200, html("Connected (no `success_url`)."))
            .also(400, html("Not connected, with the reason."))
    };
    let event_filters = {
        let mut p = paging();
        p.extend([
            query("calendar_id", uuid(), ""),
            query("start_time__gte", time(), ""),
            query("start_time__lte", time(), ""),
            query("updated_at__gte", time(), "An exact change feed."),
            query("is_deleted", json!({ "type": "boolean" }), ""),
            query("ical_uid", string(), "Case-sensitive prefix."),
            query(
                "ordering",
                json!({ "type": "string", "enum": ["start_time", "updated_at"] }),
                "",
            ),
        ]);
        p
    };
    let calendar_filters = {
        let mut p = paging();
        p.extend([
            query(
                "platform",
                json!({ "type": "string", "enum": ["google_calendar", "microsoft_outlook"] }),
                "",
            ),
            query(
                "status",
                json!({ "type": "string", "enum": ["connecting", "connected", "disconnected"] }),
                "",
            ),
            query("email", string(), "platform_email or oauth_email."),
            query("created_at__gte", time(), ""),
        ]);
        p
    };
    let credential_filters = {
        let mut p = zoom_list_params();
        p.extend([
            query("oauth_app", uuid(), ""),
            query("account_id", string(), ""),
            query("user_id", string(), ""),
            query(
                "status",
                json!({ "type": "string", "enum": ["healthy", "unhealthy"] }),
                "",
            ),
            query("meeting_sync_status", reference("MeetingSyncStatus"), ""),
        ]);
        p
    };
    let token_or_error = |summary| {
        Op::new("Calendar V2", summary, Key)
            .ok(200, reference("AccessToken"))
            .also(
                400,
                json_response(
                    "No token can be had (`code`: bad_refresh_token, no_oauth_credentials, error).",
                    reference("TokenError"),
                ),
            )
    };
    let zoom_token = |summary| {
        Op::new("Zoom", summary, Key)
            .ok(200, reference("AccessToken"))
            .also(400, error("The credential is unhealthy or Zoom refused."))
            .also(503, unavailable())
    };
    let log_params = |owner: &str| {
        let mut p = zoom_list_params();
        p.push(query(owner, uuid(), ""));
        p
    };

    vec![
        (
            "/healthz/",
            "get",
            Op::new("Health", "Liveness", Open).ok(200, reference("Health")),
        ),
        (
            "/readyz/",
            "get",
            Op::new("Health", "Readiness (database open and writable)", Open)
                .ok(200, reference("Health"))
                .also(503, json_response("Not ready.", reference("Health"))),
        ),
        // ---------------------------------------------------------------- calendar V1
        (
            "/api/v1/calendar/authenticate/",
            "post",
            Op::new("Calendar V1", "Mint a calendar auth token for a user", Key)
                .body(object(&["user_id"], json!({ "user_id": string() })))
                .ok(200, object(&["token"], json!({ "token": string() }))),
        ),
        (
            "/api/v1/calendar/oauth_url/",
            "post",
            Op::new("Calendar V1", "The provider authorize URL for a user", Key)
                .body(object(
                    &["platform", "user_id"],
                    json!({
                        "platform": { "type": "string", "enum": ["google", "microsoft"] },
                        "user_id": string(),
                        "success_url": string(),
                        "error_url": string(),
                    }),
                ))
                .ok(200, object(&["url"], json!({ "url": string() })))
                .extension(),
        ),
        (
            "/api/v1/calendar/google_oauth_callback/",
            "get",
            callback("Google's OAuth redirect"),
        ),
        (
            "/api/v1/calendar/ms_oauth_callback/",
            "get",
            callback("Microsoft's OAuth redirect"),
        ),
        (
            "/api/v1/calendar/user/",
            "get",
            Op::new("Calendar V1", "The calendar user", Tok).ok(200, reference("CalendarUser")),
        ),
        (
            "/api/v1/calendar/user/",
            "put",
            Op::new("Calendar V1", "Update preferences (partial)", Tok)
                .body(reference("PreferencesUpdate"))
                .ok(200, reference("CalendarUser")),
        ),
        (
            "/api/v1/calendar/user/",
            "patch",
            Op::new("Calendar V1", "Update preferences (partial)", Tok)
                .body(reference("PreferencesUpdate"))
                .ok(200, reference("CalendarUser")),
        ),
        (
            "/api/v1/calendar/user/",
            "delete",
            Op::new(
                "Calendar V1",
                "Delete the user, connections, events, future bots",
                Tok,
            )
            .no_content(),
        ),
        (
            "/api/v1/calendar/user/disconnect/",
            "post",
            Op::new("Calendar V1", "Drop one platform's connection", Tok)
                .body(object(
                    &["platform"],
                    json!({ "platform": { "type": "string", "enum": ["google", "microsoft"] } }),
                ))
                .ok(200, reference("CalendarUser")),
        ),
        (
            "/api/v1/calendar/users/",
            "get",
            Op::new("Calendar V1", "All calendar users", Key)
                .params(paging())
                .ok(200, page_of("CalendarUser")),
        ),
        (
            "/api/v1/calendar/meetings/",
            "get",
            Op::new("Calendar V1", "The user's meetings (a plain array)", Tok)
                .params(cal_filters)
                .ok(
                    200,
                    json!({ "type": "array", "items": reference("CalendarMeeting") }),
                ),
        ),
        (
            "/api/v1/calendar/meetings/refresh/",
            "post",
            Op::new("Calendar V1", "Sync now, then the meetings", Tok).ok(
                200,
                json!({ "type": "array", "items": reference("CalendarMeeting") }),
            ),
        ),
        (
            "/api/v1/calendar/meetings/{id}/",
            "get",
            Op::new("Calendar V1", "One meeting", Tok).ok(200, reference("CalendarMeeting")),
        ),
        (
            "/api/v1/calendar/meetings/{id}/",
            "put",
            Op::new("Calendar V1", "Override the recording decision", Tok)
                .body(reference("MeetingOverride"))
                .ok(200, reference("CalendarMeeting")),
        ),
        (
            "/api/v1/calendar/meetings/{id}/",
            "patch",
            Op::new("Calendar V1", "Override the recording decision", Tok)
                .body(reference("MeetingOverride"))
                .ok(200, reference("CalendarMeeting")),
        ),
        // ---------------------------------------------------------------- webhooks
        (
            "/api/v1/webhook-secret/",
            "get",
            Op::new("Webhooks", "The workspace signing secret", Key).ok(200, reference("Secret")),
        ),
        (
            "/api/v1/webhook-endpoints/",
            "get",
            Op::new("Webhooks", "Webhook endpoints", Key)
                .params(paging())
                .ok(200, page_of("WebhookEndpoint")),
        ),
        (
            "/api/v1/webhook-endpoints/",
            "post",
            Op::new(
                "Webhooks",
                "Add an endpoint (its secret is shown here)",
                Key,
            )
            .body(object(
                &["url"],
                json!({
                    "url": string(),
                    "event_types": { "type": "array", "items": string() },
                    "description": string(),
                }),
            ))
            .ok(201, reference("WebhookEndpointWithSecret")),
        ),
        (
            "/api/v1/webhook-endpoints/{id}/",
            "get",
            Op::new("Webhooks", "One endpoint", Key).ok(200, reference("WebhookEndpoint")),
        ),
        (
            "/api/v1/webhook-endpoints/{id}/",
            "patch",
            Op::new("Webhooks", "Change an endpoint", Key)
                .body(object(
                    &[],
                    json!({
                        "url": string(),
                        "event_types": { "type": "array", "items": string() },
                        "description": string(),
                        "enabled": { "type": "boolean" },
                    }),
                ))
                .ok(200, reference("WebhookEndpoint")),
        ),
        (
            "/api/v1/webhook-endpoints/{id}/",
            "delete",
            Op::new("Webhooks", "Remove an endpoint", Key).no_content(),
        ),
        (
            "/api/v1/webhook-endpoints/{id}/secret/",
            "get",
            Op::new("Webhooks", "An endpoint's secret", Key).ok(200, reference("Secret")),
        ),
        (
            "/api/v1/webhook-endpoints/{id}/rotate-secret/",
            "post",
            Op::new(
                "Webhooks",
                "New secret (the old one signs too for 24 h)",
                Key,
            )
            .ok(200, reference("Secret")),
        ),
        // ---------------------------------------------------------------- calendar V2
        (
            "/api/v2/calendars/",
            "get",
            Op::new("Calendar V2", "Calendars", Key)
                .params(calendar_filters)
                .ok(200, page_of("Calendar")),
        ),
        (
            "/api/v2/calendars/",
            "post",
            Op::new("Calendar V2", "Create a calendar from a refresh token", Key)
                .body(reference("CalendarCreate"))
                .ok(201, reference("Calendar")),
        ),
        (
            "/api/v2/calendars/{id}/",
            "get",
            Op::new("Calendar V2", "One calendar", Key).ok(200, reference("Calendar")),
        ),
        (
            "/api/v2/calendars/{id}/",
            "patch",
            Op::new(
                "Calendar V2",
                "Update (e.g. a new refresh token); reconnects",
                Key,
            )
            .body(reference("CalendarUpdate"))
            .ok(200, reference("Calendar")),
        ),
        (
            "/api/v2/calendars/{id}/",
            "delete",
            Op::new("Calendar V2", "Delete with its events and future bots", Key).no_content(),
        ),
        (
            "/api/v2/calendars/{id}/access-token/",
            "post",
            token_or_error("A fresh provider access token"),
        ),
        (
            "/api/v2/calendar-accounts/{id}/",
            "get",
            Op::new("Calendar V2", "A V1 connection (calendar account)", Key)
                .ok(200, reference("CalendarAccount")),
        ),
        (
            "/api/v2/calendar-accounts/{id}/access_token/",
            "get",
            token_or_error("A fresh provider access token of a V1 connection"),
        ),
        (
            "/api/v2/calendar-events/",
            "get",
            Op::new(
                "Calendar V2",
                "Events (deleted included unless is_deleted=false)",
                Key,
            )
            .params(event_filters)
            .ok(200, page_of("CalendarEvent")),
        ),
        (
            "/api/v2/calendar-events/{id}/",
            "get",
            Op::new("Calendar V2", "One event", Key).ok(200, reference("CalendarEvent")),
        ),
        (
            "/api/v2/calendar-events/{id}/bot/",
            "post",
            Op::new("Calendar V2", "Schedule a bot (deduplicated by key)", Key)
                .body(object(
                    &["deduplication_key", "bot_config"],
                    json!({
                        "deduplication_key": string(),
                        "bot_config": { "type": "object" },
                    }),
                ))
                .ok(200, reference("CalendarEvent"))
                .also(409, error("A concurrent change of the same bot.")),
        ),
        (
            "/api/v2/calendar-events/{id}/bot/",
            "delete",
            Op::new("Calendar V2", "Unschedule (idempotent)", Key)
                .ok(200, reference("CalendarEvent"))
                .also(409, error("A concurrent change of the same bot.")),
        ),
        // ---------------------------------------------------------------- zoom
        (
            "/api/v2/zoom-oauth-apps/",
            "get",
            Op::new("Zoom", "Zoom OAuth apps", Key)
                .params(zoom_list_params())
                .ok(200, page_of("ZoomApp")),
        ),
        (
            "/api/v2/zoom-oauth-apps/",
            "post",
            Op::new("Zoom", "Add a Zoom OAuth app", Key)
                .body(object(
                    &["kind", "client_id", "client_secret"],
                    json!({
                        "kind": { "type": "string", "enum": ["user_level", "account_level"] },
                        "client_id": string(),
                        "client_secret": string(),
                        "webhook_secret": string(),
                    }),
                ))
                .ok(201, reference("ZoomApp")),
        ),
        (
            "/api/v2/zoom-oauth-apps/{id}/",
            "get",
            Op::new("Zoom", "One app", Key).ok(200, reference("ZoomApp")),
        ),
        (
            "/api/v2/zoom-oauth-apps/{id}/",
            "delete",
            Op::new("Zoom", "Delete an app without credentials", Key)
                .no_content()
                .also(400, error("Credentials still use the app.")),
        ),
        (
            "/api/v2/zoom-oauth-apps/{id}/webhook/",
            "post",
            Op::new(
                "Zoom",
                "Zoom's event notifications (signed with the webhook secret)",
                Open,
            )
            .body(json!({ "type": "object" }))
            .ok(200, json!({ "type": "object" }))
            .also(401, error("Missing, stale or invalid x-zm-signature.")),
        ),
        (
            "/api/v2/zoom-oauth-credentials/",
            "get",
            Op::new("Zoom", "Zoom OAuth credentials", Key)
                .params(credential_filters)
                .ok(200, page_of("ZoomCredential")),
        ),
        (
            "/api/v2/zoom-oauth-credentials/",
            "post",
            Op::new(
                "Zoom",
                "Create from an authorization code or a token callback",
                Key,
            )
            .body(reference("ZoomCredentialCreate"))
            .ok(201, reference("ZoomCredential"))
            .also(503, unavailable()),
        ),
        (
            "/api/v2/zoom-oauth-credentials/{id}/",
            "get",
            Op::new("Zoom", "One credential", Key).ok(200, reference("ZoomCredential")),
        ),
        (
            "/api/v2/zoom-oauth-credentials/{id}/",
            "delete",
            Op::new("Zoom", "Delete a credential", Key).no_content(),
        ),
        (
            "/api/v2/zoom-oauth-credentials/{id}/access-token/",
            "get",
            zoom_token("A fresh Zoom access token"),
        ),
        (
            "/api/v2/zoom-oauth-credentials/{id}/validate/",
            "post",
            Op::new("Zoom", "Refresh now; healthy or unhealthy", Key)
                .ok(200, reference("ZoomCredential"))
                .also(
                    400,
                    error("Zoom refused for a reason that is not the credential's."),
                )
                .also(503, unavailable()),
        ),
        (
            "/api/v2/zoom-oauth-credentials/{id}/sync-meetings/",
            "post",
            Op::new("Zoom", "Start a meeting sync now", Key)
                .ok(200, reference("ZoomCredential"))
                .also(400, error("The credential is unhealthy.")),
        ),
        (
            "/api/v2/zoom-meetings-to-credentials/",
            "get",
            Op::new("Zoom", "Which credential knows which meeting", Key)
                .params({
                    let mut p = paging();
                    p.extend([
                        query("credential", uuid(), ""),
                        query("meeting_id", json!({ "type": "integer", "minimum": 1 }), ""),
                        query("synced_at_after", time(), ""),
                        query("synced_at_before", time(), ""),
                    ]);
                    p
                })
                .ok(200, page_of("ZoomMeetingLink")),
        ),
        (
            "/api/v2/zoom-meetings/{meeting_id}/tokens/",
            "get",
            Op::new(
                "Zoom",
                "A ZAK, on-behalf-of or local-recording token for a bot",
                Key,
            )
            .params(vec![
                json!({ "name": "kind", "in": "query", "required": true,
                            "schema": { "type": "string",
                                        "enum": ["zak", "obf", "local_recording"] } }),
                query(
                    "credential",
                    uuid(),
                    "Use this credential instead of the meeting's.",
                ),
            ])
            .ok(200, reference("MeetingToken"))
            .also(
                400,
                error("Bad parameters, or Zoom refused (with the scope to add)."),
            )
            .also(503, unavailable())
            .extension(),
        ),
        (
            "/api/v2/zoom-oauth-app-logs/",
            "get",
            Op::new("Zoom", "What happened to the apps", Key)
                .params(log_params("oauth_app"))
                .ok(200, page_of("ZoomAppLog")),
        ),
        (
            "/api/v2/zoom-oauth-credential-logs/",
            "get",
            Op::new("Zoom", "What happened to the credentials", Key)
                .params(log_params("credential"))
                .ok(200, page_of("ZoomCredentialLog")),
        ),
    ]
}

fn components() -> Value {
    let preferences = object(
        &[],
        json!({
            "record_non_host": { "type": "boolean" },
            "record_recurring": { "type": "boolean" },
            "record_external": { "type": "boolean" },
            "record_internal": { "type": "boolean" },
            "record_confirmed": { "type": "boolean" },
            "record_only_host": { "type": "boolean" },
            "bot_name": { "type": "string", "minLength": 1, "maxLength": 100 },
        }),
    );
    let calendar_write = json!({
        "platform": { "type": "string", "enum": ["google_calendar", "microsoft_outlook"] },
        "oauth_client_id": string(),
        "oauth_client_secret": string(),
        "oauth_refresh_token": string(),
        "oauth_email": nullable("string"),
        "webhook_url": nullable("string"),
    });
    let log = |owner: &str| {
        object(
            &["id", owner, "level", "message", "created_at"],
            json!({
                "id": uuid(),
                owner: uuid(),
                "level": { "type": "string", "enum": ["info", "warning", "error"] },
                "message": string(),
                "created_at": time(),
            }),
        )
    };
    json!({
        "securitySchemes": {
            "ApiKey": { "type": "apiKey", "in": "header", "name": "Authorization",
                        "description": "`Token <api key>`" },
            "CalendarAuthToken": { "type": "apiKey", "in": "header",
                                   "name": "x-recallcalendarauthtoken" },
        },
        "schemas": {
            "Error": {
                "type": "object",
                "description": "`{\"detail\": ...}` or `{\"<field>\": [\"<message>\"]}`.",
            },
            "Health": object(&["status"], json!({ "status": string(), "database": string() })),
            "Secret": object(&["secret"], json!({ "secret": string() })),
            "AccessToken": object(&["token", "expires_at"],
                json!({ "token": string(), "expires_at": time() })),
            "TokenError": object(&["code", "message"], json!({
                "code": { "type": "string",
                          "enum": ["bad_refresh_token", "no_oauth_credentials", "error"] },
                "message": string(),
            })),
            "Preferences": preferences,
            "PreferencesUpdate": object(&[], json!({ "preferences": reference("Preferences") })),
            "CalendarUser": object(&["id", "external_id", "connections", "preferences"], json!({
                "id": uuid(),
                "external_id": string(),
                "connections": { "type": "array", "items": object(
                    &["platform", "connected", "email", "id"],
                    json!({
                        "platform": { "type": "string", "enum": ["google", "microsoft"] },
                        "connected": { "type": "boolean" },
                        "email": nullable("string"),
                        "id": uuid(),
                    })) },
                "preferences": reference("Preferences"),
            })),
            "MeetingOverride": object(&["override_should_record"], json!({
                "override_should_record": nullable("boolean"),
            })),
            "CalendarMeeting": object(
                &["id", "title", "start_time", "end_time", "platform", "platform_id",
                  "ical_uid", "meeting_platform", "meeting_url", "calendar_platform",
                  "organizer_email", "attendees", "attendee_emails", "visibility",
                  "is_external", "is_hosted_by_me", "is_recurring", "override_should_record",
                  "will_record", "will_record_reason", "bot_id"],
                json!({
                    "id": uuid(),
                    "title": nullable("string"),
                    "start_time": time(),
                    "end_time": time(),
                    "platform": { "type": "string", "enum": ["google", "microsoft"] },
                    "platform_id": string(),
                    "ical_uid": nullable("string"),
                    "meeting_platform": nullable("string"),
                    "meeting_url": nullable("string"),
                    "calendar_platform": { "type": "string", "enum": ["google", "microsoft"] },
                    "organizer_email": nullable("string"),
                    "attendees": { "type": "array", "items": object(
                        &["email", "is_organizer", "status"],
                        json!({
                            "name": nullable("string"),
                            "email": string(),
                            "is_organizer": { "type": "boolean" },
                            "status": { "type": "string",
                                        "enum": ["accepted", "declined", "tentative", "not_available"] },
                        })) },
                    "attendee_emails": { "type": "array", "items": string() },
                    "visibility": { "type": ["string", "null"],
                                    "enum": ["default", "public", "private", "confidential", null] },
                    "is_external": { "type": "boolean" },
                    "is_hosted_by_me": { "type": "boolean" },
                    "is_recurring": { "type": "boolean" },
                    "override_should_record": nullable("boolean"),
                    "will_record": { "type": "boolean" },
                    "will_record_reason": string(),
                    "bot_id": nullable("string"),
                    "zoom_invite": {}, "teams_invite": {}, "meet_invite": {}, "webex_invite": {},
                })),
            "CalendarCreate": object(
                &["platform", "oauth_client_id", "oauth_client_secret", "oauth_refresh_token"],
                calendar_write.clone()),
            "CalendarUpdate": object(&[], calendar_write),
            "Calendar": object(
                &["id", "platform", "oauth_client_id", "oauth_email", "platform_email",
                  "status", "status_changes", "webhook_url", "created_at", "updated_at"],
                json!({
                    "id": uuid(),
                    "platform": { "type": "string",
                                  "enum": ["google_calendar", "microsoft_outlook"] },
                    "oauth_client_id": nullable("string"),
                    "oauth_email": nullable("string"),
                    "platform_email": nullable("string"),
                    "status": { "type": "string",
                                "enum": ["connecting", "connected", "disconnected"] },
                    "status_changes": { "type": "array", "items": object(
                        &["status", "created_at"],
                        json!({
                            "status": string(),
                            "created_at": time(),
                            "error": object(&["code", "message"],
                                json!({ "code": string(), "message": string() })),
                        })) },
                    "webhook_url": nullable("string"),
                    "created_at": time(),
                    "updated_at": time(),
                })),
            "CalendarAccount": object(&["id", "platform", "email"], json!({
                "id": uuid(),
                "platform": { "type": "string", "enum": ["google", "microsoft"] },
                "email": nullable("string"),
            })),
            "CalendarEvent": object(
                &["id", "calendar_id", "platform", "platform_id", "ical_uid", "start_time",
                  "end_time", "meeting_platform", "meeting_url", "is_deleted", "raw", "bots",
                  "created_at", "updated_at"],
                json!({
                    "id": uuid(),
                    "calendar_id": uuid(),
                    "platform": { "type": "string",
                                  "enum": ["google_calendar", "microsoft_outlook"] },
                    "platform_id": string(),
                    "ical_uid": nullable("string"),
                    "start_time": time(),
                    "end_time": time(),
                    "meeting_platform": nullable("string"),
                    "meeting_url": nullable("string"),
                    "is_deleted": { "type": "boolean" },
                    "raw": { "description": "The provider's event JSON, unchanged." },
                    "bots": { "type": "array", "items": object(
                        &["bot_id", "start_time", "deduplication_key", "meeting_url"],
                        json!({
                            "bot_id": string(),
                            "start_time": time(),
                            "deduplication_key": string(),
                            "meeting_url": nullable("string"),
                        })) },
                    "created_at": time(),
                    "updated_at": time(),
                })),
            "WebhookEndpoint": object(
                &["id", "url", "event_types", "description", "enabled", "created_at"],
                json!({
                    "id": uuid(),
                    "url": string(),
                    "event_types": { "type": "array", "items": string() },
                    "description": nullable("string"),
                    "enabled": { "type": "boolean" },
                    "created_at": time(),
                })),
            "WebhookEndpointWithSecret": {
                "allOf": [ reference("WebhookEndpoint"),
                           object(&["secret"], json!({ "secret": string() })) ],
            },
            "ZoomApp": object(
                &["id", "kind", "client_id", "created_at", "webhook_last_validation"],
                json!({
                    "id": uuid(),
                    "kind": { "type": "string", "enum": ["user_level", "account_level"] },
                    "client_id": string(),
                    "created_at": time(),
                    "webhook_last_validation": { "type": ["string", "null"],
                                                 "format": "date-time" },
                })),
            "MeetingSyncStatus": { "type": "string",
                "enum": ["not_started", "in_progress", "completed", "failed"] },
            "ZoomCredential": object(
                &["id", "oauth_app", "user_id", "account_id", "status", "meeting_sync_status",
                  "created_at", "access_token_callback_url"],
                json!({
                    "id": uuid(),
                    "oauth_app": uuid(),
                    "user_id": string(),
                    "account_id": string(),
                    "status": { "type": "string", "enum": ["healthy", "unhealthy"] },
                    "meeting_sync_status": reference("MeetingSyncStatus"),
                    "created_at": time(),
                    "access_token_callback_url": {
                        "type": ["string", "null"],
                        "description": "Customer-managed credentials: the callback URL, its \
                                        query (usually a secret) shown as `…`.",
                    },
                })),
            "ZoomCredentialCreate": {
                "type": "object",
                "required": ["oauth_app"],
                "properties": {
                    "oauth_app": uuid(),
                    "authorization_code": object(&["code", "redirect_uri"], json!({
                        "code": string(),
                        "redirect_uri": string(),
                        "code_verifier": string(),
                    })),
                    "access_token_callback_url": string(),
                },
                "description": "Exactly one of `authorization_code` and \
                                `access_token_callback_url`.",
            },
            "ZoomMeetingLink": object(&["meeting_id", "credential", "synced_at"], json!({
                "meeting_id": { "type": "integer" },
                "credential": uuid(),
                "synced_at": time(),
            })),
            "MeetingToken": object(
                &["kind", "token", "credential", "meeting_id", "expires_at"],
                json!({
                    "kind": { "type": "string", "enum": ["zak", "obf", "local_recording"] },
                    "token": string(),
                    "credential": uuid(),
                    "meeting_id": { "type": "integer" },
                    "expires_at": { "type": ["string", "null"], "format": "date-time" },
                })),
            "ZoomAppLog": log("oauth_app"),
            "ZoomCredentialLog": log("credential"),
        },
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
