//! Redirect targets (`success_url`, `error_url`) and their allow-list of origins.
//!
//! Convene never follows a URL whose origin is not allowed. Parsing is strict on purpose:
//! anything a browser could read differently from us (backslashes, control characters,
//! scheme-relative `//host`, `https:host` without slashes, userinfo) is refused outright.

use url::Url;

/// Normalises an origin such as `https://App.Example.com:443/` to `https://app.example.com`.
/// None when the text is not an http(s) origin.
pub fn parse_origin(text: &str) -> Option<String> {
    let url = parse_strict(text)?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return None;
    }
    Some(origin_of(&url))
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Parses an absolute http(s) URL, refusing the forms browsers and parsers disagree on.
pub fn parse_strict(text: &str) -> Option<Url> {
    if text.is_empty()
        || text.len() > 2048
        || text
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == ' ')
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    // Require the literal `scheme://` prefix: `https:evil.com` and `//evil.com` are refused.
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let url = Url::parse(text).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    url.host_str()?;
    Some(url)
}

/// The redirect targets this server may send a browser to.
#[derive(Clone, Debug, Default)]
pub struct AllowList {
    origins: Vec<String>,
}

impl AllowList {
    /// `public_url`'s origin is always allowed; `configured` adds normalised origins.
    pub fn new(public_url: &Url, configured: impl IntoIterator<Item = String>) -> Self {
        let mut origins = vec![origin_of(public_url)];
        for o in configured {
            if !origins.contains(&o) {
                origins.push(o);
            }
        }
        AllowList { origins }
    }

    /// The parsed URL when `text` is a safe absolute URL on an allowed origin.
    pub fn check(&self, text: &str) -> Option<Url> {
        let url = parse_strict(text)?;
        let origin = origin_of(&url);
        self.origins.contains(&origin).then_some(url)
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        AllowList::new(
            &Url::parse("https://convene.example.com").unwrap(),
            vec!["https://app.example.com".to_string()],
        )
    }

    #[test]
    fn allows_listed_origins() {
        let l = list();
        assert!(l.check("https://app.example.com/done?x=1").is_some());
        assert!(l.check("HTTPS://APP.EXAMPLE.COM/done").is_some());
        assert!(l.check("https://convene.example.com/").is_some());
        assert!(l.check("https://app.example.com:443/ok").is_some());
    }

    #[test]
    fn refuses_parser_tricks() {
        let l = list();
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "https:evil.com",
            "https:/evil.com",
            "https://app.example.com@evil.com/",
            "https://user:pw@app.example.com/",
            "https://evil.com\t.app.example.com/",
            "https://app.example.com\n.evil.com/",
            "https://evil.com/https://app.example.com",
            "https://app.example.com.evil.com/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "JavaScript://app.example.com/%0aalert(1)",
            "https:\\\\evil.com",
            "https://app.example.com:8443/",
            "",
            "/relative/path",
        ] {
            assert!(l.check(bad).is_none(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn origin_normalisation() {
        assert_eq!(
            parse_origin("https://App.Example.com:443/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(parse_origin("https://a.com/path"), None);
        assert_eq!(parse_origin("ftp://a.com"), None);
    }
}
