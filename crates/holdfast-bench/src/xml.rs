//! Just enough XML reading for the answers the bench needs (its own keys, S3's elements).

/// The text of every `<tag>...</tag>` in `xml`, in order.
pub fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(a) = rest.find(&open) {
        let after = &rest[a + open.len()..];
        let Some(b) = after.find(&close) else { break };
        out.push(&after[..b]);
        rest = &after[b + close.len()..];
    }
    out
}

pub fn first<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    all(xml, tag).into_iter().next()
}

pub fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_elements() {
        let x = "<R><Version><Key>a</Key><VersionId>1</VersionId></Version><Version><Key>b&amp;</Key></Version></R>";
        let v = super::all(x, "Version");
        assert_eq!(v.len(), 2);
        assert_eq!(super::first(v[0], "VersionId"), Some("1"));
        assert_eq!(super::unescape(super::first(v[1], "Key").unwrap()), "b&");
    }
}
