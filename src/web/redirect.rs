//! Where we may send a browser after sign-in: only paths on our own origin
//! (SPEC §6: no open redirect).

/// Returns the path if it is a same-origin absolute path, else None.
/// Refuses scheme-relative (`//evil`), backslash tricks (`/\evil`, which
/// browsers treat as `//`), anything with a scheme, and control characters.
pub fn safe_return_path(candidate: &str) -> Option<&str> {
    let ok = candidate.starts_with('/')
        && !candidate.starts_with("//")
        && !candidate.starts_with("/\\")
        && candidate.len() <= 2048
        && !candidate.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::safe_return_path;

    #[test]
    fn only_same_origin_paths() {
        let cases = [
            ("/o/acme/", true),
            ("/o/acme/admin?tab=users#x", true),
            ("/", true),
            ("", false),
            ("o/acme", false),
            ("//evil.example", false),
            ("/\\evil.example", false),
            ("/\\/evil.example", false),
            ("https://evil.example/", false),
            ("javascript:alert(1)", false),
            ("/o/acme\n/", false),
            ("/o/a\\b", false),
        ];
        for (input, ok) in cases {
            assert_eq!(safe_return_path(input).is_some(), ok, "{input:?}");
        }
    }
}
