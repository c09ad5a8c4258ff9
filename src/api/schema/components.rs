//! The shared schemas (`#/components/schemas/...`) the operations refer to.

use serde_json::json;

use super::*;

pub(super) fn components() -> Value {
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
            "Health": object(&["status"], json!({
                "status": string(),
                "database": string(),
                // `/readyz/` on 503: why.
                "reason": { "type": "string", "enum": ["database_file_changed", "write_failed"] },
            })),
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
