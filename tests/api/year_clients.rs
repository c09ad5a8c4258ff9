//! Issue 13, item 1: a refusal of the operator's OAuth client (expired Azure secret,
//! deleted Google client) disconnects no calendar; the overview shows a platform alarm,
//! refreshes pause, and they resume by themselves once a working secret is saved.

use std::time::Duration;

use convene::domain::CalendarStatus;
use convene_sim::{Endpoint, Provider};
use serde_json::Value;

use crate::admin::{logged_in, try_login, PASSWORD};
use crate::admin_webhooks::{csrf, page, post_form};
use crate::calendar_support::*;
use crate::helpers::TestApp;

async fn connection(app: &TestApp) -> convene::store::calendars::Calendar {
    let rows = app
        .state
        .store
        .read(|c| {
            let u = convene::store::calendar_users::find_by_external_id(c, "user-1")?.unwrap();
            convene::store::calendars::v1_for_user(c, &u.id)
        })
        .await
        .unwrap();
    rows.into_iter().next().unwrap()
}

#[tokio::test]
async fn a_refused_operator_client_disconnects_nobody_and_resumes_with_a_new_secret() {
    let app = spawn_calendar_app().await;
    let admin = logged_in(&app).await;
    ms_account(&app, "bob@contoso.test").await;
    let res = connect_v1(&app, "microsoft", "user-1", None, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(connection(&app).await.status, CalendarStatus::Connected);
    let user_hooks = webhooks(&app, "calendar_user.update").await.len();

    // Month 24: the Azure client secret expires. The daily refresh is refused with
    // AADSTS7000222, which is not the end user's fault.
    app.sim.refuse_client(Provider::Microsoft, MS_ID).await;
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    let cal = connection(&app).await;
    assert_eq!(
        cal.status,
        CalendarStatus::Connected,
        "nobody is disconnected"
    );
    assert!(cal.refresh_failures > 0);
    assert!(
        cal.next_refresh_at.unwrap() > app.state.now_ms(),
        "backs off"
    );
    assert_eq!(
        webhooks(&app, "calendar_user.update").await.len(),
        user_hooks,
        "no disconnect announced"
    );
    // (A day passed: the admin session expired.)
    assert_eq!(try_login(&app, &admin, PASSWORD).await.status(), 303);
    let (_, overview) = page(&app, &admin, "/admin/").await;
    assert!(
        overview.contains(&format!(
            "The Microsoft OAuth client {MS_ID} was refused at"
        )),
        "{overview}"
    );
    assert!(overview.contains("AADSTS7000222"), "{overview}");
    assert!(!overview.contains(MS_SECRET), "no secret on the page");

    // While the same client is saved, refreshes do not hammer the provider.
    let calls = app.sim.call_count(Endpoint::MicrosoftToken).await;
    app.state.clock.advance(Duration::from_secs(120));
    convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(app.sim.call_count(Endpoint::MicrosoftToken).await, calls);
    assert_eq!(connection(&app).await.status, CalendarStatus::Connected);

    // The operator makes a new secret and saves it: refreshes resume at once.
    app.sim
        .create_oauth_client(
            Provider::Microsoft,
            MS_ID,
            "ms-secret-2",
            vec![app.url("/api/v1/calendar/ms_oauth_callback/")],
        )
        .await;
    let token = csrf(&app, &admin).await;
    let res = post_form(
        &app,
        &admin,
        "/admin/platforms/microsoft/",
        &[
            ("csrf_token", &token),
            ("client_id", MS_ID),
            ("client_secret", "ms-secret-2"),
        ],
    )
    .await;
    assert_eq!(res.status(), 303);
    let report = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(report.refreshed, 1, "{report:?}");
    let cal = connection(&app).await;
    assert_eq!(
        (cal.status, cal.refresh_failures),
        (CalendarStatus::Connected, 0)
    );
    let (_, overview) = page(&app, &admin, "/admin/").await;
    assert!(overview.contains("The providers accept every saved OAuth client."));
    let user: Value = {
        let token = calendar_token(&app, "user-1").await;
        app.client
            .get(app.url("/api/v1/calendar/user/"))
            .header("x-recallcalendarauthtoken", token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    assert_eq!(user["connections"][0]["connected"], true);
}

#[tokio::test]
async fn a_deleted_google_client_is_an_alarm_not_a_disconnect() {
    let app = spawn_calendar_app().await;
    google_account(&app, "ann@acme.test").await;
    connect_v1(&app, "google", "user-1", None, None).await;
    app.sim.refuse_client(Provider::Google, GOOGLE_ID).await;
    app.state.clock.advance(Duration::from_secs(25 * 3600));
    convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(connection(&app).await.status, CalendarStatus::Connected);
    let alarms = app
        .state
        .store
        .read(convene::store::platform_alarms::list)
        .await
        .unwrap();
    assert_eq!(alarms.len(), 1);
    assert_eq!(
        (alarms[0].platform.as_str(), alarms[0].code.as_str()),
        ("google", "deleted_client")
    );
}
