//! Names a person typed, checked against the names that exist: `[mapping.status]` against the
//! team's Inbox statuses, with the closest name as a suggestion ("did you mean ...?").
//!
//! It must not fetch the names (the caller has them from `GET /statuses` or the mirror) or
//! print (the messages go back to `cli`).

use super::Config;

impl Config {
    /// One message per `[mapping.status]` name that is not one of `inbox_statuses`, e.g.
    /// `no Inbox status "Intrested"; did you mean "Interested"?`. Empty when every name is one.
    pub fn unknown_status_names(&self, inbox_statuses: &[&str]) -> Vec<String> {
        self.mapping
            .status
            .keys()
            .filter(|name| !inbox_statuses.contains(&name.as_str()))
            .map(|name| match closest(name, inbox_statuses) {
                Some(close) => format!("no Inbox status {name:?}; did you mean {close:?}?"),
                None if inbox_statuses.is_empty() => {
                    format!("no Inbox status {name:?}: the team has no statuses")
                }
                None => format!(
                    "no Inbox status {name:?}; the team's statuses are {}",
                    inbox_statuses
                        .iter()
                        .map(|s| format!("{s:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
            .collect()
    }
}

/// The name among `names` closest to `typed`, if one is close enough to be what was meant: at
/// most a third of its letters off (at least one), ignoring case.
pub fn closest<'a>(typed: &str, names: &[&'a str]) -> Option<&'a str> {
    let typed = typed.to_lowercase();
    let allowed = (typed.chars().count() / 3).max(1);
    names
        .iter()
        .map(|name| (edit_distance(&typed, &name.to_lowercase()), *name))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance in characters: insertions, deletions and substitutions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("intrested", "interested"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("été", "ete"), 2);
    }

    #[test]
    fn closest_suggests_a_near_name_ignoring_case_and_nothing_far() {
        let names = ["Lead", "Interested", "Negotiating", "Won", "Lost"];
        assert_eq!(closest("Intrested", &names), Some("Interested"));
        assert_eq!(closest("negotiating", &names), Some("Negotiating"));
        assert_eq!(closest("Wn", &names), Some("Won"));
        assert_eq!(closest("Qualified", &names), None);
        assert_eq!(closest("x", &[]), None);
    }
}
