//! Issue 13, items 3, 4 and 14: the daily retention sweep, `/readyz` noticing a database
//! file deleted or replaced under the server, and the bounded, count-first login limiter.

use serde_json::Value;

use crate::admin::{input_value, new_client, set_up};
use crate::helpers::{spawn_app, TestApp};

async fn readyz(app: &TestApp) -> (u16, Value) {
    let res = app.client.get(app.url("/readyz/")).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Item 4: `rm convene.db` under a running server.
#[tokio::test]
async fn readyz_fails_when_the_database_file_is_deleted() {
    let app = spawn_app().await;
    assert_eq!(readyz(&app).await.0, 200);
    std::fs::remove_file(app.data_dir.path().join("convene.db")).unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "database_file_changed");
    // It stays failed: the server writes into a file nobody will see again.
    assert_eq!(readyz(&app).await.0, 503);
}

/// Item 4: a restore copied over the live file.
#[tokio::test]
async fn readyz_fails_when_the_database_file_is_replaced() {
    let app = spawn_app().await;
    let path = app.data_dir.path().join("convene.db");
    let copy = app.data_dir.path().join("copy.db");
    app.state.store.backup_to(&copy).unwrap();
    std::fs::rename(&copy, &path).unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "database_file_changed");
}

/// Item 14: parallel wrong passwords from one address cannot all pass the check before
/// any is counted.
#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let app = spawn_app().await;
    let client = new_client();
    set_up(&app, &client).await;
    let page = client
        .get(app.url("/admin/login/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token");
    let attempts = (0..16).map(|_| {
        let (client, url, csrf) = (client.clone(), app.url("/admin/login/"), csrf.clone());
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("password", "wrong password"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert_eq!(refused, 11, "{statuses:?}");
}
