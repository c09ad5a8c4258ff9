//! Every state Convene stores as text, as an enum. `as_str` is the spelling used in the
//! database, on the wire and in the admin pages; `parse` is its inverse. `ToSql`/`FromSql`
//! let rusqlite read and write them directly, so no state is compared as a string literal.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Declares a string-backed enum with `as_str`, `parse`, `Display`, `FromStr`, serde and
/// rusqlite conversions.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s).ok_or_else(|| format!("unknown {}: {s}", stringify!($name)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {}: {text}", stringify!($name)))
                })
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::parse(text).ok_or_else(|| {
                    FromSqlError::Other(format!("unknown {}: {text}", stringify!($name)).into())
                })
            }
        }
    };
}

string_enum! {
    /// A calendar platform; the V2 names are what the database stores.
    pub enum Platform {
        Google => "google_calendar",
        Microsoft => "microsoft_outlook",
    }
}

impl Platform {
    /// `google_calendar` / `microsoft_outlook` (V2 API and database).
    pub fn v2_name(self) -> &'static str {
        self.as_str()
    }
    /// `google` / `microsoft` (V1 API, platform clients).
    pub fn v1_name(self) -> &'static str {
        match self {
            Platform::Google => "google",
            Platform::Microsoft => "microsoft",
        }
    }
    pub fn from_v2(name: &str) -> Option<Self> {
        Self::parse(name)
    }
    pub fn from_v1(name: &str) -> Option<Self> {
        match name {
            "google" => Some(Platform::Google),
            "microsoft" => Some(Platform::Microsoft),
            _ => None,
        }
    }
    pub fn display(self) -> &'static str {
        match self {
            Platform::Google => "Google",
            Platform::Microsoft => "Microsoft",
        }
    }
}

string_enum! {
    /// A calendar's connection state (api.md `status`).
    pub enum CalendarStatus {
        Connecting => "connecting",
        Connected => "connected",
        Disconnected => "disconnected",
    }
}

string_enum! {
    /// How a calendar came in: a V1 calendar user's hosted-OAuth connection, or a V2
    /// calendar made with the app's own OAuth client.
    pub enum CalendarKind {
        V1 => "v1",
        V2 => "v2",
    }
}

string_enum! {
    /// Where new bots are made: at the configured backend, or locally (webhooks only).
    pub enum BotMode {
        Local => "local",
        Backend => "backend",
    }
}

string_enum! {
    /// A managed bot's state (README "Bots").
    pub enum BotStatus {
        Scheduled => "scheduled",
        Dispatching => "dispatching",
        Dispatched => "dispatched",
        Moving => "moving",
        Cancelling => "cancelling",
        Cancelled => "cancelled",
        Failed => "failed",
    }
}

string_enum! {
    /// A queued call to the bot backend.
    pub enum BotOpKind {
        Create => "create",
        Move => "move",
        Recreate => "recreate",
        Delete => "delete",
    }
}

string_enum! {
    /// Where a queued bot-backend call stands.
    pub enum BotOpStatus {
        Pending => "pending",
        InFlight => "in_flight",
        Done => "done",
        Failed => "failed",
        Superseded => "superseded",
    }
}

string_enum! {
    /// Who put an event on its bot: the V2 endpoint or V1 auto-recording.
    pub enum LinkSource {
        Api => "api",
        Autorecord => "autorecord",
    }
}

string_enum! {
    /// A webhook delivery's state.
    pub enum DeliveryStatus {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

string_enum! {
    /// A Zoom OAuth credential's health.
    pub enum ZoomCredentialStatus {
        Healthy => "healthy",
        Unhealthy => "unhealthy",
    }
}

string_enum! {
    /// A Zoom OAuth app's kind.
    pub enum ZoomAppKind {
        UserLevel => "user_level",
        AccountLevel => "account_level",
    }
}

string_enum! {
    /// Where a Zoom credential's meeting sync stands (api.md `meeting_sync_status`).
    pub enum ZoomMeetingSyncStatus {
        NotStarted => "not_started",
        InProgress => "in_progress",
        Completed => "completed",
        Failed => "failed",
    }
}

string_enum! {
    /// The level of a Zoom app or credential log row.
    pub enum LogLevel {
        Info => "info",
        Warning => "warning",
        Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_round_trips_through_its_spelling() {
        for s in CalendarStatus::ALL {
            assert_eq!(CalendarStatus::parse(s.as_str()), Some(*s));
        }
        for s in BotStatus::ALL {
            assert_eq!(s.as_str().parse::<BotStatus>().unwrap(), *s);
        }
        assert_eq!(Platform::from_v1("google"), Some(Platform::Google));
        assert_eq!(Platform::Microsoft.v2_name(), "microsoft_outlook");
        assert_eq!(BotOpStatus::parse("in-flight"), None);
        assert_eq!(
            serde_json::to_string(&DeliveryStatus::Delivered).unwrap(),
            "\"delivered\""
        );
    }

    #[test]
    fn sql_reads_and_writes_the_spelling() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let s: String = c
            .query_row("SELECT ?1", [CalendarKind::V2], |r| r.get(0))
            .unwrap();
        assert_eq!(s, "v2");
        let k: CalendarKind = c.query_row("SELECT 'v1'", [], |r| r.get(0)).unwrap();
        assert_eq!(k, CalendarKind::V1);
        let bad: rusqlite::Result<CalendarKind> = c.query_row("SELECT 'v3'", [], |r| r.get(0));
        assert!(bad.is_err());
    }
}
