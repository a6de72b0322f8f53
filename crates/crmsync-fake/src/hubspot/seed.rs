//! Contacts seeded from fake Inbox prospects, so that the two fakes can be tried together
//! (`crmsync fake-hubspot`, `crmsync demo --crm hubspot`, tests): one contact per prospect
//! agreeing with Inbox, optionally with the blemishes of a real CRM (contacts missing, keyed by
//! handle only, without their tags yet, unknown to Inbox, unreadable).
//!
//! It writes through the fake's own seeding call (no validation, no write log) and never
//! serves requests. It knows the property names of docs/design.md §8 (`twitter_user_id`,
//! `inbox_tags`, ...) and [`STATUS_MAP`], nothing else of crmsync.

use std::collections::BTreeMap;

use crate::inbox_v1::ProspectView;

use super::FakeHubspot;

/// Inbox status name → `hs_lead_status` option of the fake, for `[mapping.status]`.
pub const STATUS_MAP: [(&str, &str); 5] = [
    ("Lead", "NEW"),
    ("Interested", "OPEN"),
    ("Negotiating", "IN_PROGRESS"),
    ("Won", "OPEN_DEAL"),
    ("Lost", "UNQUALIFIED"),
];

/// The `[crm.hubspot.properties]` a config needs for contacts seeded here, as TOML lines.
pub const PROPERTIES_TOML: &str = r#"x_user_id = "twitter_user_id"
username = "twitterhandle"
tags = "inbox_tags"
status = "hs_lead_status"
valuation = "inbox_valuation"
notes = "inbox_notes"
owner = "hubspot_owner_id"
done = "inbox_done"
"#;

/// What seeding made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeded {
    /// `(prospect external id, contact id)` of the contacts made from prospects, in order.
    pub contacts: Vec<(String, String)>,
    /// Contacts Inbox does not know (with blemishes): `(handle, contact id)`.
    pub others: Vec<(String, String)>,
}

impl FakeHubspot {
    /// Adds one contact per prospect holding the prospect's values: X id and handle, name,
    /// tags (as option values, by label), status (through [`STATUS_MAP`]), valuation, notes,
    /// the first thread's assignee (as the owner with that e-mail) and done. Values the fake
    /// has no option or owner for are left unset.
    ///
    /// With `blemishes`, as a real CRM export would have it: every 12th prospect has no
    /// contact, every 15th contact has only the handle (upper case, with `@`), every 20th has
    /// no tags yet, and two contacts Inbox does not know are added, one of them with a
    /// valuation that cannot be read.
    pub fn seed_from_prospects(&self, prospects: &[ProspectView], blemishes: bool) -> Seeded {
        let tag_options = self.options("inbox_tags");
        let owners = self.owners();
        let mut seeded = Seeded::default();
        for (idx, p) in prospects.iter().enumerate() {
            if blemishes && idx % 12 == 11 {
                continue;
            }
            let mut props: BTreeMap<&str, String> = BTreeMap::new();
            let (first, last) = p
                .display_name
                .split_once(' ')
                .unwrap_or((p.display_name.as_str(), ""));
            props.insert("firstname", first.to_owned());
            props.insert("lastname", last.to_owned());
            if blemishes && idx % 15 == 4 {
                props.insert("twitterhandle", format!("@{}", p.username.to_uppercase()));
            } else {
                props.insert("twitter_user_id", p.platform_id.clone());
                props.insert("twitterhandle", format!("@{}", p.username));
            }
            if !(blemishes && idx % 20 == 7) {
                let values: Vec<&str> = p
                    .tags
                    .iter()
                    .filter_map(|name| {
                        tag_options
                            .iter()
                            .find(|(_, label)| label.eq_ignore_ascii_case(name))
                            .map(|(value, _)| value.as_str())
                    })
                    .collect();
                props.insert("inbox_tags", values.join(";"));
            }
            if let Some(status) = p.status.as_deref().and_then(crm_status) {
                props.insert("hs_lead_status", status.to_owned());
            }
            if let Some(valuation) = &p.valuation {
                props.insert("inbox_valuation", valuation.to_string());
            }
            if let Some(notes) = &p.notes {
                props.insert("inbox_notes", notes.clone());
            }
            let first_thread = p.threads.first();
            if let Some(owner) = first_thread
                .and_then(|t| t.assignee_email.as_deref())
                .and_then(|email| owners.iter().find(|(_, e)| e.eq_ignore_ascii_case(email)))
            {
                props.insert("hubspot_owner_id", owner.0.clone());
            }
            if let Some(thread) = first_thread {
                props.insert("inbox_done", thread.done.to_string());
            }
            let props: Vec<(&str, String)> = props.into_iter().collect();
            let id = self.add_contact(&props);
            seeded.contacts.push((p.external_id.clone(), id));
        }
        if blemishes {
            let unknown = [
                ("twitter_user_id", "1999000000000000001"),
                ("twitterhandle", "@not_on_inbox"),
                ("firstname", "Pat"),
                ("lastname", "Offline"),
                ("hs_lead_status", "NEW"),
                ("inbox_valuation", "500"),
            ];
            seeded
                .others
                .push(("not_on_inbox".into(), self.add_contact(&unknown)));
            // An import broke this one: the valuation is text (the API would refuse it today).
            let unreadable = [
                ("twitter_user_id", "1999000000000000002"),
                ("twitterhandle", "@typo_row"),
                ("firstname", "Kim"),
                ("lastname", "Typo"),
                ("hs_lead_status", "NEW"),
                ("inbox_valuation", "ten thousand"),
            ];
            seeded
                .others
                .push(("typo_row".into(), self.add_contact(&unreadable)));
        }
        seeded
    }
}

/// The `hs_lead_status` value of an Inbox status name.
pub fn crm_status(inbox: &str) -> Option<&'static str> {
    STATUS_MAP
        .iter()
        .find(|(name, _)| *name == inbox)
        .map(|(_, value)| *value)
}
