//! The one way the commands write to stdout: [`say!`] for the human summary, which
//! `-q` silences, and [`emit!`] for output the user asked for by name (`--json`,
//! `conflicts export`), which `-q` keeps.
//!
//! A write to a closed stdout (`crmsync runs --json | head -1`) returns [`Closed`], which `main`
//! turns into a quiet exit 0 (what `head` expects), where `println!` would panic.
//!
//! It must not decide what is printed (the commands and `render` do) or write to stderr: the one
//! error line of a failed command is `main`'s.

use std::fmt;
use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};

/// `-q`: set once by `main` before any command runs.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets `-q` for the rest of the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `-q` was given: commands print nothing but asked-for output, and one line on stderr
/// when they fail.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A write to stdout failed: the reader went away, or the device failed.
#[derive(Debug, thiserror::Error)]
pub enum Closed {
    /// The reader closed its end (`| head`): stop quietly.
    #[error("stdout is closed")]
    Pipe,
    /// Another write error (a full disk behind `> file`): a real error.
    #[error("cannot write to stdout")]
    Write(#[source] io::Error),
}

impl Closed {
    /// Whether `err` (or an error it carries) says stdout was closed by its reader.
    pub fn in_chain(err: &anyhow::Error) -> bool {
        err.chain().any(|cause| {
            matches!(cause.downcast_ref::<Closed>(), Some(Closed::Pipe))
                || cause.downcast_ref::<io::Error>().is_some_and(is_ours)
                // csv's error names no source: look inside.
                || cause
                    .downcast_ref::<csv::Error>()
                    .is_some_and(|csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if is_ours(io)))
        })
    }
}

/// An `io::Error` made by [`Stdout`] (and wrapped by a writer such as csv's) rather than one from
/// a socket, which must stay an error.
fn is_ours(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
        && err
            .get_ref()
            .is_some_and(|inner| matches!(inner.downcast_ref::<Closed>(), Some(Closed::Pipe)))
}

fn write(args: fmt::Arguments<'_>) -> Result<(), Closed> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(|err| match err.kind() {
            io::ErrorKind::BrokenPipe => Closed::Pipe,
            _ => Closed::Write(err),
        })
}

/// Writes human output, unless `-q`. Use [`say!`].
pub fn human(args: fmt::Arguments<'_>) -> Result<(), Closed> {
    if quiet() {
        return Ok(());
    }
    write(args)
}

/// Writes output the user asked for by name, even under `-q`. Use [`emit!`].
pub fn asked(args: fmt::Arguments<'_>) -> Result<(), Closed> {
    write(args)
}

/// Stdout as an `io::Write` for writers that stream (the CSV export), always written (like
/// [`asked`]); a closed pipe comes back as an error [`Closed::in_chain`] recognises.
pub struct Stdout;

impl io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stdout().lock().write(buf).map_err(mark)
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().lock().flush().map_err(mark)
    }
}

fn mark(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, Closed::Pipe)
    } else {
        err
    }
}

/// `println!` for the human summary: silent under `-q`; `Err(Closed)` on a closed stdout.
macro_rules! say {
    () => { $crate::cli::out::human(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::out::human(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use say;

/// `println!` for output asked for by name (`--json`): printed even under `-q`.
macro_rules! emit {
    ($($arg:tt)*) => { $crate::cli::out::asked(format_args!("{}\n", format_args!($($arg)*))) };
}
pub(crate) use emit;
