//! `application/x-www-form-urlencoded` (forms and query strings).

pub fn parse(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes() {
        let f = super::parse("a=1+2&b=%2Fx%26y&c");
        assert_eq!(f, vec![("a".into(), "1 2".into()), ("b".into(), "/x&y".into()), ("c".into(), "".into())]);
    }
}
