//! HTML building blocks: escaping, the page frame, forms with their CSRF token. No script
//! anywhere: the Content-Security-Policy forbids it, and the pages work without it.

use crate::session::Session;

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Everything but RFC 3986's unreserved characters.
const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A query-string component.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// The page frame: navigation (when signed in), the title as `h1`, the body.
pub fn page(title: &str, session: Option<&Session>, body: &str) -> String {
    let nav = match session {
        Some(s) => {
            let admin = if s.is_root {
                format!(
                    "<li><a href=\"{m}/report\">Lock report</a></li><li><a href=\"{m}/audit\">Audit trail</a></li>\
                     <li><a href=\"{m}/backlogs\">Backlogs</a></li>",
                    m = crate::MOUNT
                )
            } else {
                String::new()
            };
            format!(
                "<nav aria-label=\"Main\"><ul><li><a href=\"{m}/\">Buckets</a></li>{admin}</ul>\
                 <form method=\"post\" action=\"{m}/signout\" class=\"signout\">{csrf}\
                 <span class=\"who\">Signed in as <strong>{who}</strong></span> \
                 <button type=\"submit\">Sign out</button></form></nav>",
                m = crate::MOUNT,
                csrf = csrf_field(s),
                who = esc(&s.principal)
            )
        }
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Holdfast console</title><link rel=\"stylesheet\" href=\"{m}/style.css\"></head>\
         <body><header><a class=\"brand\" href=\"{m}/\">Holdfast</a>{nav}</header>\
         <main id=\"main\"><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
        m = crate::MOUNT,
    )
}

pub fn csrf_field(s: &Session) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&s.csrf))
}

/// A refusal in the API's words.
pub fn refusal(r: &crate::calls::Refusal) -> String {
    format!(
        "<div class=\"refusal\" role=\"alert\"><p><strong>Refused: <code class=\"code\">{}</code></strong></p>\
         <p class=\"message\">{}</p></div>",
        esc(&r.code),
        esc(&r.message)
    )
}

pub fn notice(text: &str) -> String {
    format!("<div class=\"notice\" role=\"status\"><p>{}</p></div>", esc(text))
}

/// Bytes for people.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

pub const CSS: &str = include_str!("style.css");
