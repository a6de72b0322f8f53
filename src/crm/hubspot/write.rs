//! Writing to HubSpot in batches: chunks of at most 100 inputs, HubSpot's 207 answers mapped back
//! to the inputs, and whole-batch refusals narrowed down to the inputs that caused them.
//!
//! HubSpot validates a batch as a whole: one invalid value (an unknown option, a malformed
//! number) makes it answer 400 for every input, while unknown or deleted records come back as a
//! 207 with `errors[]` naming their ids and the rest applied. So a 400 batch is split in halves
//! and retried until each refused input stands alone (a bounded number of extra requests);
//! everything else in it is then written. The statuses are decided here; the HTTP is the
//! client's.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::crm::WriteStatus;

use super::client::{BATCH_LIMIT, Client};
use super::error::Error;
use super::wire::{BatchResponse, CreateInput, UpdateInput};

/// Extra requests one `write` may spend narrowing refused batches down (about seven per bad
/// input in a batch of 100).
const MAX_SPLITS: u32 = 64;

/// Progress shared by the update and create phases of one `write`.
#[derive(Debug)]
pub(crate) struct WriteState {
    /// Whether any request may have changed HubSpot (then a fatal error fails the remaining
    /// writes instead of the whole call).
    pub wrote_any: bool,
    /// Splits left (see [`MAX_SPLITS`]).
    splits_left: u32,
    /// Set when a fatal error ended the writing after something was written: every later
    /// write fails with this reason.
    pub stopped: Option<String>,
}

impl Default for WriteState {
    fn default() -> Self {
        WriteState {
            wrote_any: false,
            splits_left: MAX_SPLITS,
            stopped: None,
        }
    }
}

/// One input and the index of the write it belongs to.
pub(crate) type Indexed<T> = (usize, T);

/// Splits inputs into chunks of at most [`BATCH_LIMIT`]; a record id never appears twice in one
/// chunk (HubSpot refuses duplicate ids in a batch), so a repeated id starts a new chunk.
pub(crate) fn chunk_updates(inputs: Vec<Indexed<UpdateInput>>) -> Vec<Vec<Indexed<UpdateInput>>> {
    let mut chunks: Vec<Vec<Indexed<UpdateInput>>> = Vec::new();
    let mut ids: HashSet<String> = HashSet::new();
    for item in inputs {
        let full = chunks.last().is_none_or(|c| c.len() >= BATCH_LIMIT);
        if full || ids.contains(&item.1.id) {
            chunks.push(Vec::new());
            ids.clear();
        }
        ids.insert(item.1.id.clone());
        chunks
            .last_mut()
            .expect("a chunk was pushed above")
            .push(item);
    }
    chunks
}

/// Statuses of the inputs of a 200/207 `batch/update` answer, in input order: an id named by
/// `errors[]` failed with HubSpot's message; an id in `results` is confirmed (HubSpot writes
/// are immediately visible); anything else failed as unconfirmed.
pub(crate) fn update_statuses(ids: &[&str], response: &BatchResponse) -> Vec<WriteStatus> {
    let mut failed: HashMap<&str, String> = HashMap::new();
    let mut unattributed: Option<String> = None;
    for error in &response.errors {
        let text = error_text(&error.category, &error.message);
        let mut named = false;
        for id in error.ids() {
            named = true;
            failed.entry(id).or_insert_with(|| text.clone());
        }
        if !named && unattributed.is_none() {
            unattributed = Some(text);
        }
    }
    let written: HashSet<&str> = response.results.iter().map(|c| c.id.as_str()).collect();
    ids.iter()
        .map(|id| {
            if let Some(reason) = failed.get(id) {
                WriteStatus::Failed(reason.clone())
            } else if written.contains(id) {
                WriteStatus::Confirmed
            } else {
                WriteStatus::Failed(
                    unattributed.clone().unwrap_or_else(|| {
                        format!("HubSpot's answer did not confirm contact {id}")
                    }),
                )
            }
        })
        .collect()
}

/// Statuses of the inputs of a `batch/create` answer. Results are matched to inputs by `key`
/// (the X user id or handle property, which every created contact carries); created contacts
/// are [`WriteStatus::Pending`] because HubSpot assigns their ids: the next read links them by
/// their X id.
pub(crate) fn create_statuses(
    inputs: &[&CreateInput],
    key: Option<&str>,
    response: &BatchResponse,
) -> Vec<WriteStatus> {
    let first_error = response
        .errors
        .first()
        .map(|e| error_text(&e.category, &e.message));
    let key_of = |props: &dyn Fn(&str) -> Option<String>| key.and_then(props);
    let created: HashSet<String> = response
        .results
        .iter()
        .filter_map(|c| key_of(&|k| c.property(k).map(str::to_owned)))
        .collect();
    let all_created = response.errors.is_empty() && response.results.len() == inputs.len();
    inputs
        .iter()
        .map(|input| {
            let mine = key_of(&|k| input.properties.get(k).cloned());
            if all_created || mine.is_some_and(|k| created.contains(&k)) {
                WriteStatus::Pending
            } else {
                WriteStatus::Failed(first_error.clone().unwrap_or_else(|| {
                    "HubSpot's answer did not confirm the new contact".to_owned()
                }))
            }
        })
        .collect()
}

/// What to do after a batch call failed.
enum Decision {
    /// HubSpot refused the batch as a whole: retry its halves.
    Split,
    /// Give up on this chunk's writes, for this reason; go on with the others.
    FailChunk(String),
    /// Give up on this and every later write.
    Stop(Error),
}

fn decide(error: Error, len: usize, state: &mut WriteState) -> Decision {
    if error.is_input_error() {
        if len > 1 && state.splits_left > 0 {
            state.splits_left -= 1;
            return Decision::Split;
        }
        return Decision::FailChunk(error.to_string());
    }
    if matches!(error, Error::Decode { .. }) {
        // HubSpot answered 2xx, so the batch was most likely applied; the next read shows it.
        state.wrote_any = true;
        return Decision::FailChunk(format!(
            "{error} (the values may have been written; the next run will tell)"
        ));
    }
    Decision::Stop(error)
}

/// Handles a failed chunk: splits it back into `queue`, fails it, or stops the whole write
/// (an `Err` only while nothing may have been written).
fn on_failure<T>(
    error: Error,
    mut chunk: Vec<Indexed<T>>,
    queue: &mut VecDeque<Vec<Indexed<T>>>,
    statuses: &mut [Option<WriteStatus>],
    state: &mut WriteState,
) -> Result<(), Error> {
    let reason = match decide(error, chunk.len(), state) {
        Decision::Split => {
            let right = chunk.split_off(chunk.len() / 2);
            queue.push_front(right);
            queue.push_front(chunk);
            return Ok(());
        }
        Decision::FailChunk(reason) => reason,
        Decision::Stop(error) if !state.wrote_any => return Err(error),
        Decision::Stop(error) => {
            let reason = format!("not written: {error}");
            state.stopped = Some(reason.clone());
            reason
        }
    };
    fail(&chunk, &reason, statuses);
    Ok(())
}

fn fail<T>(chunk: &[Indexed<T>], reason: &str, statuses: &mut [Option<WriteStatus>]) {
    for (idx, _) in chunk {
        statuses[*idx] = Some(WriteStatus::Failed(reason.to_owned()));
    }
}

/// Writes updates chunk by chunk, filling `statuses` for their writes.
pub(crate) async fn write_updates(
    client: &Client,
    inputs: Vec<Indexed<UpdateInput>>,
    statuses: &mut [Option<WriteStatus>],
    state: &mut WriteState,
) -> Result<(), Error> {
    let mut queue: VecDeque<Vec<Indexed<UpdateInput>>> = chunk_updates(inputs).into();
    while let Some(chunk) = queue.pop_front() {
        if let Some(reason) = &state.stopped {
            fail(&chunk, reason, statuses);
            continue;
        }
        let body: Vec<UpdateInput> = chunk.iter().map(|(_, input)| input.clone()).collect();
        match client.batch_update(body).await {
            Ok(response) => {
                state.wrote_any = true;
                let ids: Vec<&str> = chunk.iter().map(|(_, i)| i.id.as_str()).collect();
                for ((idx, _), status) in chunk.iter().zip(update_statuses(&ids, &response)) {
                    statuses[*idx] = Some(status);
                }
            }
            Err(error) => on_failure(error, chunk, &mut queue, statuses, state)?,
        }
    }
    Ok(())
}

/// Creates contacts chunk by chunk, filling `statuses` for their writes; `key` is the property
/// that identifies a created contact in the answer (the X user id or handle property).
pub(crate) async fn write_creates(
    client: &Client,
    inputs: Vec<Indexed<CreateInput>>,
    key: Option<&str>,
    statuses: &mut [Option<WriteStatus>],
    state: &mut WriteState,
) -> Result<(), Error> {
    let mut queue: VecDeque<Vec<Indexed<CreateInput>>> = VecDeque::new();
    let mut inputs = inputs.into_iter().peekable();
    while inputs.peek().is_some() {
        queue.push_back(inputs.by_ref().take(BATCH_LIMIT).collect());
    }
    while let Some(chunk) = queue.pop_front() {
        if let Some(reason) = &state.stopped {
            fail(&chunk, reason, statuses);
            continue;
        }
        let body: Vec<CreateInput> = chunk.iter().map(|(_, input)| input.clone()).collect();
        match client.batch_create(body).await {
            Ok(response) => {
                state.wrote_any = true;
                let inputs: Vec<&CreateInput> = chunk.iter().map(|(_, i)| i).collect();
                let created = create_statuses(&inputs, key, &response);
                for ((idx, _), status) in chunk.iter().zip(created) {
                    statuses[*idx] = Some(status);
                }
            }
            Err(error) => on_failure(error, chunk, &mut queue, statuses, state)?,
        }
    }
    Ok(())
}

fn error_text(category: &str, message: &str) -> String {
    match (category.trim(), message.trim()) {
        ("", "") => "HubSpot refused the write without a message".to_owned(),
        ("", message) => message.to_owned(),
        (category, "") => category.to_owned(),
        (category, message) => format!("{category}: {message}"),
    }
}
