//! Every operation of the public API, by path and method.

use serde_json::json;

use super::*;

/// Every operation, by path and method.
pub(super) fn operations() -> Vec<(&'static str, &'static str, Op)> {
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
            "/api/v1/push/google/",
            "post",
            Op::new(
                "Push",
                "Google channel notifications (X-Goog-* headers, checked against the channel)",
                Open,
            )
            .extension()
            .ok(200, json!({}))
            .also(404, error("Unknown channel, wrong token or resource id."))
            .also(413, error("Body too large.")),
        ),
        (
            "/api/v1/push/microsoft/",
            "post",
            Op::new(
                "Push",
                "Graph change notifications, or the validation handshake (?validationToken=)",
                Open,
            )
            .extension()
            .params(vec![query(
                "validationToken",
                string(),
                "Graph's handshake: echoed as text/plain.",
            )])
            .also(200, text_plain("The validation token, URL-decoded."))
            .also(202, json!({ "description": "Accepted; no body." }))
            .also(
                400,
                error("Not a notification collection, or a too long token."),
            )
            .also(413, error("Body too large.")),
        ),
        (
            "/api/v1/push/microsoft/lifecycle/",
            "post",
            Op::new(
                "Push",
                "Graph lifecycle notifications, or the validation handshake (?validationToken=)",
                Open,
            )
            .extension()
            .params(vec![query(
                "validationToken",
                string(),
                "Graph's handshake: echoed as text/plain.",
            )])
            .also(200, text_plain("The validation token, URL-decoded."))
            .also(202, json!({ "description": "Accepted; no body." }))
            .also(
                400,
                error("Not a notification collection, or a too long token."),
            )
            .also(413, error("Body too large.")),
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
