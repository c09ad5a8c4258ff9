//! The in-memory world: clients, accounts, events, codes, tokens, faults and counters.

use crate::model::*;
use crate::util;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Error of a control operation (unknown account, event, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError(pub String);

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SimError {}

pub type SimResult<T> = Result<T, SimError>;

fn err<T>(msg: impl Into<String>) -> SimResult<T> {
    Err(SimError(msg.into()))
}

pub(crate) struct Client {
    pub secret: String,
    pub redirect_uris: Vec<String>,
}

/// Shared, copy-on-write content of an event (instances of a series share it).
#[derive(Clone, Debug)]
pub(crate) struct Content {
    pub title: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub attendees: Vec<Attendee>,
    pub organizer: Option<String>,
    pub self_response: Option<ResponseStatus>,
    pub conference: Option<Conference>,
}

#[derive(Clone, Debug)]
pub(crate) struct Ev {
    pub id: String,
    pub ical_uid: String,
    /// Series master: not listed (singleEvents / calendarView show instances only).
    pub master: bool,
    pub series_id: Option<String>,
    pub recurrence: Option<Recurrence>,
    pub instance_ids: Vec<String>,
    pub original_start: Option<EventWhen>,
    /// A series instance that was moved or edited on its own (Graph `exception`).
    pub exception: bool,
    pub content: Arc<Content>,
    pub when: EventWhen,
    pub status: EventStatus,
    pub deleted: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub seq: u64,
    /// Google: the whole series was cancelled and the change feed reports only the master
    /// (`{"id": <master>, "status": "cancelled"}`), not each instance.
    pub series_cancelled: bool,
    /// Rendered with an unreadable start time (a provider quirk Convene must survive).
    pub corrupt: bool,
}

impl Ev {
    pub fn start(&self) -> DateTime<Utc> {
        match self.when {
            EventWhen::Timed { start, .. } => start,
            EventWhen::AllDay { start_date, .. } => util::date_start(start_date),
        }
    }
    pub fn end(&self) -> DateTime<Utc> {
        match self.when {
            EventWhen::Timed { end, .. } => end,
            EventWhen::AllDay { end_date, .. } => util::date_start(end_date),
        }
    }
    /// Overlaps `[min, max)` (either bound optional).
    pub fn overlaps(&self, min: Option<DateTime<Utc>>, max: Option<DateTime<Utc>>) -> bool {
        min.is_none_or(|m| self.end() > m) && max.is_none_or(|m| self.start() < m)
    }
    /// Like [`Ev::overlaps`], with all-day dates taken in the calendar's time zone `tz`
    /// (Google compares `timeMin`/`timeMax` with an all-day event's extent in that zone).
    pub fn overlaps_in(
        &self,
        tz: chrono_tz::Tz,
        min: Option<DateTime<Utc>>,
        max: Option<DateTime<Utc>>,
    ) -> bool {
        let (start, end) = match self.when {
            EventWhen::Timed { start, end } => (start, end),
            EventWhen::AllDay {
                start_date,
                end_date,
            } => (
                crate::zones::local_midnight(tz, start_date),
                crate::zones::local_midnight(tz, end_date),
            ),
        };
        min.is_none_or(|m| end > m) && max.is_none_or(|m| start < m)
    }
}

pub(crate) struct Account {
    pub info: AccountInfo,
    pub first_name: String,
    pub last_name: String,
    pub events: Vec<Ev>,
    pub index: HashMap<String, usize>,
    pub seq: u64,
    pub sync_epoch: u64,
    pub duplicate_next_delta: bool,
    pub created: DateTime<Utc>,
    /// The calendar's time zone (Google `timeZone` of the events list; all-day filtering).
    pub time_zone: chrono_tz::Tz,
}

impl Account {
    fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
    pub fn ev(&self, id: &str) -> Option<&Ev> {
        self.index.get(id).map(|&i| &self.events[i])
    }
    fn ev_idx(&self, id: &str) -> SimResult<usize> {
        match self.index.get(id) {
            Some(&i) => Ok(i),
            None => err(format!("unknown event {id}")),
        }
    }
    /// Indices to touch for an operation on `id`: the instances of a series (and the
    /// master), or the event itself.
    fn targets(&self, id: &str) -> SimResult<Vec<usize>> {
        let i = self.ev_idx(id)?;
        let e = &self.events[i];
        let mut v = vec![i];
        if e.master {
            for iid in &e.instance_ids {
                v.push(self.ev_idx(iid)?);
            }
        }
        Ok(v)
    }
    fn touch(&mut self, i: usize, now: DateTime<Utc>) {
        let s = self.bump();
        let e = &mut self.events[i];
        e.seq = s;
        e.updated = now;
    }
}

pub(crate) struct Code {
    pub provider: Provider,
    pub client_id: String,
    pub account: AccountId,
    pub redirect_uri: Option<String>,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub expires: DateTime<Utc>,
    pub used: bool,
    pub issue_refresh: bool,
}

pub(crate) struct Refresh {
    pub provider: Provider,
    pub client_id: String,
    pub account: AccountId,
    pub scopes: Vec<String>,
    pub grant: u64,
    pub revoked: bool,
    pub created: DateTime<Utc>,
    pub last_used: DateTime<Utc>,
}

pub(crate) struct Access {
    pub provider: Provider,
    pub client_id: String,
    pub account: AccountId,
    pub scopes: Vec<String>,
    pub grant: u64,
    pub expires: DateTime<Utc>,
    pub revoked: bool,
}

/// Why a bearer token was refused.
pub(crate) enum AccessError {
    Missing,
    Invalid,
    Expired,
}

pub(crate) struct SimState {
    pub base_url: String,
    /// Added before every provider answer (not `/_sim/…`): a real provider's round trip.
    pub latency_ms: u64,
    pub clients: HashMap<(Provider, String), Client>,
    pub accounts: HashMap<AccountId, Account>,
    pub account_order: Vec<AccountId>,
    pub codes: HashMap<String, Code>,
    pub refresh: HashMap<String, Refresh>,
    pub access: HashMap<String, Access>,
    pub consented: HashSet<(AccountId, String)>,
    pub next_grant: u64,
    pub faults: HashMap<Endpoint, VecDeque<(Fault, u32)>>,
    pub counts: HashMap<Endpoint, u64>,
    pub refresh_counts: HashMap<Provider, u64>,
    pub code_counts: HashMap<Provider, u64>,
    pub access_ttl: i64,
    pub strict_rotation: bool,
    pub now_override: Option<DateTime<Utc>>,
    pub withheld_scopes: HashMap<Provider, Vec<String>>,
    pub deny_next: HashMap<Provider, (String, Option<String>)>,
    pub authorize_account: HashMap<Provider, AccountId>,
    /// Zoom meetings and the apps' event subscriptions (`zoom_meetings.rs`).
    pub zoom: crate::zoom_meetings::ZoomWorld,
    /// Channels, subscriptions and the notifications they send (`push.rs`).
    pub push: crate::push::PushWorld,
    /// Held answers (`Fault::HoldAnswer`) wait here.
    pub gate: Arc<crate::late::Gate>,
    /// Operator clients the provider refuses (Microsoft: secret expired, AADSTS7000222;
    /// Google: `deleted_client`; Zoom: `invalid_client`) until registered again.
    pub refused_clients: HashSet<(Provider, String)>,
    /// Graph: the mailbox's time zone (Windows or IANA name), used when `Prefer:
    /// outlook.timezone` is absent or ignored.
    pub graph_time_zone: String,
    /// Graph: ignore `Prefer: outlook.timezone` (answer in the mailbox's zone).
    pub graph_ignore_prefer: bool,
}

pub(crate) const GOOGLE_SCOPE_PREFIX: &str = "https://www.googleapis.com/auth/";
pub(crate) const GRAPH_SCOPE_PREFIX: &str = "https://graph.microsoft.com/";

/// Scopes granted by default by [`SimState::mint_refresh`] when none are given.
pub(crate) fn default_scopes(p: Provider) -> Vec<String> {
    match p {
        Provider::Google => vec![
            "https://www.googleapis.com/auth/calendar.events.readonly".into(),
            "https://www.googleapis.com/auth/userinfo.email".into(),
            "openid".into(),
        ],
        Provider::Microsoft => vec![
            "offline_access".into(),
            "openid".into(),
            "email".into(),
            "https://graph.microsoft.com/Calendars.Read".into(),
        ],
        Provider::Zoom => vec!["user:read:user".into(), "user:read:email".into()],
    }
}

/// Canonical form of a scope for comparisons.
pub(crate) fn scope_key(p: Provider, s: &str) -> String {
    match p {
        Provider::Google => match s {
            "email" => format!("{GOOGLE_SCOPE_PREFIX}userinfo.email"),
            "profile" => format!("{GOOGLE_SCOPE_PREFIX}userinfo.profile"),
            _ => s.to_string(),
        },
        Provider::Microsoft => {
            let short = if s.len() >= GRAPH_SCOPE_PREFIX.len()
                && s[..GRAPH_SCOPE_PREFIX.len()].eq_ignore_ascii_case(GRAPH_SCOPE_PREFIX)
            {
                &s[GRAPH_SCOPE_PREFIX.len()..]
            } else {
                s
            };
            short.to_ascii_lowercase()
        }
        Provider::Zoom => s.to_string(),
    }
}

/// Normalise and de-duplicate requested scopes into the stored (granted) form.
pub(crate) fn normalize_scopes(p: Provider, scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for s in scopes {
        let stored = match p {
            Provider::Google => scope_key(p, s),
            Provider::Microsoft => {
                let k = scope_key(p, s);
                match k.as_str() {
                    "openid" | "email" | "profile" | "offline_access" => k,
                    _ => {
                        let short = if s.contains('/') {
                            s.rsplit('/').next().unwrap_or(s)
                        } else {
                            s
                        };
                        format!("{GRAPH_SCOPE_PREFIX}{short}")
                    }
                }
            }
            Provider::Zoom => s.clone(),
        };
        if seen.insert(scope_key(p, &stored)) {
            out.push(stored);
        }
    }
    out
}

pub(crate) fn has_scope(p: Provider, scopes: &[String], key: &str) -> bool {
    let want = scope_key(p, key);
    scopes.iter().any(|s| scope_key(p, s) == want)
}

impl SimState {
    pub fn new(base_url: String) -> Self {
        SimState {
            base_url,
            latency_ms: 0,
            clients: HashMap::new(),
            accounts: HashMap::new(),
            account_order: Vec::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            consented: HashSet::new(),
            next_grant: 1,
            faults: HashMap::new(),
            counts: HashMap::new(),
            refresh_counts: HashMap::new(),
            code_counts: HashMap::new(),
            access_ttl: 3599,
            strict_rotation: true,
            now_override: None,
            withheld_scopes: HashMap::new(),
            deny_next: HashMap::new(),
            authorize_account: HashMap::new(),
            zoom: Default::default(),
            push: Default::default(),
            gate: Arc::default(),
            refused_clients: HashSet::new(),
            graph_time_zone: "UTC".into(),
            graph_ignore_prefer: false,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now_override.unwrap_or_else(Utc::now)
    }

    // ---------------------------------------------------------------- clients, accounts

    pub fn add_client(
        &mut self,
        provider: Provider,
        client_id: &str,
        secret: &str,
        redirect_uris: Vec<String>,
    ) {
        // Registering again (a new secret) ends a refusal.
        self.refused_clients
            .remove(&(provider, client_id.to_string()));
        self.clients.insert(
            (provider, client_id.to_string()),
            Client {
                secret: secret.to_string(),
                redirect_uris,
            },
        );
    }

    pub fn client(&self, provider: Provider, client_id: &str) -> Option<&Client> {
        self.clients.get(&(provider, client_id.to_string()))
    }

    pub fn add_account(&mut self, spec: &AccountSpec) -> SimResult<AccountInfo> {
        if spec.email.is_empty() {
            return err("email must not be empty");
        }
        let local = spec.email.split('@').next().unwrap_or("user");
        let mut parts = local
            .split(['.', '_', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => String::new(),
                }
            });
        let first = parts.next().unwrap_or_else(|| "Sim".into());
        let last = parts.next().unwrap_or_else(|| "User".into());
        let display = spec
            .display_name
            .clone()
            .unwrap_or_else(|| format!("{first} {last}"));
        let (id, mail, zoom_account) = match spec.provider {
            Provider::Google => (util::google_sub(), Some(spec.email.clone()), None),
            Provider::Microsoft => (
                util::uuid(),
                if spec.no_mail {
                    None
                } else {
                    Some(spec.email.clone())
                },
                None,
            ),
            Provider::Zoom => {
                let acct = match &spec.zoom_account_id {
                    Some(a) => {
                        let known = self
                            .accounts
                            .values()
                            .any(|x| x.info.zoom_account_id.as_deref() == Some(a.as_str()));
                        if !known {
                            return err(format!("unknown zoom account {a}"));
                        }
                        a.clone()
                    }
                    None => util::rand_from(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        22,
                    ),
                };
                (
                    util::rand_from(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                        22,
                    ),
                    Some(spec.email.clone()),
                    Some(acct),
                )
            }
        };
        let info = AccountInfo {
            account_id: AccountId(id),
            provider: spec.provider,
            email: spec.email.clone(),
            display_name: display,
            mail,
            zoom_account_id: zoom_account,
        };
        let now = self.now();
        self.accounts.insert(
            info.account_id.clone(),
            Account {
                info: info.clone(),
                first_name: first,
                last_name: last,
                events: Vec::new(),
                index: HashMap::new(),
                seq: 0,
                sync_epoch: 0,
                duplicate_next_delta: false,
                created: now,
                time_zone: chrono_tz::Tz::UTC,
            },
        );
        self.account_order.push(info.account_id.clone());
        Ok(info)
    }

    pub fn account(&self, id: &AccountId) -> SimResult<&Account> {
        match self.accounts.get(id) {
            Some(a) => Ok(a),
            None => err(format!("unknown account {id}")),
        }
    }

    pub fn account_mut(&mut self, id: &AccountId) -> SimResult<&mut Account> {
        match self.accounts.get_mut(id) {
            Some(a) => Ok(a),
            None => err(format!("unknown account {id}")),
        }
    }

    /// Account that consents at an authorize call: `login_hint`, else the pinned one, else
    /// the most recently created account of that provider.
    pub fn pick_account(&self, provider: Provider, login_hint: Option<&str>) -> Option<AccountId> {
        if let Some(h) = login_hint.filter(|h| !h.is_empty()) {
            return self
                .accounts
                .values()
                .find(|a| {
                    a.info.provider == provider
                        && (a.info.email.eq_ignore_ascii_case(h)
                            || a.info
                                .mail
                                .as_deref()
                                .is_some_and(|m| m.eq_ignore_ascii_case(h))
                            || a.info.account_id.0 == h)
                })
                .map(|a| a.info.account_id.clone());
        }
        if let Some(a) = self.authorize_account.get(&provider) {
            return Some(a.clone());
        }
        self.account_order
            .iter()
            .rev()
            .find(|id| {
                self.accounts
                    .get(*id)
                    .is_some_and(|a| a.info.provider == provider)
            })
            .cloned()
    }

    // ---------------------------------------------------------------- events

    pub fn create_event(&mut self, account: &AccountId, spec: &EventSpec) -> SimResult<String> {
        let now = self.now();
        let acct = self.account_mut(account)?;
        let provider = acct.info.provider;
        if provider == Provider::Zoom {
            return err("zoom accounts have no calendar");
        }
        if let EventWhen::Timed { start, end } = spec.when {
            if end < start {
                return err("end before start");
            }
        }
        let content = Arc::new(Content {
            title: spec.title.clone(),
            description: spec.description.clone(),
            location: spec.location.clone(),
            attendees: spec.attendees.clone(),
            organizer: spec.organizer.clone(),
            self_response: spec.self_response,
            conference: spec.conference.clone(),
        });
        let new_id = || match provider {
            Provider::Google => util::google_event_id(),
            _ => util::microsoft_event_id(),
        };
        let master_id = new_id();
        let ical = match provider {
            Provider::Google => format!("{master_id}@google.com"),
            _ => format!(
                "040000008200E00074C5B7101A82E00800000000{}",
                util::rand_from(b"0123456789ABCDEF", 56)
            ),
        };
        let base = Ev {
            id: master_id.clone(),
            ical_uid: ical.clone(),
            master: false,
            series_id: None,
            recurrence: None,
            instance_ids: Vec::new(),
            original_start: None,
            exception: false,
            content,
            when: spec.when,
            status: spec.status,
            deleted: false,
            created: now,
            updated: now,
            seq: 0,
            series_cancelled: false,
            corrupt: false,
        };
        match spec.recurrence {
            None => {
                let mut e = base;
                e.seq = acct.bump();
                acct.index.insert(e.id.clone(), acct.events.len());
                acct.events.push(e);
            }
            Some(r) => {
                let (step, count) = match r {
                    Recurrence::Daily { count } => (Duration::days(1), count),
                    Recurrence::Weekly { count } => (Duration::weeks(1), count),
                };
                if count == 0 {
                    return err("recurrence count must be > 0");
                }
                let mut master = base.clone();
                master.master = true;
                master.recurrence = Some(r);
                let mut ids = Vec::new();
                let mut instances = Vec::new();
                for k in 0..count {
                    let off = step * k as i32;
                    let when = shift(spec.when, off);
                    let id = match provider {
                        Provider::Google => {
                            let s = match when {
                                EventWhen::Timed { start, .. } => {
                                    start.format("%Y%m%dT%H%M%SZ").to_string()
                                }
                                EventWhen::AllDay { start_date, .. } => {
                                    start_date.format("%Y%m%d").to_string()
                                }
                            };
                            format!("{master_id}_{s}")
                        }
                        _ => format!("{}{:04}AAA=", &master_id[..master_id.len() - 4], k),
                    };
                    let ical_i = match provider {
                        Provider::Google => ical.clone(),
                        // Graph: iCalUId differs per occurrence.
                        _ => format!("{}{:08X}", &ical[..ical.len() - 8], k),
                    };
                    let mut e = base.clone();
                    e.id = id.clone();
                    e.ical_uid = ical_i;
                    e.series_id = Some(master_id.clone());
                    e.original_start = Some(when);
                    e.when = when;
                    ids.push(id);
                    instances.push(e);
                }
                master.instance_ids = ids;
                master.seq = acct.bump();
                acct.index.insert(master.id.clone(), acct.events.len());
                acct.events.push(master);
                for mut e in instances {
                    e.seq = acct.bump();
                    acct.index.insert(e.id.clone(), acct.events.len());
                    acct.events.push(e);
                }
            }
        }
        Ok(master_id)
    }

    pub fn instance_ids(&self, account: &AccountId, series_id: &str) -> SimResult<Vec<String>> {
        let acct = self.account(account)?;
        match acct.ev(series_id) {
            Some(e) if e.master => Ok(e.instance_ids.clone()),
            Some(_) => err(format!("{series_id} is not a series")),
            None => err(format!("unknown event {series_id}")),
        }
    }

    fn instance_id(&self, account: &AccountId, series_id: &str, index: usize) -> SimResult<String> {
        let ids = self.instance_ids(account, series_id)?;
        match ids.get(index) {
            Some(i) => Ok(i.clone()),
            None => err(format!("series {series_id} has no instance {index}")),
        }
    }

    pub fn update_event(
        &mut self,
        account: &AccountId,
        id: &str,
        patch: &EventPatch,
    ) -> SimResult<()> {
        let now = self.now();
        let acct = self.account_mut(account)?;
        let targets = acct.targets(id)?;
        let single_instance = targets.len() == 1 && acct.events[targets[0]].series_id.is_some();
        for i in targets {
            {
                let e = &mut acct.events[i];
                if e.deleted {
                    continue;
                }
                let c = Arc::make_mut(&mut e.content);
                if let Some(t) = &patch.title {
                    c.title = t.clone();
                }
                if let Some(d) = &patch.description {
                    c.description = d.clone();
                }
                if let Some(l) = &patch.location {
                    c.location = l.clone();
                }
                if let Some(a) = &patch.attendees {
                    c.attendees = a.clone();
                }
                if let Some(o) = &patch.organizer {
                    c.organizer = o.clone();
                }
                if let Some(r) = patch.self_response {
                    c.self_response = Some(r);
                }
                if let Some(conf) = &patch.conference {
                    c.conference = conf.clone();
                }
                if let Some(s) = patch.status {
                    e.status = s;
                }
                if single_instance {
                    e.exception = true;
                }
            }
            acct.touch(i, now);
        }
        Ok(())
    }

    /// Move an event (for a series: shift every instance by the master's offset).
    pub fn move_event(
        &mut self,
        account: &AccountId,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> SimResult<()> {
        if end < start {
            return err("end before start");
        }
        let now = self.now();
        let acct = self.account_mut(account)?;
        let targets = acct.targets(id)?;
        let first = &acct.events[targets[0]];
        let offset = start - first.start();
        let is_series = first.master;
        let single_instance = !is_series && first.series_id.is_some();
        for (n, i) in targets.into_iter().enumerate() {
            let e = &mut acct.events[i];
            if e.deleted {
                continue;
            }
            e.when = if n == 0 || !is_series {
                EventWhen::Timed { start, end }
            } else {
                let dur = end - start;
                let s = e.start() + offset;
                EventWhen::Timed {
                    start: s,
                    end: s + dur,
                }
            };
            if single_instance {
                e.exception = true;
            }
            acct.touch(i, now);
        }
        Ok(())
    }

    fn set_status(
        &mut self,
        account: &AccountId,
        id: &str,
        cancel: bool,
        delete: bool,
    ) -> SimResult<()> {
        let now = self.now();
        let acct = self.account_mut(account)?;
        let targets = acct.targets(id)?;
        let single_instance = targets.len() == 1 && acct.events[targets[0]].series_id.is_some();
        for i in targets {
            let e = &mut acct.events[i];
            if e.deleted {
                continue;
            }
            if cancel {
                e.status = EventStatus::Cancelled;
            }
            if delete {
                e.deleted = true;
            }
            if single_instance {
                e.exception = true;
            }
            acct.touch(i, now);
        }
        Ok(())
    }

    pub fn cancel_event(&mut self, account: &AccountId, id: &str) -> SimResult<()> {
        self.set_status(account, id, true, false)
    }

    pub fn delete_event(&mut self, account: &AccountId, id: &str) -> SimResult<()> {
        self.set_status(account, id, true, true)
    }

    pub fn move_instance(
        &mut self,
        account: &AccountId,
        series_id: &str,
        index: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> SimResult<String> {
        let iid = self.instance_id(account, series_id, index)?;
        self.move_event(account, &iid, start, end)?;
        Ok(iid)
    }

    pub fn cancel_instance(
        &mut self,
        account: &AccountId,
        series_id: &str,
        index: usize,
    ) -> SimResult<String> {
        let iid = self.instance_id(account, series_id, index)?;
        self.cancel_event(account, &iid)?;
        Ok(iid)
    }

    /// Cancel a whole series. Google reports it as ONE cancelled master item in the change
    /// feed (the instances are gone without items of their own); Graph removes each
    /// occurrence (`@removed`).
    pub fn cancel_series(&mut self, account: &AccountId, series_id: &str) -> SimResult<()> {
        let now = self.now();
        let acct = self.account_mut(account)?;
        let targets = acct.targets(series_id)?;
        if !acct.events[targets[0]].master {
            return err(format!("{series_id} is not a series"));
        }
        let google = acct.info.provider == Provider::Google;
        for (n, i) in targets.into_iter().enumerate() {
            let e = &mut acct.events[i];
            e.status = EventStatus::Cancelled;
            e.deleted = true;
            if n == 0 {
                e.series_cancelled = google;
                acct.touch(i, now);
            } else if !google {
                acct.touch(i, now);
            }
        }
        Ok(())
    }

    /// Make an event unreadable (`true`) or readable again (`false`); either is a change.
    pub fn corrupt_event(&mut self, account: &AccountId, id: &str, corrupt: bool) -> SimResult<()> {
        let now = self.now();
        let acct = self.account_mut(account)?;
        let i = acct.ev_idx(id)?;
        acct.events[i].corrupt = corrupt;
        acct.touch(i, now);
        Ok(())
    }

    /// The calendar's time zone (an IANA name).
    pub fn set_time_zone(&mut self, account: &AccountId, tz: &str) -> SimResult<()> {
        let Ok(zone) = tz.parse::<chrono_tz::Tz>() else {
            return err(format!("unknown IANA time zone {tz}"));
        };
        self.account_mut(account)?.time_zone = zone;
        Ok(())
    }

    pub fn event_infos(&self, account: &AccountId) -> SimResult<Vec<EventInfo>> {
        let acct = self.account(account)?;
        Ok(acct
            .events
            .iter()
            .map(|e| EventInfo {
                id: e.id.clone(),
                series_id: e.series_id.clone(),
                title: e.content.title.clone(),
                when: e.when,
                status: e.status,
                deleted: e.deleted,
                is_master: e.master,
            })
            .collect())
    }

    // ---------------------------------------------------------------- tokens

    pub fn new_grant(&mut self) -> u64 {
        self.next_grant += 1;
        self.next_grant
    }

    pub fn issue_access(
        &mut self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        scopes: Vec<String>,
        grant: u64,
    ) -> String {
        let token = match provider {
            Provider::Google => format!("ya29.sim-{}", util::rand_alnum(48)),
            Provider::Microsoft => format!("EwBsim{}", util::rand_alnum(60)),
            Provider::Zoom => format!("eyJzb29tIjoic2ltIn0.{}", util::rand_alnum(48)),
        };
        let expires = self.now() + Duration::seconds(self.access_ttl);
        self.access.insert(
            token.clone(),
            Access {
                provider,
                client_id: client_id.to_string(),
                account: account.clone(),
                scopes,
                grant,
                expires,
                revoked: false,
            },
        );
        token
    }

    pub fn issue_refresh(
        &mut self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        scopes: Vec<String>,
        grant: u64,
    ) -> String {
        let token = match provider {
            Provider::Google => format!("1//0sim{}", util::rand_alnum(60)),
            Provider::Microsoft => format!("0.ASim{}", util::rand_alnum(80)),
            Provider::Zoom => format!("eyJzb29tIjoicmVmcmVzaCJ9.{}", util::rand_alnum(60)),
        };
        let now = self.now();
        if provider == Provider::Google {
            // Google keeps at most 100 live refresh tokens per account and client.
            let mut live: Vec<(DateTime<Utc>, String)> = self
                .refresh
                .iter()
                .filter(|(_, r)| {
                    !r.revoked
                        && r.provider == provider
                        && r.client_id == client_id
                        && &r.account == account
                })
                .map(|(k, r)| (r.created, k.clone()))
                .collect();
            if live.len() >= 100 {
                live.sort();
                let drop = live.len() + 1 - 100;
                for (_, k) in live.into_iter().take(drop) {
                    if let Some(r) = self.refresh.get_mut(&k) {
                        r.revoked = true;
                    }
                }
            }
        }
        self.refresh.insert(
            token.clone(),
            Refresh {
                provider,
                client_id: client_id.to_string(),
                account: account.clone(),
                scopes,
                grant,
                revoked: false,
                created: now,
                last_used: now,
            },
        );
        token
    }

    /// Revoke every token (refresh and access) of `account` for `client_id`.
    pub fn revoke_client_tokens(&mut self, account: &AccountId, client_id: &str) {
        for r in self.refresh.values_mut() {
            if &r.account == account && r.client_id == client_id {
                r.revoked = true;
            }
        }
        for a in self.access.values_mut() {
            if &a.account == account && a.client_id == client_id {
                a.revoked = true;
            }
        }
    }

    /// Revoke the grant a refresh token belongs to: it, its rotations and its access tokens.
    pub fn revoke_refresh_token(&mut self, provider: Provider, token: &str) -> SimResult<()> {
        let grant = match self.refresh.get(token) {
            Some(r) if r.provider == provider => r.grant,
            _ => return err("unknown refresh token"),
        };
        for r in self.refresh.values_mut() {
            if r.grant == grant {
                r.revoked = true;
            }
        }
        for a in self.access.values_mut() {
            if a.grant == grant {
                a.revoked = true;
            }
        }
        Ok(())
    }

    pub fn revoke_all(&mut self, account: &AccountId) -> SimResult<()> {
        self.account(account)?;
        for r in self.refresh.values_mut() {
            if &r.account == account {
                r.revoked = true;
            }
        }
        for a in self.access.values_mut() {
            if &a.account == account {
                a.revoked = true;
            }
        }
        self.consented.retain(|(a, _)| a != account);
        Ok(())
    }

    /// Mint a refresh token as if the user had consented (a fresh grant).
    pub fn mint_refresh(
        &mut self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        scopes: &[String],
    ) -> SimResult<String> {
        self.check_client_account(provider, client_id, account)?;
        let scopes = if scopes.is_empty() {
            default_scopes(provider)
        } else {
            normalize_scopes(provider, scopes)
        };
        if provider == Provider::Zoom {
            self.revoke_client_tokens(account, client_id);
        }
        self.consented
            .insert((account.clone(), client_id.to_string()));
        let g = self.new_grant();
        Ok(self.issue_refresh(provider, client_id, account, scopes, g))
    }

    fn check_client_account(
        &self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
    ) -> SimResult<()> {
        if self.client(provider, client_id).is_none() {
            return err(format!("unknown {provider} client {client_id}"));
        }
        let a = self.account(account)?;
        if a.info.provider != provider {
            return err(format!("account {account} is not a {provider} account"));
        }
        Ok(())
    }

    /// Store an authorization code.
    #[allow(clippy::too_many_arguments)]
    pub fn store_code(
        &mut self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        redirect_uri: Option<String>,
        scopes: Vec<String>,
        challenge: Option<(String, String)>,
        issue_refresh: bool,
    ) -> String {
        let code = match provider {
            Provider::Google => format!("4/0Sim{}", util::rand_alnum(60)),
            Provider::Microsoft => format!("0.ASimCode{}", util::rand_alnum(80)),
            Provider::Zoom => util::rand_alnum(32),
        };
        let life = match provider {
            Provider::Microsoft => Duration::minutes(10),
            _ => Duration::minutes(5),
        };
        let expires = self.now() + life;
        self.codes.insert(
            code.clone(),
            Code {
                provider,
                client_id: client_id.to_string(),
                account: account.clone(),
                redirect_uri,
                scopes,
                challenge,
                expires,
                used: false,
                issue_refresh,
            },
        );
        code
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mint_code(
        &mut self,
        provider: Provider,
        client_id: &str,
        account: &AccountId,
        redirect_uri: &str,
        scopes: &[String],
        code_challenge: Option<&str>,
    ) -> SimResult<String> {
        self.check_client_account(provider, client_id, account)?;
        let scopes = if scopes.is_empty() {
            default_scopes(provider)
        } else {
            normalize_scopes(provider, scopes)
        };
        let issue = match provider {
            Provider::Microsoft => has_scope(provider, &scopes, "offline_access"),
            _ => true,
        };
        self.consented
            .insert((account.clone(), client_id.to_string()));
        Ok(self.store_code(
            provider,
            client_id,
            account,
            Some(redirect_uri.to_string()),
            scopes,
            code_challenge.map(|c| (c.to_string(), "S256".to_string())),
            issue,
        ))
    }

    /// Look up a bearer access token for `provider`.
    pub fn check_access(
        &self,
        provider: Provider,
        token: Option<&str>,
    ) -> Result<(AccountId, Vec<String>), AccessError> {
        let Some(token) = token else {
            return Err(AccessError::Missing);
        };
        match self.access.get(token) {
            Some(a) if a.provider == provider && !a.revoked => {
                if a.expires <= self.now() {
                    Err(AccessError::Expired)
                } else if !self.accounts.contains_key(&a.account) {
                    Err(AccessError::Invalid)
                } else {
                    Ok((a.account.clone(), a.scopes.clone()))
                }
            }
            _ => Err(AccessError::Invalid),
        }
    }

    // ---------------------------------------------------------------- faults and counts

    /// Count a call and take the fault (if any) for it.
    pub fn begin(&mut self, ep: Endpoint) -> Option<Fault> {
        *self.counts.entry(ep).or_default() += 1;
        let q = self.faults.get_mut(&ep)?;
        let (fault, left) = q.front_mut()?;
        let f = fault.clone();
        *left -= 1;
        if *left == 0 {
            q.pop_front();
        }
        Some(f)
    }

    pub fn inject(&mut self, ep: Endpoint, fault: Fault, times: u32) {
        if times > 0 {
            self.faults.entry(ep).or_default().push_back((fault, times));
        }
    }
}

fn shift(w: EventWhen, d: Duration) -> EventWhen {
    match w {
        EventWhen::Timed { start, end } => EventWhen::Timed {
            start: start + d,
            end: end + d,
        },
        EventWhen::AllDay {
            start_date,
            end_date,
        } => EventWhen::AllDay {
            start_date: start_date + d,
            end_date: end_date + d,
        },
    }
}
