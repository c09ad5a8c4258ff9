//! Operator-client refusals (operations.md, "Keys, client credentials and long-running
//! operation"). When Google or Microsoft refuse a platform's OAuth client itself (expired
//! or wrong secret, deleted client), that is not the end users' fault: no V1 calendar is
//! disconnected for it. Instead the platform gets an alarm (admin overview), refreshes
//! with that client pause (one probe per [`PROBE_EVERY_MS`], each calendar backing off),
//! and they resume by themselves: saving a client reschedules the failed calendars at
//! once (`store::settings::set_platform_client`), and the first refresh that works with
//! it clears the alarm (`calendars::tokens`).
//!
//! V2 calendars carry the app's own client; a refusal there disconnects the calendar
//! with the provider's code, and the app `PATCH`es new credentials.

use crate::domain::Platform;
use crate::state::AppState;
use crate::store::platform_alarms::{self, PlatformAlarm};
use crate::store::settings as kv;

use super::tokens::TokenError;

/// While a platform's saved client is the refused one, one refresh probes it this often.
pub const PROBE_EVERY_MS: i64 = 30 * 60 * 1000;

/// Why a refresh with the platform's client `client_id` should not call the provider now:
/// that very client (same id, same save) was refused less than [`PROBE_EVERY_MS`] ago.
pub async fn paused(
    state: &AppState,
    platform: Platform,
    client_id: &str,
    now_ms: i64,
) -> Result<Option<String>, TokenError> {
    let name = platform.v1_name();
    let (alarm, client) = state
        .store
        .read(move |c| {
            Ok::<_, TokenError>((
                platform_alarms::get(c, name)?,
                kv::get_platform_client(c, name)?,
            ))
        })
        .await?;
    let (Some(alarm), Some(client)) = (alarm, client) else {
        return Ok(None);
    };
    let same_client = alarm.client_id == client_id && alarm.client_updated_at == client.updated_at;
    if !same_client || now_ms - alarm.last_at >= PROBE_EVERY_MS {
        return Ok(None);
    }
    Ok(Some(format!(
        "the {} OAuth client was refused ({}); refreshes wait for a working client secret",
        platform.display(),
        alarm.code
    )))
}

/// Records that the provider refused the platform's client `client_id`.
pub async fn raise(
    state: &AppState,
    platform: Platform,
    client_id: &str,
    code: &str,
    message: &str,
) -> Result<(), TokenError> {
    let now = state.now_ms();
    let name = platform.v1_name();
    let (client_id, code, message) = (client_id.to_string(), code.to_string(), message.to_string());
    let (is_new, code) = state
        .store
        .write(move |tx| {
            let client_updated_at = kv::get_platform_client(tx, name)?
                .filter(|c| c.client_id == client_id)
                .map(|c| c.updated_at)
                .unwrap_or(0);
            let alarm = PlatformAlarm {
                platform: name.to_string(),
                code: code.clone(),
                message,
                client_id,
                client_updated_at,
                first_at: now,
                last_at: now,
            };
            Ok::<_, TokenError>((platform_alarms::raise(tx, &alarm)?, code))
        })
        .await?;
    if is_new {
        tracing::error!(
            platform = name,
            code = %code,
            "the provider refused this platform's OAuth client; no calendar is disconnected \
             for it, refreshes pause until a working client secret is saved"
        );
    }
    Ok(())
}

/// The overview's sentence about an alarm.
pub fn describe(alarm: &PlatformAlarm, when: &str) -> String {
    let platform = Platform::from_v1(&alarm.platform)
        .map(Platform::display)
        .unwrap_or("The platform's");
    format!(
        "The {platform} OAuth client {} was refused at {when} ({}: {}). No calendar was \
         disconnected; refreshes are paused and resume by themselves once a working client \
         secret is saved on the Platforms page.",
        alarm.client_id, alarm.code, alarm.message
    )
}
