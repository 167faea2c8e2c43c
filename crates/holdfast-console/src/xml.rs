//! Reading the S3 answers the console asked for: their shapes are known, so a few element
//! lookups are enough (no schema, no DOM).

/// The inner texts of every `<tag>…</tag>` in `xml`, not unescaped.
pub fn blocks<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<tag>` in `xml`.
pub fn text(xml: &str, tag: &str) -> Option<String> {
    blocks(xml, tag).first().map(|s| unescape(s))
}

pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#xD;", "\r")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_and_unescapes() {
        let x = "<R><Version><Key>a&amp;b</Key><VersionId>1</VersionId></Version><Version><Key>c</Key></Version></R>";
        let v = blocks(x, "Version");
        assert_eq!(v.len(), 2);
        assert_eq!(text(v[0], "Key").unwrap(), "a&b");
        assert_eq!(text(v[0], "VersionId").unwrap(), "1");
        assert!(text(v[1], "VersionId").is_none());
    }
}
