//! Meeting tokens for bot backends (a Convene extension): a ZAK, an on-behalf-of token
//! (Zoom requires one for Meeting SDK bots in meetings outside the app's account since
//! 2026) or a local-recording join token, minted by Zoom with the credential that owns the
//! meeting (the meeting sync map) or the one the caller names. The token goes only into the
//! one response body: never logged, never stored.

use crate::state::AppState;
use crate::store::zoom_meetings as zm;
use crate::store::StoreError;

use super::client::ZoomError;
use super::client_meetings::{self, MintedToken};
use super::credentials;
use super::tokens::{self, TokenError};

/// `?kind=` of the tokens endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Zak,
    Obf,
    LocalRecording,
}

impl TokenKind {
    pub const ALL: [TokenKind; 3] = [TokenKind::Zak, TokenKind::Obf, TokenKind::LocalRecording];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Zak => "zak",
            TokenKind::Obf => "obf",
            TokenKind::LocalRecording => "local_recording",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The Zoom scope the app needs for this kind.
    pub fn scope(self) -> &'static str {
        match self {
            TokenKind::Zak => "user:read:zak",
            TokenKind::Obf => "user:read:token",
            TokenKind::LocalRecording => "meeting:read:local_recording_token",
        }
    }
}

pub struct MeetingToken {
    pub kind: TokenKind,
    pub token: String,
    pub credential: String,
    pub meeting_id: i64,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for MeetingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingToken")
            .field("kind", &self.kind)
            .field("credential", &self.credential)
            .field("meeting_id", &self.meeting_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// No credential's meeting sync found the meeting.
    #[error("no Zoom OAuth Credential knows meeting {0}")]
    UnknownMeeting(i64),
    /// The credential named with `?credential=` does not exist.
    #[error("no such credential")]
    NoSuchCredential,
    /// Zoom refused: its reason, and the scope this kind needs.
    #[error("Zoom refused: {reason}")]
    Refused { reason: String, scope: &'static str },
    #[error(transparent)]
    Token(TokenError),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for MintError {
    fn from(e: StoreError) -> Self {
        MintError::Internal(e.to_string())
    }
}

/// Mints a `kind` token for `meeting_id` with `credential` or the meeting's owner.
pub async fn mint(
    state: &AppState,
    meeting_id: i64,
    kind: TokenKind,
    credential: Option<String>,
) -> Result<MeetingToken, MintError> {
    let credential = match credential {
        Some(id) => {
            credentials::get(state, &id)
                .await?
                .ok_or(MintError::NoSuchCredential)?
                .id
        }
        None => state
            .store
            .read(move |c| zm::credentials_for_meeting(c, meeting_id))
            .await?
            .into_iter()
            .next()
            .ok_or(MintError::UnknownMeeting(meeting_id))?,
    };
    let access = tokens::access_token(state, &credential)
        .await
        .map_err(MintError::Token)?;
    let minted: Result<MintedToken, ZoomError> = match kind {
        TokenKind::Zak => client_meetings::zak(state, &access.token).await,
        TokenKind::Obf => client_meetings::on_behalf(state, &access.token, meeting_id).await,
        TokenKind::LocalRecording => {
            client_meetings::local_recording(state, &access.token, meeting_id).await
        }
    };
    match minted {
        Ok(t) => Ok(MeetingToken {
            kind,
            expires_at: t.expire_in.map(|s| state.now_ms() + s * 1000),
            token: t.token,
            credential,
            meeting_id,
        }),
        Err(ZoomError::Rejected { reason, .. }) => Err(MintError::Refused {
            reason,
            scope: kind.scope(),
        }),
        Err(e @ ZoomError::Transient { .. }) => Err(MintError::Unavailable(e.to_string())),
    }
}
