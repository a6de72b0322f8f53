//! The demo's CRM records: built from the fake Inbox's contacts with the blemishes of a real
//! CRM, then written as the CSV export or seeded into the fake HubSpot.
//!
//! Data only: nothing here runs the engine or prints.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;

use crmsync_fake::hubspot::{FakeHubspot, PropertySpec, Seeded, crm_status as hubspot_status};
use crmsync_fake::inbox_v2::{FakeInboxV2, ThreadView};

use super::{CrmSummary, HEADER, crm_status, profile};

/// One CRM record of the demo, before it is a CSV row or a HubSpot contact.
pub(super) struct DemoRecord {
    /// The Inbox contact it was made from (none for records Inbox does not know).
    contact: Option<String>,
    x_id: String,
    handle: String,
    linkedin_id: String,
    linkedin_url: String,
    name: String,
    tags: Vec<String>,
    /// The Inbox status name.
    status: Option<String>,
    valuation: String,
    notes: String,
    owner: String,
    done: String,
}

/// Records that agree with Inbox for most contacts, with the usual blemishes of a real CRM:
/// some keyed by handle only, some LinkedIn contacts by their profile URL only, some contacts
/// missing, records Inbox does not know, and one that cannot be read. Without `blemishes`:
/// one record per contact, agreeing with it and keyed by every id it has.
pub(super) fn crm_records(fake: &FakeInboxV2, blemishes: bool) -> Vec<DemoRecord> {
    let threads: BTreeMap<String, ThreadView> = fake
        .threads()
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    let mut out = Vec::new();
    for (idx, c) in fake.contacts().iter().enumerate() {
        // Every 12th contact has no CRM record yet.
        if blemishes && idx % 12 == 11 {
            continue;
        }
        let first = c.thread_ids.first().and_then(|id| threads.get(id));
        let (mut x_id, mut handle) = profile(c, "twitter")
            .map(|p| (p.platform_id.clone(), p.username.clone()))
            .unwrap_or_default();
        // Every 15th row was typed in by hand: handle only, with an @ and different case.
        if blemishes && idx % 15 == 4 && !handle.is_empty() {
            x_id.clear();
            handle = format!("@{}", handle.to_uppercase());
        }
        let (mut linkedin_id, mut linkedin_url) = profile(c, "linkedin")
            .map(|p| (p.platform_id.clone(), String::new()))
            .unwrap_or_default();
        // Every third LinkedIn record was pasted from the browser: the profile URL, no id.
        if blemishes
            && idx % 3 == 0
            && let Some(p) = profile(c, "linkedin")
        {
            linkedin_id.clear();
            linkedin_url = format!("https://www.linkedin.com/in/{}/", p.username);
        }
        out.push(DemoRecord {
            contact: Some(c.id.clone()),
            x_id,
            handle,
            linkedin_id,
            linkedin_url,
            name: c
                .profiles
                .first()
                .map(|p| p.display_name.clone())
                .unwrap_or_default(),
            // Every 20th record has not got its tags yet (the first sync fills them in).
            tags: if blemishes && idx % 20 == 7 {
                Vec::new()
            } else {
                c.tags.clone()
            },
            status: c.status.clone(),
            valuation: c
                .valuation
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            notes: c.notes.clone().unwrap_or_default(),
            owner: first
                .and_then(|t| t.assignee_email.clone())
                .unwrap_or_default(),
            done: first.map(|t| t.archived.to_string()).unwrap_or_default(),
        });
    }
    if !blemishes {
        return out;
    }
    let unknown = |x_id: &str, handle: &str, name: &str, valuation: &str| DemoRecord {
        contact: None,
        x_id: x_id.into(),
        handle: handle.into(),
        linkedin_id: String::new(),
        linkedin_url: String::new(),
        name: name.into(),
        tags: Vec::new(),
        status: Some("Lead".into()),
        valuation: valuation.into(),
        notes: String::new(),
        owner: String::new(),
        done: String::new(),
    };
    // A record Inbox does not know (looked up once, then left alone).
    out.push(unknown(
        "1999000000000000001",
        "not_on_inbox",
        "Pat Offline",
        "500",
    ));
    // A record an export tool broke: the deal value is text.
    out.push(unknown(
        "1999000000000000002",
        "typo_row",
        "Kim Typo",
        "ten thousand",
    ));
    out
}

pub(super) fn summary(records: &[DemoRecord]) -> CrmSummary {
    let mine: Vec<&DemoRecord> = records.iter().filter(|r| r.contact.is_some()).collect();
    CrmSummary {
        records: mine.len(),
        by_handle: mine
            .iter()
            .filter(|r| r.x_id.is_empty() && !r.handle.is_empty())
            .count(),
        by_linkedin_id: mine.iter().filter(|r| !r.linkedin_id.is_empty()).count(),
        by_linkedin_url: mine
            .iter()
            .filter(|r| r.x_id.is_empty() && r.handle.is_empty() && !r.linkedin_url.is_empty())
            .count(),
    }
}

/// Seeds the fake HubSpot with the demo's records; a LinkedIn id and URL property are defined
/// first, and every Inbox tag is an option of the tags property.
pub(super) fn seed_hubspot(
    hubspot: &FakeHubspot,
    fake: &FakeInboxV2,
    records: &[DemoRecord],
) -> Seeded {
    hubspot.define_property(PropertySpec::text("linkedin_id", "LinkedIn ID"));
    hubspot.define_property(PropertySpec::text("linkedin_url", "LinkedIn URL"));
    let mut options = hubspot.options("inbox_tags");
    for (_, tag) in fake.tags() {
        if !options.iter().any(|(_, l)| l.eq_ignore_ascii_case(&tag)) {
            let value: String = tag
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            hubspot.add_option("inbox_tags", &value, &tag);
            options.push((value, tag));
        }
    }
    let owners = hubspot.owners();
    let mut seeded = Seeded::default();
    for r in records {
        let mut props: BTreeMap<&str, String> = BTreeMap::new();
        let (first, last) = r.name.split_once(' ').unwrap_or((r.name.as_str(), ""));
        props.insert("firstname", first.to_owned());
        props.insert("lastname", last.to_owned());
        let identities = [
            ("twitter_user_id", &r.x_id),
            ("twitterhandle", &r.handle),
            ("linkedin_id", &r.linkedin_id),
            ("linkedin_url", &r.linkedin_url),
        ];
        for (name, value) in identities {
            if !value.is_empty() {
                props.insert(name, value.clone());
            }
        }
        let tags: Vec<&str> = r
            .tags
            .iter()
            .filter_map(|name| {
                options
                    .iter()
                    .find(|(_, label)| label.eq_ignore_ascii_case(name))
                    .map(|(value, _)| value.as_str())
            })
            .collect();
        if !tags.is_empty() {
            props.insert("inbox_tags", tags.join(";"));
        }
        if let Some(status) = r.status.as_deref().and_then(hubspot_status) {
            props.insert("hs_lead_status", status.to_owned());
        }
        for (name, value) in [
            ("inbox_valuation", &r.valuation),
            ("inbox_notes", &r.notes),
            ("inbox_done", &r.done),
        ] {
            if !value.is_empty() {
                props.insert(name, value.clone());
            }
        }
        if let Some(owner) = owners
            .iter()
            .find(|(_, e)| e.eq_ignore_ascii_case(&r.owner))
        {
            props.insert("hubspot_owner_id", owner.0.clone());
        }
        let props: Vec<(&str, String)> = props.into_iter().collect();
        let id = hubspot.add_contact(&props);
        match &r.contact {
            Some(contact) => seeded.contacts.push((contact.clone(), id)),
            None => seeded.others.push((r.handle.clone(), id)),
        }
    }
    seeded
}

/// Writes the demo's records as the CRM export.
pub(super) fn write_export(path: &Path, records: &[DemoRecord]) -> anyhow::Result<()> {
    let mut writer =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    writer.write_record(HEADER)?;
    for (idx, r) in records.iter().enumerate() {
        writer.write_record([
            format!("r{:05}", idx + 1),
            r.x_id.clone(),
            r.handle.clone(),
            r.linkedin_id.clone(),
            r.linkedin_url.clone(),
            r.name.clone(),
            format!("Company {}", idx % 37),
            r.tags.join(";"),
            r.status.as_deref().map(crm_status).unwrap_or_default(),
            r.valuation.clone(),
            r.notes.clone(),
            r.owner.clone(),
            r.done.clone(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}
