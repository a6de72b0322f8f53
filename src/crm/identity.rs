//! Identities as CRMs write them: an X handle or a LinkedIn profile, as a bare name or as a
//! profile URL, reduced to the username an Inbox profile carries (X: the handle without `@`;
//! LinkedIn: the public-profile slug).
//!
//! Pure text: no matching (case is kept; `engine::matching` compares ignoring it) and no
//! checking that the name exists anywhere.

/// Hosts whose first path segment is an X handle.
const X_HOSTS: &[&str] = &[
    "x.com",
    "www.x.com",
    "mobile.x.com",
    "twitter.com",
    "www.twitter.com",
    "mobile.twitter.com",
];

/// An X handle from a CRM cell: `jane`, `@Jane`, `https://x.com/jane`, `twitter.com/jane?s=20`
/// and `x.com/Jane/` give `jane` / `Jane` (case kept). A URL on another host is kept as
/// written (it matches no profile). `None` when the cell holds no name.
pub fn x_handle(raw: &str) -> Option<String> {
    let value = raw.trim();
    let name = match url_path(value, |host| X_HOSTS.contains(&host)) {
        Some(path) => first_segment(path),
        None => value,
    };
    let name = name.trim().trim_start_matches('@').trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// A LinkedIn public-profile slug from a CRM cell: `jane-doe-1a2b3c`, or a profile URL such as
/// `https://www.linkedin.com/in/jane-doe-1a2b3c/`, `linkedin.com/in/jane-doe-1a2b3c?utm=x`,
/// `http://uk.linkedin.com/in/jane-doe-1a2b3c` (any scheme, host case, trailing slash, query or
/// fragment). A URL that is not a `/in/` profile on a LinkedIn host is kept as written (it
/// matches no profile). `None` when the cell holds no name.
pub fn linkedin_slug(raw: &str) -> Option<String> {
    let value = raw.trim();
    let is_linkedin = |host: &str| host == "linkedin.com" || host.ends_with(".linkedin.com");
    let name = match url_path(value, is_linkedin) {
        Some(path) => {
            let mut segments = path.split('/').filter(|s| !s.is_empty());
            match (segments.next(), segments.next()) {
                (Some(kind), Some(slug)) if kind.eq_ignore_ascii_case("in") => slug,
                _ => value,
            }
        }
        None => value,
    };
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_string())
}

/// The path of `value` (without query or fragment) when it is a URL, with or without a scheme,
/// on a host `host_ok` accepts (given in lowercase, without a port); `None` otherwise.
fn url_path(value: &str, host_ok: impl Fn(&str) -> bool) -> Option<&str> {
    let mut rest = value;
    for scheme in ["https://", "http://"] {
        if rest
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
        {
            rest = &rest[scheme.len()..];
            break;
        }
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end].split(':').next().unwrap_or_default();
    if !host_ok(&host.to_ascii_lowercase()) {
        return None;
    }
    let path = &rest[end..];
    let path_end = path.find(['?', '#']).unwrap_or(path.len());
    Some(&path[..path_end])
}

fn first_segment(path: &str) -> &str {
    path.split('/').find(|s| !s.is_empty()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn x_handles_as_urls_are_the_handle() {
        for raw in [
            "jane",
            " @jane ",
            "https://x.com/jane",
            "http://twitter.com/jane?s=20",
            "twitter.com/jane?s=20",
            "x.com/jane/",
            "HTTPS://WWW.X.COM/jane/status/1#top",
            "mobile.twitter.com/@jane",
        ] {
            assert_eq!(x_handle(raw).as_deref(), Some("jane"), "{raw}");
        }
        assert_eq!(x_handle("@H").as_deref(), Some("H"));
        assert_eq!(x_handle("x.com/H/").as_deref(), Some("H"));
        assert_eq!(x_handle("  @ "), None);
        assert_eq!(x_handle("https://x.com/"), None);
        // Not an X URL: kept as written, matching nothing.
        assert_eq!(
            x_handle("https://example.com/jane").as_deref(),
            Some("https://example.com/jane")
        );
    }

    #[test]
    fn linkedin_profile_urls_are_the_slug() {
        for raw in [
            "jane-doe-1a2b3c",
            "https://www.linkedin.com/in/jane-doe-1a2b3c/",
            "https://www.linkedin.com/in/jane-doe-1a2b3c",
            "linkedin.com/in/jane-doe-1a2b3c?utm=abc&x=1",
            "http://linkedin.com/in/jane-doe-1a2b3c",
            "www.LinkedIn.COM/in/jane-doe-1a2b3c/",
            "HTTPS://uk.linkedin.com/IN/jane-doe-1a2b3c/#about",
            " https://www.linkedin.com/in/jane-doe-1a2b3c/details/experience/ ",
        ] {
            assert_eq!(
                linkedin_slug(raw).as_deref(),
                Some("jane-doe-1a2b3c"),
                "{raw}"
            );
        }
        assert_eq!(linkedin_slug(" "), None);
        // A company page is not a profile: kept as written.
        assert_eq!(
            linkedin_slug("https://www.linkedin.com/company/acme").as_deref(),
            Some("https://www.linkedin.com/company/acme")
        );
    }

    /// Every way the tests above wrap a name in a URL.
    fn wrapped(name: &str, scheme: usize, host: &str, tail: usize) -> String {
        let scheme = ["", "http://", "https://", "HTTPS://", "Http://"][scheme];
        let tail = ["", "/", "?utm_source=share&utm_medium=x", "/?s=20", "#top"][tail];
        format!("{scheme}{host}{name}{tail}")
    }

    proptest! {
        #[test]
        fn any_slug_in_any_linkedin_url_form_reduces_to_itself(
            slug in "[A-Za-z0-9][A-Za-z0-9-]{0,40}",
            scheme in 0usize..5,
            host in prop::sample::select(vec![
                "linkedin.com/in/", "www.linkedin.com/in/", "WWW.LinkedIn.com/in/",
                "uk.linkedin.com/in/", "www.linkedin.com/IN/",
            ]),
            tail in 0usize..5,
            pad in prop::sample::select(vec!["", " ", "\t"]),
        ) {
            let raw = format!("{pad}{}{pad}", wrapped(&slug, scheme, host, tail));
            prop_assert_eq!(linkedin_slug(&raw), Some(slug.clone()));
            prop_assert_eq!(linkedin_slug(&slug), Some(slug));
        }

        #[test]
        fn any_handle_in_any_x_url_form_reduces_to_itself(
            handle in "[A-Za-z0-9_]{1,15}",
            scheme in 0usize..5,
            host in prop::sample::select(vec![
                "x.com/", "www.x.com/", "twitter.com/", "www.twitter.com/", "X.com/@",
                "mobile.twitter.com/",
            ]),
            tail in 0usize..5,
        ) {
            let raw = wrapped(&handle, scheme, host, tail);
            prop_assert_eq!(x_handle(&raw), Some(handle.clone()));
            prop_assert_eq!(x_handle(&format!("@{handle}")), Some(handle));
        }
    }
}
