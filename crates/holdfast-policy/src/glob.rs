//! The IAM wildcard language: `*` is any run of characters (including none and including `/`),
//! `?` is exactly one character, everything else is literal.
//!
//! Actions match case-insensitively, resources and `StringLike` values case-sensitively, so the
//! matcher takes the case rule as a parameter. Patterns are tokens rather than strings because a
//! policy variable such as `${*}` or a substituted user name must stay literal even when it
//! contains `*` or `?`.

/// One element of a compiled pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Char(char),
    /// `*`: any run, possibly empty.
    Star,
    /// `?`: exactly one character.
    Question,
}

/// Tokens of a pattern written directly in a policy, where `*` and `?` are wildcards.
pub(crate) fn wildcard_tokens(pattern: &str) -> impl Iterator<Item = Token> + '_ {
    pattern.chars().map(|c| match c {
        '*' => Token::Star,
        '?' => Token::Question,
        c => Token::Char(c),
    })
}

/// Tokens that match `text` literally, wildcard characters included.
pub(crate) fn literal_tokens(text: &str) -> impl Iterator<Item = Token> + '_ {
    text.chars().map(Token::Char)
}

/// Whether `text` matches the whole of `pattern`.
///
/// Greedy two-pointer match that backtracks only to the most recent `*`: linear in the common
/// case, `O(pattern × text)` at worst, and never recursive (so no stack overflow on hostile input).
pub(crate) fn matches(pattern: &[Token], text: &str, ignore_case: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    // Position of the last `*` seen and the text position it currently absorbs up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Token::Question) => {
                p += 1;
                t += 1;
            }
            Some(Token::Char(c)) if chars_equal(*c, text[t], ignore_case) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star absorb one more character and retry from there.
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|tok| *tok == Token::Star)
}

/// Whether some string that starts with `prefix` matches `pattern` (used to tell whether a
/// resource pattern can name an object in a bucket). Simulates the pattern as an automaton over
/// `prefix`; any state still alive at its end can be completed.
pub(crate) fn can_match_with_prefix(pattern: &[Token], prefix: &str) -> bool {
    // `alive[i]`: pattern position i can be reached after the text read so far.
    let mut alive = vec![false; pattern.len() + 1];
    alive[0] = true;
    close_over_stars(pattern, &mut alive);
    for c in prefix.chars() {
        let mut next = vec![false; pattern.len() + 1];
        for (i, token) in pattern.iter().enumerate() {
            if !alive[i] {
                continue;
            }
            match token {
                Token::Star => next[i] = true,
                Token::Question => next[i + 1] = true,
                Token::Char(p) if *p == c => next[i + 1] = true,
                Token::Char(_) => {}
            }
        }
        close_over_stars(pattern, &mut next);
        if !next.contains(&true) {
            return false;
        }
        alive = next;
    }
    true
}

/// A `*` may match nothing, so reaching it also reaches the position after it.
fn close_over_stars(pattern: &[Token], alive: &mut [bool]) {
    for i in 0..pattern.len() {
        if alive[i] && pattern[i] == Token::Star {
            alive[i + 1] = true;
        }
    }
}

fn chars_equal(a: char, b: char, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()))
}

/// Case-sensitive wildcard match of a policy pattern (`*`, `?`) against `text`.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let tokens: Vec<Token> = wildcard_tokens(pattern).collect();
    matches(&tokens, text, false)
}

/// Case-insensitive wildcard match, as used for `Action` / `NotAction`.
pub fn wildcard_match_ignore_case(pattern: &str, text: &str) -> bool {
    let tokens: Vec<Token> = wildcard_tokens(pattern).collect();
    matches(&tokens, text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_spans_slashes_and_may_be_empty() {
        assert!(wildcard_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c"));
        assert!(wildcard_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/"));
        assert!(!wildcard_match("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        assert!(wildcard_match("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYbZc"));
        assert!(!wildcard_match("a*b*c", "aXXbYYbZ"));
    }

    #[test]
    fn question_is_exactly_one_character() {
        assert!(wildcard_match("s3:Get?bject", "s3:GetObject"));
        assert!(!wildcard_match("s3:Get?bject", "s3:Getbject"));
        assert!(wildcard_match("??", "éü"));
        assert!(!wildcard_match("?", ""));
    }

    #[test]
    fn case_rules() {
        assert!(!wildcard_match("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/x"));
        assert!(wildcard_match_ignore_case("S3:getobject", "s3:GetObject"));
        assert!(wildcard_match_ignore_case("s3:get*", "s3:GetObjectRetention"));
        assert!(!wildcard_match_ignore_case("s3:put*", "s3:GetObject"));
    }

    #[test]
    fn literal_tokens_do_not_wildcard() {
        let tokens: Vec<Token> = literal_tokens("a*").collect();
        assert!(matches(&tokens, "a*", false));
        assert!(!matches(&tokens, "abc", false));
    }

    #[test]
    fn prefix_completion() {
        let can = |p: &str, prefix: &str| can_match_with_prefix(&wildcard_tokens(p).collect::<Vec<_>>(), prefix);
        assert!(can("arn:aws:s3:::b/*", "arn:aws:s3:::b/"));
        assert!(can("arn:aws:s3:::b/key", "arn:aws:s3:::b/"));
        assert!(can("arn:aws:s3:::b*", "arn:aws:s3:::b/"));
        assert!(can("*", "arn:aws:s3:::b/"));
        assert!(can("arn:aws:s3:::?/x", "arn:aws:s3:::b/"));
        assert!(!can("arn:aws:s3:::b", "arn:aws:s3:::b/"));
        assert!(!can("arn:aws:s3:::c/*", "arn:aws:s3:::b/"));
        assert!(!can("arn:aws:s3:::bb/*", "arn:aws:s3:::b/"));
    }

    #[test]
    fn pathological_pattern_is_not_exponential() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!wildcard_match(&pattern, &text));
    }
}
