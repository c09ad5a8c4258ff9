//! Issue 13, items 5, 6, 7 and 13: refresh tokens in flight. A Zoom refresh whose answer
//! was lost is not re-sent; an exchange runs to its commit even when its caller is
//! dropped; start-up and sweep refreshes are spread out; one failing credential or
//! calendar neither stops a sweep nor stays first in line.

use std::time::Duration;

use convene::crypto::Keyring;
use convene::domain::{CalendarStatus, ZoomCredentialStatus};
use convene::store::StoreError;
use convene_sim::{AccountId, Endpoint, Fault, Provider};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::sync_fixtures::{connect, sync_state, Cal};

const REDIRECT: &str = "https://app.test/oauth-callback/zoom/";

/// A Zoom app and one credential per user; returns the credential ids.
async fn zoom_credentials(app: &TestApp, users: &[&str]) -> Vec<String> {
    app.sim
        .create_oauth_client(Provider::Zoom, "zid", "zsecret", vec![REDIRECT.into()])
        .await;
    let res = app
        .post_json(
            "/api/v2/zoom-oauth-apps/",
            &json!({"kind": "user_level", "client_id": "zid", "client_secret": "zsecret"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let app_id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ids = Vec::new();
    for user in users {
        let (uid, _) = app.sim.create_zoom_user(None, user).await;
        let code = app
            .sim
            .mint_code(Provider::Zoom, "zid", &AccountId(uid), REDIRECT, &[], None)
            .await;
        let res = app
            .post_json(
                "/api/v2/zoom-oauth-credentials/",
                &json!({"oauth_app": app_id,
                        "authorization_code": {"code": code, "redirect_uri": REDIRECT}}),
            )
            .await;
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids
}

async fn credential(app: &TestApp, id: &str) -> convene::store::zoom::ZoomCredential {
    let id = id.to_string();
    app.state
        .store
        .read(move |c| convene::store::zoom::get_credential(c, &id))
        .await
        .unwrap()
        .unwrap()
}

async fn sql(app: &TestApp, statement: &str, id: &str) {
    let (statement, id) = (statement.to_string(), id.to_string());
    app.state
        .store
        .write(move |tx| {
            tx.execute(&statement, [id])?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

/// Item 5: Zoom handled the refresh (rotated the token), then the answer was lost, broken
/// mid-body or unreadable. Convene must not send the rotated-away token again.
#[tokio::test]
async fn a_zoom_refresh_whose_answer_was_lost_is_not_sent_again() {
    let app = spawn_app().await;
    let ids = zoom_credentials(&app, &["a@z.test", "b@z.test", "c@z.test"]).await;
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    for (id, fault) in ids
        .iter()
        .zip([Fault::AnswerLost, Fault::ResetMidBody, Fault::UnreadableOk])
    {
        let before = app.sim.token_refresh_count(Provider::Zoom).await;
        app.sim
            .inject_fault(Endpoint::ZoomToken, fault.clone(), 1)
            .await;
        let res = app
            .get(&format!(
                "/api/v2/zoom-oauth-credentials/{id}/access-token/"
            ))
            .await;
        assert_eq!(
            res.status(),
            503,
            "{fault:?}: {}",
            res.text().await.unwrap()
        );
        assert_eq!(
            app.sim.token_refresh_count(Provider::Zoom).await,
            before + 1,
            "{fault:?}: the refresh was sent once, not re-sent with the rotated-away token"
        );
        let cred = credential(&app, id).await;
        assert_eq!(cred.status, ZoomCredentialStatus::Healthy, "{fault:?}");
        assert!(
            cred.last_error.unwrap().starts_with("answer lost"),
            "{fault:?}"
        );
    }
}

/// Item 6: the caller of a refresh goes away after the provider answered (Microsoft rotates
/// and revokes the old refresh token). The exchange still runs to its commit.
#[tokio::test]
async fn a_refresh_runs_to_its_commit_when_its_caller_is_dropped() {
    let app = spawn_app().await;
    let cal = connect(&app, Provider::Microsoft, "m@acme.test").await;
    app.sim
        .inject_fault(Endpoint::MicrosoftToken, Fault::HoldAnswer, 1)
        .await;
    let (state, id) = (app.state.clone(), cal.id.clone());
    let caller =
        tokio::spawn(async move { convene::calendars::tokens::access_token(&state, &id).await });
    // Microsoft handled the refresh (the old refresh token is now revoked) and its answer
    // is on the way when the caller goes away (request cancelled, server stopping).
    app.sim.wait_held().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    app.sim.release_held().await;
    // The next caller waits for the exchange in flight and gets its committed token.
    let token = convene::calendars::tokens::access_token(&app.state, &cal.id)
        .await
        .expect("the rotated refresh token was committed");
    assert!(!token.token.is_empty());
    assert_eq!(app.sim.token_refresh_count(Provider::Microsoft).await, 1);
    let row = sync_state(&app, &cal).await;
    assert_eq!(row.status, CalendarStatus::Connected);
    // And the stored refresh token is the rotated one: a later refresh works.
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    convene::calendars::tokens::access_token(&app.state, &cal.id)
        .await
        .unwrap();
}

/// Item 6, Zoom: the same for a Zoom credential.
#[tokio::test]
async fn a_zoom_refresh_runs_to_its_commit_when_its_caller_is_dropped() {
    let app = spawn_app().await;
    let id = zoom_credentials(&app, &["a@z.test"]).await.remove(0);
    app.state.clock.advance(Duration::from_secs(2 * 3600));
    app.sim
        .inject_fault(Endpoint::ZoomToken, Fault::HoldAnswer, 1)
        .await;
    let (state, cid) = (app.state.clone(), id.clone());
    let caller =
        tokio::spawn(async move { convene::zoom::tokens::access_token(&state, &cid).await });
    app.sim.wait_held().await;
    caller.abort();
    let _ = caller.await;
    app.sim.release_held().await;
    convene::zoom::tokens::access_token(&app.state, &id)
        .await
        .expect("the rotated refresh token was committed");
    assert_eq!(app.sim.token_refresh_count(Provider::Zoom).await, 1);
    assert_eq!(
        credential(&app, &id).await.status,
        ZoomCredentialStatus::Healthy
    );
}

/// Item 7: after downtime every calendar is overdue; start-up spreads them out instead of
/// refreshing (and syncing) all at once, and the daily refresh time is jittered.
#[tokio::test]
async fn overdue_refreshes_and_syncs_are_spread_out() {
    let app = spawn_app().await;
    let mut cals: Vec<Cal> = Vec::new();
    for i in 0..20 {
        cals.push(connect(&app, Provider::Google, &format!("u{i}@acme.test")).await);
    }
    let now = app.state.now_ms();
    for c in &cals {
        sql(
            &app,
            &format!(
                "UPDATE calendars SET next_refresh_at = {}, next_sync_at = {} WHERE id = ?1",
                now - 3_600_000,
                now - 3_600_000
            ),
            &c.id,
        )
        .await;
    }
    convene::calendars::tokens::stagger_overdue(&app.state)
        .await
        .unwrap();
    convene::sync::stagger::stagger_overdue(&app.state)
        .await
        .unwrap();
    let mut refresh_at = Vec::new();
    let mut sync_at = Vec::new();
    for c in &cals {
        let row = sync_state(&app, c).await;
        refresh_at.push(row.next_refresh_at.unwrap());
        sync_at.push(row.next_sync_at.unwrap());
    }
    refresh_at.sort();
    refresh_at.dedup();
    sync_at.sort();
    sync_at.dedup();
    assert!(
        refresh_at.len() >= 15 && sync_at.len() >= 15,
        "spread, not one instant"
    );
    assert!(refresh_at[0] >= now && *refresh_at.last().unwrap() - refresh_at[0] > 10_000);

    let first = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert!(first.refreshed < 10, "not all at once: {first:?}");
    app.state.clock.advance(Duration::from_secs(61));
    let rest = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(first.refreshed + rest.refreshed, 20);
    // The next daily refreshes are jittered, so the calendars drift apart.
    let mut lead: Vec<i64> = Vec::new();
    for c in &cals {
        let row = sync_state(&app, c).await;
        lead.push(row.next_refresh_at.unwrap() - row.last_refresh_at.unwrap());
    }
    let spread = lead.iter().max().unwrap() - lead.iter().min().unwrap();
    assert!(spread > 60_000, "jittered daily refresh: {lead:?}");
    assert!(lead
        .iter()
        .all(|l| *l <= 24 * 3600 * 1000 && *l >= 47 * 1800 * 1000));
}

/// Item 13: one calendar whose refresh fails for an internal reason (a refresh token no
/// configured key opens) neither aborts the sweep nor stays first in line.
#[tokio::test]
async fn a_failing_calendar_does_not_stop_the_refresh_queue() {
    let app = spawn_app().await;
    let bad = connect(&app, Provider::Google, "bad@acme.test").await;
    let good = connect(&app, Provider::Google, "good@acme.test").await;
    let unreadable = Keyring::new(&[[9u8; 32]]).encrypt("a refresh token");
    let now = app.state.now_ms();
    sql(
        &app,
        &format!(
            "UPDATE calendars SET oauth_refresh_token_enc = '{unreadable}',
                next_refresh_at = {} WHERE id = ?1",
            now - 2
        ),
        &bad.id,
    )
    .await;
    sql(
        &app,
        &format!(
            "UPDATE calendars SET next_refresh_at = {} WHERE id = ?1",
            now - 1
        ),
        &good.id,
    )
    .await;
    let report = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .expect("one failing calendar does not fail the sweep");
    assert_eq!((report.refreshed, report.failed), (1, 1), "{report:?}");
    let row = sync_state(&app, &bad).await;
    assert!(
        row.next_refresh_at.unwrap() > app.state.now_ms(),
        "rescheduled"
    );
    assert_eq!(row.refresh_failures, 1);
    let again = convene::calendars::tokens::refresh_due(&app.state)
        .await
        .unwrap();
    assert_eq!(again, Default::default(), "not first in line again");
}

/// Item 13, Zoom: one credential failing (internally) does not abort the hourly sweep for
/// the others, and its next attempt moves, so it is not first again every hour.
#[tokio::test]
async fn a_failing_zoom_credential_does_not_stop_the_sweep() {
    let app = spawn_app().await;
    let ids = zoom_credentials(&app, &["bad@z.test", "good@z.test"]).await;
    let unreadable = Keyring::new(&[[9u8; 32]]).encrypt("a refresh token");
    sql(
        &app,
        &format!(
            "UPDATE zoom_oauth_credentials SET refresh_token_enc = '{unreadable}',
                last_refresh_at = last_refresh_at - 1000 WHERE id = ?1"
        ),
        &ids[0],
    )
    .await;
    app.state.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let report = convene::zoom::sweep::refresh_stale(&app.state)
        .await
        .expect("one failing credential does not fail the sweep");
    assert_eq!((report.refreshed, report.failed), (1, 1), "{report:?}");
    let bad = credential(&app, &ids[0]).await;
    assert_eq!(bad.refresh_failures, 1);
    assert_eq!(bad.status, ZoomCredentialStatus::Healthy);
    let again = convene::zoom::sweep::refresh_stale(&app.state)
        .await
        .unwrap();
    assert_eq!(
        again,
        Default::default(),
        "put off, not first again next hour"
    );
}
