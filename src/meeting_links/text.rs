//! Free text to plain text and the URLs in it: HTML tags dropped with `href`/`src` kept,
//! entities decoded.

/// HTML (or plain text) to plain text: tags dropped, `href`/`src` values kept inline,
/// `<style>`/`<script>`/comments removed, entities decoded.
pub fn html_to_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let after = &rest[lt..];
        if let Some(end) = after.strip_prefix("<!--").and_then(|a| a.find("-->")) {
            rest = &after[4 + end + 3..];
            out.push(' ');
            continue;
        }
        let Some(tag) = parse_tag(after) else {
            // Not a tag (e.g. `<https://...>` in plain text): keep the character.
            out.push('<');
            rest = &after[1..];
            continue;
        };
        rest = &after[tag.len..];
        if !tag.closing && matches!(tag.name.as_str(), "style" | "script" | "head" | "title") {
            let close = format!("</{}", tag.name);
            match find_ascii_ci(rest, &close) {
                Some(i) => {
                    let skipped = &rest[i..];
                    rest = skipped.find('>').map(|j| &skipped[j + 1..]).unwrap_or("");
                }
                None => rest = "",
            }
            out.push(' ');
            continue;
        }
        out.push(' ');
        if let Some(href) = tag.href {
            out.push_str(&decode_entities(&href));
            out.push(' ');
        }
        if matches!(
            tag.name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "td" | "table" | "hr"
        ) {
            out.push('\n');
        }
    }
    out.push_str(&decode_entities(rest));
    out
}

struct Tag {
    name: String,
    closing: bool,
    href: Option<String>,
    len: usize,
}

/// Parses `<name ...>` / `</name>` at the start of `s`; `None` when it is not a tag.
fn parse_tag(s: &str) -> Option<Tag> {
    let b = s.as_bytes();
    let mut i = 1;
    let closing = b.get(1) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b':' || b[i] == b'-') {
        i += 1;
    }
    if i == name_start || !b[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    // A tag name is followed by whitespace, `/` or `>`; `<https://…>` is not a tag.
    if name.contains(':') || !matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>')) {
        return None;
    }
    // Find the closing `>` outside quotes.
    let mut quote: Option<u8> = None;
    let mut j = i;
    while j < b.len() {
        match (quote, b[j]) {
            (Some(q), c) if c == q => quote = None,
            (None, b'"' | b'\'') => quote = Some(b[j]),
            (None, b'>') => break,
            _ => {}
        }
        j += 1;
    }
    let attrs = &s[i..j.min(s.len())];
    let len = (j + 1).min(s.len());
    let href = attr_value(attrs, "href").or_else(|| attr_value(attrs, "src"));
    Some(Tag {
        name,
        closing,
        href,
        len,
    })
}

fn attr_value(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let vstart = attrs.len() - rest.len() + 1;
        let v = attrs[vstart..].trim_start();
        return Some(match v.chars().next() {
            Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or("").to_string(),
            _ => v
                .split(|c: char| c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string(),
        });
    }
    None
}

fn find_ascii_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(&needle.to_ascii_lowercase())
}

/// Decodes HTML character references (named common ones and numeric).
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after
            .char_indices()
            .take(12)
            .find(|(_, c)| *c == ';')
            .map(|(i, _)| i);
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let ch = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse::<u32>().ok(),
                };
                code.and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "ndash" => Some('–'),
                    "mdash" => Some('—'),
                    _ => None,
                }
            };
            ch.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(if c == '\u{a0}' { ' ' } else { c });
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// URLs in plain text, in order: `http(s)://…` anywhere in a word, and scheme-less words
/// such as `zoom.us/j/123` (kept when they classify as a meeting).
pub fn urls_in_text(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words = text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '"' | '\'' | '(' | ')' | '[' | ']' | '|' | '\\' | '`'
            )
    });
    for word in words {
        let lower = word.to_ascii_lowercase();
        let candidate = match lower.find("https://").or_else(|| lower.find("http://")) {
            Some(pos) => word[pos..].to_string(),
            None => {
                let host = lower.split('/').next().unwrap_or("");
                if lower.contains('/')
                    && host.contains('.')
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                {
                    format!("https://{word}")
                } else {
                    continue;
                }
            }
        };
        let trimmed = candidate.trim_end_matches(['.', ',', ';', ':', '!', '?', '*', '…']);
        if trimmed.len() > "https://".len() {
            out.push(trimmed.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_hrefs_and_decodes_entities() {
        let t = html_to_text(
            r#"<p>Hi&nbsp;all</p><a href="https://zoom.us/j/123456789?pwd=a&amp;b=c">Join</a><!-- x --><style>p{}</style>"#,
        );
        assert!(t.contains("https://zoom.us/j/123456789?pwd=a&b=c"), "{t}");
        assert!(t.contains("Hi all"));
        assert!(!t.contains("p{}"));
    }

    #[test]
    fn angle_bracketed_plain_urls_are_not_tags() {
        let t = html_to_text("Join: <https://meet.google.com/abc-defg-hij>");
        assert_eq!(
            urls_in_text(&t),
            vec!["https://meet.google.com/abc-defg-hij"]
        );
    }
}
