//! Value vocabularies: normalizing values and mapping CRM values to and from Inbox ones.
//!
//! The merge compares values in Inbox vocabulary only, so every CRM value passes through here
//! first. Nothing here guesses: a CRM status that maps to no Inbox status, an owner who is not an
//! Inbox member, or an Inbox status that could not be read back from the CRM is reported as an
//! unmapped value (the caller turns it into a conflict), never approximated. No I/O, no clock.

use std::collections::BTreeSet;

use super::model::{Value, Vocabulary};

/// Why a value could not be mapped: one line for humans (the conflict's `detail`).
pub(crate) type Unmapped = String;

impl Vocabulary {
    /// The Inbox status names a CRM status value may stand for, in `status_map` order.
    ///
    /// CRM values are compared trimmed and case-insensitively against the map. When no pair
    /// matches, the CRM value is accepted only if it is (trimmed) exactly an Inbox status name.
    /// An empty answer means the value is unmapped; more than one means it is ambiguous.
    pub fn status_candidates(&self, crm_value: &str) -> Vec<&str> {
        let crm_value = crm_value.trim();
        let mut names: Vec<&str> = Vec::new();
        for (inbox_name, mapped) in &self.status_map {
            let inbox_name = inbox_name.trim();
            if eq_caseless(mapped.trim(), crm_value) && !names.contains(&inbox_name) {
                names.push(inbox_name);
            }
        }
        if names.is_empty()
            && let Some(name) = self.inbox_statuses.get(crm_value)
        {
            names.push(name.as_str());
        }
        names
    }

    /// The CRM value written for an Inbox status name: the first mapped value, else the name.
    pub fn status_to_crm<'a>(&'a self, inbox_name: &'a str) -> &'a str {
        let inbox_name = inbox_name.trim();
        self.status_map
            .iter()
            .find(|(name, _)| name.trim() == inbox_name)
            .map_or(inbox_name, |(_, crm_value)| crm_value.trim())
    }

    /// Whether an e-mail (any case) belongs to an Inbox member.
    pub fn is_member(&self, email: &str) -> bool {
        self.member_emails.contains(&email.trim().to_lowercase())
    }
}

/// Case-insensitive comparison that also folds non-ASCII letters.
fn eq_caseless(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

/// A value in canonical form, so that `==` is the merge's notion of "the same value".
///
/// Tags are trimmed and empty names dropped; empty status and notes are `None`; an assignee is
/// trimmed and lowercase; a missing done flag is `false` (an Inbox thread is always either done
/// or not, so an empty CRM cell can only mean "not done").
pub(crate) fn canonical(value: Value) -> Value {
    match value {
        Value::Tags(tags) if tags.iter().all(|t| !t.is_empty() && t.trim() == t) => {
            Value::Tags(tags)
        }
        Value::Tags(tags) => Value::Tags(
            tags.iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<BTreeSet<_>>(),
        ),
        Value::Status(status) => Value::Status(non_blank(status, false)),
        // Line endings and final line breaks are how a side stores a note, not what it says.
        Value::Notes(notes) => Value::Notes(
            notes
                .map(|text| super::notes::normalize(&text))
                .filter(|text| !text.is_empty()),
        ),
        Value::Assignee(email) => Value::Assignee(non_blank(email, true)),
        Value::Done(done) => Value::Done(Some(done.unwrap_or(false))),
        Value::Valuation(amount) => Value::Valuation(amount),
    }
}

/// Trims a text, maps blank to `None`, optionally lowercases.
fn non_blank(text: Option<String>, lowercase: bool) -> Option<String> {
    let text = text?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        None
    } else if lowercase {
        Some(trimmed.to_lowercase())
    } else if trimmed.len() == text.len() {
        Some(text)
    } else {
        Some(trimmed.to_owned())
    }
}

/// Checks that an Inbox value can be synced: an assignee must be a member e-mail (threads carry
/// the raw member id when it maps to no member).
pub(crate) fn check_inbox(vocab: &Vocabulary, inbox: &Value) -> Result<(), Unmapped> {
    match inbox {
        Value::Assignee(Some(email)) if !vocab.is_member(email) => Err(format!(
            "Inbox assignee {email:?} is not the e-mail of an Inbox member"
        )),
        _ => Ok(()),
    }
}

/// Maps a raw CRM value into canonical Inbox vocabulary.
///
/// A CRM status that may stand for several Inbox statuses is read as the Inbox value or the
/// base when either is among them (the CRM cannot tell them apart, so it holds no news), and is
/// unmapped otherwise.
pub(crate) fn crm_to_inbox(
    vocab: &Vocabulary,
    raw: &Value,
    inbox: &Value,
    base: Option<&Value>,
) -> Result<Value, Unmapped> {
    match canonical(raw.clone()) {
        Value::Status(Some(crm_value)) => {
            let names = vocab.status_candidates(&crm_value);
            let pick = |hint: Option<&Value>| match hint {
                Some(Value::Status(Some(name))) => names.iter().find(|n| **n == name).copied(),
                _ => None,
            };
            let chosen = match names.as_slice() {
                [] => {
                    return Err(format!("CRM status {crm_value:?} maps to no Inbox status"));
                }
                [only] => Some(*only),
                _ => pick(Some(inbox)).or_else(|| pick(base)),
            };
            match chosen {
                Some(name) => Ok(Value::Status(Some(name.to_owned()))),
                None => Err(format!(
                    "CRM status {crm_value:?} maps to several Inbox statuses ({})",
                    names.join(", ")
                )),
            }
        }
        Value::Assignee(Some(email)) if !vocab.is_member(&email) => Err(format!(
            "CRM owner {email:?} is not the e-mail of an Inbox member"
        )),
        value => Ok(value),
    }
}

/// Maps a canonical Inbox value to the raw value written to the CRM.
///
/// A status is written as its mapped CRM value and must read back as the same Inbox status;
/// otherwise (no mapping and not a known status name, or a mapping that reads back as another
/// status) writing it would turn into a different value on the next run, so it is unmapped.
pub(crate) fn inbox_to_crm(vocab: &Vocabulary, value: &Value) -> Result<Value, Unmapped> {
    match value {
        Value::Status(Some(name)) => {
            let crm_value = vocab.status_to_crm(name);
            if vocab.status_candidates(crm_value).contains(&name.as_str()) {
                Ok(Value::Status(Some(crm_value.to_owned())))
            } else {
                Err(format!(
                    "Inbox status {name:?} has no CRM value that maps back to it"
                ))
            }
        }
        Value::Assignee(Some(email)) if !vocab.is_member(email) => Err(format!(
            "Inbox assignee {email:?} is not the e-mail of an Inbox member"
        )),
        value => Ok(value.clone()),
    }
}

/// Whether two raw CRM values are the same CRM value (statuses compare trimmed and
/// case-insensitively, everything else in canonical form).
pub(crate) fn crm_equivalent(a: &Value, b: &Value) -> bool {
    match (canonical(a.clone()), canonical(b.clone())) {
        (Value::Status(Some(a)), Value::Status(Some(b))) => eq_caseless(&a, &b),
        (a, b) => a == b,
    }
}
