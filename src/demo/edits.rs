//! The demo's scripted edits: what a sales team changes on both sides between two nightly
//! runs, in Inbox through the fake and in the CRM (the CSV export, or the fake HubSpot) as a
//! user would.
//!
//! Data only: nothing here runs the engine or prints.

use std::collections::BTreeMap;
use std::path::Path;

use crmsync_fake::hubspot::FakeHubspot;
use crmsync_fake::inbox_v2::{ContactEdit, ContactView, FakeInboxV2, ThreadEdit, ThreadView};

use super::{Demo, EditLog, HubspotDemo, label, profile};

/// The CRM side of the demo's scripted edits: where a contact's record is and how a user
/// changes it there.
trait DemoCrm {
    /// How the narration names the CRM (`the CRM`, `HubSpot`).
    const NAME: &'static str;
    /// A status value the demo's `[mapping.status]` does not know (and the CRM accepts).
    const UNMAPPED_STATUS: &'static str;
    /// Where a contact's record is.
    type Record;
    /// The contact's record, if the CRM has one.
    fn locate(&self, c: &ContactView) -> Option<Self::Record>;
    /// Whether the record names its LinkedIn profile by URL only (no id, no X identity).
    fn by_profile_url(&self, record: &Self::Record) -> bool;
    fn set_notes(&mut self, record: &Self::Record, notes: &str);
    fn set_status(&mut self, record: &Self::Record, status: &str);
    fn drop_first_tag(&mut self, record: &Self::Record);
}

/// The CSV export, as rows of cells, written back by [`CsvRows::save`].
struct CsvRows {
    headers: csv::StringRecord,
    rows: Vec<Vec<String>>,
}

impl CsvRows {
    fn load(path: &Path) -> anyhow::Result<CsvRows> {
        let mut reader = csv::Reader::from_path(path)?;
        let headers = reader.headers()?.clone();
        let rows = reader
            .records()
            .map(|r| r.map(|r| r.iter().map(str::to_string).collect()))
            .collect::<Result<_, _>>()?;
        Ok(CsvRows { headers, rows })
    }

    fn col(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .expect("demo header")
    }

    fn cell(&mut self, row: usize, column: &str) -> &mut String {
        let col = self.col(column);
        &mut self.rows[row][col]
    }

    fn save(self, path: &Path) -> anyhow::Result<()> {
        let mut writer = csv::Writer::from_path(path)?;
        writer.write_record(&self.headers)?;
        for row in self.rows {
            writer.write_record(row)?;
        }
        writer.flush()?;
        Ok(())
    }
}

impl DemoCrm for CsvRows {
    const NAME: &'static str = "the CRM";
    const UNMAPPED_STATUS: &'static str = "MAYBE_LATER";
    /// The row index.
    type Record = usize;

    /// The row of one of the contact's identities.
    fn locate(&self, c: &ContactView) -> Option<usize> {
        let cols = ["X User ID", "X Handle", "LinkedIn ID", "LinkedIn URL"].map(|n| self.col(n));
        let x = profile(c, "twitter");
        let li = profile(c, "linkedin");
        self.rows.iter().position(|r| {
            let [x_id, handle, li_id, li_url] = cols.map(|i| r[i].as_str());
            x.is_some_and(|p| {
                x_id == p.platform_id
                    || (!handle.is_empty()
                        && handle
                            .trim_start_matches('@')
                            .eq_ignore_ascii_case(&p.username))
            }) || li.is_some_and(|p| {
                li_id == p.platform_id
                    || (!li_url.is_empty() && li_url.contains(&format!("/in/{}/", p.username)))
            })
        })
    }

    fn by_profile_url(&self, row: &usize) -> bool {
        let cell = |name: &str| self.rows[*row][self.col(name)].is_empty();
        cell("X User ID") && cell("X Handle") && cell("LinkedIn ID") && !cell("LinkedIn URL")
    }

    fn set_notes(&mut self, row: &usize, notes: &str) {
        *self.cell(*row, "Notes") = notes.to_string();
    }

    fn set_status(&mut self, row: &usize, status: &str) {
        *self.cell(*row, "Lead Status") = status.to_string();
    }

    fn drop_first_tag(&mut self, row: &usize) {
        let cell = self.cell(*row, "Tags");
        let kept: Vec<&str> = cell.split(';').skip(1).collect();
        *cell = kept.join(";");
    }
}

/// The fake HubSpot, with the demo's contact of each Inbox contact.
struct HubspotContacts<'a> {
    hubspot: &'a FakeHubspot,
    contact_of: BTreeMap<&'a str, &'a str>,
}

impl DemoCrm for HubspotContacts<'_> {
    const NAME: &'static str = "HubSpot";
    const UNMAPPED_STATUS: &'static str = "BAD_TIMING";
    /// The contact id.
    type Record = String;

    fn locate(&self, c: &ContactView) -> Option<String> {
        self.contact_of.get(c.id.as_str()).map(|id| id.to_string())
    }

    fn by_profile_url(&self, record: &String) -> bool {
        let Some(contact) = self.hubspot.contact(record) else {
            return false;
        };
        let empty = |name: &str| contact.get(name).is_none_or(str::is_empty);
        empty("twitter_user_id")
            && empty("twitterhandle")
            && empty("linkedin_id")
            && !empty("linkedin_url")
    }

    fn set_notes(&mut self, record: &String, notes: &str) {
        self.hubspot.set_property(record, "inbox_notes", notes);
    }

    fn set_status(&mut self, record: &String, status: &str) {
        self.hubspot.set_property(record, "hs_lead_status", status);
    }

    fn drop_first_tag(&mut self, record: &String) {
        let current = self
            .hubspot
            .contact(record)
            .and_then(|c| c.get("inbox_tags").map(str::to_owned))
            .unwrap_or_default();
        let kept: Vec<&str> = current.split(';').skip(1).collect();
        self.hubspot
            .set_property(record, "inbox_tags", &kept.join(";"));
    }
}

/// Edits both sides the way a sales team does between two nightly runs.
pub fn edit_both_sides(demo: &Demo) -> anyhow::Result<EditLog> {
    let mut crm = CsvRows::load(&demo.export_path)?;
    let log = scripted_edits(&demo.fake, &mut crm);
    crm.save(&demo.export_path)?;
    Ok(log)
}

/// Edits both sides the way a sales team does between two nightly runs, with HubSpot as the
/// CRM: the same edits as [`edit_both_sides`], made through the fake HubSpot as a user would.
pub fn edit_both_sides_hubspot(demo: &HubspotDemo) -> anyhow::Result<EditLog> {
    let mut crm = HubspotContacts {
        hubspot: &demo.hubspot,
        contact_of: demo
            .seeded
            .contacts
            .iter()
            .map(|(inbox, contact)| (inbox.as_str(), contact.as_str()))
            .collect(),
    };
    Ok(scripted_edits(&demo.fake, &mut crm))
}

/// The day's edits on both sides: in Inbox through the fake, in the CRM through `crm`.
fn scripted_edits<C: DemoCrm>(inbox: &FakeInboxV2, crm: &mut C) -> EditLog {
    let mut log = EditLog::new();
    // Only contacts with a thread are in the mirror (the others are looked up by identity).
    let contacts: Vec<ContactView> = inbox
        .contacts()
        .into_iter()
        .filter(|c| !c.thread_ids.is_empty())
        .collect();
    let tag_names: Vec<String> = inbox.tags().into_iter().map(|(_, n)| n).collect();
    edit_notes_on_both_sides(inbox, crm, &contacts, &mut log);
    edit_single_thread_contacts(inbox, crm, &contacts, &tag_names, &mut log);
    archive_one_of_two_threads(inbox, crm, &contacts, &mut log);
    log
}

/// Edits `contact`'s fields in Inbox through the fake.
fn edit_contact(inbox: &FakeInboxV2, contact: &ContactView, change: ContactEdit) {
    inbox.edit_contact(&contact.id, change);
}

/// Steps 1 and 2: notes edited on both sides, in different places (three contacts) and on the
/// same line (one more).
fn edit_notes_on_both_sides<C: DemoCrm>(
    inbox: &FakeInboxV2,
    crm: &mut C,
    contacts: &[ContactView],
    log: &mut EditLog,
) {
    let crm_name = C::NAME;
    // 1. Notes edited on both sides, in different places: merges cleanly.
    let three_line: Vec<(&ContactView, C::Record)> = contacts
        .iter()
        .filter(|c| c.notes.as_deref().is_some_and(|n| n.lines().count() == 3))
        .filter_map(|c| crm.locate(c).map(|record| (c, record)))
        .collect();
    for (c, record) in three_line.iter().take(3) {
        let notes = c.notes.clone().unwrap_or_default();
        edit_contact(
            inbox,
            c,
            ContactEdit {
                notes: Some(Some(format!("{notes}\nCall booked for Tuesday."))),
                ..ContactEdit::default()
            },
        );
        crm.set_notes(
            record,
            &notes.replacen("Found via", "VIP intro. Found via", 1),
        );
        log.push(format!(
            "{}: notes edited in Inbox (last line) and in {crm_name} (first line)",
            label(c)
        ));
    }
    // 2. The same line of notes edited differently on both sides: a conflict, all texts kept.
    if let Some((c, record)) = three_line.get(3) {
        let notes = c.notes.clone().unwrap_or_default();
        edit_contact(
            inbox,
            c,
            ContactEdit {
                notes: Some(Some(notes.replace(
                    "Asked about pricing.",
                    "Asked about pricing: wants 20 seats.",
                ))),
                ..ContactEdit::default()
            },
        );
        crm.set_notes(
            record,
            &notes.replace("Asked about pricing.", "Asked about pricing: budget is 5k."),
        );
        log.push(format!(
            "{}: the same line of notes edited differently on both sides",
            label(c)
        ));
    }
}

/// Steps 3 to 5, on contacts with one thread: a note on a record known by its profile URL
/// only, then field edits spread over both sides, then a status nobody mapped.
fn edit_single_thread_contacts<C: DemoCrm>(
    inbox: &FakeInboxV2,
    crm: &mut C,
    contacts: &[ContactView],
    tag_names: &[String],
    log: &mut EditLog,
) {
    let crm_name = C::NAME;
    let single: Vec<(&ContactView, C::Record)> = contacts
        .iter()
        .filter(|c| c.thread_ids.len() == 1)
        .filter_map(|c| crm.locate(c).map(|record| (c, record)))
        .collect();
    // 3. A LinkedIn contact the CRM knows by its profile URL only: a note added there.
    let by_url = single
        .iter()
        .position(|(_, record)| crm.by_profile_url(record));
    if let Some((c, record)) = by_url.map(|idx| &single[idx]) {
        let notes = c.notes.clone().unwrap_or_default();
        let added = "Replied on LinkedIn: send the deck.";
        let notes = if notes.is_empty() {
            added.to_string()
        } else {
            format!("{notes}\n{added}")
        };
        crm.set_notes(record, &notes);
        log.push(format!(
            "{}: a note added in {crm_name}, whose record has only the LinkedIn profile URL",
            label(c)
        ));
    }
    let single: Vec<&(&ContactView, C::Record)> = single
        .iter()
        .enumerate()
        .filter(|(idx, _)| Some(*idx) != by_url)
        .map(|(_, pair)| pair)
        .collect();
    // 4. Inbox: tags added and valuations changed; CRM: statuses moved and a tag removed.
    edit_fields_on_both_sides(inbox, crm, &single, tag_names, log);
    // 5. A CRM status nobody mapped: an `unmapped` conflict, never a guess.
    if let Some((c, record)) = single.get(13) {
        crm.set_status(record, C::UNMAPPED_STATUS);
        log.push(format!(
            "{}: lead status {} (not in [mapping.status]) in {crm_name}",
            label(c),
            C::UNMAPPED_STATUS
        ));
    }
}

/// Step 4, on the first twelve of `single` in turn: a tag added in Inbox, a valuation changed
/// in Inbox, a status moved in the CRM, the first tag removed in the CRM.
fn edit_fields_on_both_sides<C: DemoCrm>(
    inbox: &FakeInboxV2,
    crm: &mut C,
    single: &[&(&ContactView, C::Record)],
    tag_names: &[String],
    log: &mut EditLog,
) {
    let crm_name = C::NAME;
    for (n, (c, record)) in single.iter().take(12).enumerate() {
        match n % 4 {
            0 => {
                let tag = &tag_names[n % tag_names.len()];
                edit_contact(
                    inbox,
                    c,
                    ContactEdit {
                        tags_add: vec![tag.clone()],
                        ..ContactEdit::default()
                    },
                );
                log.push(format!("{}: tag {tag:?} added in Inbox", label(c)));
            }
            1 => {
                edit_contact(
                    inbox,
                    c,
                    ContactEdit {
                        valuation: Some(Some(12500.0 + n as f64)),
                        ..ContactEdit::default()
                    },
                );
                log.push(format!(
                    "{}: valuation set to {} in Inbox",
                    label(c),
                    12500 + n
                ));
            }
            2 => {
                crm.set_status(record, "IN_PROGRESS");
                log.push(format!(
                    "{}: lead status set to IN_PROGRESS in {crm_name}",
                    label(c)
                ));
            }
            _ => {
                crm.drop_first_tag(record);
                log.push(format!("{}: first tag removed in {crm_name}", label(c)));
            }
        }
    }
}

/// Step 6: a contact talking to two of our accounts (on X and LinkedIn if there is one): one
/// thread gets archived, the other stays open.
fn archive_one_of_two_threads<C: DemoCrm>(
    inbox: &FakeInboxV2,
    crm: &C,
    contacts: &[ContactView],
    log: &mut EditLog,
) {
    let open_threads = |c: &ContactView| -> Option<Vec<ThreadView>> {
        let threads: Option<Vec<ThreadView>> =
            c.thread_ids.iter().map(|id| inbox.thread(id)).collect();
        threads.filter(|t| t.len() >= 2 && t.iter().all(|t| !t.archived))
    };
    let candidates: Vec<(&ContactView, Vec<ThreadView>)> = contacts
        .iter()
        .filter(|c| crm.locate(c).is_some())
        .filter_map(|c| open_threads(c).map(|t| (c, t)))
        .collect();
    let fanout = candidates
        .iter()
        .find(|(_, t)| t[0].platform != t[1].platform)
        .or(candidates.first());
    if let Some((c, threads)) = fanout {
        inbox.edit_thread(
            &threads[0].id,
            ThreadEdit {
                archived: Some(true),
                ..ThreadEdit::default()
            },
        );
        log.push(format!(
            "{}: thread on {} archived, thread on {} still open",
            label(c),
            crate::reconcile::platform_label(&threads[0].platform),
            crate::reconcile::platform_label(&threads[1].platform)
        ));
    }
}
